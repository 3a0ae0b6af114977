// Package chartenv runs the spawner service the way the Helm chart
// configures it, outside a cluster: it renders the chart (`helm template`),
// takes the spawner Deployment's container environment and the files of its
// ConfigMap, and turns them into a process environment for this machine.
//
// The demo (hack/demo.sh) and the end-to-end tests start the service this
// way, so every setting the chart gives the service (catalog, profiles, the
// Xpra image, token lifetimes, …) reaches them from the same values, and a
// setting the chart needs cannot be missing from the demo. Only where the
// process runs differs, and Host names each of those places: the namespace
// (the Downward API's), the API server (a kubeconfig instead of the
// in-cluster account), the listen addresses, the URL sessions reach the
// service at, the mounted Secret's files and the ConfigMap's folder.
package chartenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Container is the name of the service's container in the chart's
// Deployment.
const Container = "spawner"

// Host says where the service runs instead of the chart's pod.
type Host struct {
	// Namespace replaces the pod's own (POD_NAMESPACE from the Downward API).
	Namespace string
	// Kubeconfig replaces the in-cluster service account.
	Kubeconfig string
	// Listen and OpsListen replace the container's ports.
	Listen, OpsListen string
	// SessionServiceURL is the service's URL as session pods reach it
	// (the chart's is its cluster Service).
	SessionServiceURL string
	// HubTokenFile and SessionKeyFile replace the chart's Secret files;
	// HubAPITokenFile its hub-api-token, where the values turn orphan
	// collection on (optional: without it collection stays off).
	HubTokenFile, SessionKeyFile, HubAPITokenFile string
	// ConfigDir receives the chart's ConfigMap files; settings that name
	// a file of its mount are pointed here.
	ConfigDir string
	// TLSDir holds the files of the TLS Secret (spawner.tls.secretName):
	// tls.crt, tls.key, ca.crt; settings that name a file of its mount are
	// pointed here. Needed only when the chart serves TLS.
	TLSDir string
}

// TLSMount is where the chart mounts its TLS Secret.
const TLSMount = "/etc/kubedesk/tls"

// The settings Host replaces. Any other setting that names the Secret's
// mount is an error: the host has no such file.
var hostSettings = map[string]func(Host) string{
	"KUBEDESK_LISTEN":              func(h Host) string { return h.Listen },
	"KUBEDESK_OPS_LISTEN":          func(h Host) string { return h.OpsListen },
	"KUBEDESK_SESSION_SERVICE_URL": func(h Host) string { return h.SessionServiceURL },
	"KUBEDESK_HUB_TOKEN_FILE":      func(h Host) string { return h.HubTokenFile },
	"KUBEDESK_SESSION_KEY_FILE":    func(h Host) string { return h.SessionKeyFile },
	"KUBEDESK_HUB_API_TOKEN_FILE":  func(h Host) string { return h.HubAPITokenFile },
}

func (h Host) validate() error {
	var errs []error
	for name, v := range map[string]string{
		"namespace": h.Namespace, "kubeconfig": h.Kubeconfig, "listen": h.Listen, "ops listen": h.OpsListen,
		"session service URL": h.SessionServiceURL, "hub token file": h.HubTokenFile,
		"session key file": h.SessionKeyFile, "config dir": h.ConfigDir,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("the host's %s is not set", name))
		}
	}
	return errors.Join(errs...)
}

// Service is the chart's service as a process on this machine.
type Service struct {
	// Env is the process environment: KEY=VALUE, sorted.
	Env []string
	// Files are the ConfigMap's files by name, as written into ConfigDir.
	Files map[string][]byte
}

