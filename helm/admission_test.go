package helm_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"

	"kubedesk.dev/kubedesk/spawner/spawnertest"
)

// alwaysRefused are the admission policy's rules that no setting lifts,
// each with CEL it must contain.
var alwaysRefused = map[string][]string{
	"hostNetwork, hostPID, hostIPC": {"object.spec.hostNetwork", "object.spec.hostPID", "object.spec.hostIPC"},
	"runAsNonRoot":                  {"c.securityContext.runAsNonRoot", "variables.podRunAsNonRoot"},
	"runAsUser":                     {"object.spec.securityContext.runAsUser == 0", "c.securityContext.runAsUser != 0"},
	"automountServiceAccountToken":  {"!object.spec.automountServiceAccountToken"},
}

// privilegedRules are the rules of the privileged fields, by the names
// allow_privileged_fields takes.
var privilegedRules = map[string][]string{
	"hostPath":                 {"object.spec.volumes.all(v, !has(v.hostPath))"},
	"hostPort":                 {"p.hostPort == 0"},
	"privileged":               {"!c.securityContext.privileged"},
	"allowPrivilegeEscalation": {"has(c.securityContext.allowPrivilegeEscalation)", "!c.securityContext.allowPrivilegeEscalation"},
	"capabilities":             {"size(c.securityContext.capabilities.add) == 0"},
	"seccompProfile":           {"object.spec.securityContext.seccompProfile.type == 'Unconfined'", "c.securityContext.seccompProfile.type != 'Unconfined'"},
	"appArmorProfile":          {"object.spec.securityContext.appArmorProfile.type == 'Unconfined'", "c.securityContext.appArmorProfile.type != 'Unconfined'", "'container.apparmor.security.beta.kubernetes.io/'"},
	"procMount":                {"c.securityContext.procMount == 'Default'"},
	"seLinuxOptions":           {"!has(object.spec.securityContext.seLinuxOptions.user)", "!has(c.securityContext.seLinuxOptions.user)", "!has(c.securityContext.seLinuxOptions.role)", "variables.seLinuxTypes"},
}

// admissionPolicy renders the chart and returns its policy and binding.
func admissionPolicy(t *testing.T, values []string, sets ...string) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	t.Helper()
	m := parse(t, mustRender(t, goldenNamespace, values, sets...))
	return decode[admissionv1.ValidatingAdmissionPolicy](t, m.one(t, "ValidatingAdmissionPolicy")),
		decode[admissionv1.ValidatingAdmissionPolicyBinding](t, m.one(t, "ValidatingAdmissionPolicyBinding"))
}

// rules maps each validation's rule (its message up to the first colon)
// to its expression, failing on a rule that appears twice.
func rules(t *testing.T, p *admissionv1.ValidatingAdmissionPolicy) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range p.Spec.Validations {
		name, _, ok := strings.Cut(v.Message, ":")
		require.True(t, ok, "message %q names its rule", v.Message)
		require.NotContains(t, out, name, "rule %s twice", name)
		out[name] = strings.Join(strings.Fields(v.Expression), " ")
		assert.Equal(t, "Forbidden", string(*v.Reason), name)
	}
	return out
}

func TestAdmissionPolicyMatchesTheServiceOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		values  []string
		account string
	}{
		{"default", nil, "system:serviceaccount:jhub:kubedesk-spawner"},
		{"full", valuesCases[2].values, "system:serviceaccount:jhub:kubedesk-spawner-sa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			policy, binding := admissionPolicy(t, tc.values)
			assert.Equal(t, admissionv1.Fail, *policy.Spec.FailurePolicy, "a policy that cannot be evaluated refuses")
			require.Len(t, policy.Spec.MatchConditions, 1)
			assert.Equal(t, "request.userInfo.username == '"+tc.account+"'", policy.Spec.MatchConditions[0].Expression)
			require.Len(t, policy.Spec.MatchConstraints.ResourceRules, 1)
			rule := policy.Spec.MatchConstraints.ResourceRules[0]
			assert.Equal(t, []string{""}, rule.APIGroups)
			assert.Equal(t, []string{"pods"}, rule.Resources)
			assert.Equal(t, []admissionv1.OperationType{admissionv1.Create}, rule.Operations)

			assert.Equal(t, policy.Name, binding.Spec.PolicyName)
			assert.Equal(t, []admissionv1.ValidationAction{admissionv1.Deny}, binding.Spec.ValidationActions)
			assert.Contains(t, policy.Name, goldenNamespace, "cluster-wide: the name carries the namespace")
		})
	}
}

