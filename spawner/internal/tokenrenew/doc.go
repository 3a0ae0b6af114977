// Package tokenrenew keeps the session tokens in running sessions' Secrets
// from expiring.
//
// A session token is minted at spawn with the service's session_token_ttl
// (168h by default) and mounted from the session's Secret as
// /etc/kubedesk/session/token, which the launcher agent reads again on
// every call. A session may well outlive its token (a desktop left running
// over a week), so the Renewer mints a new one for the same user, server
// and session pod, and writes it into the Secret, when less than half of
// the TTL is left; the kubelet then refreshes the mounted file (within its
// sync period, about a minute, far less than half a TTL). It also renews a
// token that no longer verifies at all (expired while the service was down,
// or signed with a key the service no longer has: a random key does not
// survive a restart), or that names another pod.
//
// It looks at every running session once the session manager has rebuilt
// its view (so right after a restart), then every quarter of the TTL (at
// most an hour, at least a second).
package tokenrenew
