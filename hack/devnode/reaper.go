package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// reaper starts and reaps every child of the dev node.
//
// The dev node is a child subreaper: a container process that daemonizes
// (double fork, setsid) is re-parented to the dev node instead of to PID 1,
// which on some hosts (this one included) never reaps, so killed orphans
// would linger as zombies. Being their parent means reaping with wait4(-1),
// which would steal exit statuses from os/exec's Wait; so no child is started
// through os/exec, and this reaper hands each exit status to whoever started
// the process.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
}

func newReaper() (*reaper, error) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return nil, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	r := &reaper{waiters: map[int]chan syscall.WaitStatus{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		for range sigs {
			r.reap()
		}
	}()
	return r, nil
}

// start starts a process and returns a channel that receives its wait status.
// Holding mu across the start means the reaper cannot reap the child before
// its waiter is registered.
func (r *reaper) start(argv0 string, argv []string, attr *os.ProcAttr) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(argv0, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	pid := p.Pid
	_ = p.Release() // signals go by pid; the reaper, not os, waits
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// reap collects every child that has exited. SIGCHLDs coalesce, so it loops
// until none is left.
func (r *reaper) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		ch, ok := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if ok {
			ch <- ws
		}
	}
}

// exitCode is what Kubernetes reports: the status, or 128+signal.
func exitCode(ws syscall.WaitStatus) int32 {
	if ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(ws.ExitStatus())
}

// mountNamespace returns the mount namespace of pid ("mnt:[4026532]").
func mountNamespace(pid int) (string, error) {
	return os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
}

// killNamespace sends sig to every process in the mount namespace ns. Each
// container runs in a mount namespace of its own, which every process it
// starts inherits and none can leave (they are not privileged), so this finds
// the daemons that escaped the process group, as a PID namespace's teardown
// or a cgroup kill would.
func killNamespace(ns string, sig syscall.Signal) int {
	if ns == "" {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := os.Getpid()
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if got, err := mountNamespace(pid); err == nil && got == ns {
			if syscall.Kill(pid, sig) == nil {
				n++
			}
		}
	}
	return n
}
