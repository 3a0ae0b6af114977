package devcluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The dev node (hack/devnode): the one node of the dev cluster whose pods
// really run, as processes on this machine.
const (
	// DevnodeName is its Node's name.
	DevnodeName = "devnode-0"
	// DevnodeLabel (value "true") is on the node, and DevnodeTaint
	// (NoSchedule) keeps every pod that does not tolerate it off the node.
	DevnodeLabel = "kubedesk.dev/devnode"
	DevnodeTaint = "kubedesk.dev/devnode"
)

// DevnodeProfileOverride is the kubespawner_override (YAML, indented for a
// profile's `kubespawner_override:` block) that puts a kubedesk session on
// the dev node.
const DevnodeProfileOverride = `
    node_selector:
      kubedesk.dev/devnode: "true"
    tolerations:
      - key: kubedesk.dev/devnode
        operator: Exists
        effect: NoSchedule
`

// OnDevnode schedules a pod spec onto the dev node: its label as node
// selector and a toleration of its taint.
func OnDevnode(spec *corev1.PodSpec) { onNode(spec, DevnodeLabel, DevnodeTaint) }

// onNode schedules a pod spec onto a node labelled label=true and tainted
// taint (NoSchedule).
func onNode(spec *corev1.PodSpec, label, taint string) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector[label] = "true"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
		Key: taint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
	})
}

// ContainerPID is the host pid of a running container of a pod on the dev
// node, from its status's containerID (devnode://<pid>).
func ContainerPID(pod *corev1.Pod, container string) (int, error) {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != container {
			continue
		}
		rest, ok := strings.CutPrefix(cs.ContainerID, "devnode://")
		if !ok || cs.State.Running == nil {
			return 0, fmt.Errorf("pod %s: container %s is not running on the dev node (containerID %q)", pod.Name, container, cs.ContainerID)
		}
		return strconv.Atoi(rest)
	}
	return 0, fmt.Errorf("pod %s has no status of container %s", pod.Name, container)
}

// ContainerFile is the host path of a path inside a dev node container's
// mount namespace (its private /tmp, its volumes): /proc/<pid>/root/<path>.
// Reading it needs root, or the container's uid.
func ContainerFile(pid int, path string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", pid), path)
}

// Process identifies one process across pid reuse: its pid and its start
// time (clock ticks since boot, /proc/<pid>/stat field 22).
type Process struct {
	PID   int
	Start uint64
	Cmd   string
}

// Alive reports whether the very same process still exists (and is not a
// zombie).
func (p Process) Alive() bool {
	start, state, err := procStat(p.PID)
	return err == nil && start == p.Start && state != 'Z'
}

// ContainerProcesses lists every process in the mount namespace of the
// container whose main process is pid: the container's whole process tree,
// daemons that left it included (the dev node gives each container its own
// mount namespace).
func ContainerProcesses(pid int) ([]Process, error) {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if other, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p)); err != nil || other != ns {
			continue
		}
		start, _, err := procStat(p)
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		out = append(out, Process{PID: p, Start: start, Cmd: strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no process in the mount namespace %s of pid %d", ns, pid)
	}
	return out, nil
}

// procStat reads a process's start time and state from /proc/<pid>/stat.
func procStat(pid int) (start uint64, state byte, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) may hold spaces and parentheses: fields after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	return start, fields[0][0], err
}
