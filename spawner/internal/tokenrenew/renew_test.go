package tokenrenew

import (
	"context"

	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/internal/sessiontoken"
)

const ns = "jhub"

var now = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// fakeTokens mints readable tokens, "user|server|uid|expiry", that expire
// ttl after now; "forged" ones do not verify.
type fakeTokens struct{ ttl time.Duration }

func (f fakeTokens) Mint(user, server, uid string) (string, error) {
	return fmt.Sprintf("%s|%s|%s|%d", user, server, uid, now.Add(f.ttl).Unix()), nil
}

func (fakeTokens) Verify(token string) (*sessiontoken.Claims, error) {
	var c sessiontoken.Claims
	var exp int64
	parts := strings.Split(token, "|")
	if len(parts) != 4 {
		return nil, sessiontoken.ErrInvalid
	}
	c.User, c.Server, c.SessionUID = parts[0], parts[1], parts[2]
	if _, err := fmt.Sscan(parts[3], &exp); err != nil {
		return nil, sessiontoken.ErrInvalid
	}
	if !time.Unix(exp, 0).After(now) {
		return nil, sessiontoken.ErrExpired
	}
	c.ExpiresAt = jwt.NewNumericDate(time.Unix(exp, 0))
	return &c, nil
}

func token(user, uid string, expires time.Time) string {
	return fmt.Sprintf("%s||%s|%d", user, uid, expires.Unix())
}

// fakeSessions is the session manager's view: running sessions and pods.
type fakeSessions struct {
	list []session.Session
	pods map[string]*corev1.Pod
}

func (f *fakeSessions) Ready() bool             { return true }
func (f *fakeSessions) List() []session.Session { return f.list }
func (f *fakeSessions) SessionPod(key session.Key) (*corev1.Pod, string, bool) {
	p, ok := f.pods[key.User]
	return p, "", ok
}

func pod(user string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jupyter-" + user, UID: types.UID("uid-" + user)}}
}

func secret(p *corev1.Pod, ownerUID types.UID, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.Name,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: ownerUID}}},
		Data: map[string][]byte{"JUPYTERHUB_API_TOKEN": []byte("hub-token")}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestRenewAll(t *testing.T) {
	t.Parallel()
	const ttl = 10 * time.Hour
	type want int
	const (
		kept want = iota
		renewed
	)
	for _, tc := range []struct {
		name   string
		status session.Status
		owner  string // "" is the pod itself
		token  string // "" is no token key; "UID" is replaced by the pod's
		want   want
	}{
		{name: "fresh token", status: session.StatusRunning, token: "u||UID|" + fmt.Sprint(now.Add(9*time.Hour).Unix()), want: kept},
		{name: "just over half left", status: session.StatusRunning, token: "u||UID|" + fmt.Sprint(now.Add(5*time.Hour+time.Minute).Unix()), want: kept},
		{name: "less than half left", status: session.StatusRunning, token: "u||UID|" + fmt.Sprint(now.Add(4*time.Hour).Unix()), want: renewed},
		{name: "expired (the service was down)", status: session.StatusRunning, token: "u||UID|" + fmt.Sprint(now.Add(-time.Hour).Unix()), want: renewed},
		{name: "does not verify (another key)", status: session.StatusRunning, token: "forged", want: renewed},
		{name: "names another pod", status: session.StatusRunning, token: "u||uid-old|" + fmt.Sprint(now.Add(9*time.Hour).Unix()), want: renewed},
		{name: "no session token in the Secret", status: session.StatusRunning, token: "", want: kept},
		{name: "the Secret of a previous pod", status: session.StatusRunning, owner: "uid-old", token: "forged", want: kept},
		{name: "session not running", status: session.StatusStopping, token: "forged", want: kept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := pod("u")
			owner := p.UID
			if tc.owner != "" {
				owner = types.UID(tc.owner)
			}
			data := map[string]string{}
			if tc.token != "" {
				data[podspec.SessionTokenKey] = strings.Replace(tc.token, "UID", string(p.UID), 1)
			}
			client := fake.NewClientset(secret(p, owner, data))
			sessions := &fakeSessions{list: []session.Session{{User: "u", Status: tc.status, Pod: p.Name}}, pods: map[string]*corev1.Pod{"u": p}}
			r := New(client, ns, sessions, fakeTokens{ttl}, ttl, slog.New(slog.DiscardHandler))
			r.now = func() time.Time { return now }

			r.RenewAll(context.Background())

			got, err := client.CoreV1().Secrets(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, "hub-token", string(got.Data["JUPYTERHUB_API_TOKEN"]), "the hub's environment is left alone")
			switch tc.want {
			case kept:
				assert.Equal(t, data[podspec.SessionTokenKey], string(got.Data[podspec.SessionTokenKey]))
			case renewed:
				assert.Equal(t, token("u", string(p.UID), now.Add(ttl)), string(got.Data[podspec.SessionTokenKey]))
			}
		})
	}
}

func TestRenewAllGoesOnAfterAFailure(t *testing.T) {
	t.Parallel()
	a, b := pod("a"), pod("b")
	// a's Secret is gone (its session is stopping); b's is still renewed.
	client := fake.NewClientset(secret(b, b.UID, map[string]string{podspec.SessionTokenKey: "forged"}))
	sessions := &fakeSessions{
		list: []session.Session{{User: "a", Status: session.StatusRunning}, {User: "b", Status: session.StatusRunning}},
		pods: map[string]*corev1.Pod{"a": a, "b": b},
	}
	r := New(client, ns, sessions, fakeTokens{time.Hour}, time.Hour, slog.New(slog.DiscardHandler))
	r.now = func() time.Time { return now }
	r.RenewAll(context.Background())
	got, err := client.CoreV1().Secrets(ns).Get(context.Background(), b.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, token("b", string(b.UID), now.Add(time.Hour)), string(got.Data[podspec.SessionTokenKey]))
}

func TestInterval(t *testing.T) {
	t.Parallel()
	assert.Equal(t, time.Hour, Interval(168*time.Hour))
	assert.Equal(t, 30*time.Minute, Interval(2*time.Hour))
	assert.Equal(t, 2*time.Second, Interval(8*time.Second))
	assert.Equal(t, time.Second, Interval(time.Second))
}
