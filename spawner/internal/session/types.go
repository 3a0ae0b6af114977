package session

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/progress"
)

// Key names a JupyterHub server: a user and a server name ("" is the
// default server).
type Key struct {
	User   string
	Server string
}

// Status is where a session stands.
type Status string

const (
	StatusPending  Status = "pending"
	StatusRunning  Status = "running"
	StatusStopping Status = "stopping"
	StatusStopped  Status = "stopped"
	StatusFailed   Status = "failed"
)

// Session is a point-in-time copy of a session, safe to hand out.
type Session struct {
	User      string     `json:"user"`
	Server    string     `json:"server"`
	Status    Status     `json:"status"`
	URL       string     `json:"url,omitempty"`
	Message   string     `json:"message,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Profile   string     `json:"profile,omitempty"`
	Pod       string     `json:"pod,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	ReadyAt   *time.Time `json:"ready_at,omitempty"`
}

// Error codes, stable for API clients.
const (
	CodeBusy     = "busy"
	CodeExists   = "exists"
	CodeNotReady = "not_ready"
	// CodeUnavailable: the spawn could not be recorded in the cluster
	// (the API server is unreachable); asking again may succeed.
	CodeUnavailable = "unavailable"
)

// Error is a refusal with a message for a person.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrNotReady is returned until the Manager has rebuilt its state.
var ErrNotReady = &Error{Code: CodeNotReady, Message: "The service is still loading the sessions from the cluster; try again in a moment."}

// session is the Manager's record of one server. Guarded by Manager.mu.
type session struct {
	key     Key
	names   podspec.Names
	profile string
	// intent names the spawn's intent in the cluster (podspec.IntentName),
	// "" when none is on record; request is the digest of the spawn
	// request that made it, which a repeated request matches.
	intent  string
	request string

	status   Status
	url      string
	message  string
	reason   string
	exitCode *int
	started  time.Time
	ready    time.Time

	op  *operation    // the operation in progress, nil when idle
	log *progress.Log // the log of the current or last operation
}

func (s *session) snapshot() Session {
	out := Session{
		User: s.key.User, Server: s.key.Server, Status: s.status, URL: s.url,
		Message: s.message, Reason: s.reason, Profile: s.profile, Pod: s.names.Pod, ExitCode: s.exitCode,
	}
	if !s.started.IsZero() {
		t := s.started
		out.StartedAt = &t
	}
	if !s.ready.IsZero() {
		t := s.ready
		out.ReadyAt = &t
	}
	return out
}

type opKind int

const (
	opSpawn opKind = iota
	opResume
	opStop
)

// operation is one spawn or stop of a session.
type operation struct {
	kind    opKind
	session *session
	// ctx is the operation's own: other goroutines end it through cancel
	// and wait on done, and only its goroutine reads (or narrows) ctx.
	ctx     context.Context
	cancel  context.CancelCauseFunc
	started time.Time
	timeout time.Duration
	log     *progress.Log
	// wake is signalled (without blocking) whenever the session's pod or
	// one of its Events changes, so waits need no polling.
	wake chan struct{}
	done chan struct{}
	err  error // set before done is closed
	// saved is closed once a spawn's intent is in the cluster (or could
	// not be written: saveErr, set before), the moment the spawn may be
	// acknowledged. Nil for other operations.
	saved   chan struct{}
	saveErr error

	// Owned by the operation's goroutine and the event handler under
	// Manager.mu.
	percent   int
	scaleUp   bool
	podUID    types.UID
	seenEvent map[types.UID]int32
	// gone holds the UIDs of the pods of the session's name that the
	// informer saw deleted. A pod created and deleted between two looks
	// of waitReady (one wake for both changes) is never seen in the
	// cache; this is how the wait still learns that it went.
	gone map[types.UID]bool
}

func (op *operation) poke() {
	select {
	case op.wake <- struct{}{}:
	default:
	}
}

var (
	errStopRequested = errors.New("stop requested")
	errShuttingDown  = &Error{Code: CodeNotReady, Message: "The service is restarting; ask again in a moment."}
)
