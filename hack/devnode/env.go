package main

import (
	"context"
	"fmt"
	"math"
	"os/user"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// waitError keeps a container waiting with a kubelet reason
// (CreateContainerConfigError, ErrImagePull, ...) until a retry succeeds.
type waitError struct{ reason, msg string }

func (e *waitError) Error() string { return e.msg }

func configError(format string, args ...any) error {
	return &waitError{reason: "CreateContainerConfigError", msg: fmt.Sprintf(format, args...)}
}

// getSecret and getConfigMap fetch on demand, as a container starts (or
// retries): a dev node runs a handful of pods, so a cache of every Secret in
// the cluster would cost more than it saves. A missing object is the
// kubelet's CreateContainerConfigError, retried until it appears.
func (w *podWorker) getSecret(ctx context.Context, name string) (*corev1.Secret, error) {
	s, err := w.k.client.CoreV1().Secrets(w.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, configError("secret %q not found", name)
	}
	return s, err
}

func (w *podWorker) getConfigMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	cm, err := w.k.client.CoreV1().ConfigMaps(w.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, configError("configmap %q not found", name)
	}
	return cm, err
}

func isNotFound(err error) bool {
	we, ok := err.(*waitError)
	return ok && strings.HasSuffix(we.msg, "not found")
}

// envList is an ordered environment where a later Set replaces the value
// but keeps the first position, as the kubelet builds it.
type envList struct {
	names  []string
	values map[string]string
}

func (e *envList) Set(k, v string) {
	if e.values == nil {
		e.values = map[string]string{}
	}
	if _, ok := e.values[k]; !ok {
		e.names = append(e.names, k)
	}
	e.values[k] = v
}

func (e *envList) Get(k string) (string, bool) { v, ok := e.values[k]; return v, ok }

func (e *envList) Environ() []string {
	out := make([]string, 0, len(e.names))
	for _, k := range e.names {
		out = append(out, k+"="+e.values[k])
	}
	return out
}

// containerEnv builds a container's environment from nothing (never the dev
// node's own): defaults a container runtime sets, the image's ENV, envFrom,
// then env, which wins. $(VAR) references are expanded as the kubelet does.
func (w *podWorker) containerEnv(ctx context.Context, c corev1.Container, row imageRow, uid *int64) (*envList, error) {
	env := &envList{}
	env.Set("PATH", defaultPath)
	env.Set("HOSTNAME", w.name)
	for _, k := range sortedKeys(row.Env) {
		env.Set(k, row.Env[k])
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.SecretRef != nil:
			s, err := w.getSecret(ctx, from.SecretRef.Name)
			if err != nil {
				if isNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, err
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		case from.ConfigMapRef != nil:
			cm, err := w.getConfigMap(ctx, from.ConfigMapRef.Name)
			if err != nil {
				if isNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, err
			}
			data = cm.Data
		}
		for _, k := range sortedKeys(data) {
			name := from.Prefix + k
			if len(validation.IsEnvVarName(name)) > 0 {
				continue // the kubelet skips invalid names (and records an event)
			}
			env.Set(name, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			// Expansion sees what is defined so far, as in the kubelet.
			env.Set(e.Name, expand(e.Value, env.Get))
			continue
		}
		v, err := w.envValue(ctx, c, e)
		if err != nil {
			return nil, err
		}
		env.Set(e.Name, v)
	}
	if _, ok := env.Get("HOME"); !ok {
		env.Set("HOME", homeOf(uid))
	}
	return env, nil
}

func (w *podWorker) envValue(ctx context.Context, c corev1.Container, e corev1.EnvVar) (string, error) {
	if e.ValueFrom == nil {
		return e.Value, nil
	}
	optional := func(p *bool) bool { return p != nil && *p }
	switch from := e.ValueFrom; {
	case from.FieldRef != nil:
		return w.fieldValue(from.FieldRef.FieldPath)
	case from.ResourceFieldRef != nil:
		return w.resourceValue(c, from.ResourceFieldRef)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := w.getSecret(ctx, ref.Name)
		if err != nil {
			if isNotFound(err) && optional(ref.Optional) {
				return "", nil
			}
			return "", err
		}
		v, ok := s.Data[ref.Key]
		if !ok && !optional(ref.Optional) {
			return "", configError("couldn't find key %s in Secret %s/%s", ref.Key, w.ns, ref.Name)
		}
		return string(v), nil
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := w.getConfigMap(ctx, ref.Name)
		if err != nil {
			if isNotFound(err) && optional(ref.Optional) {
				return "", nil
			}
			return "", err
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !optional(ref.Optional) {
			return "", configError("couldn't find key %s in ConfigMap %s/%s", ref.Key, w.ns, ref.Name)
		}
		return v, nil
	}
	return "", configError("env %s: unsupported valueFrom", e.Name)
}

// fieldValue is the downward API (fieldRef) for env and volumes.
func (w *podWorker) fieldValue(path string) (string, error) {
	w.mu.Lock()
	meta := w.meta
	w.mu.Unlock()
	if key, ok := subscript(path, "metadata.labels"); ok {
		return meta.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return meta.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return w.name, nil
	case "metadata.namespace":
		return w.ns, nil
	case "metadata.uid":
		return string(w.uid), nil
	case "metadata.labels":
		return formatMap(meta.Labels), nil
	case "metadata.annotations":
		return formatMap(meta.Annotations), nil
	case "spec.nodeName":
		return w.k.nodeName, nil
	case "spec.serviceAccountName":
		return w.spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return w.ip, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", configError("unsupported fieldRef %q", path)
}

// subscript parses metadata.labels['key'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

func formatMap(m map[string]string) string {
	var lines []string
	for _, k := range sortedKeys(m) {
		lines = append(lines, k+"="+strconv.Quote(m[k]))
	}
	return strings.Join(lines, "\n")
}

// resourceValue is resourceFieldRef: a limit falls back to the node's
// allocatable, as the kubelet does.
func (w *podWorker) resourceValue(c corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	which, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", configError("unsupported resourceFieldRef %q", ref.Resource)
	}
	list := c.Resources.Limits
	if which == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		if which == "requests" {
			return "0", nil
		}
		q = w.k.allocatable[corev1.ResourceName(name)]
	}
	divisor := resource.MustParse("1")
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor
	}
	v := math.Ceil(q.AsApproximateFloat64() / divisor.AsApproximateFloat64())
	return strconv.FormatInt(int64(v), 10), nil
}

// expand replaces $(VAR) with the value of VAR when it is defined and turns
// $$ into $, as Kubernetes expands env values, command and args.
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// homeOf is HOME as a runtime sets it: from the user's passwd entry, else /.
func homeOf(uid *int64) string {
	id := int64(0)
	if uid != nil {
		id = *uid
	}
	if u, err := user.LookupId(strconv.FormatInt(id, 10)); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
