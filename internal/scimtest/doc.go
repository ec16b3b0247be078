// Package scimtest provides what tests and the `scimtrail demo` command need
// to exercise the proxy without a real SCIM service or identity provider: an
// in-memory SCIM 2.0 backend (RFC 7643/7644 Users, Groups and
// ServiceProviderConfig, with PATCH handling lenient in the ways Okta and
// Microsoft Entra ID need) that records every request it receives, and
// scripted request sequences modelled on the traffic those two identity
// providers send, with Run to replay them over HTTP. Nothing here is meant for
// production: the backend keeps everything in memory and trusts its callers.
package scimtest
