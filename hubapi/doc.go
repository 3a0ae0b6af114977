// Package hubapi is a small client of the JupyterHub REST API (the hub's
// /hub/api), for the parts of kubedesk that talk to the hub: the launcher
// agent inside a session (launcher/agent), which checks that a browser's
// token belongs to the session's owner (Identify, HasAccess) and reports
// activity (ReportActivity), and the end-to-end tests (test/e2e), which
// drive a hub as its admin does (User, StartServer, StopServer). The
// spawner service asks the hub only to collect orphans
// (spawner/internal/orphans): with a service token of its own that holds
// list:users and read:servers (MissingScopes), it lists the users and their
// servers (Users, User) to find sessions whose server the hub no longer
// has; JupyterHub drives the service, never the other way round.
//
// A Client holds the API URL and a token; NewFromEnv builds one from the
// variables JupyterHub gives every server and service:
//
//	JUPYTERHUB_API_URL    the API root, e.g. http://127.0.0.1:8081/hub/api
//	JUPYTERHUB_API_TOKEN  the token of the server or service
//
// # Checking a caller
//
// Identify sends GET /user with the token a caller presented (taken from
// an Authorization header, or from the OAuth exchange behind a cookie) and
// returns its owner and expanded scopes. HasAccess then applies the hub's
// rule for access:servers to those scopes:
//
//	id, err := hub.Identify(ctx, token)
//	switch {
//	case hubapi.IsForbidden(err), hubapi.IsUnauthorized(err):
//		// unknown, revoked or expired token: 401 to the browser
//	case err != nil:
//		// the hub is unreachable or broken: 502
//	case !hubapi.HasAccess(id, owner, serverName):
//		// someone else's token: 403
//	}
//
// # Errors
//
// A non-2xx answer is an *Error carrying the status code and the hub's
// message, wrapped with the request's method and path; check it with
// errors.As or IsNotFound, IsForbidden and IsUnauthorized. Transport
// failures come back as the *url.Error of net/http.
//
// # Versions
//
// The client is tested against JupyterHub 4, 5 and 6. It asks every list
// for the paginated form (JupyterHub >= 2.0) and follows the pages; fields
// a hub does not send (token_id, full_name and full_url before 5.0) are
// zero.
//
// hubapi imports nothing else from kubedesk.
package hubapi
