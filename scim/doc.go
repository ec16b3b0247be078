// Package scim holds the SCIM 2.0 knowledge (RFC 7643/7644) that turns one
// captured HTTP exchange into an audit record: endpoints and resource types,
// PATCH operations as identity providers really send them, filters, error
// bodies, redaction of secrets, and the identity a resource had.
//
// Everything here is pure: no I/O, no clock, no globals. The identity cache
// is an interface; what implements it lives elsewhere.
package scim
