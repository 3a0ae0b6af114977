package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// kubelet follows the pods bound to the dev node (one informer, field
// selector spec.nodeName) and gives each a podWorker.
type kubelet struct {
	client      kubernetes.Interface
	log         *slog.Logger
	nodeName    string
	repo        string
	stateDir    string
	images      *imageTable
	ips         *ipPool
	reaper      *reaper
	allocatable corev1.ResourceList

	// Crash loop back-off: shorter than the kubelet's 10 s to 5 min, so
	// that tests and demos see a crash loop in seconds.
	backoffInitial, backoffMax, backoffReset time.Duration
	// shutdownGrace caps each pod's grace period when the dev node stops.
	shutdownGrace time.Duration

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	stopping bool
}

// run serves pods until ctx ends, then stops every pod (see shutdown).
func (k *kubelet) run(ctx context.Context) error {
	k.workers = map[types.UID]*podWorker{}
	// Output of pods from an earlier run is of no use; their processes
	// died with it (parent-death signal).
	_ = os.RemoveAll(filepath.Join(k.stateDir, "logs"))
	_ = os.RemoveAll(filepath.Join(k.stateDir, "pods"))
	factory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.nodeName=" + k.nodeName
		}))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.sync(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.sync(obj.(*corev1.Pod)) },
		DeleteFunc: k.deleted,
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	// Pods start as the informer delivers them, before it has synced; a
	// stop even then must go through shutdown.
	if cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		k.log.Info("Dev node serving pods", "node", k.nodeName)
	}
	<-ctx.Done()
	k.shutdown()
	factory.Shutdown()
	return nil
}

func (k *kubelet) sync(pod *corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopping {
		return
	}
	w := k.workers[pod.UID]
	if w != nil {
		w.update(pod)
	}
	if pod.DeletionTimestamp != nil {
		if w == nil {
			// Never ran here (or ran before this dev node started).
			go k.deletePod(context.Background(), pod.Namespace, pod.Name, pod.UID)
			return
		}
		w.terminate(deletionGrace(pod), false)
		return
	}
	if w != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	ip, err := k.ips.allocate(pod.Status.PodIP)
	if err != nil {
		k.log.Error("No pod IP", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return
	}
	w = newPodWorker(k, pod, ip)
	k.workers[pod.UID] = w
	go func() {
		w.run()
		k.mu.Lock()
		delete(k.workers, w.uid)
		k.mu.Unlock()
	}()
}

// deleted: the object is gone without us (a force delete); stop at once.
func (k *kubelet) deleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w != nil {
		w.terminate(0, false)
	}
}

// deletionGrace is the delete's grace period, else the pod's.
func deletionGrace(pod *corev1.Pod) time.Duration {
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// deletePod removes the pod object once its processes are gone, as the
// kubelet does: grace 0, and only the pod with this UID.
func (k *kubelet) deletePod(ctx context.Context, ns, name string, uid types.UID) {
	err := k.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.log.Error("Delete pod", "pod", ns+"/"+name, "err", err)
	}
}

// shutdown stops every pod's processes (SIGTERM, at most shutdownGrace,
// SIGKILL) and marks the pods Failed, as the kubelet's graceful node
// shutdown does; the pods stay for whoever owns them to see.
func (k *kubelet) shutdown() {
	k.mu.Lock()
	k.stopping = true
	workers := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		workers = append(workers, w)
	}
	k.mu.Unlock()
	k.log.Info("Stopping pods", "count", len(workers))
	for _, w := range workers {
		w.terminate(min(w.terminationGrace(), k.shutdownGrace), true)
	}
	timeout := time.After(k.shutdownGrace + 10*time.Second)
	for _, w := range workers {
		select {
		case <-w.done:
		case <-timeout:
			k.log.Error("Pod did not stop in time", "pod", w.ns+"/"+w.name)
		}
	}
}

// ipPool hands out pod IPs from a CIDR (127.43.0.0/16: every 127/8 address
// is local on Linux, so each pod listens on an address of its own). It goes
// round the range rather than reuse a freed address at once.
type ipPool struct {
	mu   sync.Mutex
	base uint32
	size uint32
	next uint32
	used map[string]bool
}

func newIPPool(cidr string) (*ipPool, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ones, bits := n.Mask.Size()
	if n.IP.To4() == nil || bits-ones < 2 {
		return nil, fmt.Errorf("pod CIDR %s: need an IPv4 range with room", cidr)
	}
	return &ipPool{base: binary.BigEndian.Uint32(n.IP.To4()), size: 1 << (bits - ones), next: 1, used: map[string]bool{}}, nil
}

// allocate returns prefer if it is free and in range (a pod that already
// had an IP keeps it), else the next free address.
func (p *ipPool) allocate(prefer string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip := net.ParseIP(prefer).To4(); ip != nil {
		off := binary.BigEndian.Uint32(ip) - p.base
		if off > 0 && off < p.size-1 && !p.used[prefer] {
			p.used[prefer] = true
			return prefer, nil
		}
	}
	for range p.size {
		off := p.next
		p.next++
		if p.next >= p.size-1 {
			p.next = 1
		}
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, p.base+off)
		if s := ip.String(); !p.used[s] {
			p.used[s] = true
			return s, nil
		}
	}
	return "", fmt.Errorf("all pod IPs in use")
}

func (p *ipPool) release(ip string) {
	p.mu.Lock()
	delete(p.used, ip)
	p.mu.Unlock()
}
