package session

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestTransient(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		err  error
		want bool
	}{
		"no error":                       {nil, false},
		"a broken connection":            {errors.New("read tcp: connection reset by peer"), true},
		"503":                            {apierrors.NewServiceUnavailable("restarting"), true},
		"500":                            {apierrors.NewInternalError(errors.New("etcd")), true},
		"429":                            {apierrors.NewTooManyRequests("slow down", 1), true},
		"a server timeout":               {apierrors.NewServerTimeout(podsResource, "create", 1), true},
		"a gateway timeout":              {apierrors.NewTimeoutError("etcd", 1), true},
		"an unexpected server error":     {apierrors.NewGenericServerResponse(502, "get", podsResource, "p", "bad gateway", 0, true), true},
		"not found":                      {apierrors.NewNotFound(podsResource, "p"), false},
		"a conflict":                     {apierrors.NewConflict(podsResource, "p", errors.New("modified")), false},
		"forbidden":                      {apierrors.NewForbidden(podsResource, "p", errors.New("quota")), false},
		"a refusal of the service's own": {fmt.Errorf("create pod: %w", &failure{reason: ReasonConfig}), false},
		"the operation's end":            {fmt.Errorf("create pod: %w", context.Canceled), false},
		"the operation's deadline":       {context.DeadlineExceeded, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, transient(tc.err))
		})
	}
}

func TestWithRetryStopsWhenTheOperationEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := withRetry(ctx, func(context.Context) error {
		calls++
		cancel()
		return apierrors.NewServiceUnavailable("restarting")
	})
	assert.True(t, apierrors.IsServiceUnavailable(err))
	assert.Equal(t, 1, calls, "no retry for an operation that is over")
}
