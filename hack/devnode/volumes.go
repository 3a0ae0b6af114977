package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostVolume is a pod volume as a directory on the host, which containers
// bind-mount inside their own mount namespaces.
type hostVolume struct {
	path string
	// readOnly: Secret, ConfigMap, downward API and projected volumes, which
	// the kubelet always mounts read-only.
	readOnly bool
	// files writes the contents of a Secret-like volume; it runs again
	// before every container start, so a Secret created after the pod (the
	// spawner's order) is there by the time its container runs.
	files func(ctx context.Context) (map[string]volumeFile, error)
	// refresh: files also runs every volumeRefreshInterval while the pod
	// runs (refreshVolumes), as the kubelet brings Secret, ConfigMap and
	// downward API volumes up to date.
	refresh bool
}

// volumeRefreshInterval is how often a running pod's Secret, ConfigMap and
// downward API volumes are brought up to date. The kubelet does it on its
// sync (about a minute plus its cache's TTL); the dev node is quicker so
// that a test of a renewed Secret (the spawner's session token renewal)
// does not wait long.
const volumeRefreshInterval = 2 * time.Second

type volumeFile struct {
	data []byte
	mode os.FileMode
}

const defaultFileMode = 0o644

// setupVolumes makes every volume's host directory. PVCs resolve to the
// hostPath of their bound PV (hack/devprovisioner makes them under
// .cache/volumes), which outlives the pod; emptyDirs live in the pod's
// directory and go with it.
func (w *podWorker) setupVolumes(ctx context.Context) (map[string]*hostVolume, error) {
	vols := map[string]*hostVolume{}
	for _, v := range w.spec.Volumes {
		hv, err := w.setupVolume(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		vols[v.Name] = hv
	}
	return vols, nil
}

func (w *podWorker) setupVolume(ctx context.Context, v corev1.Volume) (*hostVolume, error) {
	dir := filepath.Join(w.dir, "volumes", v.Name)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, err
		}
		// As the kubelet's emptyDir: writable by whatever user the pod runs as.
		return &hostVolume{path: dir}, os.Chmod(dir, 0o777)
	case v.PersistentVolumeClaim != nil:
		path, err := w.claimPath(ctx, v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return nil, err
		}
		if err := w.ownVolume(path); err != nil {
			return nil, err
		}
		return &hostVolume{path: path, readOnly: v.PersistentVolumeClaim.ReadOnly}, nil
	case v.HostPath != nil:
		if t := v.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
				return nil, err
			}
		}
		return &hostVolume{path: v.HostPath.Path}, nil
	case v.Secret != nil:
		s := v.Secret
		return w.filesVolume(dir, true, func(ctx context.Context) (map[string]volumeFile, error) {
			return w.secretFiles(ctx, s.SecretName, s.Items, s.DefaultMode, s.Optional)
		})
	case v.ConfigMap != nil:
		cm := v.ConfigMap
		return w.filesVolume(dir, true, func(ctx context.Context) (map[string]volumeFile, error) {
			return w.configMapFiles(ctx, cm.Name, cm.Items, cm.DefaultMode, cm.Optional)
		})
	case v.DownwardAPI != nil:
		d := v.DownwardAPI
		return w.filesVolume(dir, true, func(ctx context.Context) (map[string]volumeFile, error) {
			return w.downwardFiles(d.Items, d.DefaultMode)
		})
	case v.Projected != nil:
		p := v.Projected
		// A service account token is minted on every call (TokenRequest);
		// the kubelet renews those only near their expiry, so projected
		// volumes with one are not refreshed.
		refresh := !slices.ContainsFunc(p.Sources, func(s corev1.VolumeProjection) bool { return s.ServiceAccountToken != nil })
		return w.filesVolume(dir, refresh, func(ctx context.Context) (map[string]volumeFile, error) {
			return w.projectedFiles(ctx, p)
		})
	}
	return nil, &waitError{reason: "CreateContainerConfigError",
		msg: "devnode supports emptyDir, persistentVolumeClaim, hostPath, secret, configMap, downwardAPI and projected volumes only"}
}

