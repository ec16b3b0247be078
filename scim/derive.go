package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/scimtrail/scimtrail/internal/jsonenc"
	"github.com/scimtrail/scimtrail/schema"
)

// Input is what one derivation reads.
type Input struct {
	// Exchange is the captured request and answer. Required.
	Exchange *Exchange
	// Prior is what was known of the addressed resource before the request
	// (identity cache, or a look-up before a DELETE); nil when unknown.
	Prior *Identity
	// After is the resource as read from the upstream after the request,
	// for answers that carried none (PATCH or PUT answered 204); nil
	// otherwise.
	After []byte
}

// Result is what one derivation yields.
type Result struct {
	// Record is complete but for its ID, which the caller assigns.
	Record schema.Record
	// Learned are identities the exchange revealed, to remember.
	Learned []Identity
	// Forget is a resource the exchange showed gone (deleted, or 404).
	Forget *Identity
}

// Deriver turns exchanges into records. The zero value redacts password
// only. A Deriver is immutable and safe for concurrent use; Derive does no
// I/O.
type Deriver struct {
	// Redactor decides which values are secrets.
	Redactor Redactor
}

// derivation carries one Derive call's state between its steps.
type derivation struct {
	Deriver
	in      Input
	ep      Endpoint
	method  string
	success bool
	req     any    // decoded request body, secrets redacted; nil when absent or not JSON
	reqObj  object // req when it is an object; see requestObject
	reqSeen bool   // requestObject ran
	resp    object // decoded response object, nil when absent or not JSON
	prior   Identity
	known   bool // prior came from the cache or a look-up
	res     Result
}

// Derive derives the record of one exchange. It never panics on bad input:
// what cannot be derived is said in the record's Notes.
func (d Deriver) Derive(in Input) Result {
	ex := in.Exchange
	v := &derivation{Deriver: d, in: in, ep: ParseEndpoint(ex.Path), method: strings.ToUpper(ex.Method)}
	v.success = ex.StatusCode >= 200 && ex.StatusCode < 300
	rec := &v.res.Record
	*rec = schema.Record{
		Timestamp:       ex.Start.UTC(),
		IdPName:         ex.IdPName,
		Action:          v.method,
		ResourceType:    v.ep.ResourceType,
		ResourceID:      v.ep.ID,
		Outcome:         schema.OutcomeError,
		StatusCode:      ex.StatusCode,
		DurationMS:      float64(ex.Duration.Microseconds()) / 1000,
		Path:            ex.Path,
		Query:           d.Redactor.Query(ex.RawQuery),
		UserAgent:       ex.UserAgent,
		ClientIP:        ex.ClientIP,
		Direction:       ex.Direction,
		DestinationHost: ex.Destination,
		TraceID:         ex.TraceID,
		SpanID:          ex.SpanID,
		BodyTruncated:   ex.RequestTruncated || ex.ResponseTruncated,
		Notes:           slices.Clone(ex.Notes),
	}
	if rec.IdPName == "" {
		rec.IdPName = "unknown"
	}
	if v.success {
		rec.Outcome = schema.OutcomeSuccess
	}
	v.decodeBodies()
	if !v.success {
		v.errorDetail()
	}
	if v.ep.ResourceType == "" {
		switch {
		case strings.HasSuffix(ex.Path, "/Bulk"):
			v.note("bulk request: its operations are not derived one by one (request_body has them, secrets redacted)")
		case !knownNonResourcePath(ex.Path):
			v.note("not a SCIM Users or Groups endpoint: no resource derived")
		}
		return v.res
	}
	v.prior = Identity{Type: v.ep.ResourceType, ID: v.ep.ID}
	if in.Prior != nil {
		v.prior = v.prior.Overlay(*in.Prior)
		v.known = true
	}
	switch {
	case v.method == http.MethodGet && v.ep.ID == "", v.method == http.MethodPost && v.ep.Search:
		v.query()
	case v.method == http.MethodPost && v.ep.ID == "":
		v.create()
	case v.ep.ID == "":
		v.note(fmt.Sprintf("%s on a collection: no resource derived", v.method))
	case v.method == http.MethodGet:
		next := v.after(v.prior)
		v.show(next)
		if v.success {
			v.learn(next)
		}
	case v.method == http.MethodPut:
		v.replace()
	case v.method == http.MethodPatch:
		v.patch()
	case v.method == http.MethodDelete:
		v.show(v.prior)
		if v.success {
			v.event(lower(v.ep.ResourceType) + ".deleted")
		}
	default:
		v.show(v.prior)
	}
	if v.ep.ID != "" && ((v.success && v.method == http.MethodDelete) || ex.StatusCode == http.StatusNotFound) {
		gone := v.prior
		v.res.Forget = &gone
	}
	if v.ep.ID != "" && !v.identified() {
		v.note("identity unknown: the resource was not seen before")
	}
	return v.res
}