func TestAdmissionPolicyRules(t *testing.T) {
	t.Parallel()
	require.ElementsMatch(t, spawnertest.PrivilegedFields(), keys(privilegedRules),
		"a rule for every name of allow_privileged_fields, and no other")

	policy, _ := admissionPolicy(t, nil)
	var containers string
	for _, v := range policy.Spec.Variables {
		if v.Name == "containers" {
			containers = v.Expression
		}
	}
	assert.Contains(t, containers, "object.spec.containers")
	assert.Contains(t, containers, "object.spec.initContainers")

	got := rules(t, policy)
	want := map[string][]string{}
	for k, v := range alwaysRefused {
		want[k] = v
	}
	for k, v := range privilegedRules {
		want[k] = v
	}
	assert.ElementsMatch(t, keys(want), keys(got))
	for name, fragments := range want {
		for _, f := range fragments {
			assert.Contains(t, got[name], f, "rule %s", name)
		}
	}
}

// TestAdmissionPolicyLetsAllowedFieldsThrough: a field the pod settings
// allow by name, in the defaults or in any profile or choice, loses its
// rule; the others and the rules no setting lifts stay.
func TestAdmissionPolicyLetsAllowedFieldsThrough(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		values  []string
		sets    []string
		allowed []string
	}{
		{name: "defaults", sets: []string{"sessions.defaults.allow_privileged_fields={hostPath,procMount}"}, allowed: []string{"hostPath", "procMount"}},
		// A profile's own and one choice's (testdata/full-values.yaml).
		{name: "profile and choice", values: valuesCases[2].values, allowed: []string{"hostPath", "seccompProfile"}},
		{name: "all", sets: []string{"sessions.defaults.allow_privileged_fields={" + strings.Join(spawnertest.PrivilegedFields(), ",") + "}"},
			allowed: spawnertest.PrivilegedFields()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			policy, _ := admissionPolicy(t, tc.values, tc.sets...)
			got := keys(rules(t, policy))
			want := keys(alwaysRefused)
			for name := range privilegedRules {
				if !slices.Contains(tc.allowed, name) {
					want = append(want, name)
				}
			}
			assert.ElementsMatch(t, want, got)
		})
	}
}

func TestAdmissionPolicyOff(t *testing.T) {
	t.Parallel()
	m := parse(t, mustRender(t, goldenNamespace, nil, "spawner.admissionPolicy.enabled=false"))
	for _, o := range m {
		assert.NotContains(t, o.GetKind(), "ValidatingAdmissionPolicy")
	}
}

// TestRenderRefusesAdmissionPolicyBefore130: ValidatingAdmissionPolicy v1
// needs Kubernetes 1.30; on an older cluster the render says so, instead of
// the install failing on an unknown kind.
func TestRenderRefusesAdmissionPolicyBefore130(t *testing.T) {
	t.Parallel()
	_, err := helm(t, "template", release, chartDir, "--namespace", goldenNamespace, "--kube-version", "1.29.4")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spawner.admissionPolicy.enabled=true needs Kubernetes 1.30 or later")
	_, err = helm(t, "template", release, chartDir, "--namespace", goldenNamespace, "--kube-version", "1.29.4",
		"--set", "spawner.admissionPolicy.enabled=false")
	require.NoError(t, err)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
