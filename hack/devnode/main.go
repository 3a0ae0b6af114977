// Command devnode is a kubelet stand-in for the dev cluster: it registers a
// Node (devnode-0) and runs the containers of the pods bound to it as
// processes on this machine, because this machine has no container runtime
// and the kwok nodes only pretend to run pods. Dev tooling, not product.
//
// Images map to host commands through images.yaml (Docker's ENTRYPOINT/CMD
// rules). Each pod gets a loopback IP of its own (127.43.0.0/16), so pods can
// all listen on the same port; each container runs in a mount namespace of
// its own, where the pod's private /tmp (shared by the pod's containers) and
// its volumes are bind-mounted, as the pod's user. Status is the truth:
// Running when the processes run, Ready when the readiness probe passes,
// restarts, exit codes, CrashLoopBackOff, Succeeded/Failed. Deletion sends
// SIGTERM, waits the grace period, sends SIGKILL and leaves no process.
//
// Only pods that tolerate the taint kubedesk.dev/devnode=true:NoSchedule
// land here; to land here, select the label kubedesk.dev/devnode=true.
// hack/dev-cluster.sh starts and stops it with the cluster.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == initCommand {
		containerInit() // becomes the container's command; never returns
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devnode:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the dev cluster")
	nodeName := flag.String("node-name", "devnode-0", "name of the Node to register")
	labelValue := flag.String("label-value", "true", "value of the node's kubedesk.dev/devnode label and taint (pods select kubedesk.dev/devnode=true)")
	repo := flag.String("repo", ".", "kubedesk checkout: image entrypoints are relative to it")
	images := flag.String("images", "", "image table (default <repo>/hack/devnode/images.yaml)")
	stateDir := flag.String("state-dir", "", "pods' directories and logs (default <repo>/.cache/devnode/<node-name>)")
	podCIDR := flag.String("pod-cidr", "127.43.0.0/16", "pod IPs (loopback, apart from kwok's 127.42.0.0/16)")
	cpu := flag.String("cpu", "64", "CPU capacity to advertise (pods are not limited)")
	memory := flag.String("memory", "256Gi", "memory capacity to advertise")
	maxPods := flag.String("max-pods", "110", "pod capacity to advertise")
	backoffInitial := flag.Duration("backoff-initial", time.Second, "first crash loop back-off")
	backoffMax := flag.Duration("backoff-max", time.Minute, "longest crash loop back-off")
	shutdownGrace := flag.Duration("shutdown-grace", 10*time.Second, "longest grace period for each pod when the dev node stops")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (mount namespaces, bind mounts, switching to the pods' users)")
	}
	absRepo, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	if *images == "" {
		*images = filepath.Join(absRepo, "hack", "devnode", "images.yaml")
	}
	if *stateDir == "" {
		*stateDir = filepath.Join(absRepo, ".cache", "devnode", *nodeName)
	}
	alloc := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: *cpu, corev1.ResourceMemory: *memory,
		corev1.ResourcePods: *maxPods, corev1.ResourceEphemeralStorage: "1Ti"} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("capacity %s: %w", name, err)
		}
		alloc[name] = q
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "kubedesk-devnode"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	table, err := newImageTable(*images, absRepo)
	if err != nil {
		return err
	}
	ips, err := newIPPool(*podCIDR)
	if err != nil {
		return err
	}
	reaper, err := newReaper()
	if err != nil {
		return err
	}
	version := "v0.0.0-devnode"
	if v, err := client.Discovery().ServerVersion(); err == nil {
		version = v.GitVersion
	}
	n := &node{client: client, name: *nodeName, log: log, allocatable: alloc, version: version, labelValue: *labelValue}
	if err := n.register(ctx); err != nil {
		return fmt.Errorf("register node %s: %w", *nodeName, err)
	}
	hbCtx, stopHeartbeat := context.WithCancel(context.Background())
	go n.heartbeat(hbCtx)

	k := &kubelet{
		client: client, log: log, nodeName: *nodeName, repo: absRepo, stateDir: *stateDir,
		images: table, ips: ips, reaper: reaper, allocatable: alloc,
		backoffInitial: *backoffInitial, backoffMax: *backoffMax, backoffReset: 2 * *backoffMax,
		shutdownGrace: *shutdownGrace,
	}
	log.Info("Dev node starting", "node", *nodeName, "images", *images, "stateDir", *stateDir, "podCIDR", *podCIDR)
	err = k.run(ctx)
	stopHeartbeat()
	// Tell the scheduler at once rather than after the lease expires.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := n.setStatus(sctx, false); serr != nil {
		log.Warn("Mark node not ready", "err", serr)
	}
	log.Info("Dev node stopped")
	return err
}
