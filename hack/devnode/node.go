package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// The dev node's label and taint: only pods that tolerate the taint land
// here, and those that must land here select the label.
const (
	devnodeLabel = "kubedesk.dev/devnode"
	leaseNS      = "kube-node-lease"
	// leaseDuration and the renew period follow the kubelet (40 s, every
	// 10 s); the node controller marks a node whose lease expires NotReady.
	leaseDuration = 40
	leaseRenew    = 10 * time.Second
	statusRenew   = time.Minute
)

// node registers the Node object and keeps it Ready.
type node struct {
	client      kubernetes.Interface
	name        string
	log         *slog.Logger
	allocatable corev1.ResourceList
	version     string
	// labelValue is the value of the kubedesk.dev/devnode label and taint:
	// "true" for the dev node; a test's own dev node uses another, so that
	// pods meant for devnode-0 never land on it.
	labelValue string
}

// register creates the Node, or takes over an existing one: our label and
// taint are set, other taints (the node controller's) are left alone.
func (n *node) register(ctx context.Context) error {
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Labels: map[string]string{
				"kubernetes.io/hostname": n.name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     runtime.GOARCH,
				"type":                   "devnode",
				devnodeLabel:             n.labelValue,
			},
			Annotations: map[string]string{
				devnodeLabel: "runs pods as processes on this machine (hack/devnode)",
			},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: devnodeLabel, Value: n.labelValue, Effect: corev1.TaintEffectNoSchedule}}},
	}
	nodes := n.client.CoreV1().Nodes()
	_, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := nodes.Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for k, v := range want.Labels {
				metav1.SetMetaDataLabel(&cur.ObjectMeta, k, v)
			}
			for k, v := range want.Annotations {
				metav1.SetMetaDataAnnotation(&cur.ObjectMeta, k, v)
			}
			taints := []corev1.Taint{want.Spec.Taints[0]}
			for _, t := range cur.Spec.Taints {
				if t.Key != devnodeLabel {
					taints = append(taints, t)
				}
			}
			cur.Spec.Taints = taints
			_, err = nodes.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	}
	if err != nil {
		return err
	}
	return n.setStatus(ctx, true)
}

// setStatus posts the node's status: capacity, addresses and conditions.
func (n *node) setStatus(ctx context.Context, ready bool) error {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	readyCond := cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "devnode is posting ready status")
	if !ready {
		readyCond = cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", "devnode stopped")
	}
	conds := []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "devnode does not measure memory"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "devnode does not measure disk"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "devnode does not measure PIDs"),
		readyCond,
	}
	// Keep a condition's transition time while its status holds.
	if cur, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err == nil {
		for i := range conds {
			for _, c := range cur.Status.Conditions {
				if c.Type == conds[i].Type && c.Status == conds[i].Status {
					conds[i].LastTransitionTime = c.LastTransitionTime
				}
			}
		}
	}
	status := corev1.NodeStatus{
		Capacity:    n.allocatable,
		Allocatable: n.allocatable,
		Conditions:  conds,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: hostIP},
			{Type: corev1.NodeHostName, Address: n.name},
		},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          n.version,
			ContainerRuntimeVersion: "devnode://host-processes",
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
			KernelVersion:           kernelVersion(),
			OSImage:                 osImage(),
		},
	}
	data, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = n.client.CoreV1().Nodes().Patch(ctx, n.name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	return err
}

// heartbeat renews the node's Lease every 10 s and its status every minute
// until ctx ends.
func (n *node) heartbeat(ctx context.Context) {
	leaseT := time.NewTicker(leaseRenew)
	statusT := time.NewTicker(statusRenew)
	defer leaseT.Stop()
	defer statusT.Stop()
	n.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaseT.C:
			n.renewLease(ctx)
		case <-statusT.C:
			if err := n.setStatus(ctx, true); err != nil && ctx.Err() == nil {
				n.log.Warn("Node status", "err", err)
			}
		}
	}
}

func (n *node) renewLease(ctx context.Context) {
	leases := n.client.CoordinationV1().Leases(leaseNS)
	now := metav1.NewMicroTime(time.Now())
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			nodeObj, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{
					Name: n.name,
					OwnerReferences: []metav1.OwnerReference{{
						APIVersion: "v1", Kind: "Node", Name: n.name, UID: nodeObj.UID,
					}},
				},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       &n.name,
					LeaseDurationSeconds: new(int32(leaseDuration)),
					RenewTime:            &now,
				},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		l.Spec.HolderIdentity = &n.name
		l.Spec.LeaseDurationSeconds = new(int32(leaseDuration))
		l.Spec.RenewTime = &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil {
		n.log.Warn("Renew node lease", "err", err)
	}
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func osImage() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "linux"
}
