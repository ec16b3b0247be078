package registry

import (
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// Filter selects records for Requests. The zero value selects every record.
// String fields match exactly (Email and Group ignore case); an empty field
// does not filter.
type Filter struct {
	IdP          string
	Action       string // HTTP method, any case
	ResourceType string // USER or GROUP, any case
	Outcome      string // SUCCESS or ERROR, any case
	Email        string // the record's user_email
	Group        string // the record's group_name
	// ResourceID matches the record's resource_id or idp_resource_id.
	ResourceID string
	// From and To bound the record's timestamp: From ≤ t < To. Zero: open.
	From, To time.Time
	// After is the cursor of the previous page (Page.Next); empty for the
	// first page.
	After string
	// Limit is the page size. Default 50, at most MaxLimit.
	Limit int
}

// MaxLimit is the largest page Requests returns.
const MaxLimit = 1000

// DefaultLimit is the page size of a Filter without Limit.
const DefaultLimit = 50

// Page is one page of records, newest first.
type Page struct {
	Records []schema.Record
	// Next is the cursor of the following (older) page; empty on the last.
	Next string
}

// User is the state of one user as the records tell it.
type User struct {
	// Destination is the SaaS host of egress records; empty for the
	// service scimtrail stands in front of. Resource ids are unique only
	// within one destination.
	Destination string     `json:"destination,omitempty"`
	ID          string     `json:"id"`
	UserName    string     `json:"user_name,omitempty"`
	Email       string     `json:"email,omitempty"`
	DisplayName string     `json:"display_name,omitempty"`
	ExternalID  string     `json:"external_id,omitempty"`
	Active      *bool      `json:"active,omitempty"`
	IdP         string     `json:"idp"` // the IdP of the last record about the user
	FirstSeen   time.Time  `json:"first_seen"`
	LastSeen    time.Time  `json:"last_seen"`
	Deleted     bool       `json:"deleted,omitempty"`
	Groups      []GroupRef `json:"groups"`
}

// GroupRef is a group a user belongs to.
type GroupRef struct {
	ID    string    `json:"id"`
	Name  string    `json:"name,omitempty"`
	Since time.Time `json:"since"`
}

// Group is the state of one group as the records tell it.
type Group struct {
	Destination string    `json:"destination,omitempty"`
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	ExternalID  string    `json:"external_id,omitempty"`
	IdP         string    `json:"idp"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Deleted     bool      `json:"deleted,omitempty"`
	Members     []Member  `json:"members"`
}

// Member is a user in a group, resolved to its identity when the registry
// has seen the user.
type Member struct {
	ID       string    `json:"id"`
	Email    string    `json:"email,omitempty"`
	UserName string    `json:"user_name,omitempty"`
	Since    time.Time `json:"since"`
}

// Entry is one line of a user's or a group's timeline: a record about the
// resource, or, on a user's timeline, a group record that added or removed
// the user.
type Entry struct {
	Record schema.Record `json:"record"`
	// Membership is "added" or "removed" when the entry is a group's
	// record changing the user's membership; Group names that group.
	Membership string    `json:"membership,omitempty"`
	Group      *GroupRef `json:"group,omitempty"`
	// Members resolves the member ids of a group record
	// (members_added/members_removed) to e-mails, where known.
	Members map[string]string `json:"members,omitempty"`
}

// Summary is the traffic of a time range, for the console's overview.
type Summary struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Step    time.Duration `json:"step_ns"`
	Buckets []Bucket      `json:"buckets"`
	// IdPs lists every IdP seen in the range, sorted.
	IdPs      []string     `json:"idps"`
	TopErrors []ErrorCount `json:"top_errors"`
	Totals    Counts       `json:"totals"`
}

// Bucket counts the requests of one step, per IdP.
type Bucket struct {
	Start time.Time         `json:"start"`
	ByIdP map[string]Counts `json:"by_idp"`
}

// Counts are requests by outcome.
type Counts struct {
	Success int64 `json:"success"`
	Error   int64 `json:"error"`
}

// ErrorCount is one SCIM error detail and how often it was answered.
type ErrorCount struct {
	Detail   string    `json:"detail"`
	IdP      string    `json:"idp"`
	Count    int64     `json:"count"`
	LastSeen time.Time `json:"last_seen"`
}
