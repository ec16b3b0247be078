// Package audit turns each captured exchange into one audit record: it
// consults and updates the identity cache, reads a resource back from the
// upstream when neither the request nor the answer names it, derives the
// record (package scim) and hands it to the sink. Both proxy modes feed it
// through proxy.Recorder.
package audit