func (w *podWorker) filesVolume(dir string, refresh bool, files func(context.Context) (map[string]volumeFile, error)) (*hostVolume, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &hostVolume{path: dir, readOnly: true, files: files, refresh: refresh}, nil
}

// refreshVolumes rewrites the refreshable volumes whose source changed,
// every volumeRefreshInterval until stop is closed. A source that cannot be
// read (a Secret deleted under a running pod) leaves the files as they
// are, as the kubelet does.
func (w *podWorker) refreshVolumes(stop <-chan struct{}) {
	t := time.NewTicker(volumeRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		w.volMu.Lock()
		for name, v := range w.volumes {
			if !v.refresh {
				continue
			}
			files, err := v.files(w.ctx)
			if err != nil {
				w.log.Debug("Volume source unreadable; files kept", "volume", name, "err", err)
				continue
			}
			if sameFiles(v.path, files) {
				continue
			}
			if err := w.writeFiles(v.path, files); err != nil {
				w.log.Warn("Volume refresh failed", "volume", name, "err", err)
				continue
			}
			w.log.Info("Volume refreshed", "volume", name)
		}
		w.volMu.Unlock()
	}
}

// sameFiles reports whether dir holds exactly files, contents and modes.
func sameFiles(dir string, files map[string]volumeFile) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, ok := files[rel]
		if !ok {
			return fs.ErrExist // a file the source no longer has
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.mode.Perm() || !bytes.Equal(data, f.data) {
			return fs.ErrExist
		}
		return nil
	})
	return err == nil && n == len(files)
}

// claimPath is the host directory of a claim's bound volume.
func (w *podWorker) claimPath(ctx context.Context, claim string) (string, error) {
	pvc, err := w.k.client.CoreV1().PersistentVolumeClaims(w.ns).Get(ctx, claim, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("persistentvolumeclaim %q not found", claim)
	}
	if err != nil {
		return "", err
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := w.k.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, os.MkdirAll(pv.Spec.HostPath.Path, 0o755)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %s is neither hostPath nor local", pv.Name)
}

// ownVolume gives a writable volume to the pod's user, as fsGroup does: with
// fsGroup, the volume's group becomes fsGroup (setgid, group-writable),
// recursively only when the root does not match yet (OnRootMismatch); with
// only runAsUser, the root directory goes to that user.
func (w *podWorker) ownVolume(path string) error {
	sc := w.spec.SecurityContext
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if sc != nil && sc.FSGroup != nil {
		gid := int(*sc.FSGroup)
		if int(st.Gid) == gid && fi.Mode()&0o070 == 0o070 {
			return nil
		}
		return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := os.Lchown(p, -1, gid); err != nil {
				return err
			}
			if d.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := info.Mode().Perm() | 0o060
			if d.IsDir() {
				mode |= 0o010 | fs.ModeSetgid
			}
			return os.Chmod(p, mode)
		})
	}
	if uid, gid := w.podUser(); uid != nil && int64(st.Uid) != *uid {
		g := -1
		if gid != nil {
			g = int(*gid)
		}
		return os.Chown(path, int(*uid), g)
	}
	return nil
}

// podUser is the pod-level runAsUser and runAsGroup.
func (w *podWorker) podUser() (uid, gid *int64) {
	if sc := w.spec.SecurityContext; sc != nil {
		return sc.RunAsUser, sc.RunAsGroup
	}
	return nil, nil
}

func (w *podWorker) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, mode *int32, optional *bool) (map[string]volumeFile, error) {
	s, err := w.getSecret(ctx, name)
	if err != nil {
		if isNotFound(err) && optional != nil && *optional {
			return map[string]volumeFile{}, nil
		}
		return nil, err
	}
	return project(s.Data, items, mode, optional, "Secret", name)
}