func (v *derivation) note(s string) { v.res.Record.Notes = append(v.res.Record.Notes, s) }

func (v *derivation) event(e string) {
	if v.success && !slices.Contains(v.res.Record.Events, e) {
		v.res.Record.Events = append(v.res.Record.Events, e)
	}
}

func (v *derivation) learn(id Identity) {
	if id.ID != "" {
		v.res.Learned = append(v.res.Learned, id)
	}
}

// decodeBodies decodes both bodies and records the redacted request body.
func (v *derivation) decodeBodies() {
	ex := v.in.Exchange
	if len(ex.RequestBody) > 0 {
		switch req, err := decodeJSON(ex.RequestBody); {
		case ex.RequestTruncated:
			v.note(fmt.Sprintf("request body longer than the capture limit of %d bytes: not recorded", len(ex.RequestBody)))
		case err != nil:
			v.note("request body is not valid JSON: not recorded")
		default:
			// Secrets leave here: nothing derived below sees them. A body
			// without one is used as decoded (Value would copy it whole).
			v.req = req
			if !v.Redactor.cannotHold(ex.RequestBody) && v.Redactor.Has(req) {
				v.req = v.Redactor.Value(req)
			}
			// json.Marshal's bytes, without its reflection.
			b, err := jsonenc.AppendValue(nil, v.req)
			if err == nil {
				v.res.Record.RequestBody = string(b)
			}
		}
	}
	if len(ex.ResponseBody) > 0 {
		resp, err := decodeJSON(ex.ResponseBody)
		switch o, isObject := resp.(object); {
		case ex.ResponseTruncated && err != nil:
			v.note(fmt.Sprintf("response body longer than the capture limit of %d bytes: not derived", len(ex.ResponseBody)))
		case err != nil || !isObject:
			if v.success {
				v.note("response body is not a JSON object: not derived")
			}
		default:
			v.resp = o
		}
	}
}

// errorDetail fills the SCIM error detail of an ERROR record: the SCIM
// error body's detail and scimType, else the status text.
func (v *derivation) errorDetail() {
	rec := &v.res.Record
	if v.resp != nil {
		rec.ErrorDetail = str(v.resp, "detail")
		rec.SCIMType = str(v.resp, "scimType")
	}
	if rec.ErrorDetail == "" {
		rec.ErrorDetail = http.StatusText(v.in.Exchange.StatusCode)
	}
	if rec.ErrorDetail == "" {
		rec.ErrorDetail = fmt.Sprintf("HTTP status %d", v.in.Exchange.StatusCode)
	}
}

// response returns the identity in a successful answer, or in the resource
// read after the request, if either carried one.
func (v *derivation) response() (Identity, bool) {
	if v.success && v.resp != nil && str(v.resp, "id") != "" {
		return IdentityFromResource(v.ep.ResourceType, v.resp), true
	}
	if v.in.After != nil {
		return IdentityFromJSON(v.ep.ResourceType, v.in.After)
	}
	return Identity{}, false
}

// after is base updated with what the answer says of the resource.
func (v *derivation) after(base Identity) Identity {
	if r, ok := v.response(); ok {
		return base.Overlay(r)
	}
	return base
}

