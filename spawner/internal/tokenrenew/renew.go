package tokenrenew

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
	"kubedesk.dev/kubedesk/spawner/internal/session"
	"kubedesk.dev/kubedesk/spawner/internal/sessiontoken"
)

// Sessions is what the Renewer needs of the session manager.
type Sessions interface {
	// Ready reports whether the sessions were rebuilt from the cluster.
	Ready() bool
	List() []session.Session
	// SessionPod is the running pod of a session, from the informer cache.
	SessionPod(key session.Key) (*corev1.Pod, string, bool)
}

// Tokens mints and verifies session tokens: *sessiontoken.Signer.
type Tokens interface {
	Mint(user, server, sessionUID string) (string, error)
	Verify(token string) (*sessiontoken.Claims, error)
}

// Renewer renews the session tokens of running sessions; see the package
// documentation.
type Renewer struct {
	client    kubernetes.Interface
	namespace string
	sessions  Sessions
	tokens    Tokens
	ttl       time.Duration
	log       *slog.Logger
	now       func() time.Time
}

// New returns a Renewer for the sessions in namespace whose tokens tokens
// mints with lifetime ttl.
func New(client kubernetes.Interface, namespace string, sessions Sessions, tokens Tokens, ttl time.Duration, log *slog.Logger) *Renewer {
	return &Renewer{client: client, namespace: namespace, sessions: sessions, tokens: tokens, ttl: ttl, log: log, now: time.Now}
}

// Interval is how often the Renewer looks at the sessions: a quarter of the
// TTL, at most an hour and at least a second. With renewal below half the
// TTL, a token always has at least a quarter of it left.
func Interval(ttl time.Duration) time.Duration {
	return min(max(ttl/4, time.Second), time.Hour)
}

// Start renews tokens once the sessions are rebuilt and then every
// Interval, until ctx ends.
func (r *Renewer) Start(ctx context.Context) error {
	interval := Interval(r.ttl)
	for !r.sessions.Ready() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		r.RenewAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// RenewAll renews the token of every running session that needs it. A
// failure is logged and tried again at the next round.
func (r *Renewer) RenewAll(ctx context.Context) {
	for _, s := range r.sessions.List() {
		if s.Status != session.StatusRunning {
			continue
		}
		pod, _, ok := r.sessions.SessionPod(session.Key{User: s.User, Server: s.Server})
		if !ok {
			continue
		}
		if err := r.renew(ctx, s.User, s.Server, pod); err != nil && ctx.Err() == nil {
			r.log.Warn("Renewing a session token failed", "user", s.User, "server", s.Server, "pod", pod.Name, "err", err)
		}
	}
}

// renew replaces the token in the session pod's Secret when it has less
// than half the TTL left, does not verify, or names another pod.
func (r *Renewer) renew(ctx context.Context, user, server string, pod *corev1.Pod) error {
	// The Secret is named like the pod (podspec.HubEnvSecret).
	secret, err := r.client.CoreV1().Secrets(r.namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // the session is going away
	}
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", r.namespace, pod.Name, err)
	}
	if !ownedBy(secret, pod.UID) {
		// The Secret of a previous pod of the same name, which the new
		// spawn has not taken over yet: not this pod's to renew.
		return nil
	}
	old, ok := secret.Data[podspec.SessionTokenKey]
	if !ok {
		return nil // a session without a launcher token
	}
	claims, err := r.tokens.Verify(string(old))
	why := ""
	switch {
	case err != nil:
		why = err.Error()
	case claims.SessionUID != string(pod.UID):
		why = "it names another pod"
	case claims.ExpiresAt == nil || claims.ExpiresAt.Sub(r.now()) < r.ttl/2:
		why = "less than half its lifetime is left"
	default:
		return nil
	}
	token, err := r.tokens.Mint(user, server, string(pod.UID))
	if err != nil {
		return err
	}
	// An update of the Secret as read: its resourceVersion makes it fail
	// (and the next round try again) rather than write over a change made
	// since. Not a patch: the chart grants the service get, create and
	// update on Secrets, nothing more.
	secret = secret.DeepCopy()
	secret.Data[podspec.SessionTokenKey] = []byte(token)
	if _, err := r.client.CoreV1().Secrets(r.namespace).Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update secret %s/%s: %w", r.namespace, secret.Name, err)
	}
	r.log.Info("Session token renewed", "user", user, "server", server, "pod", pod.Name, "why", why, "ttl", r.ttl)
	return nil
}

func ownedBy(obj *corev1.Secret, uid types.UID) bool {
	for _, ref := range obj.OwnerReferences {
		if ref.UID == uid {
			return true
		}
	}
	return false
}