func (w *podWorker) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, mode *int32, optional *bool) (map[string]volumeFile, error) {
	cm, err := w.getConfigMap(ctx, name)
	if err != nil {
		if isNotFound(err) && optional != nil && *optional {
			return map[string]volumeFile{}, nil
		}
		return nil, err
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project(data, items, mode, optional, "ConfigMap", name)
}

// project maps keys to files: every key, or only items (key → path, mode).
func project(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional *bool, kind, name string) (map[string]volumeFile, error) {
	mode := os.FileMode(defaultFileMode)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	files := map[string]volumeFile{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = volumeFile{data: v, mode: mode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, configError("couldn't find key %s in %s %s", it.Key, kind, name)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files[it.Path] = volumeFile{data: v, mode: m}
	}
	return files, nil
}

func (w *podWorker) downwardFiles(items []corev1.DownwardAPIVolumeFile, defaultMode *int32) (map[string]volumeFile, error) {
	files := map[string]volumeFile{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = w.fieldValue(it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c, ok := w.containerSpec(it.ResourceFieldRef.ContainerName)
			if !ok {
				return nil, configError("downwardAPI %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			v, err = w.resourceValue(c, it.ResourceFieldRef)
		}
		if err != nil {
			return nil, err
		}
		m := os.FileMode(defaultFileMode)
		if defaultMode != nil {
			m = os.FileMode(*defaultMode)
		}
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files[it.Path] = volumeFile{data: []byte(v), mode: m}
	}
	return files, nil
}

// projectedFiles covers what ServiceAccount admission injects
// (kube-api-access-*: a token, kube-root-ca.crt, the namespace) and the
// usual Secret/ConfigMap/downward API projections.
func (w *podWorker) projectedFiles(ctx context.Context, p *corev1.ProjectedVolumeSource) (map[string]volumeFile, error) {
	files := map[string]volumeFile{}
	merge := func(more map[string]volumeFile, err error) error {
		for k, v := range more {
			files[k] = v
		}
		return err
	}
	for _, src := range p.Sources {
		var err error
		switch {
		case src.Secret != nil:
			err = merge(w.secretFiles(ctx, src.Secret.Name, src.Secret.Items, p.DefaultMode, src.Secret.Optional))
		case src.ConfigMap != nil:
			err = merge(w.configMapFiles(ctx, src.ConfigMap.Name, src.ConfigMap.Items, p.DefaultMode, src.ConfigMap.Optional))
		case src.DownwardAPI != nil:
			err = merge(w.downwardFiles(src.DownwardAPI.Items, p.DefaultMode))
		case src.ServiceAccountToken != nil:
			err = merge(w.tokenFile(ctx, src.ServiceAccountToken, p.DefaultMode))
		default:
			err = configError("devnode: unsupported projected volume source")
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func (w *podWorker) tokenFile(ctx context.Context, src *corev1.ServiceAccountTokenProjection, mode *int32) (map[string]volumeFile, error) {
	sa := w.spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: w.name, UID: w.uid},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tok, err := w.k.client.CoreV1().ServiceAccounts(w.ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for service account %s: %w", sa, err)
	}
	m := os.FileMode(defaultFileMode)
	if mode != nil {
		m = os.FileMode(*mode)
	}
	return map[string]volumeFile{src.Path: {data: []byte(tok.Status.Token), mode: m}}, nil
}

// writeFiles replaces a Secret-like volume's contents in place (containers
// hold bind mounts of the directory itself, so it cannot be swapped). Files
// are root's, in fsGroup's group when the pod has one, as the kubelet does.
func (w *podWorker) writeFiles(dir string, files map[string]volumeFile) error {
	gid := -1
	if sc := w.spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		gid = int(*sc.FSGroup)
	}
	keep := map[string]bool{}
	for rel, f := range files {
		clean := filepath.Clean(rel)
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			return configError("volume path %q leaves the volume", rel)
		}
		p := filepath.Join(dir, clean)
		keep[p] = true
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		tmp := p + ".devnode-tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Chown(tmp, 0, gid); err != nil {
			return err
		}
		if err := os.Chmod(tmp, f.mode.Perm()); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || keep[p] {
			return err
		}
		return os.Remove(p)
	})
}
