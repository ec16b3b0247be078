package scimtest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	filter "github.com/scim2/filter-parser/v2"
)

// SCIM URNs and media type (RFC 7643 §8.7, RFC 7644 §3.1, §3.4.2, §3.5.2, §3.12).
const (
	schemaUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaSPConfig       = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaError          = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaList           = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatchOp        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

	// ContentType is the media type of every body the backend writes.
	ContentType = "application/scim+json"

	maxBodyBytes = 1 << 20 // larger request bodies are refused with 413
	defaultCount = 100     // page size when a list request names no count
	maxCount     = 1000    // larger counts are clamped (RFC 7644 §3.4.2.4)
)

// Options configures a Backend. The zero value serves every path, without
// authentication, answering PATCH with 200 and the resource.
type Options struct {
	// BasePath is the prefix used in meta.location and the Location header,
	// e.g. "/scim/v2". Empty means the prefix the creating request arrived
	// under. Routing never depends on it: any path whose last "Users" or
	// "Groups" segment is followed by nothing or by an id is served, so one
	// Backend can sit behind "/scim/v2" for Okta and "/scim/entra" for Entra.
	BasePath string
	// Token, when non-empty, is the bearer token every request must carry
	// ("Authorization: Bearer <Token>"); others get 401. Empty disables auth.
	Token string
	// PatchNoContent makes a successful PATCH answer 204 with no body, as
	// Entra recommends, so record derivation cannot lean on response bodies.
	PatchNoContent bool
	// Now is the clock for meta.created and meta.lastModified; nil means
	// time.Now.
	Now func() time.Time
}

// RecordedRequest is one request as the Backend received it.
type RecordedRequest struct {
	Method   string
	Path     string // r.URL.Path
	RawQuery string
	Header   http.Header // a clone; includes Authorization
	Body     []byte      // up to 1 MiB
}

// Backend is an in-memory SCIM 2.0 service provider. It implements
// http.Handler and is safe for concurrent use; one mutex serialises all
// requests, which is plenty for tests. Create it with NewBackend.
//
// Ids are counter-based UUID-shaped strings (00000000-0000-4000-8000-000000000001,
// …), shared by users and groups, so runs are reproducible. Passwords are
// accepted and never stored or returned.
type Backend struct {
	opts Options

	mu       sync.Mutex
	seq      int
	stores   [2]map[string]*entry // indexed by kind
	requests []RecordedRequest
}

// entry is one stored resource; attrs holds everything but id and meta.
type entry struct {
	attrs    map[string]any
	created  time.Time
	modified time.Time
	version  int
	location string
}

// kind is the resource type of an endpoint.
type kind int

const (
	kindUser kind = iota
	kindGroup
)

func (k kind) name() string {
	if k == kindGroup {
		return "Group"
	}
	return "User"
}

func (k kind) endpoint() string { return k.name() + "s" }

func (k kind) schema() string {
	if k == kindGroup {
		return schemaGroup
	}
	return schemaUser
}

// uniqueAttr is the attribute the backend keeps unique, case-insensitively.
func (k kind) uniqueAttr() string {
	if k == kindGroup {
		return "displayName"
	}
	return "userName"
}

// NewBackend returns an empty Backend configured by opts.
func NewBackend(opts Options) *Backend {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Backend{
		opts:   opts,
		stores: [2]map[string]*entry{make(map[string]*entry), make(map[string]*entry)},
	}
}

// Users returns a copy of every stored user as a client would GET it,
// sorted by id.
func (b *Backend) Users() []map[string]any { return b.snapshot(kindUser) }

// Groups returns a copy of every stored group as a client would GET it,
// sorted by id.
func (b *Backend) Groups() []map[string]any { return b.snapshot(kindGroup) }

// Requests returns every request received so far, in arrival order,
// including those answered with an error.
func (b *Backend) Requests() []RecordedRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]RecordedRequest, len(b.requests))
	for i, r := range b.requests {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

func (b *Backend) snapshot(k kind) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := b.sortedIDs(k)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, b.render(k, id, nil))
	}
	return out
}

// scimError is an error answered as a SCIM Error message (RFC 7644 §3.12).
type scimError struct {
	status   int
	scimType string
	detail   string
}

func (e *scimError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.scimType, e.detail)
}

