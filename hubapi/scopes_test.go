package hubapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAccessScopes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"access:servers!server=alice/", "access:servers!user=alice", "access:servers"}, AccessScopes("alice", ""))
	assert.Equal(t, []string{"access:servers!server=alice/desk", "access:servers!user=alice", "access:servers"}, AccessScopes("alice", "desk"))
}

func TestHasAccess(t *testing.T) {
	t.Parallel()
	user := func(name string, scopes ...string) *Identity {
		return &Identity{Kind: KindUser, Name: name, Scopes: scopes}
	}
	for _, tc := range []struct {
		name   string
		id     *Identity
		user   string
		server string
		want   bool
	}{
		{"no identity", nil, "alice", "", false},
		{"no scopes", user("alice"), "alice", "", false},
		{"own token, default server", user("alice", "access:servers!user=alice", "read:users!user=alice"), "alice", "", true},
		{"own token, named server", user("alice", "access:servers!user=alice"), "alice", "desk", true},
		{"server oauth token, that server", user("alice", "access:servers!server=alice/"), "alice", "", true},
		{"server oauth token, another server of the same user", user("alice", "access:servers!server=alice/"), "alice", "desk", false},
		{"named server token, that server", user("alice", "access:servers!server=alice/desk"), "alice", "desk", true},
		{"named server token, the default server", user("alice", "access:servers!server=alice/desk"), "alice", "", false},
		{"someone else's token", user("bob", "access:servers!user=bob"), "alice", "", false},
		{"shared with bob", user("bob", "access:servers!user=bob", "access:servers!server=alice/"), "alice", "", true},
		{"admin scope", user("root", "access:servers", "admin:users"), "alice", "desk", true},
		{"admin flag alone grants nothing", &Identity{Kind: KindUser, Name: "root", Admin: true, Scopes: []string{"read:users"}}, "alice", "", false},
		{"admin's narrowed token", &Identity{Kind: KindUser, Name: "root", Admin: true, Scopes: []string{"access:servers!user=root"}}, "alice", "", false},
		{"service with access", &Identity{Kind: KindService, Name: "svc", Scopes: []string{"access:servers!user=alice"}}, "alice", "", true},
		{"group filter is not resolved", user("bob", "access:servers!group=team"), "alice", "", false},
		{"unexpanded user filter", user("alice", "access:servers!user"), "alice", "", false},
		{"raw shares scope is not expanded", user("root", "shares"), "alice", "", false},
		{"other scopes on the server", user("bob", "servers!server=alice/", "read:servers!user=alice", "delete:servers"), "alice", "", false},
		{"prefix of another name", user("al", "access:servers!user=al"), "alice", "", false},
		{"name that extends the filter", user("alice", "access:servers!user=alice"), "alice2", "", false},
		{"server filter with a user prefix", user("a", "access:servers!server=a/b"), "a/b", "", false},
		{"names are case-sensitive", user("alice", "access:servers!user=alice"), "Alice", "", false},
		{"access to services is not access to servers", user("alice", "access:services"), "alice", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, HasAccess(tc.id, tc.user, tc.server))
		})
	}
}

func TestMissingScopes(t *testing.T) {
	t.Parallel()
	want := []string{ScopeListUsers, ScopeReadServers}
	full := &Identity{Scopes: []string{"read:users:name", ScopeReadServers, ScopeListUsers}}
	assert.Nil(t, MissingScopes(full, want...))
	filtered := &Identity{Scopes: []string{"list:users!group=staff", ScopeReadServers}}
	assert.Equal(t, []string{ScopeListUsers}, MissingScopes(filtered, want...), "a filtered scope shows some users only")
	assert.Equal(t, want, MissingScopes(&Identity{}, want...))
	assert.Equal(t, want, MissingScopes(nil, want...))
}
