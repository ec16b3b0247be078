package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

// actions are the methods the list's action filter offers.
var actions = []string{"POST", "PUT", "PATCH", "DELETE", "GET"}

// requestsView is the request list page.
type requestsView struct {
	Form        formView
	IdPs        []string
	Actions     []string
	Rows        []requestRow
	Older       string // the next (older) page, "" on the last
	Newest      string // the first page, "" on it
	CSV, NDJSON string
}

// formView holds the filter form's values as the inputs show them.
type formView struct {
	IdP, Action, ResourceType, Outcome, Email, Group, ResourceID, From, To string
}

type requestRow struct {
	Rec     schema.Record
	URL     string
	Who     string
	WhoURL  string
	What    string
	IsError bool
}

func (c *console) requestsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := requestsView{Actions: actions}
	p := page{Title: "Requests", Tab: "requests", Data: &v}
	status := http.StatusOK
	f, err := parseFilter(q, registry.MaxLimit)
	if err != nil {
		status, p.Error = http.StatusBadRequest, err.Error()
	}
	v.Form = formView{
		IdP: f.IdP, Action: f.Action, ResourceType: f.ResourceType, Outcome: f.Outcome,
		Email: f.Email, Group: f.Group, ResourceID: f.ResourceID,
		From: inputValue(f.From), To: inputValue(f.To),
	}
	ctx := r.Context()
	if v.IdPs, err = c.reg.IdPs(ctx); err != nil {
		c.fail(w, r, err)
		return
	}
	if f.IdP != "" && !slices.Contains(v.IdPs, f.IdP) {
		// Keep a filter typed into the URL in the form, so Filter and
		// Older do not drop it.
		v.IdPs = append(v.IdPs, f.IdP)
	}
	if status == http.StatusOK {
		pg, err := c.reg.Requests(ctx, f)
		if se := callerError(err); se != nil {
			status, p.Error = se.status, se.msg
		} else if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, rec := range pg.Records {
			v.Rows = append(v.Rows, requestRow{
				Rec: rec, URL: requestURL(rec.ID), Who: who(rec), WhoURL: resourceLink(rec),
				What: what(rec), IsError: rec.Outcome == schema.OutcomeError,
			})
		}
		if pg.Next != "" {
			older := linkQuery(q)
			older.Set("after", pg.Next)
			v.Older = requestsURL(older)
		}
		if f.After != "" {
			v.Newest = requestsURL(linkQuery(q, "after"))
		}
	}
	dl := linkQuery(q, "after", "limit")
	dl.Set("format", formatCSV)
	v.CSV = "/api/v1/requests?" + dl.Encode()
	dl.Set("format", formatNDJSON)
	v.NDJSON = "/api/v1/requests?" + dl.Encode()
	c.render(w, r, status, "requests", p)
}

// inputValue is t as a datetime-local input shows it, in UTC.
func inputValue(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(inputTime)
}

// requestView is a record's detail page.
type requestView struct {
	Rec          schema.Record
	Fields       []field
	Body         string
	Changes      []changeRow
	Added        []memberRow
	Removed      []memberRow
	JSON         string
	ResourceURL  string
	ResourceKind string // "user" or "group"
	Who          string // the user's e-mail or the group's name
	HistoryURL   string // the list filtered to this resource
	IsError      bool
}

// field is one line of the record's definition list.
type field struct {
	Key, Label, Value string
}

type changeRow struct {
	Attribute, Op, Old, New string
}

type memberRow struct {
	ID, Email, URL string
}

func (c *console) requestPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ctx := r.Context()
	rec, ok, err := c.reg.Request(ctx, id)
	if err == nil && !ok {
		err = errNotFound
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := requestView{
		Rec:         rec,
		Fields:      recordFields(rec),
		Changes:     changeRows(rec.Changes),
		JSON:        string(js),
		ResourceURL: resourceLink(rec),
		IsError:     rec.Outcome == schema.OutcomeError,
	}
	if rec.RequestBody != "" {
		v.Body = prettyJSON(rec.RequestBody)
	}
	v.ResourceKind = strings.ToLower(rec.ResourceType)
	if key := rec.ResourceID; key != "" || rec.IdPResourceID != "" {
		if key == "" {
			key = rec.IdPResourceID
		}
		v.HistoryURL = requestsURL(url.Values{"resource_id": {key}})
	}
	dest := destination(rec)
	if v.Added, err = c.resolve(ctx, dest, rec.MembersAdded); err == nil {
		v.Removed, err = c.resolve(ctx, dest, rec.MembersRemoved)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v.Who = who(rec)
	title := "Request " + rec.Action
	if v.Who != "" {
		title += " " + v.Who
	}
	c.render(w, r, http.StatusOK, "request", page{Title: title, Tab: "requests", Data: &v})
}

// resolve turns member ids into rows with the e-mails (else userNames)
// the registry knows; ids it has not seen keep only their id.
func (c *console) resolve(ctx context.Context, dest string, ids []string) ([]memberRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	emails, err := c.reg.Resolve(ctx, dest, ids)
	if err != nil {
		return nil, err
	}
	return members(dest, ids, emails), nil
}

// members turns a timeline entry's ids into rows with the e-mails the
// registry resolved.
func members(dest string, ids []string, emails map[string]string) []memberRow {
	rows := make([]memberRow, 0, len(ids))
	for _, id := range ids {
		rows = append(rows, memberRow{ID: id, Email: emails[id], URL: userURL(dest, id)})
	}
	return rows
}

func changeRows(changes []schema.Change) []changeRow {
	rows := make([]changeRow, 0, len(changes))
	for _, ch := range changes {
		rows = append(rows, changeRow{Attribute: ch.Attribute, Op: ch.Op, Old: jsonText(ch.Old), New: jsonText(ch.New)})
	}
	return rows
}

// fieldLabels name the record's keys as the provisioning-log console
// does; a key missing here (a newer schema's) shows as itself.
var fieldLabels = map[string]string{
	"id": "Record ID", "timestamp": "Timestamp", "idp_name": "IdP name", "action": "Action",
	"resource_type": "Resource type", "user_email": "User email", "user_name": "User name",
	"user_display_name": "User display name", "group_name": "Group name", "resource_id": "Resource ID",
	"idp_resource_id": "IdP resource ID", "outcome": "Outcome", "status_code": "Status code",
	"error_detail": "Error detail", "scim_type": "SCIM error type", "body_truncated": "Body truncated",
	"duration_ms": "Duration (ms)", "direction": "Direction", "destination_host": "Destination host",
	"path": "Path", "query": "Query", "user_agent": "User agent", "client_ip": "Client IP",
	"trace_id": "Trace ID", "span_id": "Span ID", "active": "Active", "no_op": "No-op", "events": "Events",
}

// sectioned keys have a section of their own on the detail page.
var sectioned = map[string]bool{
	"request_body": true, "changes": true, "members_added": true, "members_removed": true, "notes": true,
}

// recordFields lists every key of rec's JSON, in the schema's order, so a
// key added to the schema shows without a change here.
func recordFields(rec schema.Record) []field {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	var out []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		if sectioned[key] {
			continue
		}
		label := fieldLabels[key]
		if label == "" {
			label = key
		}
		value := fieldValue(raw)
		if key == "timestamp" {
			value = rec.Timestamp.UTC().Format("2006-01-02 15:04:05.000000") + " UTC"
		}
		out = append(out, field{Key: key, Label: label, Value: value})
	}
	return out
}

