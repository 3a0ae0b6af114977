package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// initCommand is the first argument with which the dev node re-executes
// itself as a container's first process (see containerInit).
const initCommand = "__devnode_container_init"

// Descriptors of the pipes between the dev node and containerInit.
const (
	specFD  = 3 // the dev node writes initSpec as JSON, then closes
	errorFD = 4 // containerInit writes why it failed; close-on-exec, so EOF means exec succeeded
)

// initSpec is what containerInit does before it becomes the container.
type initSpec struct {
	// Mounts are bind mounts in order; /tmp comes first.
	Mounts []mountSpec `json:"mounts"`
	// Keep are host directories that stay visible at their own path after
	// the mounts, even under the pod's /tmp (a checkout in /tmp).
	Keep []string `json:"keep,omitempty"`
	// SetUser: switch to UID/GID/Groups (runAsUser, runAsGroup, fsGroup and
	// supplementalGroups); otherwise stay root, as an image without USER.
	SetUser bool     `json:"setUser"`
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	Groups  []uint32 `json:"groups"`
	Dir     string   `json:"dir"`
	Argv    []string `json:"argv"`
	// ParentPID is the dev node; if it is already gone, do not start.
	ParentPID int `json:"parentPID"`
}

type mountSpec struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
}

func init() {
	if len(os.Args) > 1 && os.Args[1] == initCommand {
		// The parent-death signal and the credentials are per thread in
		// the kernel; keep the whole setup, and the exec, on one thread.
		runtime.LockOSThread()
	}
}

// containerInit runs as the first process of a container, already in a
// mount namespace of its own (the dev node starts it with CLONE_NEWNS, and
// Go makes the namespace's mounts private): it bind-mounts the pod's /tmp
// and volumes, drops to the pod's user, and executes the container's
// command. Errors go to the dev node through errorFD and become the
// container's StartError (exit code 128), as a runtime's would.
func containerInit() {
	syscall.CloseOnExec(errorFD)
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		_, _ = syscall.Write(errorFD, []byte(msg))
		os.Exit(128)
	}
	var spec initSpec
	specFile := os.NewFile(specFD, "spec")
	if err := json.NewDecoder(specFile).Decode(&spec); err != nil {
		fail("read init spec: %v", err)
	}
	specFile.Close()

	// Open every source before mounting anything: the pod's /tmp goes on
	// first and would hide sources that live under the host's /tmp (a
	// checkout in /tmp, as CI may make). The mounts then use the open
	// descriptors' /proc/self/fd paths.
	sources := make([]string, len(spec.Mounts))
	for i, m := range spec.Mounts {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			fail("mount %s at %s: %v", m.Source, m.Target, err)
		}
		sources[i] = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	kept := make([]string, len(spec.Keep))
	for i, k := range spec.Keep {
		fd, err := unix.Open(k, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			fail("keep %s visible: %v", k, err)
		}
		kept[i] = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	for i, m := range spec.Mounts {
		named := m
		named.Source = sources[i]
		if err := bindMount(named); err != nil {
			fail("mount %s at %s: %v", m.Source, m.Target, err)
		}
		// Put kept directories back as soon as a mount covers them, so
		// later mounts (inside the pod's /tmp) can still land beside them.
		for j, k := range spec.Keep {
			if kept[j] != "" && strings.HasPrefix(k+"/", strings.TrimSuffix(m.Target, "/")+"/") {
				if err := bindMount(mountSpec{Source: kept[j], Target: k}); err != nil {
					fail("keep %s visible: %v", k, err)
				}
				kept[j] = ""
			}
		}
	}
	if spec.SetUser {
		if err := syscall.Setgroups(intsOf(spec.Groups)); err != nil {
			fail("setgroups: %v", err)
		}
		if err := syscall.Setgid(int(spec.GID)); err != nil {
			fail("setgid %d: %v", spec.GID, err)
		}
		if err := syscall.Setuid(int(spec.UID)); err != nil {
			fail("setuid %d: %v", spec.UID, err)
		}
	}
	// A credential change clears the parent-death signal; set it again so
	// that a dev node that dies takes its containers' processes with it.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		fail("prctl(PR_SET_PDEATHSIG): %v", errno)
	}
	if os.Getppid() != spec.ParentPID {
		fail("dev node exited before the container started")
	}
	if spec.Dir != "" {
		if err := os.Chdir(spec.Dir); err != nil {
			fail("working directory %s: %v", spec.Dir, err)
		}
	}
	if len(spec.Argv) == 0 {
		fail("no command: the image has no entrypoint and the container no command")
	}
	// exec.LookPath reads PATH from this process's environment, which is
	// the container's.
	bin, err := exec.LookPath(spec.Argv[0])
	if err != nil {
		fail("exec: %q: executable file not found in $PATH", spec.Argv[0])
	}
	err = syscall.Exec(bin, spec.Argv, os.Environ())
	fail("exec %s: %v", bin, err)
}

func bindMount(m mountSpec) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	// The target is made inside this namespace's view: under /tmp it lands
	// in the pod's own /tmp; elsewhere it is an empty directory (or file)
	// on the host, which only this namespace mounts over.
	if fi.IsDir() {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(m.Target, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, "")
	}
	return nil
}

func intsOf(u []uint32) []int {
	out := make([]int, 0, len(u))
	for _, v := range u {
		if !slices.Contains(out, int(v)) {
			out = append(out, int(v))
		}
	}
	return out
}

// specMountOrder sorts mounts so that a parent is mounted before what is
// mounted inside it (/tmp before /tmp/.X11-unix).
func specMountOrder(a, b mountSpec) int {
	return strings.Count(filepath.Clean(a.Target), "/") - strings.Count(filepath.Clean(b.Target), "/")
}
