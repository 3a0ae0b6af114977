package spawnertest

import (
	"strings"

	"kubedesk.dev/kubedesk/spawner/internal/podspec"
)

// CollidingUsers returns two different JupyterHub user names whose default
// servers get the same Kubernetes names (pod, home PVC, Secret), found by a
// birthday search over the 32-bit hash of the names that need one.
//
// Every candidate is base followed by seven characters that the slug turns
// into nothing ('.', '_', '~', ...), so all share the readable part of the
// slug and differ only in the hash; about 80,000 candidates give the first
// collision, in well under a second. The search is deterministic: the same
// base always gives the same pair. base must be lowercase letters.
func CollidingUsers(base string) (first, second string) {
	const alphabet = ".-_~@+=:" // all outside [a-z0-9], all collapsed by the slug
	seen := map[string]string{}
	for i := 0; ; i++ {
		var b strings.Builder
		b.WriteString(base)
		for n, d := i, 0; d < 7; d, n = d+1, n/len(alphabet) {
			b.WriteByte(alphabet[n%len(alphabet)])
		}
		user := b.String()
		pvc := podspec.NewNames(user, "").PVC
		if prev, ok := seen[pvc]; ok {
			return prev, user
		}
		seen[pvc] = user
	}
}
