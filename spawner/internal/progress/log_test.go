package progress

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const waitLong = 5 * time.Second

func collect(t *testing.T, ctx context.Context, l *Log) ([]Event, error) {
	t.Helper()
	var got []Event
	err := l.Follow(ctx, func(e Event) error { got = append(got, e); return nil })
	return got, err
}

func TestLateReaderGetsHistoryThenFollows(t *testing.T) {
	t.Parallel()
	l := New()
	l.Append(Event{Kind: KindProgress, Progress: 10, Message: "one"})
	l.Append(Event{Kind: KindProgress, Progress: 20, Message: "two"})

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var wg sync.WaitGroup
	results := make([][]Event, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := collect(t, ctx, l)
			assert.NoError(t, err)
			results[i] = got
		}()
	}
	l.Append(Event{Kind: KindProgress, Progress: 30, Message: "three"})
	l.Append(Event{Kind: KindReady, Progress: 100, Message: "ready", URL: "http://127.42.0.1:8888"})
	wg.Wait()

	for _, got := range results {
		require.Len(t, got, 4)
		assert.Equal(t, "one", got[0].Message)
		assert.Equal(t, KindReady, got[3].Kind)
	}
	// A reader arriving after the end still gets the whole story and returns.
	got, err := collect(t, ctx, l)
	require.NoError(t, err)
	assert.Len(t, got, 4)
}

func TestAppendAfterTerminalIsDropped(t *testing.T) {
	t.Parallel()
	l := New()
	l.Append(Event{Kind: KindFailed, Message: "image could not be pulled", Reason: "image_pull"})
	l.Append(Event{Kind: KindProgress, Message: "late step of a cancelled spawn"})
	last, ok := l.Last()
	require.True(t, ok)
	assert.Equal(t, KindFailed, last.Kind)
	assert.True(t, l.Closed())
}

func TestFollowStopsOnContextAndReaderError(t *testing.T) {
	t.Parallel()
	l := New()
	l.Append(Event{Kind: KindProgress, Message: "one"})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := collect(t, ctx, l)
	assert.ErrorIs(t, err, context.Canceled)

	boom := errors.New("client went away")
	err = l.Follow(context.Background(), func(Event) error { return boom })
	assert.ErrorIs(t, err, boom)
}
