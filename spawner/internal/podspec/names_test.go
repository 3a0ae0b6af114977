package podspec

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The expected slugs are what KubeSpawner 7's slugs.py (safe_slug, multi_slug
// and the get_names join) computes for the same input, so a hub that moves
// from KubeSpawner finds its users' PVCs under the same names. They also pin
// the names across kubedesk releases: a change here orphans every home.
func TestNewNamesMatchesKubeSpawner(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 100)
	tests := []struct {
		name, user, server               string
		safeUser, safeServer, userServer string
	}{
		{"plain user", "alice", "", "alice", "", "alice"},
		{"upper case is hashed", "Alice", "", "alice---3bc51062", "", "alice---3bc51062"},
		{"trailing dot is hashed", "alice.", "", "alice---aa3bed7f", "", "alice---aa3bed7f"},
		{"named server", "alice", "gpu-2", "alice", "gpu-2", "alice--gpu-2"},
		{"named server that looks like a join", "alice", "bob", "alice", "bob", "alice--bob"},
		{"double dash in user is hashed", "alice--bob", "", "alice-bob---4022885c", "", "alice-bob---4022885c"},
		{"german umlauts", "Jörg Müller", "", "j-rg-m-ller---70ed695e", "", "j-rg-m-ller---70ed695e"},
		{"japanese", "日本語ユーザー", "", "x---44b7bee1", "", "x---44b7bee1"},
		{"japanese on named server", "日本語ユーザー", "gpu", "x---44b7bee1", "gpu", "x---44b7bee1--gpu"},
		{"100 characters", long, "", strings.Repeat("a", 37) + "---28165978", "", strings.Repeat("a", 17) + "--x---b2e5dede"},
		{"pair too long to join", strings.Repeat("a", 40), strings.Repeat("b", 20), strings.Repeat("a", 40), strings.Repeat("b", 20), strings.Repeat("a", 17) + "--" + strings.Repeat("b", 17) + "---e7ebee05"},
		{"email and spaces", "user@example.com", "My Server", "user-example-com---b4c9a289", "my-server---c2d9a82f", "user-example-com--my-server---ba23eb8d"},
		{"leading digit", "1234", "", "x-1234---03ac6742", "", "x-1234---03ac6742"},
		{"only dashes around", "-x-", "", "x---c6cf95e5", "", "x---c6cf95e5"},
		{"empty", "", "", "x---e3b0c442", "", "x---e3b0c442"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := NewNames(tt.user, tt.server)
			assert.Equal(t, Names{
				User:       tt.user,
				Server:     tt.server,
				SafeUser:   tt.safeUser,
				SafeServer: tt.safeServer,
				UserServer: tt.userServer,
				Pod:        "jupyter-" + tt.userServer,
				PVC:        "claim-" + tt.userServer,
				Secret:     "jupyter-" + tt.userServer,
			}, n)
		})
	}
}

// awkwardNames are user and server names a hub may hand over: JupyterHub
// lowercases names by default, but authenticators may not, and named servers
// predating JupyterHub 6 may hold anything.
var awkwardNames = []string{
	"", "alice", "Alice", "ALICE", "alice.", ".alice", "alice-", "-alice", "al.ice", "al_ice",
	"alice--bob", "alice---bob", "alice-bob", "alice@example.com", "Alice@Example.com",
	"Jörg Müller", "jörg müller", "joerg-mueller", "日本語ユーザー", "日本語ユーザ", "ユーザー",
	"1234", "x-1234", "0", "x", "a", "gpu", "gpu-2", "GPU-2", "gpu.2", "My Server", "my-server",
	"x---e3b0c442", "alice---3bc51062", "alice--gpu-2",
	strings.Repeat("a", 30), strings.Repeat("a", 46), strings.Repeat("a", 47), strings.Repeat("a", 48),
	strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 100), strings.Repeat("A", 100),
	strings.Repeat("a", 99) + "b", strings.Repeat("ü", 100), strings.Repeat("a-", 50),
	"tab\there", "new\nline", "emoji 🎉", "😀", "\x00",
}

func TestNewNamesAreValid(t *testing.T) {
	t.Parallel()
	for _, user := range awkwardNames {
		for _, server := range awkwardNames {
			n := NewNames(user, server)
			for what, name := range map[string]string{"pod": n.Pod, "pvc": n.PVC, "secret": n.Secret, "user_server": n.UserServer} {
				assert.Empty(t, validation.IsDNS1123Label(name), "%s name %q for (%q, %q)", what, name, user, server)
			}
			assert.Empty(t, validation.IsValidLabelValue(n.SafeUser), "user label %q for %q", n.SafeUser, user)
			assert.Empty(t, validation.IsValidLabelValue(n.SafeServer), "server label %q for %q", n.SafeServer, server)
			if server == "" {
				assert.Empty(t, n.SafeServer, "the default server's label is empty")
			}
			require.Equal(t, n, NewNames(user, server), "names are stable")
		}
	}
}

func TestNewNamesAreDistinct(t *testing.T) {
	t.Parallel()
	pods := map[string][2]string{}
	users := map[string]string{}
	for _, user := range awkwardNames {
		if prev, ok := users[NewNames(user, "").SafeUser]; ok {
			t.Errorf("users %q and %q share the label %q", prev, user, NewNames(user, "").SafeUser)
		}
		users[NewNames(user, "").SafeUser] = user
		for _, server := range awkwardNames {
			n := NewNames(user, server)
			if prev, ok := pods[n.Pod]; ok {
				t.Errorf("(%q, %q) and (%q, %q) share the pod name %q", prev[0], prev[1], user, server, n.Pod)
			}
			pods[n.Pod] = [2]string{user, server}
		}
	}
	assert.Len(t, pods, len(awkwardNames)*len(awkwardNames))
}

func TestSafeSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"safe", "gpu-large", "gpu-large"},
		{"63 characters stay", strings.Repeat("p", 63), strings.Repeat("p", 63)},
		{"64 characters are hashed", strings.Repeat("p", 64), strings.Repeat("p", 21) + "---153ac90a"},
		{"upper case", "GPU", "gpu---ea49523d"},
		{"display-style name", "Large GPU (A100)", "large-gpu-a100---3f6d79c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := SafeSlug(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, validation.IsDNS1123Label(got))
		})
	}
}
