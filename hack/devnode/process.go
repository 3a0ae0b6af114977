package main

import (
	"encoding/json"
	"io"
	"os"
	"syscall"
	"time"
)

// process is one run of a container: the first process (a process group
// leader) and its mount namespace.
type process struct {
	pid       int
	ns        string
	started   time.Time
	logOffset int64 // where this run's output starts in the log
	exited    chan struct{}
	status    syscall.WaitStatus // valid once exited is closed
}

// startError is a container that could not be started (StartError, 128).
type startError struct{ msg string }

func (e *startError) Error() string { return e.msg }

// startContainer runs containerInit in a new mount namespace and process
// group, with the container's environment and its output in log. It returns
// once the container's command has been executed, or a *startError.
func (r *reaper) startContainer(spec initSpec, env []string, log *os.File) (*process, error) {
	// /proc/self/exe still works after the binary was rebuilt in place.
	const self = "/proc/self/exe"
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	spec.ParentPID = os.Getpid()
	pid, wait, err := r.start(self, []string{"devnode-init", initCommand}, &os.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: []*os.File{devnull, log, log, specR, errW},
		Sys: &syscall.SysProcAttr{
			Unshareflags: syscall.CLONE_NEWNS,
			Setpgid:      true,
			Pdeathsig:    syscall.SIGKILL,
		},
	})
	devnull.Close()
	specR.Close()
	errW.Close()
	if err != nil {
		specW.Close()
		errR.Close()
		return nil, &startError{msg: err.Error()}
	}
	// The argv[0] above only names the helper in ps; os.StartProcess runs
	// the path it is given.
	_ = json.NewEncoder(specW).Encode(spec)
	specW.Close()
	msg, _ := io.ReadAll(errR) // EOF at exec (close-on-exec) or exit
	errR.Close()
	p := &process{pid: pid, started: time.Now(), exited: make(chan struct{})}
	if len(msg) > 0 {
		<-wait
		return nil, &startError{msg: string(msg)}
	}
	p.ns, _ = mountNamespace(pid)
	go func() {
		p.status = <-wait
		// As when a PID namespace's init exits: nothing of the container
		// outlives its first process.
		killNamespace(p.ns, syscall.SIGKILL)
		close(p.exited)
	}()
	return p, nil
}

// signal sends sig to the container's process group.
func (p *process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid, sig)
}

// stop sends SIGTERM to the process group, waits up to grace for the first
// process to exit, then sends SIGKILL to the group and to every process left
// in the container's mount namespace.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	if grace > 0 {
		p.signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.exited:
			return
		case <-t.C:
		}
	}
	p.signal(syscall.SIGKILL)
	killNamespace(p.ns, syscall.SIGKILL)
	<-p.exited
}