func errorf(status int, scimType, format string, args ...any) *scimError {
	return &scimError{status: status, scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

// response is what a handler answers; a nil body means no body.
type response struct {
	status   int
	body     map[string]any
	etag     string
	location string
	allow    string
}

// ServeHTTP implements http.Handler.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))

	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests = append(b.requests, RecordedRequest{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     bytes.Clone(body),
	})

	var (
		resp response
		err  error
	)
	switch {
	case readErr != nil:
		err = errorf(http.StatusBadRequest, "invalidSyntax", "reading request body: %v", readErr)
	case len(body) > maxBodyBytes:
		err = errorf(http.StatusRequestEntityTooLarge, "", "request body exceeds %d bytes", maxBodyBytes)
	case !b.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimtest"`)
		err = errorf(http.StatusUnauthorized, "", "missing or invalid bearer token")
	default:
		resp, err = b.route(r, body)
	}
	var se *scimError
	if err != nil && !errors.As(err, &se) {
		se = errorf(http.StatusInternalServerError, "", "internal error")
	}
	if se != nil {
		resp = response{status: se.status, allow: resp.allow, body: map[string]any{
			"schemas": []any{schemaError},
			"status":  strconv.Itoa(se.status),
			"detail":  se.detail,
		}}
		if se.scimType != "" {
			resp.body["scimType"] = se.scimType
		}
	}
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp response) {
	h := w.Header()
	if resp.etag != "" {
		h.Set("ETag", resp.etag)
	}
	if resp.location != "" {
		h.Set("Location", resp.location)
	}
	if resp.allow != "" {
		h.Set("Allow", resp.allow)
	}
	if resp.body == nil {
		w.WriteHeader(resp.status)
		return
	}
	data, err := json.Marshal(resp.body)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", ContentType)
	w.WriteHeader(resp.status)
	// A write error means the client went away; there is no one left to tell.
	_, _ = w.Write(data)
}

func (b *Backend) authorized(r *http.Request) bool {
	if b.opts.Token == "" {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(b.opts.Token)) == 1
}

// route locates the endpoint from the last "Users", "Groups" or
// "ServiceProviderConfig" segment of the path and dispatches on the method.
func (b *Backend) route(r *http.Request, body []byte) (response, error) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		rest := segs[i+1:]
		prefix := ""
		if i > 0 {
			prefix = "/" + strings.Join(segs[:i], "/")
		}
		switch segs[i] {
		case "ServiceProviderConfig":
			if len(rest) != 0 {
				break
			}
			if r.Method != http.MethodGet {
				return response{allow: "GET"}, errorf(http.StatusMethodNotAllowed, "", "method %s not allowed on %s", r.Method, r.URL.Path)
			}
			return response{status: http.StatusOK, body: serviceProviderConfig()}, nil
		case "Users", "Groups":
			k := kindUser
			if segs[i] == "Groups" {
				k = kindGroup
			}
			switch {
			case len(rest) == 0:
				return b.collection(r, k, prefix, body)
			case len(rest) == 1 && rest[0] != "":
				return b.resource(r, k, rest[0], body)
			}
		}
	}
	return response{}, errorf(http.StatusNotFound, "", "no SCIM endpoint at %s", r.URL.Path)
}

func (b *Backend) collection(r *http.Request, k kind, prefix string, body []byte) (response, error) {
	switch r.Method {
	case http.MethodGet:
		return b.list(r, k)
	case http.MethodPost:
		return b.create(k, prefix, body)
	}
	return response{allow: "GET, POST"}, errorf(http.StatusMethodNotAllowed, "", "method %s not allowed on /%s", r.Method, k.endpoint())
}

func (b *Backend) resource(r *http.Request, k kind, id string, body []byte) (response, error) {
	e, ok := b.stores[k][id]
	if !ok && isResourceMethod(r.Method) {
		return response{}, errorf(http.StatusNotFound, "", "%s %s not found", k.name(), id)
	}
	switch r.Method {
	case http.MethodGet:
		return b.ok(k, id, http.StatusOK, excluded(r)), nil
	case http.MethodPut:
		attrs, err := decodeObject(body)
		if err != nil {
			return response{}, err
		}
		return b.store(k, id, e, attrs)
	case http.MethodPatch:
		attrs, err := patched(e.attrs, body)
		if err != nil {
			return response{}, err
		}
		resp, err := b.store(k, id, e, attrs)
		if err == nil && b.opts.PatchNoContent {
			resp = response{status: http.StatusNoContent, etag: resp.etag}
		}
		return resp, err
	case http.MethodDelete:
		delete(b.stores[k], id)
		if k == kindUser {
			b.dropMember(id)
		}
		return response{status: http.StatusNoContent}, nil
	}
	return response{allow: "GET, PUT, PATCH, DELETE"}, errorf(http.StatusMethodNotAllowed, "", "method %s not allowed on /%s/{id}", r.Method, k.endpoint())
}

func isResourceMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodPut || m == http.MethodPatch || m == http.MethodDelete
}

func (b *Backend) create(k kind, prefix string, body []byte) (response, error) {
	attrs, err := decodeObject(body)
	if err != nil {
		return response{}, err
	}
	if err := b.prepare(k, "", attrs); err != nil {
		return response{}, err
	}
	b.seq++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", b.seq)
	if b.opts.BasePath != "" {
		prefix = strings.TrimRight(b.opts.BasePath, "/")
	}
	now := b.opts.Now().UTC()
	b.stores[k][id] = &entry{
		attrs:    attrs,
		created:  now,
		modified: now,
		version:  1,
		location: prefix + "/" + k.endpoint() + "/" + id,
	}
	return b.ok(k, id, http.StatusCreated, nil), nil
}

// store replaces the attributes of an existing resource (PUT, PATCH).
func (b *Backend) store(k kind, id string, e *entry, attrs map[string]any) (response, error) {
	if err := b.prepare(k, id, attrs); err != nil {
		return response{}, err
	}
	e.attrs = attrs
	e.touch(b.opts.Now())
	return b.ok(k, id, http.StatusOK, nil), nil
}

func (e *entry) touch(now time.Time) {
	e.modified = now.UTC()
	e.version++
}

func (b *Backend) ok(k kind, id string, status int, excl []string) response {
	e := b.stores[k][id]
	resp := response{status: status, body: b.render(k, id, excl), etag: etag(e.version)}
	if status == http.StatusCreated {
		resp.location = e.location
	}
	return resp
}

func etag(version int) string { return `W/"` + strconv.Itoa(version) + `"` }

// prepare makes client-supplied attributes storable: it drops what the
// server owns or never keeps, coerces Entra's string booleans, checks the
// required and unique attribute, and normalises group members. selfID is
// the resource being replaced, "" on create.
func (b *Backend) prepare(k kind, selfID string, attrs map[string]any) error {
	for _, name := range []string{"id", "meta", "password"} {
		delete(attrs, keyOf(attrs, name))
	}
	if k == kindUser {
		delete(attrs, keyOf(attrs, "groups")) // readOnly, derived from Groups
	}
	if _, ok := attrs[keyOf(attrs, "schemas")]; !ok {
		attrs["schemas"] = []any{k.schema()}
	}
	if key := keyOf(attrs, "active"); attrs[key] != nil {
		switch v := attrs[key].(type) {
		case bool:
		case string:
			// Entra sends "True"/"False" (RFC 7644 wants JSON booleans).
			bv, err := strconv.ParseBool(v)
			if err != nil {
				return errorf(http.StatusBadRequest, "invalidValue", "active must be a boolean, got %q", v)
			}
			attrs[key] = bv
		default:
			return errorf(http.StatusBadRequest, "invalidValue", "active must be a boolean")
		}
	}
	unique, _ := attrs[keyOf(attrs, k.uniqueAttr())].(string)
	if unique == "" {
		return errorf(http.StatusBadRequest, "invalidSyntax", "%s requires a non-empty %q", k.name(), k.uniqueAttr())
	}
	for id, other := range b.stores[k] {
		v, _ := other.attrs[keyOf(other.attrs, k.uniqueAttr())].(string)
		if id != selfID && strings.EqualFold(v, unique) {
			return errorf(http.StatusConflict, "uniqueness", "%s with %s %q already exists", k.name(), k.uniqueAttr(), unique)
		}
	}
	if k == kindGroup {
		return b.normaliseMembers(attrs)
	}
	return nil
}

