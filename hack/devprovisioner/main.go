// Command devprovisioner is the dev cluster's storage: kwok runs no volume
// plugins and the cluster has no provisioner, so without it every home PVC
// would stay Pending and every session unschedulable. For each unbound claim
// it creates a hostPath PersistentVolume, pre-bound to the claim, under
// .cache/volumes; kube-controller-manager's binder completes the binding. It
// deletes volumes whose claim is gone. Dev tooling only: never part of the
// product.
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// provisionedBy marks the volumes this program made, so it deletes no other.
const provisionedBy = "kubedesk.dev/dev-provisioner"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devprovisioner:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the dev cluster")
	root := flag.String("root", ".cache/volumes", "directory that holds the volumes")
	flag.Parse()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0 // a spawn wave creates thousands of claims at once
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p := &provisioner{client: client, root: absRoot, log: log}

	factory := informers.NewSharedInformerFactory(client, 0)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	volumes := factory.Core().V1().PersistentVolumes().Informer()
	_, _ = claims.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.claim(ctx, obj.(*corev1.PersistentVolumeClaim)) },
		UpdateFunc: func(_, obj any) { p.claim(ctx, obj.(*corev1.PersistentVolumeClaim)) },
	})
	_, _ = volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.volume(ctx, obj.(*corev1.PersistentVolume)) },
		UpdateFunc: func(_, obj any) { p.volume(ctx, obj.(*corev1.PersistentVolume)) },
	})
	factory.Start(ctx.Done())
	log.Info("Dev provisioner running", "root", absRoot)
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

type provisioner struct {
	client kubernetes.Interface
	root   string
	log    *slog.Logger
}

func (p *provisioner) claim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) {
	if pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return
	}
	name := "pvc-" + string(pvc.UID)
	dir := filepath.Join(p.root, pvc.Namespace, pvc.Name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		p.log.Error("Create volume directory", "dir", dir, "err", err)
		return
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	capacity := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if capacity.IsZero() {
		capacity = resource.MustParse("1Gi")
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{provisionedBy: "true"}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: capacity},
			AccessModes:                   pvc.Spec.AccessModes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir},
			},
		},
	}
	_, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		p.log.Error("Create volume", "claim", pvc.Namespace+"/"+pvc.Name, "err", err)
	}
}

// volume deletes a volume whose claim was deleted (Released). The data stays
// on disk under root, as a Retain policy would leave it.
func (p *provisioner) volume(ctx context.Context, pv *corev1.PersistentVolume) {
	if pv.Labels[provisionedBy] != "true" || pv.Status.Phase != corev1.VolumeReleased {
		return
	}
	err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		p.log.Error("Delete released volume", "volume", pv.Name, "err", err)
	}
}
