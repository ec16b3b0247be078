package schema

import (
	"encoding/json"
	"time"
)

// Version is the schema version of the records this build writes. It names
// the embedded JSON Schema (record.v1.json) and travels with every exported
// record (Kafka header, OTLP attribute) so consumers can pick a decoder.
const Version = "1"

// Resource types of a Record.
const (
	ResourceUser  = "USER"
	ResourceGroup = "GROUP"
)

// Directions of a Record.
const (
	// DirectionIngress: an identity provider called the SCIM service
	// scimtrail stands in front of (the reverse proxy).
	DirectionIngress = "ingress"
	// DirectionEgress: an in-house SCIM client called a SaaS application's
	// SCIM API through scimtrail (the forward proxy).
	DirectionEgress = "egress"
)

// Outcomes of a Record.
const (
	OutcomeSuccess = "SUCCESS"
	OutcomeError   = "ERROR"
)

// Record is one audit record: what an identity provider sent in one SCIM
// request and what the SCIM service answered. The JSON keys are the contract
// with log readers (see record.v1.json); field comments name the key.
//
// A Record is a plain value: safe to copy, and safe to share between
// goroutines once nobody writes to it.
type Record struct {
	// ID is unique per record and time-ordered (UUIDv7). Consumers drop
	// duplicates by it: delivery is at least once.
	ID string `json:"id"`
	// Timestamp is when the request arrived, in UTC.
	Timestamp time.Time `json:"timestamp"`
	// IdPName is the name of the matched identity provider, "unknown" when
	// no matcher matched.
	IdPName string `json:"idp_name"`
	// Action is the HTTP method, upper case.
	Action string `json:"action"`
	// ResourceType is USER, GROUP, or empty for other endpoints.
	ResourceType string `json:"resource_type"`
	// UserEmail is the user's primary e-mail (or first e-mail, or userName
	// when it is an e-mail address), also on PUT/PATCH/DELETE.
	UserEmail string `json:"user_email,omitempty"`
	// UserName is the user's SCIM userName.
	UserName string `json:"user_name,omitempty"`
	// GroupName is the group's displayName, also on PATCH/DELETE.
	GroupName string `json:"group_name,omitempty"`
	// ResourceID is the SCIM service's persistent id of the resource.
	ResourceID string `json:"resource_id,omitempty"`
	// IdPResourceID is the identity provider's own id (SCIM externalId).
	IdPResourceID string `json:"idp_resource_id,omitempty"`
	// Outcome is SUCCESS for a 2xx answer, ERROR otherwise.
	Outcome string `json:"outcome"`
	// StatusCode is the HTTP status returned to the identity provider.
	StatusCode int `json:"status_code"`
	// ErrorDetail is the SCIM error "detail" (or the status text when the
	// body is not a SCIM error) when Outcome is ERROR.
	ErrorDetail string `json:"error_detail,omitempty"`
	// SCIMType is the SCIM error "scimType" (uniqueness, invalidValue…).
	SCIMType string `json:"scim_type,omitempty"`
	// RequestBody is the request's JSON body, compact, with secrets
	// redacted. Empty when the request had no body or it was not JSON.
	RequestBody string `json:"request_body,omitempty"`
	// BodyTruncated says the request or response body was longer than the
	// capture limit: what was derived comes from its first bytes only.
	BodyTruncated bool `json:"body_truncated,omitempty"`
	// DurationMS is the time from the request's arrival to the end of the
	// upstream's answer, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Direction is DirectionIngress or DirectionEgress: which side of the
	// SCIM conversation scimtrail stood on.
	Direction string `json:"direction,omitempty"`
	// DestinationHost is the host (and port, when not the scheme's) the
	// request went to, in egress mode: the SaaS application's SCIM API.
	DestinationHost string `json:"destination_host,omitempty"`
	// Method-independent request facts.
	Path      string `json:"path"`
	Query     string `json:"query,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	ClientIP  string `json:"client_ip,omitempty"`
	// TraceID and SpanID place the request in a distributed trace (W3C
	// Trace Context), lower-case hex: the trace of the incoming traceparent
	// header (or the one scimtrail started when it exports its own spans),
	// and the span that stands for this request — scimtrail's own span when
	// it exports spans, else the caller's span. Absent without a trace.
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	// Active is the user's active flag after the request, when known.
	Active *bool `json:"active,omitempty"`
	// MembersAdded and MembersRemoved are the member ids a GROUP
	// POST/PUT/PATCH added or removed.
	MembersAdded   []string `json:"members_added,omitempty"`
	MembersRemoved []string `json:"members_removed,omitempty"`
	// Changes lists the attribute changes the request asked for, in
	// request order, with secret values redacted.
	Changes []Change `json:"changes,omitempty"`
	// Events names what happened in the terms admins search for:
	// user.created, user.updated, user.deactivated, user.reactivated,
	// user.deleted, group.created, group.updated, group.renamed,
	// group.member_added, group.member_removed, group.deleted.
	// Empty for reads and for failed requests.
	Events []string `json:"events,omitempty"`
	// Notes says what could not be derived and why (malformed JSON, body
	// truncated, identity unknown…). Empty when everything was derived.
	Notes []string `json:"notes,omitempty"`
}

// Change is one attribute change asked for by a request.
type Change struct {
	// Op is the SCIM PATCH operation, lower case: add, replace or remove.
	// PUT and POST yield replace.
	Op string `json:"op"`
	// Attribute is the attribute path as the request named it (e.g.
	// "active", "name.givenName", `emails[type eq "work"].value`); for a
	// path-less operation, the member name of its value.
	Attribute string `json:"attribute"`
	// New is the value the request set, as JSON; absent for remove.
	New json.RawMessage `json:"new,omitempty"`
}
