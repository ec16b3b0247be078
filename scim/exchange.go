package scim

import (
	"context"
	"time"
)

// Exchange is what a proxy captured of one request and its answer. It holds
// no credentials: the Authorization header never enters an Exchange.
type Exchange struct {
	// Start is when the request arrived.
	Start time.Time
	// Duration is the time from Start to the end of the upstream's answer.
	Duration time.Duration
	// IdPName is the identity provider the proxy matched ("unknown" if none);
	// in egress mode, the SCIM client.
	IdPName string
	// Direction is schema.DirectionIngress or schema.DirectionEgress; empty
	// is left out of the record.
	Direction string
	// Destination is the host:port an egress request went to.
	Destination string
	// Method is the request method as received.
	Method string
	// Path is the request's URL path; RawQuery its query, undecoded.
	Path     string
	RawQuery string
	// UserAgent and ClientIP describe the caller.
	UserAgent string
	ClientIP  string
	// TraceID and SpanID are the request's W3C trace context, lower-case
	// hex, empty when it had none (see schema.Record).
	TraceID string
	SpanID  string
	// RequestBody is the captured request body, decoded when it was gzip
	// encoded, at most the capture limit long.
	RequestBody []byte
	// RequestTruncated says the request body was longer than RequestBody.
	RequestTruncated bool
	// StatusCode is the status returned to the client.
	StatusCode int
	// ResponseBody is the captured response body (decoded, bounded).
	ResponseBody []byte
	// ResponseTruncated says the response body was longer than ResponseBody.
	ResponseTruncated bool
	// Notes carries what the capture itself could not do (e.g. a gzip body
	// that failed to decode); derivation copies them to the record.
	Notes []string
}

// Identity is what is known of one SCIM resource, learned from requests and
// responses, so that a record of a request that does not carry it (PATCH,
// DELETE) still names the user or group.
type Identity struct {
	// Type is schema.ResourceUser or schema.ResourceGroup.
	Type string `json:"type"`
	// ID is the SCIM service's id of the resource.
	ID          string `json:"id"`
	UserName    string `json:"userName,omitempty"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	// GivenName, FamilyName and Formatted are a user's name parts
	// (name.givenName, name.familyName, name.formatted), which make the
	// name records show (UserDisplayName). They move together: what
	// carries a name carries all of it.
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
	Formatted  string `json:"formatted,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
	// Active is the user's active flag, nil when unknown.
	Active *bool `json:"active,omitempty"`
	// Members are a group's member ids; MembersKnown says whether Members
	// is the complete list (an empty list and an unknown list differ).
	Members      []string `json:"members,omitempty"`
	MembersKnown bool     `json:"membersKnown,omitempty"`
	// EmailsHash fingerprints a user's whole emails list as last seen
	// (addresses, types, primary flag; "" when unknown), so a PUT or
	// replace that resends the list unchanged is told from one that
	// changed an address the record does not show.
	EmailsHash string `json:"emailsHash,omitempty"`
}

// IdentityCache remembers identities by resource type and id. An
// implementation must be safe for concurrent use. A cache is an optimisation
// of record completeness, never of correctness: losing it costs look-ups,
// not records.
type IdentityCache interface {
	// Get returns the identity of a resource and whether it was known.
	Get(ctx context.Context, resourceType, id string) (Identity, bool, error)
	// Put stores an identity, replacing what was known of it.
	Put(ctx context.Context, id Identity) error
	// Delete forgets a resource.
	Delete(ctx context.Context, resourceType, id string) error
}

// FetchFunc reads one resource from the SCIM service that answered the
// exchange, with the credentials of the request being recorded. It returns
// the response status and body. The proxy builds it; the credentials stay
// inside it.
type FetchFunc func(ctx context.Context, path string) (status int, body []byte, err error)
