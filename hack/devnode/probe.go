package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeLoop runs a probe every periodSeconds after initialDelaySeconds and
// calls report each time the result crosses successThreshold or
// failureThreshold consecutive results (and once for the first result after
// a success threshold of 1). It returns when ctx ends or report says stop.
func probeLoop(ctx context.Context, p *corev1.Probe, check func(ctx context.Context) error, report func(ok bool, msg string) (stop bool)) {
	period := time.Duration(orDefault(p.PeriodSeconds, 10)) * time.Second
	timeout := time.Duration(orDefault(p.TimeoutSeconds, 1)) * time.Second
	successes, failures := orDefault(p.SuccessThreshold, 1), orDefault(p.FailureThreshold, 3)
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return
	}
	var okRun, failRun int32
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := check(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
			if okRun == successes && report(true, "") {
				return
			}
		} else {
			okRun, failRun = 0, failRun+1
			if failRun == failures && report(false, err.Error()) {
				return
			}
		}
		if !sleepCtx(ctx, period) {
			return
		}
	}
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// probeCheck returns the check for one probe of a running container.
func (w *podWorker) probeCheck(c *container, p *corev1.Probe, proc *process, env *envList, cred *initSpec) func(context.Context) error {
	switch {
	case p.HTTPGet != nil:
		return func(ctx context.Context) error { return w.httpProbe(ctx, c.spec, p.HTTPGet) }
	case p.TCPSocket != nil:
		return func(ctx context.Context) error {
			port, err := resolvePort(c.spec, p.TCPSocket.Port)
			if err != nil {
				return err
			}
			host := p.TCPSocket.Host
			if host == "" {
				host = w.ip
			}
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			return conn.Close()
		}
	case p.Exec != nil:
		return func(ctx context.Context) error { return w.execProbe(ctx, p.Exec.Command, proc, env, cred) }
	}
	return func(context.Context) error {
		return fmt.Errorf("devnode supports httpGet, tcpSocket and exec probes only")
	}
}

var probeClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet
		DisableKeepAlives: true,
		Proxy:             nil,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (w *podWorker) httpProbe(ctx context.Context, c corev1.Container, h *corev1.HTTPGetAction) error {
	port, err := resolvePort(c, h.Port)
	if err != nil {
		return err
	}
	host := h.Host
	if host == "" {
		host = w.ip
	}
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/devnode")
	for _, hd := range h.HTTPHeaders {
		req.Header.Set(hd.Name, hd.Value)
	}
	res, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", res.StatusCode)
	}
	return nil
}

func resolvePort(c corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("no port named %q in container %s", port.StrVal, c.Name)
}

// execProbe runs the command inside the container's mount namespace as the
// container's user: nsenter joins the namespace (Go cannot setns a mount
// namespace in a threaded process), setpriv drops to the user.
func (w *podWorker) execProbe(ctx context.Context, command []string, proc *process, env *envList, cred *initSpec) error {
	argv := []string{"nsenter", "--mount=/proc/" + strconv.Itoa(proc.pid) + "/ns/mnt"}
	if cred.Dir != "" {
		argv = append(argv, "--wd="+cred.Dir) // after entering: the directory may be a mount
	}
	argv = append(argv, "--")
	if cred.SetUser {
		groups := make([]string, 0, len(cred.Groups))
		for _, g := range cred.Groups {
			groups = append(groups, strconv.FormatUint(uint64(g), 10))
		}
		argv = append(argv, "setpriv", "--reuid="+strconv.FormatUint(uint64(cred.UID), 10),
			"--regid="+strconv.FormatUint(uint64(cred.GID), 10))
		if len(groups) > 0 {
			argv = append(argv, "--groups="+strings.Join(groups, ","))
		} else {
			argv = append(argv, "--clear-groups")
		}
		argv = append(argv, "--")
	}
	argv = append(argv, command...)
	nsenter, err := lookHostPath("nsenter")
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	pid, wait, err := w.k.reaper.start(nsenter, argv, &os.ProcAttr{
		Dir: "/", Env: env.Environ(), Files: []*os.File{devnull, devnull, devnull},
		Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return err
	}
	select {
	case ws := <-wait:
		if code := exitCode(ws); code != 0 {
			return fmt.Errorf("command %q exited with %d", strings.Join(command, " "), code)
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-wait
		return fmt.Errorf("command %q timed out", strings.Join(command, " "))
	}
}

func lookHostPath(name string) (string, error) {
	for _, dir := range strings.Split(defaultPath, ":") {
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on this host", name)
}