// fieldValue shows a scalar as text, a list of strings joined, anything
// else as compact JSON.
func fieldValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, ", ")
	}
	return jsonText(raw)
}

// searchView is the users or groups search page.
type searchView struct {
	Query  string
	Users  []registry.User
	Groups []registry.Group
}

func (c *console) usersPage(w http.ResponseWriter, r *http.Request) {
	users, err := c.findUsers(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q, _ := param(r.URL.Query(), "q")
	c.render(w, r, http.StatusOK, "users", page{Title: "Users", Tab: "users", Data: &searchView{Query: q, Users: users}})
}

func (c *console) groupsPage(w http.ResponseWriter, r *http.Request) {
	groups, err := c.findGroups(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q, _ := param(r.URL.Query(), "q")
	c.render(w, r, http.StatusOK, "groups", page{Title: "Groups", Tab: "groups", Data: &searchView{Query: q, Groups: groups}})
}

// entryRow is one line of a timeline.
type entryRow struct {
	Rec        schema.Record
	URL        string
	What       string
	Membership string // "added to" or "removed from", on a user's timeline
	Group      *registry.GroupRef
	GroupURL   string
	Changes    []changeRow
	Added      []memberRow
	Removed    []memberRow
	IsError    bool
}

func timelineRows(dest string, entries []registry.Entry) []entryRow {
	rows := make([]entryRow, 0, len(entries))
	for _, e := range entries {
		row := entryRow{
			Rec: e.Record, URL: requestURL(e.Record.ID), What: what(e.Record),
			Changes: changeRows(e.Record.Changes), IsError: e.Record.Outcome == schema.OutcomeError,
			Added:   members(dest, e.Record.MembersAdded, e.Members),
			Removed: members(dest, e.Record.MembersRemoved, e.Members),
		}
		switch e.Membership {
		case "added":
			row.Membership = "added to"
		case "removed":
			row.Membership = "removed from"
		}
		if row.Membership != "" {
			// On a user's timeline the group's change is about this user
			// only: its members and attribute changes are the group's.
			row.Changes, row.Added, row.Removed, row.What = nil, nil, nil, ""
			row.Group = e.Group
			if e.Group != nil {
				row.GroupURL = groupURL(dest, e.Group.ID)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// userView is a user's page.
type userView struct {
	User        registry.User
	Timeline    []entryRow
	HistoryURL  string
	Destination string
}

func (c *console) userPage(w http.ResponseWriter, r *http.Request) {
	u, timeline, err := c.user(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := userView{
		User:        u,
		Timeline:    timelineRows(u.Destination, timeline),
		HistoryURL:  requestsURL(url.Values{"resource_id": {u.ID}}),
		Destination: u.Destination,
	}
	title := u.Email
	if title == "" {
		title = dash(u.UserName)
	}
	c.render(w, r, http.StatusOK, "user", page{Title: "User " + title, Tab: "users", Data: &v})
}

// groupView is a group's page.
type groupView struct {
	Group       registry.Group
	Timeline    []entryRow
	HistoryURL  string
	Destination string
}

func (c *console) groupPage(w http.ResponseWriter, r *http.Request) {
	g, timeline, err := c.group(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := groupView{
		Group:       g,
		Timeline:    timelineRows(g.Destination, timeline),
		HistoryURL:  requestsURL(url.Values{"resource_id": {g.ID}}),
		Destination: g.Destination,
	}
	c.render(w, r, http.StatusOK, "group", page{Title: "Group " + dash(g.Name), Tab: "groups", Data: &v})
}
