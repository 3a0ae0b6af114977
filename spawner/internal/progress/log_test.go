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

// TestFollowersGetHistoryThenAreWoken: readers get the history, then wait,
// and every append wakes them. The next event is appended only once every
// follower has been handed "two", the last event of the history: Follow
// takes its view of the log (and the channel an append closes) before it
// hands out a batch, so from then on "three" and "ready" can reach a
// follower only through an append waking it. Were appends not to wake
// followers, they would wait until ctx ends and the test fail.
func TestFollowersGetHistoryThenAreWoken(t *testing.T) {
	t.Parallel()
	l := New()
	l.Append(Event{Kind: KindProgress, Progress: 10, Message: "one"})
	l.Append(Event{Kind: KindProgress, Progress: 20, Message: "two"})

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	const followers = 3
	type result struct {
		messages []string
		err      error
	}
	caughtUp := make(chan struct{}, followers)
	results := make(chan result, followers)
	for range followers {
		go func() {
			var r result
			r.err = l.Follow(ctx, func(e Event) error {
				r.messages = append(r.messages, e.Message)
				if e.Message == "two" {
					caughtUp <- struct{}{}
				}
				return nil
			})
			results <- r
		}()
	}
	for range followers {
		select {
		case <-caughtUp:
		case <-ctx.Done():
			t.Fatal("a follower did not get the history")
		}
	}
	l.Append(Event{Kind: KindProgress, Progress: 30, Message: "three"})
	l.Append(Event{Kind: KindReady, Progress: 100, Message: "ready", URL: "http://127.42.0.1:8888"})

	for range followers {
		r := <-results // Follow returns by ctx's deadline at the latest
		require.NoError(t, r.err, "a follower waiting for news is woken by the appends and returns at the terminal event")
		assert.Equal(t, []string{"one", "two", "three", "ready"}, r.messages)
	}
	// A reader arriving after the end still gets the whole story and returns.
	got, err := collect(t, ctx, l)
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, "one", got[0].Message)
	assert.Equal(t, KindReady, got[3].Kind)
}

// TestSlowReaderDoesNotBlockWriters: a reader still busy with an event
// (a slow client) holds no lock, so appends go on, and it gets them after.
func TestSlowReaderDoesNotBlockWriters(t *testing.T) {
	t.Parallel()
	l := New()
	l.Append(Event{Kind: KindProgress, Message: "one"})

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	busy, release := make(chan struct{}), make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock()
	var messages []string
	followed := make(chan error, 1)
	go func() {
		followed <- l.Follow(ctx, func(e Event) error {
			messages = append(messages, e.Message)
			if e.Message == "one" {
				close(busy)
				<-release
			}
			return nil
		})
	}()
	select {
	case <-busy:
	case <-ctx.Done():
		t.Fatal("the reader did not get the first event")
	}
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		l.Append(Event{Kind: KindProgress, Message: "two"})
		l.Append(Event{Kind: KindFailed, Message: "failed", Reason: "timeout"})
	}()
	select {
	case <-appended:
	case <-ctx.Done():
		t.Fatal("appends waited for a reader busy with an event")
	}
	unblock()
	require.NoError(t, <-followed)
	assert.Equal(t, []string{"one", "two", "failed"}, messages)
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
