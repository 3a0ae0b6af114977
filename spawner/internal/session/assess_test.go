package session

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
)

func pod(edit func(p *corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name:  notebookContainer,
		Ports: []corev1.ContainerPort{{Name: "notebook-port", ContainerPort: 8888}},
	}}}}
	p.Status.Phase = corev1.PodPending
	edit(p)
	return p
}

func waiting(reason, msg string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: notebookContainer, Image: "quay.io/example/desktop:1", RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
		}}
	}
}

func TestAssess(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		pod     *corev1.Pod
		want    podState
		wantMsg string
	}{
		{
			name: "running and ready gives the URL from notebook-port",
			pod: pod(func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports[0].ContainerPort = 9999
				p.Status.Phase, p.Status.PodIP = corev1.PodRunning, "127.42.0.7"
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			}),
			want: podState{ready: true, url: "http://127.42.0.7:9999"},
		},
		{
			name: "running but not ready waits",
			pod: pod(func(p *corev1.Pod) {
				p.Status.Phase, p.Status.PodIP = corev1.PodRunning, "127.42.0.7"
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			}),
			want: podState{},
		},
		{
			name:    "image pull failure fails at once with the image named",
			pod:     pod(waiting("ErrImagePull", "rpc error: manifest unknown")),
			want:    podState{failed: true, reason: ReasonImagePull},
			wantMsg: "The image quay.io/example/desktop:1 could not be downloaded: rpc error: manifest unknown",
		},
		{
			name:    "back-off on the pull is the same failure",
			pod:     pod(waiting("ImagePullBackOff", "Back-off pulling image")),
			want:    podState{failed: true, reason: ReasonImagePull},
			wantMsg: "The image quay.io/example/desktop:1 could not be downloaded: Back-off pulling image",
		},
		{
			name:    "crash loop fails with the restart count",
			pod:     pod(waiting("CrashLoopBackOff", "back-off 40s")),
			want:    podState{failed: true, reason: ReasonCrashLoop},
			wantMsg: "The notebook container keeps crashing (restarted 4 times).",
		},
		{
			name: "a missing hub env Secret is a short wait, not a failure",
			pod:  pod(waiting("CreateContainerConfigError", `secret "jupyter-alice" not found`)),
			want: podState{waiting: "Starting the desktop's containers."},
		},
		{
			name:    "other container config errors fail",
			pod:     pod(waiting("CreateContainerConfigError", "invalid user 0")),
			want:    podState{failed: true, reason: ReasonConfig},
			wantMsg: "The notebook container could not be started: invalid user 0",
		},
		{
			name: "unschedulable is reported, not failed (the grace timer decides)",
			pod: pod(func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.\nmore"}}
			}),
			want: podState{unschedulable: true, waiting: "No node has room for this session yet: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."},
		},
		{
			name: "an unbound home volume is a wait, not unschedulable",
			pod: pod(func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonUnschedulable, Message: "0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: not eligible"}}
			}),
			want: podState{waiting: "Waiting for your home directory's volume to be ready."},
		},
		{
			name: "a failed pod reports the notebook's exit code",
			pod: pod(func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: notebookContainer,
					State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Message: "Out of memory.\nkilled"}}}}
			}),
			want:    podState{ended: true, exitCode: 3, ending: "The desktop session ended (exit code 3). Out of memory.", failed: true, reason: ReasonExited},
			wantMsg: "The desktop session ended (exit code 3) before it was ready. Out of memory.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := assess(tc.pod)
			assert.Equal(t, tc.wantMsg, got.message)
			got.message = ""
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestEventMessage(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		event corev1.Event
		want  string
	}{
		"pulling is explained":                    {corev1.Event{Reason: "Pulling", Message: "Pulling image \"x\""}, "Downloading the desktop image; the first time on a node this can take a few minutes."},
		"scheduling waits are phrased":            {corev1.Event{Reason: "FailedScheduling", Message: "0/3 nodes are available"}, "Waiting for room in the cluster: 0/3 nodes are available"},
		"an unbound volume is not a lack of room": {corev1.Event{Reason: "FailedScheduling", Message: "0/5 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found"}, "Waiting for your home directory's volume to be ready."},
		"created is silent":                       {corev1.Event{Reason: "Created"}, ""},
		"unknown normal is silent":                {corev1.Event{Reason: "SandboxChanged", Type: corev1.EventTypeNormal}, ""},
		"unknown warning is shown":                {corev1.Event{Reason: "Odd", Type: corev1.EventTypeWarning, Message: "disk pressure"}, "disk pressure"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, eventMessage(&tc.event))
		})
	}
}
