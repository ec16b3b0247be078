// Package console is scimtrail's read-only admin console: server-rendered
// HTML pages under /ui/ and the same data as JSON under /api/v1/, answered
// from a registry.Registry, so an admin can see what an identity provider
// did to a user or a group without grepping JSON lines.
//
// It shows identity data, so every answer — pages, static assets, unknown
// paths — requires a credential first (a bearer token or HTTP basic auth,
// see Config), and carries headers that keep browsers from framing the
// pages, sniffing types, caching them or running anything but the one
// embedded script. It accepts only GET and HEAD: the console changes
// nothing, so there is no form to forge.
//
// The pages need no build chain: html/template files and one stylesheet
// are embedded in the binary; the only script copies a record's JSON to
// the clipboard.
package console
