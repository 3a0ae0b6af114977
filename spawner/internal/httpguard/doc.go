// Package httpguard bounds what an unauthenticated client can make the
// spawner service spend. Session pods reach the API, so every user is such
// a client: before anyone is authenticated, 200 connections each sending an
// unterminated 1 MB header took the service from 60 MB to more than 500 MB,
// past the chart's memory limit, and idle keep-alive connections never
// timed out.
//
// Three things bound it: Server sets a small header limit, a header timeout
// and an idle timeout on each listener; Listen caps the connections a
// listener serves at once (further ones wait in the kernel's backlog rather
// than cost memory); and Failures refuses, for a while, a source address
// that keeps failing authentication, before its credentials cost a hash or
// a signature check (and a log line).
//
// A read timeout over the whole request is deliberately not set on the API:
// net/http cancels the request's context when it fires, which would end
// progress streams (Server-Sent Events) and the stop route's wait. Request
// bodies get their own deadline where they are read (BodyDeadline).
package httpguard
