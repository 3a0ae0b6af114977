// Package sessiontoken mints and checks the token that lets one desktop
// session's launcher agent call the spawner service (trust boundary 2 in
// docs/architecture.md). The service signs it at spawn time, stores it in the
// session's Secret, and accepts it only for requests about that session: the
// claims carry the user, the server and the session pod's UID, so a token
// outlives neither its pod (a new spawn has a new UID) nor its expiry.
//
// Tokens are JWTs signed with HMAC-SHA256 under a key that only the service
// holds; the launcher agent treats the token as opaque. Every check is strict:
// the algorithm, the audience, the issuer, expiry and not-before (with a small
// leeway for clock skew) are all verified.
package sessiontoken