// Render runs `helm template` on the chart with args (values files,
// --set…), and returns the service as Host runs it, having written the
// ConfigMap's files into h.ConfigDir.
func Render(ctx context.Context, helm, chart string, args []string, h Host) (*Service, error) {
	cmdArgs := append([]string{"template", "kubedesk", chart, "--namespace", h.Namespace}, args...)
	cmd := exec.CommandContext(ctx, helm, cmdArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %w\n%s", strings.Join(cmdArgs, " "), err, stderr.String())
	}
	s, err := FromManifests(stdout.Bytes(), h)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(h.ConfigDir, 0o700); err != nil {
		return nil, err
	}
	for name, data := range s.Files {
		if err := os.WriteFile(filepath.Join(h.ConfigDir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// FromManifests finds the service's Deployment and ConfigMap in a render
// (YAML documents) and returns the service as Host runs it. It writes
// nothing.
func FromManifests(manifests []byte, h Host) (*Service, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	deploy, configMaps, err := decode(manifests)
	if err != nil {
		return nil, err
	}
	if deploy == nil {
		return nil, errors.New("the render has no Deployment with a container named " + Container)
	}
	c := container(deploy)
	// Where each volume is mounted: the ConfigMap's files come from the
	// render, nothing else of the pod exists here.
	mounts := map[string]corev1.Volume{}
	for _, m := range c.VolumeMounts {
		for _, v := range deploy.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				mounts[m.MountPath] = v
			}
		}
	}
	s := &Service{Files: map[string][]byte{}}
	var configMount string
	for mp, v := range mounts {
		if v.ConfigMap == nil {
			continue
		}
		cm, ok := configMaps[v.ConfigMap.Name]
		if !ok {
			return nil, fmt.Errorf("the Deployment mounts ConfigMap %q, which the render does not have", v.ConfigMap.Name)
		}
		if configMount != "" {
			return nil, errors.New("the Deployment mounts more than one ConfigMap; the host run knows one config folder")
		}
		configMount = mp
		for name, data := range cm.Data {
			s.Files[name] = []byte(data)
		}
	}

	env := map[string]string{"KUBEDESK_KUBECONFIG": h.Kubeconfig}
	var errs []error
	for _, e := range c.Env {
		if host, ok := hostSettings[e.Name]; ok {
			env[e.Name] = host(h)
			continue
		}
		if e.ValueFrom != nil {
			if f := e.ValueFrom.FieldRef; f != nil && f.FieldPath == "metadata.namespace" {
				env[e.Name] = h.Namespace
				continue
			}
			// The pod's name names a replica in the leader Lease; without
			// it the service takes hostname and pid, which keep two
			// processes on one host apart.
			if f := e.ValueFrom.FieldRef; f != nil && f.FieldPath == "metadata.name" {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: a value from the pod (%s) that the host run cannot give", e.Name, describe(e.ValueFrom)))
			continue
		}
		v, err := hostPath(e.Value, map[string]string{configMount: h.ConfigDir, TLSMount: h.TLSDir}, mounts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
			continue
		}
		env[e.Name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for k, v := range env {
		if strings.ContainsAny(v, "\n\x00") {
			return nil, fmt.Errorf("%s: a value with a line break cannot be one line of an environment", k)
		}
		s.Env = append(s.Env, k+"="+v)
	}
	slices.Sort(s.Env)
	return s, nil
}

// hostPath points a value that names a file of a mount the host has (the
// ConfigMap's, the TLS Secret's) at its folder there; a value inside any
// other mount is an error.
func hostPath(v string, hostDirs map[string]string, mounts map[string]corev1.Volume) (string, error) {
	if !strings.HasPrefix(v, "/") {
		return v, nil
	}
	for mount, dir := range hostDirs {
		if mount == "" || dir == "" {
			continue
		}
		if rel, ok := strings.CutPrefix(path.Clean(v), mount+"/"); ok {
			return filepath.Join(dir, rel), nil
		}
	}
	for mp := range mounts {
		if strings.HasPrefix(path.Clean(v), mp+"/") {
			return "", fmt.Errorf("%s is a file of the pod's volume at %s, which the host run does not have", v, mp)
		}
	}
	return v, nil
}

func describe(s *corev1.EnvVarSource) string {
	switch {
	case s.SecretKeyRef != nil:
		return "Secret " + s.SecretKeyRef.Name
	case s.ConfigMapKeyRef != nil:
		return "ConfigMap " + s.ConfigMapKeyRef.Name
	case s.FieldRef != nil:
		return "field " + s.FieldRef.FieldPath
	case s.ResourceFieldRef != nil:
		return "resource " + s.ResourceFieldRef.Resource
	}
	return "valueFrom"
}

func container(d *appsv1.Deployment) *corev1.Container {
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == Container {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

// decode reads the render's documents: the Deployment with the service's
// container, and every ConfigMap by name.
func decode(manifests []byte) (*appsv1.Deployment, map[string]*corev1.ConfigMap, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	var deploy *appsv1.Deployment
	configMaps := map[string]*corev1.ConfigMap{}
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read the render: %w", err)
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, fmt.Errorf("read the render: %w", err)
		}
		switch meta.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				return nil, nil, fmt.Errorf("read a Deployment of the render: %w", err)
			}
			if container(&d) != nil {
				if deploy != nil {
					return nil, nil, errors.New("the render has two Deployments with a container named " + Container)
				}
				deploy = &d
			}
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict(doc, &cm); err != nil {
				return nil, nil, fmt.Errorf("read a ConfigMap of the render: %w", err)
			}
			configMaps[cm.Name] = &cm
		}
	}
	return deploy, configMaps, nil
}
