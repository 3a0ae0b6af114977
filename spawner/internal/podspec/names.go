package podspec

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Slug lengths follow KubeSpawner 7's "safe" scheme: 48 characters leave room
// for the "jupyter-" and "claim-" prefixes inside the 63-character limit of a
// DNS label and of a label value.
const (
	slugMaxLength = 48
	hashLength    = 8
	// defaultHashedLength is the budget of a slug that had to be hashed
	// when no explicit budget was given (KubeSpawner's default).
	defaultHashedLength = 32
)

// Names are the Kubernetes names of one session: a JupyterHub user and one of
// their servers ("" is the default server). They are computed exactly as
// KubeSpawner 7 computes them with slug_scheme="safe" and its default
// templates, so a hub that moves from KubeSpawner to kubedesk finds its users'
// existing home PVCs under the same names.
type Names struct {
	// User and Server are the raw JupyterHub names. They may hold any
	// Unicode and go into annotations, never into names or labels.
	User   string
	Server string

	// SafeUser and SafeServer are DNS-label-safe slugs of the raw names
	// (SafeServer is "" for the default server); they go into labels.
	SafeUser   string
	SafeServer string
	// UserServer is the slug of the pair: SafeUser for the default server,
	// otherwise "<user>--<server>", hashed as one when too long.
	UserServer string

	// Pod is "jupyter-<user_server>", PVC "claim-<user_server>" and Secret
	// the pod's name: KubeSpawner's pod_name_template, pvc_name_template and
	// secret_name_template.
	Pod    string
	PVC    string
	Secret string
}

// NewNames computes the names of the session of user's server. Every result is
// a valid DNS-1123 label of at most 63 characters, and different (user,
// server) pairs get different names up to a 32-bit hash collision: a raw
// name is used as it is only when it is already a safe slug, and everything
// else carries a hash of the raw name, so "alice", "Alice" and "alice." are
// three users. Collisions can be found on purpose; OwnerOf is what keeps
// colliding users apart.
func NewNames(user, server string) Names {
	n := Names{
		User:     user,
		Server:   server,
		SafeUser: safeSlug(user, slugMaxLength),
	}
	if server != "" {
		n.SafeServer = safeSlug(server, slugMaxLength)
	}
	switch {
	case len(n.SafeUser)+len(n.SafeServer)+2 > slugMaxLength:
		// Two slugs that each fit may not fit together; hash the pair as
		// one so that truncation cannot make two pairs meet.
		n.UserServer = multiSlug([]string{user, server}, slugMaxLength)
	case server != "":
		n.UserServer = n.SafeUser + "--" + n.SafeServer
	default:
		n.UserServer = n.SafeUser
	}
	n.Pod = "jupyter-" + n.UserServer
	n.PVC = "claim-" + n.UserServer
	n.Secret = n.Pod
	return n
}

// SafeSlug returns name unchanged when it is already a valid lowercase DNS
// label (starting with a letter, at most 63 characters, without "--"), and
// otherwise a sanitized prefix of it followed by "---" and 8 hex digits of its
// SHA-256. The result is always a valid DNS-1123 label and label value, and
// distinct names give distinct slugs (up to a 32-bit hash collision).
func SafeSlug(name string) string {
	return safeSlug(name, 0)
}

// safeSlug is KubeSpawner's safe_slug; maxLength 0 means no limit beyond
// validity for names kept as they are, and 32 characters for hashed ones.
func safeSlug(name string, maxLength int) string {
	// A name with "--" could look like a joined or hashed slug, so it is
	// always hashed.
	if !strings.Contains(name, "--") && isValidObjectName(name) && (maxLength == 0 || len(name) <= maxLength) {
		return name
	}
	if maxLength == 0 {
		maxLength = defaultHashedLength
	}
	return stripAndHash(name, maxLength)
}

// stripAndHash is "<safe prefix>---<hash>". The "---" keeps it apart from
// names kept as they are (which never hold "--") and from "<user>--<server>"
// joins of such names; the hash of the raw name keeps hashed slugs apart.
func stripAndHash(name string, maxLength int) string {
	sum := sha256.Sum256([]byte(name))
	prefix := extractSafeName(name, maxLength-(hashLength+3))
	return prefix + "---" + hex.EncodeToString(sum[:])[:hashLength]
}

// multiSlug is "<name1>--<name2>---<hash>" with one hash over all the raw
// names. 0xFF cannot occur in UTF-8, so as a separator in the hash input it
// keeps ("ab", "c") and ("a", "bc") apart.
func multiSlug(names []string, maxLength int) string {
	h := sha256.New()
	for i, name := range names {
		if i > 0 {
			h.Write([]byte{0xff})
		}
		h.Write([]byte(name))
	}
	sum := hex.EncodeToString(h.Sum(nil))[:hashLength]

	perName := (maxLength-(hashLength+1))/len(names) - 2
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = extractSafeName(name, perName)
	}
	return strings.Join(parts, "--") + "---" + sum
}

// extractSafeName keeps a readable part of name: lowercase, every run of
// other characters replaced by one '-', starting with a letter, ending with a
// letter or digit, non-empty, at most maxLength characters. It is lossy; the
// hash that follows it keeps names apart.
func extractSafeName(name string, maxLength int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if isLowerAlnum(r) {
			b.WriteRune(r)
			dash = false
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	// Only ASCII is left, so byte offsets are character offsets.
	s := strings.TrimLeft(b.String(), "-")
	if len(s) > maxLength {
		s = s[:maxLength]
	}
	s = strings.TrimRight(s, "-")
	if s != "" && !isLowerAlpha(rune(s[0])) {
		if len(s) > maxLength-2 {
			s = s[:maxLength-2]
		}
		// Truncation may leave a trailing '-' again. KubeSpawner keeps it,
		// and so do we, to produce the same names; a hash always follows,
		// so the slug still ends with a letter or digit.
		s = "x-" + s
	}
	if s == "" {
		s = "x"
	}
	return s
}

// isValidObjectName is KubeSpawner's is_valid_object_name: a DNS label that
// is also valid under RFC 1035 (starts with a letter), so it can name any
// object, Services included, and serve as a label value.
func isValidObjectName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	if !isLowerAlpha(rune(s[0])) || !isLowerAlnum(rune(s[len(s)-1])) {
		return false
	}
	for _, r := range s {
		if !isLowerAlnum(r) && r != '-' {
			return false
		}
	}
	return true
}

func isLowerAlpha(r rune) bool { return r >= 'a' && r <= 'z' }

func isLowerAlnum(r rune) bool { return isLowerAlpha(r) || (r >= '0' && r <= '9') }
