package session

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
)

// The API server restarts (upgrades, a control-plane failover) while
// sessions start and stop. Every request an operation makes goes through
// withRetry, so that a hiccup of a few seconds costs time, not a session;
// what is not worth repeating (a refusal, a conflict of names) fails at once.

// apiBackoff retries one Kubernetes request through a hiccup of the API
// server (about 10 s in all), within the operation's own deadline.
var apiBackoff = wait.Backoff{Steps: 6, Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2}

// transient reports whether a failed request may succeed when repeated: a
// connection that broke (the API server restarting) or a 429/5xx answer.
func transient(err error) bool {
	var f *failure
	if err == nil || errors.As(err, &f) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsUnexpectedServerError(err)
}

func withRetry(ctx context.Context, fn func(context.Context) error) error {
	return retry.OnError(apiBackoff, func(err error) bool { return ctx.Err() == nil && transient(err) }, func() error {
		return fn(ctx)
	})
}
