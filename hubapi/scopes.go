package hubapi

// ScopeAccessServers is the scope that lets a token use a single-user
// server through the proxy, the way a browser does.
const ScopeAccessServers = "access:servers"

// AccessScopes returns the scopes that grant access to user's server (by
// name, "" for the default server), most specific first. A server's own
// OAuth client asks for the first two (JupyterHub puts them in
// JUPYTERHUB_OAUTH_ACCESS_SCOPES).
func AccessScopes(user, server string) []string {
	return []string{
		ScopeAccessServers + "!server=" + user + "/" + server,
		ScopeAccessServers + "!user=" + user,
		ScopeAccessServers,
	}
}

// HasAccess reports whether the token that id describes may access user's
// server (by name, "" for the default server), by JupyterHub's rule for
// access:servers, which the hub's own single-user servers apply:
//
//   - access:servers (no filter) grants every server; the admin role has it.
//   - access:servers!user=<user> grants every server of <user>; a user's
//     own token has it for that user unless its scopes were narrowed.
//   - access:servers!server=<user>/<server> grants that one server; a
//     server's OAuth tokens carry it, and so do tokens of other users the
//     server was shared with (JupyterHub >= 5 sharing).
//
// Names compare exactly (the hub stores them normalized). Filters on groups
// (access:servers!group=<g>) are not honoured: resolving one needs the
// server owner's groups, which a token's identity does not carry, and the
// hub's own token check for services and servers (HubAuth.check_scopes)
// leaves them out for the same reason. Admin never counts by itself: an
// admin's narrowed token grants only what its scopes say.
//
// The scopes must be expanded as GET /user returns them (Identify); a raw
// scope such as "shares", which implies access:servers, or an unexpanded
// "!user" filter does not count.
//
// Access is not ownership: a user the server is shared with, or an admin,
// passes this check without being user. Where only the owner will do, also
// require id.Kind == KindUser && id.Name == user.
func HasAccess(id *Identity, user, server string) bool {
	if id == nil {
		return false
	}
	want := AccessScopes(user, server)
	for _, s := range id.Scopes {
		for _, w := range want {
			if s == w {
				return true
			}
		}
	}
	return false
}

// Scopes a token needs to see every user's servers, as the spawner
// service's orphan collection does: the list of users, and their servers
// in each user's model.
const (
	ScopeListUsers   = "list:users"
	ScopeReadServers = "read:servers"
)

// MissingScopes returns those of want that the token id describes does not
// hold unfiltered, in want's order; none is nil. The scopes must be expanded
// as GET /user returns them (WhoAmI): a role's admin:users, for instance,
// expands to list:users. A filtered scope (list:users!group=staff) does
// not count: it shows some users only, and a user the token cannot see
// would look deleted.
func MissingScopes(id *Identity, want ...string) []string {
	var missing []string
	for _, w := range want {
		found := false
		if id != nil {
			for _, s := range id.Scopes {
				if s == w {
					found = true
					break
				}
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}
