package devcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"kubedesk.dev/kubedesk/test/devcluster"
	"kubedesk.dev/kubedesk/test/devcluster/podresponder"
)

const (
	// podReadyTimeout bounds create → Running+Ready. kwok needs well under a
	// second on an idle cluster; the margin is for a 2-core machine busy with
	// other builds and tests.
	podReadyTimeout = 60 * time.Second
	// gcTimeout bounds pod deleted → owned Secret gone. The garbage collector
	// reacts to the pod's delete event, so this is normally about a second.
	gcTimeout = 60 * time.Second
	// httpTimeout bounds one request to the responder.
	httpTimeout = 5 * time.Second
)

// TestDevCluster proves what the other tests rely on: a pod is scheduled onto
// a kwok node and becomes Running and Ready with a loopback IP, that IP
// answers HTTP through the responder, and kube-controller-manager's garbage
// collector removes an object whose owner pod is deleted.
func TestDevCluster(t *testing.T) {
	c := devcluster.Start(t)
	resp := devcluster.StartResponder(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	pods := c.Client.CoreV1().Pods(ns)
	pod, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "session"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "notebook",
				Image: "kubedesk.dev/never-pulled:latest", // kwok runs no containers
				Ports: []corev1.ContainerPort{{ContainerPort: podresponder.Port}},
			}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	created := time.Now()

	// What a spawner does with its session's secrets: owned by the pod, so
	// that deleting the pod is all the cleanup there is.
	secret, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "session-token",
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
			}},
		},
		StringData: map[string]string{"token": "x"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	readyCtx, cancel := context.WithTimeout(ctx, podReadyTimeout)
	defer cancel()
	last := pod // for the failure message: where the pod got stuck
	ev, err := watchtools.UntilWithSync(readyCtx, listWatch(c.Client, "pods", ns, pod.Name), &corev1.Pod{}, nil,
		func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				return false, nil
			}
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("pod %s deleted while waiting for it", p.Name)
			}
			last = p
			return p.Status.Phase == corev1.PodRunning && isReady(p) && p.Status.PodIP != "", nil
		})
	require.NoError(t, err, "pod did not become Running+Ready within %v; last seen on node %q: %+v",
		podReadyTimeout, last.Spec.NodeName, last.Status)
	ready := ev.Object.(*corev1.Pod)
	t.Logf("pod %s Running+Ready on %s with IP %s, %v after create",
		ready.Name, ready.Spec.NodeName, ready.Status.PodIP, time.Since(created).Round(time.Millisecond))

	ip := net.ParseIP(ready.Status.PodIP)
	_, loopback, _ := net.ParseCIDR("127.42.0.0/16")
	require.True(t, loopback.Contains(ip), "pod IP %s is not in %s", ip, loopback)
	require.True(t, strings.HasPrefix(ready.Spec.NodeName, "kwok-node-"),
		"untolerating pod landed on %q, not a general node", ready.Spec.NodeName)

	// JupyterHub's readiness check: GET <server url>/api on the pod's IP.
	httpc := &http.Client{Timeout: httpTimeout}
	res, err := httpc.Get(resp.URL(ready.Status.PodIP) + "/user/alice/api")
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, podresponder.Identity, res.Header.Get(podresponder.IdentityHeader))
	require.NotEmpty(t, res.Header.Get(podresponder.JupyterHubVersionHeader), "the hub reads it after its poll")
	var version struct{ Version string }
	require.NoError(t, json.Unmarshal(body, &version), "body %q", body)
	require.Equal(t, podresponder.Identity, version.Version)

	res, err = httpc.Get(resp.URL(ready.Status.PodIP) + "/user/alice/lab")
	require.NoError(t, err)
	body, err = io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), ready.Status.PodIP, "the responder names the pod IP it was reached at")

	// Deleting the pod must take the Secret with it (garbage collector).
	require.NoError(t, pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}))
	deleted := time.Now()
	gcCtx, cancel := context.WithTimeout(ctx, gcTimeout)
	defer cancel()
	_, err = watchtools.UntilWithSync(gcCtx, listWatch(c.Client, "secrets", ns, secret.Name), &corev1.Secret{},
		// Already gone by the time the watch has synced: nothing to wait for.
		func(store cache.Store) (bool, error) {
			_, exists, err := store.GetByKey(ns + "/" + secret.Name)
			return !exists, err
		},
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	require.NoError(t, err, "owned Secret not garbage-collected within %v of deleting its pod", gcTimeout)
	t.Logf("owned Secret garbage-collected %v after pod delete", time.Since(deleted).Round(time.Millisecond))
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// listWatch watches one named object of a core/v1 resource.
func listWatch(client kubernetes.Interface, resource, ns, name string) cache.ListerWatcher {
	return cache.NewListWatchFromClient(client.CoreV1().RESTClient(), resource, ns,
		fields.OneTermEqualSelector("metadata.name", name))
}
