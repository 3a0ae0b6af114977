//go:build !linux

package agent

import (
	"errors"
	"net"
)

// peerUID is only implemented on Linux, where the agent runs; elsewhere
// every caller is refused.
func peerUID(net.Conn) (int, error) {
	return -1, errors.New("peer credentials are only checked on Linux")
}
