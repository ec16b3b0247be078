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
	// UserDisplayName is the user's name as people read it (USER only):
	// name.formatted, else name.givenName and name.familyName joined by a
	// space, else displayName. Admins search by the name they see in the
	// identity provider, which is seldom the userName.
	UserDisplayName string `json:"user_display_name,omitempty"`
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
	// Changes lists what the request changed, in request order, secret
	// values redacted. For a successful PUT or PATCH it is one entry per
	// attribute that changed: the attributes scimtrail tracks (userName,
	// name, emails, displayName, externalId, active) compared before and
	// after, with Old and New, when the state before was known; any other
	// attribute as the request set it, since its value before is not
	// known. A failed request lists what it asked for, as asked. Group
	// members are in MembersAdded and MembersRemoved instead.
	Changes []Change `json:"changes,omitempty"`
	// NoOp marks a successful PUT or PATCH that changed nothing scimtrail
	// can see: the state before was known, nothing differs after it, no
	// member came or went, and nothing was left underived (no Notes). A PUT
	// that sent attributes scimtrail does not track is never a no-op, since
	// whether they changed cannot be told. A no-op has no Events. Identity
	// providers repeat updates that change nothing (Entra ID logs them as
	// "Skipped"); NoOp lets admins filter them out.
	NoOp bool `json:"no_op,omitempty"`
	// Events names what happened in the terms admins search for:
	// user.created, user.updated, user.deactivated, user.reactivated,
	// user.deleted, group.created, group.updated, group.renamed,
	// group.member_added, group.member_removed, group.deleted. They follow
	// the effective values: deactivating a user already inactive is not
	// user.deactivated. Empty for reads, failed requests and no-ops.
	Events []string `json:"events,omitempty"`
	// Notes says what could not be derived and why (malformed JSON, body
	// truncated, identity unknown…). Empty when everything was derived.
	Notes []string `json:"notes,omitempty"`
}

// Change is one attribute change of a request.
type Change struct {
	// Op is add, replace or remove. For an attribute compared before and
	// after, it says which of Old and New there are: replace both, add New
	// only, remove Old only. Otherwise it is the SCIM PATCH operation as
	// sent, lower case (PUT and POST yield replace).
	Op string `json:"op"`
	// Attribute names the attribute. A compared attribute has its SCIM
	// name: userName, name (the user's name as UserDisplayName shows it),
	// emails (the primary e-mail address, not the list), displayName,
	// externalId or active. Any other is the path as the request named it (e.g.
	// "title", "name.middleName", `emails[type eq "home"].value`); for a
	// path-less operation, the member name of its value.
	Attribute string `json:"attribute"`
	// Old is the value before the request, as JSON, for a compared
	// attribute whose value before was known and not empty. It comes from
	// what scimtrail knew of the resource, which never holds a secret.
	Old json.RawMessage `json:"old,omitempty"`
	// New is the value after the request (a compared attribute) or the
	// value the request set, as JSON; absent when the attribute was
	// removed. A compared active is a JSON boolean even when the identity
	// provider sent the string "False".
	New json.RawMessage `json:"new,omitempty"`
}