// show puts an identity's fields on the record.
func (v *derivation) show(id Identity) {
	rec := &v.res.Record
	if id.ID != "" {
		rec.ResourceID = id.ID
	}
	rec.IdPResourceID = id.ExternalID
	switch id.Type {
	case schema.ResourceUser:
		rec.UserEmail = id.UserEmail()
		rec.UserName = id.UserName
		rec.UserDisplayName = id.UserDisplayName()
		rec.Active = id.Active
	case schema.ResourceGroup:
		rec.GroupName = id.DisplayName
	}
}

func (v *derivation) identified() bool {
	rec := v.res.Record
	return rec.UserEmail != "" || rec.UserName != "" || rec.GroupName != "" || rec.IdPResourceID != ""
}

// requestObject is the request body as an object, noting (once) when it
// is not.
func (v *derivation) requestObject() object {
	if !v.reqSeen {
		v.reqSeen = true
		o, ok := v.req.(object)
		if !ok && v.req != nil {
			v.note("request body is not a JSON object")
		}
		v.reqObj = o
	}
	return v.reqObj
}

func (v *derivation) create() {
	asked := IdentityFromResource(v.ep.ResourceType, v.requestObject())
	asked.ID = ""
	if !v.success {
		v.showAttempt(asked)
		return
	}
	created := v.after(asked)
	if created.Type == schema.ResourceGroup && !created.MembersKnown {
		created.MembersKnown = true // a new group without members has none
	}
	if created.ID == "" {
		v.note("the answer carried no resource id")
	}
	v.show(created)
	v.learn(created)
	v.event(lower(v.ep.ResourceType) + ".created")
	v.members(memberDelta{added: created.Members})
}

// replace derives a PUT. What the request sent replaces what was known;
// what it left out stays as known (whether the service cleared it cannot be
// told from a 204), except a group's members, which become unknown.
func (v *derivation) replace() {
	body := v.requestObject()
	asked := IdentityFromResource(v.ep.ResourceType, body)
	asked.ID, asked.Type = v.ep.ID, v.ep.ResourceType
	if !v.success {
		v.showAttempt(asked)
		return
	}
	var d memberDelta
	if asked.MembersKnown {
		d.replaceMembers(v.prior, asked.Members)
	}
	v.notes(d.notes)
	next := v.prior.Overlay(asked)
	if !asked.MembersKnown {
		next.Members, next.MembersKnown = nil, false
	}
	next = v.after(next)
	v.show(next)
	v.learn(next)
	ops, effects, secrets, untracked := v.putOperations(body)
	// Unknown before, a PUT's tracked attributes cannot be told from its
	// untracked ones: all of them are what it sent, none is a change.
	if v.known {
		v.res.Record.Changes = v.listChanges(ops, effects, next, false)
	}
	v.res.Record.Changes = append(v.res.Record.Changes, secrets...)
	v.settle(d, touched(effects), next, untracked || !v.known || body == nil)
}

func (v *derivation) patch() {
	o := v.requestObject()
	var ops []Operation
	if o != nil {
		var notes []string
		ops, notes = ParseOperations(o)
		v.notes(notes)
	}
	next, d, effects := applyOperations(v.prior, ops)
	v.notes(d.notes)
	if !v.success {
		v.res.Record.Changes = v.listChanges(ops, effects, next, true)
		v.showAttempt(next)
		return
	}
	next = v.after(next)
	v.show(next)
	v.learn(next)
	v.res.Record.Changes = v.listChanges(ops, effects, next, true)
	// Without a body, what the service did cannot be told.
	v.settle(d, touched(effects), next, o == nil)
}

func (v *derivation) notes(ns []string) {
	for _, n := range ns {
		v.note(n)
	}
}

// showAttempt shows the identity of a failed request: what was known, or,
// when nothing was, who the request named — but no state the request only
// asked for (active), since nothing changed.
func (v *derivation) showAttempt(asked Identity) {
	if v.known {
		v.show(v.prior)
		return
	}
	asked.Active = nil
	v.show(asked)
}

