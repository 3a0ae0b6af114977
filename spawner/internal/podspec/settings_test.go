package podspec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestDefaultsAreValid(t *testing.T) {
	t.Parallel()
	d := Defaults()
	require.NoError(t, d.Validate())
	assert.Equal(t, int32(8888), d.Port)
	assert.Equal(t, int64(1000), *d.UID)
	assert.Equal(t, int64(100), *d.GID)
	assert.Equal(t, int64(100), *d.FSGID)
	assert.True(t, d.StorageEnsured())
	assert.Equal(t, "10Gi", d.StorageCapacity)
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, d.StorageAccessModes)
	assert.Equal(t, "/home/jovyan", d.HomeMountPath)
	assert.Empty(t, d.CPULimit+d.CPUGuarantee+d.MemLimit+d.MemGuarantee)
}

// TestSettingsJSONNames pins a few KubeSpawner trait names: profiles written
// for Zero to JupyterHub must decode into Settings unchanged.
func TestSettingsJSONNames(t *testing.T) {
	t.Parallel()
	var s Settings
	require.NoError(t, json.Unmarshal([]byte(`{
		"image": "img", "cpu_limit": "2", "mem_guarantee": "1G",
		"extra_resource_limits": {"nvidia.com/gpu": "1"},
		"node_selector": {"gpu": "true"}, "uid": 1001, "fs_gid": 100,
		"storage_pvc_ensure": false, "termination_grace_period_seconds": 5
	}`), &s))
	assert.Equal(t, "img", s.Image)
	assert.Equal(t, "2", s.CPULimit)
	assert.Equal(t, "1G", s.MemGuarantee)
	assert.Equal(t, map[string]string{"nvidia.com/gpu": "1"}, s.ExtraResourceLimits)
	assert.Equal(t, int64(1001), *s.UID)
	assert.False(t, s.StorageEnsured())
	assert.Equal(t, int64(5), *s.TerminationGracePeriodSeconds)
}

// TestValidatePrivilegedFields refuses each privileged field, naming it and
// the opt-in, and accepts it once allow_privileged_fields names it (and only
// that one).
func TestValidatePrivilegedFields(t *testing.T) {
	t.Parallel()
	sidecar := func(s *Settings, sc *corev1.SecurityContext) {
		s.ExtraContainers = []corev1.Container{{Name: "side", Image: "busybox", SecurityContext: sc}}
	}
	unmasked := corev1.UnmaskedProcMount
	for _, tc := range []struct {
		field  string
		modify func(*Settings)
		want   string
	}{
		{FieldHostPath, func(s *Settings) {
			s.Volumes = []corev1.Volume{{Name: "docker", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}}}
		}, `volumes[docker]: hostPath mounts the node's /var/run/docker.sock`},
		{FieldHostPort, func(s *Settings) {
			s.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}}}
		}, `init_containers[side].ports: hostPort 8080 binds a port of the node`},
		{FieldPrivileged, func(s *Settings) { sidecar(s, &corev1.SecurityContext{Privileged: ptrTo(true)}) },
			`extra_containers[side].securityContext: privileged: true gives the container the node's devices and every capability`},
		{FieldAllowPrivilegeEscalation, func(s *Settings) { sidecar(s, &corev1.SecurityContext{AllowPrivilegeEscalation: ptrTo(true)}) },
			`extra_containers[side].securityContext: allowPrivilegeEscalation: true lets setuid programs gain privileges`},
		{FieldCapabilities, func(s *Settings) {
			sidecar(s, &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}})
		}, `extra_containers[side].securityContext: capabilities.add [SYS_ADMIN] gives back capabilities that are dropped`},
		{FieldSeccompProfile, func(s *Settings) {
			sidecar(s, &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}})
		}, `extra_containers[side].securityContext: seccompProfile Unconfined runs the container without a seccomp filter`},
		{FieldAppArmorProfile, func(s *Settings) {
			sidecar(s, &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}})
		}, `extra_containers[side].securityContext: appArmorProfile Unconfined runs the container without AppArmor`},
		{FieldAppArmorProfile, func(s *Settings) {
			s.ExtraAnnotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/notebook": "unconfined"}
		}, `extra_annotations: "container.apparmor.security.beta.kubernetes.io/notebook": unconfined runs the container without AppArmor`},
		{FieldProcMount, func(s *Settings) { sidecar(s, &corev1.SecurityContext{ProcMount: &unmasked}) },
			`extra_containers[side].securityContext: procMount Unmasked leaves /proc unmasked`},
		{FieldSELinuxOptions, func(s *Settings) {
			sidecar(s, &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "spc_t"}})
		}, `extra_containers[side].securityContext: seLinuxOptions choose the container's SELinux label`},
	} {
		t.Run(tc.field, func(t *testing.T) {
			t.Parallel()
			s := Defaults()
			tc.modify(&s)
			want := tc.want + `; to allow it, list "` + tc.field + `" in allow_privileged_fields`
			require.EqualError(t, s.Validate(), want)
			require.EqualError(t, s.CheckPrivilegedFields(), want)

			for _, other := range PrivilegedFields {
				if other != tc.field {
					s.AllowPrivilegedFields = append(s.AllowPrivilegedFields, other)
				}
			}
			require.Error(t, s.Validate(), "every other field allowed")
			s.AllowPrivilegedFields = []string{tc.field}
			require.NoError(t, s.Validate())
			require.NoError(t, s.CheckPrivilegedFields())
		})
	}

	unknown := Defaults()
	unknown.AllowPrivilegedFields = []string{"hostpath"}
	require.ErrorContains(t, unknown.CheckPrivilegedFields(), `allow_privileged_fields: "hostpath" is not one of`)

	// The rest of Validate is not CheckPrivilegedFields' business.
	s := Defaults()
	s.Image, s.UID = "", ptrTo[int64](0)
	require.Error(t, s.Validate())
	require.NoError(t, s.CheckPrivilegedFields())
}

