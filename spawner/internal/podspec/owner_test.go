package podspec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func annotated(a map[string]string) *metav1.ObjectMeta { return &metav1.ObjectMeta{Annotations: a} }

func TestOwnerOf(t *testing.T) {
	alice, lab := NewNames("Alice", ""), NewNames("Alice", "lab")
	cases := []struct {
		name  string
		obj   *metav1.ObjectMeta
		names Names
		want  Ownership
	}{
		{"kubedesk's own annotations", annotated(nameAnnotations(alice)), alice, Owned},
		{"named server", annotated(nameAnnotations(lab)), lab, Owned},
		{"KubeSpawner omits the servername of the default server", annotated(map[string]string{AnnotationUsername: "Alice"}), alice, Owned},
		{"another user", annotated(map[string]string{AnnotationUsername: "alice"}), alice, OwnedByOther},
		{"another server of the same user", annotated(nameAnnotations(lab)), alice, OwnedByOther},
		{"the default server is not a named one", annotated(nameAnnotations(alice)), lab, OwnedByOther},
		{"no annotations", annotated(nil), alice, Unannotated},
		{"a servername alone records no owner", annotated(map[string]string{AnnotationServername: ""}), alice, Unannotated},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, OwnerOf(tc.obj, tc.names), tc.name)
	}
}

func TestHashed(t *testing.T) {
	for user, want := range map[string]bool{
		"alice": false, "alice-smith": false, "Alice": true, "alice.smith": true, "alice--x": true,
		"alice@example.org": true, "a0123456789012345678901234567890123456789012345678901": true,
	} {
		assert.Equal(t, want, NewNames(user, "").Hashed(), user)
	}
	assert.False(t, NewNames("alice", "lab").Hashed())
	assert.True(t, NewNames("alice", "Lab").Hashed())
}

func TestMayUseHome(t *testing.T) {
	plain, hashed := NewNames("alice", ""), NewNames("Alice", "")
	assert.True(t, MayUseHome(annotated(nameAnnotations(hashed)), hashed), "own claim")
	assert.False(t, MayUseHome(annotated(nameAnnotations(plain)), hashed), "another user's claim")
	assert.True(t, MayUseHome(annotated(nil), plain), "old KubeSpawner claim under the verbatim user name")
	assert.False(t, MayUseHome(annotated(nil), hashed), "a hashed name records no owner: could be anyone's")
}