// settle names what a successful PUT or PATCH did, once its changes are
// listed, or marks it a no-op: the state before was known, no change is
// listed, no member came or went, and no note says something was not
// derived. set are the tracked attributes the request set; unsure says it
// set what scimtrail cannot compare (or its body is missing), so it counts
// as updated.
func (v *derivation) settle(d memberDelta, set []string, next Identity, unsure bool) {
	rec := &v.res.Record
	v.members(d)
	if v.known && !unsure && len(rec.Changes) == 0 && len(d.added) == 0 && len(d.removed) == 0 && len(rec.Notes) == 0 {
		rec.NoOp = true
		return
	}
	v.namedEvents(set, next)
	if unsure || len(rec.Events) == 0 || slices.ContainsFunc(rec.Changes, v.unnamed) {
		v.event(lower(v.ep.ResourceType) + ".updated")
	}
}

// namedEvents names the changes admins search for by name, from the
// effective values: the request set active or displayName, and the value
// after differs from the one before.
func (v *derivation) namedEvents(set []string, next Identity) {
	switch v.ep.ResourceType {
	case schema.ResourceUser:
		if !slices.Contains(set, trackedActive) || next.Active == nil {
			return
		}
		was := v.prior.Active
		switch {
		case !*next.Active && (was == nil || *was):
			v.event("user.deactivated")
		case *next.Active && was != nil && !*was:
			v.event("user.reactivated")
		}
	case schema.ResourceGroup:
		if slices.Contains(set, trackedDisplayName) && v.known && v.prior.DisplayName != "" &&
			next.DisplayName != "" && next.DisplayName != v.prior.DisplayName {
			v.event("group.renamed")
		}
	}
}

// unnamed reports whether a change is one namedEvents does not name, so
// that the record is also *.updated.
func (v *derivation) unnamed(c schema.Change) bool {
	switch v.ep.ResourceType {
	case schema.ResourceUser:
		return c.Attribute != trackedActive
	case schema.ResourceGroup:
		return c.Attribute != trackedDisplayName
	}
	return true
}

func (v *derivation) members(d memberDelta) {
	if v.ep.ResourceType != schema.ResourceGroup {
		return
	}
	rec := &v.res.Record
	rec.MembersAdded, rec.MembersRemoved = d.added, d.removed
	if len(d.added) > 0 {
		v.event("group.member_added")
	}
	if len(d.removed) > 0 {
		v.event("group.member_removed")
	}
}

// change is the record's view of one operation as asked (from the
// redacted body): what it set, not what was there before.
func (v *derivation) change(op Operation) schema.Change {
	c := schema.Change{Op: op.Op, Attribute: op.Path}
	if op.Op == "remove" && !op.HasValue {
		return c
	}
	if b, err := json.Marshal(op.Value); err == nil {
		c.New = b
	}
	return c
}

// query derives a list or search request: the filter names who was looked
// for, and every resource in the answer is learned.
func (v *derivation) query() {
	var f string
	if v.method == http.MethodGet {
		q, _ := url.ParseQuery(v.res.Record.Query)
		f = q.Get("filter")
	} else if o := v.requestObject(); o != nil {
		f = str(o, "filter")
	}
	sought := Identity{Type: v.ep.ResourceType}
	if f != "" {
		expr, err := filter.ParseFilter([]byte(f))
		if err != nil {
			v.note("filter does not parse: not derived")
		} else {
			one := func(attr string) string {
				if vals := filterEqValues(expr, attr); len(vals) == 1 {
					return vals[0]
				}
				return ""
			}
			sought.UserName = one("userName")
			sought.ExternalID = one("externalId")
			sought.DisplayName = one("displayName")
		}
	}
	var found []Identity
	if v.success && v.resp != nil {
		list, _ := get(v.resp, "Resources")
		items, _ := list.([]any)
		for _, it := range items {
			if o, ok := it.(object); ok && str(o, "id") != "" {
				found = append(found, IdentityFromResource(v.ep.ResourceType, o))
			}
		}
	}
	for _, id := range found {
		v.learn(id)
	}
	if len(found) == 1 {
		sought = sought.Overlay(found[0])
	}
	v.show(sought)
}

// knownNonResourcePath: SCIM endpoints that carry no user or group.
func knownNonResourcePath(path string) bool {
	for _, s := range []string{"ServiceProviderConfig", "ResourceTypes", "Schemas"} {
		if strings.Contains(path, "/"+s) {
			return true
		}
	}
	return false
}

func lower(resourceType string) string { return strings.ToLower(resourceType) }