// TestNoSettingReachesHostNamespaces: the host's network, PID and IPC
// namespaces have no settings key, so no allow_privileged_fields name; the
// strict decoding refuses them.
func TestNoSettingReachesHostNamespaces(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"host_network", "host_pid", "host_ipc", "hostNetwork", "hostPID", "hostIPC"} {
		path := filepath.Join(t.TempDir(), "defaults.yaml")
		require.NoError(t, os.WriteFile(path, []byte(key+": true\n"), 0o600))
		_, err := LoadSettings(path, Defaults())
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), "unknown field")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Settings)
		// wantErrs are lines of the error, in order; none means valid.
		wantErrs []string
	}{
		{name: "defaults", modify: func(*Settings) {}},
		{
			name: "a full GPU profile",
			modify: func(s *Settings) {
				s.CPUGuarantee, s.CPULimit = "500m", "2"
				s.MemGuarantee, s.MemLimit = "1Gi", "4Gi"
				s.ExtraResourceLimits = map[string]string{"nvidia.com/gpu": "1"}
				s.ExtraResourceGuarantees = map[string]string{"nvidia.com/gpu": "1"}
				s.Environment = map[string]string{"DISPLAY": ":1", "XDG_RUNTIME_DIR": "/tmp/run"}
				s.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				s.VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}, {Name: "home", MountPath: "/data", SubPath: "data"}}
				s.ExtraContainers = []corev1.Container{{Name: "xpra", Image: "xpra"}}
				s.ExtraLabels = map[string]string{"hub.jupyter.org/network-access-hub": "true"}
				s.StorageClass = ptrTo("")
			},
		},
		{name: "no image", modify: func(s *Settings) { s.Image = " " }, wantErrs: []string{"image: is required"}},
		{
			name:     "unknown pull policy",
			modify:   func(s *Settings) { s.ImagePullPolicy = "Sometimes" },
			wantErrs: []string{`image_pull_policy: "Sometimes" is not one of Always, IfNotPresent, Never`},
		},
		{
			name:     "args without cmd",
			modify:   func(s *Settings) { s.Args = []string{"--debug"} },
			wantErrs: []string{"args: needs cmd: args are appended to cmd and would otherwise replace the image's command"},
		},
		{name: "port zero", modify: func(s *Settings) { s.Port = 0 }, wantErrs: []string{"port: 0 is not between 1 and 65535"}},
		{name: "port negative", modify: func(s *Settings) { s.Port = -1 }, wantErrs: []string{"port: -1 is not between 1 and 65535"}},
		{
			name:     "bad cpu quantity",
			modify:   func(s *Settings) { s.CPULimit = "two" },
			wantErrs: []string{`cpu_limit: "two" is not a quantity (examples: 500m, 2, 4Gi)`},
		},
		{
			name:     "negative memory",
			modify:   func(s *Settings) { s.MemLimit = "-1G" },
			wantErrs: []string{`mem_limit: "-1G" is negative`},
		},
		{
			name:     "guarantee over limit",
			modify:   func(s *Settings) { s.MemGuarantee, s.MemLimit = "2G", "1Gi" },
			wantErrs: []string{`mem_guarantee: "2G" is more than mem_limit "1Gi"`},
		},
		{
			name:     "cpu guarantee over limit",
			modify:   func(s *Settings) { s.CPUGuarantee, s.CPULimit = "1500m", "1" },
			wantErrs: []string{`cpu_guarantee: "1500m" is more than cpu_limit "1"`},
		},
		{
			name: "GPU request below limit",
			modify: func(s *Settings) {
				s.ExtraResourceLimits = map[string]string{"nvidia.com/gpu": "2"}
				s.ExtraResourceGuarantees = map[string]string{"nvidia.com/gpu": "1"}
			},
			wantErrs: []string{`extra_resource_guarantees[nvidia.com/gpu]: "1" must equal the limit "2": extended resources cannot be overcommitted`},
		},
		{
			name:     "GPU request without limit",
			modify:   func(s *Settings) { s.ExtraResourceGuarantees = map[string]string{"nvidia.com/gpu": "1"} },
			wantErrs: []string{"extra_resource_guarantees[nvidia.com/gpu]: needs the same value in extra_resource_limits: Kubernetes requires a limit for extended resources"},
		},
		{
			name:     "bad extra quantity",
			modify:   func(s *Settings) { s.ExtraResourceLimits = map[string]string{"nvidia.com/gpu": "one"} },
			wantErrs: []string{`extra_resource_limits[nvidia.com/gpu]: "one" is not a quantity (examples: 500m, 2, 4Gi)`},
		},
		{
			name: "ephemeral storage may be overcommitted",
			modify: func(s *Settings) {
				s.ExtraResourceLimits, s.ExtraResourceGuarantees = map[string]string{"ephemeral-storage": "10Gi"}, map[string]string{"ephemeral-storage": "1Gi"}
			},
			wantErrs: nil,
		},
		{name: "root uid", modify: func(s *Settings) { s.UID = ptrTo[int64](0) }, wantErrs: []string{"uid: 0 is root; sessions run as a non-root user"}},
		{name: "root gid", modify: func(s *Settings) { s.GID = ptrTo[int64](0) }, wantErrs: []string{"gid: 0 is root; sessions run as a non-root group"}},
		{name: "root fs_gid", modify: func(s *Settings) { s.FSGID = ptrTo[int64](0) }, wantErrs: []string{"fs_gid: 0 is root; sessions run as a non-root group"}},
		{name: "unset uid", modify: func(s *Settings) { s.UID = nil }, wantErrs: []string{"uid: is required"}},
		{name: "negative gid", modify: func(s *Settings) { s.GID = ptrTo[int64](-5) }, wantErrs: []string{"gid: -5 is negative"}},
		{
			name:     "root supplemental group",
			modify:   func(s *Settings) { s.SupplementalGIDs = []int64{100, 0} },
			wantErrs: []string{"supplemental_gids: 0 is not allowed: sessions never run with the root group"},
		},
		{
			name:     "bad env name",
			modify:   func(s *Settings) { s.Environment = map[string]string{"OK": "1", "1BAD": "x", "A=B": "y"} },
			wantErrs: []string{`environment: "1BAD" is not a valid variable name`, `environment: "A=B" is not a valid variable name`},
		},
		{
			name:     "bad storage capacity",
			modify:   func(s *Settings) { s.StorageCapacity = "lots" },
			wantErrs: []string{`storage_capacity: "lots" is not a quantity (examples: 500m, 2, 4Gi)`},
		},
		{
			name:     "zero storage capacity",
			modify:   func(s *Settings) { s.StorageCapacity = "0" },
			wantErrs: []string{`storage_capacity: "0" is zero`},
		},
		{
			name:     "missing capacity",
			modify:   func(s *Settings) { s.StorageCapacity = "" },
			wantErrs: []string{"storage_capacity: is required when storage_pvc_ensure is true"},
		},
		{
			name:     "missing capacity is fine without a PVC",
			modify:   func(s *Settings) { s.StorageCapacity, s.StoragePVCEnsure = "", ptrTo(false) },
			wantErrs: nil,
		},
		{
			name:     "unknown access mode",
			modify:   func(s *Settings) { s.StorageAccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteSometimes"} },
			wantErrs: []string{`storage_access_modes: "ReadWriteSometimes" is not one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod`},
		},
		{
			name:     "no access modes",
			modify:   func(s *Settings) { s.StorageAccessModes = nil },
			wantErrs: []string{"storage_access_modes: needs at least one mode when storage_pvc_ensure is true"},
		},
		{
			name:     "relative home",
			modify:   func(s *Settings) { s.HomeMountPath = "home/jovyan" },
			wantErrs: []string{`home_mount_path: "home/jovyan" is not an absolute path`},
		},
		{
			name:     "bad storage class",
			modify:   func(s *Settings) { s.StorageClass = ptrTo("Fast SSD") },
			wantErrs: []string{`storage_class: "Fast SSD" is not a valid name`},
		},
		{
			name:     "mount of an undeclared volume",
			modify:   func(s *Settings) { s.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}} },
			wantErrs: []string{`volume_mounts: mount at "/data" refers to volume "data", which is not in volumes`},
		},
		{
			name: "mount of home without a home PVC",
			modify: func(s *Settings) {
				s.StoragePVCEnsure = ptrTo(false)
				s.VolumeMounts = []corev1.VolumeMount{{Name: "home", MountPath: "/shared", SubPath: "shared"}}
			},
			wantErrs: []string{`volume_mounts: mount at "/shared" refers to volume "home", which is not in volumes`},
		},
		{
			name: "own home volume without a home PVC",
			modify: func(s *Settings) {
				s.StoragePVCEnsure = ptrTo(false)
				s.Volumes = []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				s.VolumeMounts = []corev1.VolumeMount{{Name: "home", MountPath: "/home/jovyan"}}
			},
		},
		{
			name:     "volume named like the home PVC",
			modify:   func(s *Settings) { s.Volumes = []corev1.Volume{{Name: "home"}} },
			wantErrs: []string{`volumes: "home" is reserved for the volume kubedesk adds`},
		},
		{
			name:     "volume named like the session volume",
			modify:   func(s *Settings) { s.Volumes = []corev1.Volume{{Name: SessionVolumeName}} },
			wantErrs: []string{`volumes: "kubedesk-session" is reserved for the volume kubedesk adds`},
		},
		{
			name:     "volume declared twice",
			modify:   func(s *Settings) { s.Volumes = []corev1.Volume{{Name: "data"}, {Name: "data"}} },
			wantErrs: []string{`volumes: "data" is declared twice`},
		},
		{
			name:     "volume without a name",
			modify:   func(s *Settings) { s.Volumes = []corev1.Volume{{}} },
			wantErrs: []string{"volumes: a volume has no name"},
		},
		{
			name: "relative mount path",
			modify: func(s *Settings) {
				s.Volumes = []corev1.Volume{{Name: "data"}}
				s.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "data"}}
			},
			wantErrs: []string{`volume_mounts: mount of "data" has mountPath "data", which is not absolute`},
		},
		{
			name: "sidecar mounts an undeclared volume",
			modify: func(s *Settings) {
				s.ExtraContainers = []corev1.Container{{Name: "xpra", Image: "xpra", VolumeMounts: []corev1.VolumeMount{{Name: "x11", MountPath: "/tmp/.X11-unix"}}}}
			},
			wantErrs: []string{`extra_containers[xpra].volumeMounts: mount at "/tmp/.X11-unix" refers to volume "x11", which is not in volumes`},
		},
		{
			name:     "extra container without a name",
			modify:   func(s *Settings) { s.ExtraContainers = []corev1.Container{{Image: "busybox"}} },
			wantErrs: []string{"extra_containers: container 0 has no name"},
		},
		{
			name:     "extra container named notebook",
			modify:   func(s *Settings) { s.ExtraContainers = []corev1.Container{{Name: "notebook", Image: "busybox"}} },
			wantErrs: []string{`extra_containers: "notebook" is the session container's name`},
		},
		{
			name: "init and extra container share a name",
			modify: func(s *Settings) {
				s.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox"}}
				s.ExtraContainers = []corev1.Container{{Name: "setup", Image: "busybox"}}
			},
			wantErrs: []string{`extra_containers: "setup" is used by two containers`},
		},
		{
			name:     "extra container without image",
			modify:   func(s *Settings) { s.ExtraContainers = []corev1.Container{{Name: "sidecar"}} },
			wantErrs: []string{`extra_containers: container "sidecar" has no image`},
		},
		{
			name:     "bad container name",
			modify:   func(s *Settings) { s.InitContainers = []corev1.Container{{Name: "Set_Up", Image: "busybox"}} },
			wantErrs: []string{`init_containers: "Set_Up" is not a valid container name`},
		},
		{
			name: "root sidecar",
			modify: func(s *Settings) {
				s.ExtraContainers = []corev1.Container{{Name: "root", Image: "busybox", SecurityContext: &corev1.SecurityContext{
					RunAsUser: ptrTo[int64](0), Privileged: ptrTo(true), AllowPrivilegeEscalation: ptrTo(true),
					RunAsNonRoot: ptrTo(false), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}},
				}}}
			},
			wantErrs: []string{
				`extra_containers[root].securityContext: privileged: true gives the container the node's devices and every capability; to allow it, list "privileged" in allow_privileged_fields`,
				`extra_containers[root].securityContext: allowPrivilegeEscalation: true lets setuid programs gain privileges; to allow it, list "allowPrivilegeEscalation" in allow_privileged_fields`,
				`extra_containers[root].securityContext: capabilities.add [NET_ADMIN] gives back capabilities that are dropped; to allow it, list "capabilities" in allow_privileged_fields`,
				"extra_containers[root].securityContext: runAsNonRoot must be true",
				"extra_containers[root].securityContext: runAsUser 0 is root; containers run as a non-root user",
			},
		},
		{
			name: "root stays refused whatever is allowed",
			modify: func(s *Settings) {
				s.AllowPrivilegedFields = PrivilegedFields
				s.ExtraContainers = []corev1.Container{{Name: "root", Image: "busybox", SecurityContext: &corev1.SecurityContext{
					RunAsUser: ptrTo[int64](0), Privileged: ptrTo(true),
				}}}
			},
			wantErrs: []string{"extra_containers[root].securityContext: runAsUser 0 is root; containers run as a non-root user"},
		},
		{
			name:     "unknown privileged field",
			modify:   func(s *Settings) { s.AllowPrivilegedFields = []string{"hostpath"} },
			wantErrs: []string{`allow_privileged_fields: "hostpath" is not one of hostPath, hostPort, privileged, allowPrivilegeEscalation, capabilities, seccompProfile, appArmorProfile, procMount, seLinuxOptions`},
		},
		{
			name:     "extra label overrides a managed one",
			modify:   func(s *Settings) { s.ExtraLabels = map[string]string{LabelComponent: "mine"} },
			wantErrs: []string{`extra_labels: "component" is set by kubedesk and cannot be overridden`},
		},
		{
			name:     "extra label value invalid",
			modify:   func(s *Settings) { s.ExtraLabels = map[string]string{"team": "Data Science"} },
			wantErrs: []string{`extra_labels: value "Data Science" of "team" is invalid`},
		},
		{
			name:     "extra annotation overrides a managed one",
			modify:   func(s *Settings) { s.ExtraAnnotations = map[string]string{AnnotationUsername: "mallory"} },
			wantErrs: []string{`extra_annotations: "hub.jupyter.org/username" is set by kubedesk and cannot be overridden`},
		},
		{
			name:     "bad node selector",
			modify:   func(s *Settings) { s.NodeSelector = map[string]string{"bad key!": "x"} },
			wantErrs: []string{`node_selector: key "bad key!" is invalid`},
		},
		{
			name:     "bad service account",
			modify:   func(s *Settings) { s.ServiceAccount = "Not_Valid" },
			wantErrs: []string{`service_account: "Not_Valid" is not a valid name`},
		},
		{
			name:     "negative grace period",
			modify:   func(s *Settings) { s.TerminationGracePeriodSeconds = ptrTo[int64](-1) },
			wantErrs: []string{"termination_grace_period_seconds: -1 is negative"},
		},
		{
			name: "several problems at once",
			modify: func(s *Settings) {
				s.Image = ""
				s.Port = 70000
				s.UID = ptrTo[int64](0)
			},
			wantErrs: []string{"image: is required", "port: 70000 is not between 1 and 65535", "uid: 0 is root; sessions run as a non-root user"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Defaults()
			tt.modify(&s)
			err := s.Validate()
			if len(tt.wantErrs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			lines := strings.Split(err.Error(), "\n")
			require.Len(t, lines, len(tt.wantErrs), "errors: %v", err)
			for i, want := range tt.wantErrs {
				assert.True(t, strings.HasPrefix(lines[i], want), "line %d: got %q, want it to start with %q", i, lines[i], want)
			}
		})
	}
}