// normaliseMembers rewrites members as [{"value":id,"display":...}] without
// duplicates, filling display from the user when the client sent none.
func (b *Backend) normaliseMembers(attrs map[string]any) error {
	key := keyOf(attrs, "members")
	raw, _ := attrs[key].([]any)
	if v, present := attrs[key]; present && v != nil && raw == nil {
		return errorf(http.StatusBadRequest, "invalidValue", "members must be an array")
	}
	delete(attrs, key)
	members := make([]any, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, m := range raw {
		mm, _ := m.(map[string]any)
		id, _ := mm[keyOf(mm, "value")].(string)
		if id == "" {
			return errorf(http.StatusBadRequest, "invalidValue", "each member needs a string \"value\"")
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		member := map[string]any{"value": id}
		display, _ := mm[keyOf(mm, "display")].(string)
		if u, ok := b.stores[kindUser][id]; ok && display == "" {
			display, _ = u.attrs[keyOf(u.attrs, "displayName")].(string)
			if display == "" {
				display, _ = u.attrs[keyOf(u.attrs, "userName")].(string)
			}
		}
		if display != "" {
			member["display"] = display
		}
		members = append(members, member)
	}
	attrs["members"] = members
	return nil
}

// dropMember removes a deleted user from every group it belonged to.
func (b *Backend) dropMember(userID string) {
	now := b.opts.Now()
	for _, g := range b.stores[kindGroup] {
		key := keyOf(g.attrs, "members")
		members, _ := g.attrs[key].([]any)
		kept := members[:0:0]
		for _, m := range members {
			if mm, _ := m.(map[string]any); mm["value"] != userID {
				kept = append(kept, m)
			}
		}
		if len(kept) != len(members) {
			g.attrs[key] = kept
			g.touch(now)
		}
	}
}

func (b *Backend) list(r *http.Request, k kind) (response, error) {
	q := r.URL.Query()
	var expr filter.Expression
	if f := q.Get("filter"); f != "" {
		var err error
		if expr, err = filter.ParseFilterNumber([]byte(f)); err != nil {
			return response{}, errorf(http.StatusBadRequest, "invalidFilter", "parsing filter %q: %v", f, err)
		}
	}
	start, err := intParam(q.Get("startIndex"), 1)
	if err != nil {
		return response{}, err
	}
	count, err := intParam(q.Get("count"), defaultCount)
	if err != nil {
		return response{}, err
	}
	start, count = max(start, 1), min(max(count, 0), maxCount)

	excl := excluded(r)
	var matched []any
	for _, id := range b.sortedIDs(k) {
		res := b.render(k, id, nil)
		if expr != nil {
			ok, err := match(res, expr)
			if err != nil {
				return response{}, err
			}
			if !ok {
				continue
			}
		}
		matched = append(matched, b.render(k, id, excl))
	}
	page := []any{}
	if start <= len(matched) {
		page = matched[start-1 : min(len(matched), start-1+count)]
	}
	return response{status: http.StatusOK, body: map[string]any{
		"schemas":      []any{schemaList},
		"totalResults": len(matched),
		"startIndex":   start,
		"itemsPerPage": len(page),
		"Resources":    page,
	}}, nil
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "invalidValue", "%q is not an integer", s)
	}
	return n, nil
}

// excluded returns the top-level attributes named by excludedAttributes.
func excluded(r *http.Request) []string {
	v := r.URL.Query().Get("excludedAttributes")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func (b *Backend) sortedIDs(k kind) []string {
	ids := make([]string, 0, len(b.stores[k]))
	for id := range b.stores[k] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// render returns a deep copy of the resource with id and meta, minus the
// excluded top-level attributes (id, schemas and meta are always returned).
func (b *Backend) render(k kind, id string, excl []string) map[string]any {
	e := b.stores[k][id]
	out := deepCopy(e.attrs).(map[string]any)
	for _, name := range excl {
		if name = strings.TrimSpace(name); !strings.EqualFold(name, "schemas") {
			delete(out, keyOf(out, name))
		}
	}
	out["id"] = id
	out["meta"] = map[string]any{
		"resourceType": k.name(),
		"created":      e.created.Format(time.RFC3339Nano),
		"lastModified": e.modified.Format(time.RFC3339Nano),
		"location":     e.location,
		"version":      etag(e.version),
	}
	return out
}

func serviceProviderConfig() map[string]any {
	return map[string]any{
		"schemas":          []any{schemaSPConfig},
		"documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "Authentication with a bearer token in the Authorization header",
			"primary":     true,
		}},
	}
}

// decodeObject parses a JSON object, keeping numbers exact.
func decodeObject(body []byte) (map[string]any, error) {
	var obj map[string]any
	if err := decodeJSON(body, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "request body must be a JSON object")
	}
	return obj, nil
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "invalidSyntax", "malformed JSON: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalidSyntax", "malformed JSON: trailing data")
	}
	return nil
}

// keyOf returns the key of m that matches name case-insensitively (SCIM
// attribute names are case-insensitive, RFC 7643 §2.1), or name itself.
func keyOf(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = deepCopy(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = deepCopy(x)
		}
		return out
	}
	return v
}
