package podspec

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Ownership is whose session an existing object of a session's name belongs
// to, as its raw-name annotations say.
//
// Names are not proof of ownership: a name that needed hashing carries 32
// bits of SHA-256 (KubeSpawner's scheme, kept for name parity), and two user
// names that differ can be found in minutes of CPU that map to the same
// "claim-…" and "jupyter-…" names. The annotations hold the raw names, so
// they are what tells two such users apart. Every object the service reuses
// by name (home PVC, session pod, hub env Secret) is checked with OwnerOf
// first.
type Ownership int

const (
	// Owned: the annotations name this user and server.
	Owned Ownership = iota
	// Unannotated: the object has no username annotation (a home volume of
	// an old KubeSpawner, or one made by hand).
	Unannotated
	// OwnedByOther: the annotations name another user or server.
	OwnedByOther
)

// OwnerOf reads the raw-name annotations of obj against names. A missing
// servername annotation means the default server: KubeSpawner writes it only
// for named servers, kubedesk always (as "" for the default one).
func OwnerOf(obj metav1.Object, names Names) Ownership {
	a := obj.GetAnnotations()
	user, ok := a[AnnotationUsername]
	if !ok {
		return Unannotated
	}
	if user != names.User || a[AnnotationServername] != names.Server {
		return OwnedByOther
	}
	return Owned
}

// Hashed reports whether the session's names carry a hash, that is whether
// some other user and server could share them. A name without a hash is the
// raw user name (and server name) verbatim, which no other pair produces:
// verbatim slugs never contain "--", while joins have exactly "--" between
// two verbatim slugs and hashed slugs always contain "---".
func (n Names) Hashed() bool { return strings.Contains(n.UserServer, "---") }

// MayUseHome reports whether a home PVC found under the session's name may
// be mounted for it. One annotated with this user and server may; one
// annotated with anyone else never. One without annotations (KubeSpawner
// before it annotated its claims, or a claim made by hand) may only when
// the name is not hashed: then the name itself identifies the user, and
// refusing would lock users out of the homes a migration is meant to keep.
// A hashed name without annotations is refused: the hash is exactly what a
// second user can share, and nothing else on the claim says whose it is.
func MayUseHome(obj metav1.Object, names Names) bool {
	switch OwnerOf(obj, names) {
	case Owned:
		return true
	case Unannotated:
		return !names.Hashed()
	default:
		return false
	}
}
