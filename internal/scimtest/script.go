package scimtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// User-Agent values the scripts send.
const (
	// OktaUserAgent is the User-Agent Okta's provisioning client sends, as
	// shown in the request examples of Okta's "SCIM 2.0 protocol reference"
	// (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20/).
	OktaUserAgent = "Okta SCIM Client 1.0.0"
	// EntraUserAgent is the User-Agent the Entra scripts send. Microsoft's
	// tutorial does not document one; this value is our stand-in so that
	// user-agent matchers have something to match. Prefer token or path
	// matchers for Entra in real deployments.
	EntraUserAgent = "Azure AD Provisioning"
)

// Step is one request of a script. Path and Body may contain {name}
// placeholders filled from ids saved by earlier steps (Save names the id of
// this step's response). A placeholder is a '{' directly followed by a
// letter, then letters, digits, '_' or '-', then '}', so JSON braces are
// never mistaken for one.
type Step struct {
	Name       string      // human label, e.g. "okta: create user alice"
	IdP        string      // "okta" or "entra": which IdP sends it, and which base URL and token it uses
	Method     string      // HTTP method
	Path       string      // relative to the IdP's base URL, query escaped as on the wire, e.g. "/Users/{alice}"
	Header     http.Header // extra headers (User-Agent, Content-Type, Accept); Authorization is added by Run
	Body       string      // request body; empty means none
	Save       string      // when set, the "id" of the response is saved under this name
	WantStatus int         // the status a Backend with PatchNoContent false answers
}

// Result is what Run observed for one step.
type Result struct {
	Step         Step   // the step as sent: placeholders in Path and Body filled
	Status       int    // HTTP status of the response
	ID           string // top-level "id" of the JSON response body, if any
	ResponseBody []byte // up to 1 MiB
}

// placeholderRE matches {name} placeholders; see Step.
var placeholderRE = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9_-]*)\}`)

// Run sends steps in order with client, each to baseURLs[step.IdP] + step.Path
// (e.g. "http://127.0.0.1:1234/scim/v2" + "/Users"), adding
// "Authorization: Bearer "+tokens[step.IdP] when that token is non-empty.
// It returns one Result per step sent; on the first failure (a status other
// than WantStatus, an unknown placeholder or IdP, a transport error) it stops
// and returns the results so far, including the failing step's when it has
// one, and an error naming the step. ctx bounds the whole run. A nil client
// is an error: Run never falls back to http.DefaultClient.
func Run(ctx context.Context, client *http.Client, baseURLs map[string]string, tokens map[string]string, steps []Step) ([]Result, error) {
	if client == nil {
		return nil, errors.New("scimtest: run: nil *http.Client")
	}
	saved := make(map[string]string)
	results := make([]Result, 0, len(steps))
	for i, st := range steps {
		res, err := runStep(ctx, client, baseURLs[st.IdP], tokens[st.IdP], saved, st)
		if res.Status != 0 {
			results = append(results, res)
		}
		if err != nil {
			return results, fmt.Errorf("scimtest: step %d %q: %w", i+1, st.Name, err)
		}
	}
	return results, nil
}

func runStep(ctx context.Context, client *http.Client, base, token string, saved map[string]string, st Step) (Result, error) {
	if base == "" {
		return Result{}, fmt.Errorf("no base URL for IdP %q", st.IdP)
	}
	var err error
	if st.Path, err = expand(st.Path, saved); err != nil {
		return Result{}, err
	}
	if st.Body, err = expand(st.Body, saved); err != nil {
		return Result{}, err
	}
	var body io.Reader
	if st.Body != "" {
		body = strings.NewReader(st.Body)
	}
	req, err := http.NewRequestWithContext(ctx, st.Method, strings.TrimRight(base, "/")+st.Path, body)
	if err != nil {
		return Result{}, fmt.Errorf("building request: %w", err)
	}
	if st.Header != nil {
		req.Header = st.Header.Clone()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("sending %s %s: %w", st.Method, st.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return Result{}, fmt.Errorf("reading response to %s %s: %w", st.Method, st.Path, err)
	}
	res := Result{Step: st, Status: resp.StatusCode, ResponseBody: data}
	var doc struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &doc) == nil {
		res.ID = doc.ID
	}
	if resp.StatusCode != st.WantStatus {
		return res, fmt.Errorf("%s %s: status %d, want %d: %.300s", st.Method, st.Path, resp.StatusCode, st.WantStatus, data)
	}
	if st.Save != "" {
		if res.ID == "" {
			return res, fmt.Errorf("response has no id to save as %q", st.Save)
		}
		saved[st.Save] = res.ID
	}
	return res, nil
}

// expand fills {name} placeholders from saved.
func expand(s string, saved map[string]string) (string, error) {
	var missing string
	out := placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := saved[name]
		if !ok && missing == "" {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("unknown placeholder {%s}", missing)
	}
	return out, nil
}

// ExpectPatchNoContent returns a copy of steps for a Backend with
// Options.PatchNoContent: successful PATCH steps want 204 instead of 200.
func ExpectPatchNoContent(steps []Step) []Step {
	out := make([]Step, len(steps))
	for i, st := range steps {
		if st.Method == http.MethodPatch && st.WantStatus == http.StatusOK {
			st.WantStatus = http.StatusNoContent
		}
		out[i] = st
	}
	return out
}

// filterQuery returns the query string of a filtered list request, escaped
// with %20 for spaces as IdPs send it.
func filterQuery(expr string) string {
	return "filter=" + strings.ReplaceAll(url.QueryEscape(expr), "+", "%20")
}

func header(userAgent string, withBody bool) http.Header {
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("Accept", ContentType)
	if withBody {
		h.Set("Content-Type", ContentType)
	}
	return h
}

func step(idp, name, method, path, body string, want int) Step {
	ua := OktaUserAgent
	if idp == "entra" {
		ua = EntraUserAgent
	}
	return Step{
		Name:       idp + ": " + name,
		IdP:        idp,
		Method:     method,
		Path:       path,
		Header:     header(ua, body != ""),
		Body:       body,
		WantStatus: want,
	}
}

func saving(s Step, name string) Step {
	s.Save = name
	return s
}

// OktaCycle is a user and group lifecycle as Okta drives it, with request
// shapes from Okta's "SCIM 2.0 protocol reference"
// (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20/):
// look-ups by userName with startIndex/count before each create, create
// users alice and bob, a full PUT update of alice, Group Push of
// "Engineering" with alice, PATCH member add (bob) and filtered member
// remove (alice), path-less rename to "Platform Engineering", a read-back,
// a re-create of alice that conflicts (409), a password change (path
// "password", for redaction), deactivation of alice and deletion of the group.
//
// Placeholders saved: alice, bob, eng. Bodies carry the passwords
// "Alice-Pa55word!", "Bob-Pa55word!" and "Alice-N3w-Pa55word!".
func OktaCycle() []Step {
	const okta = "okta"
	lookup := func(userName string) string {
		return "/Users?" + filterQuery(`userName eq "`+userName+`"`) + "&startIndex=1&count=100"
	}
	const alice = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "alice@example.com",
  "name": {"givenName": "Alice", "familyName": "Liddell"},
  "emails": [{"primary": true, "value": "alice@example.com", "type": "work"}],
  "displayName": "Alice Liddell",
  "locale": "en-US",
  "externalId": "00u1a2b3c4d5E6F7g8h9",
  "groups": [],
  "password": "Alice-Pa55word!",
  "active": true
}`
	return []Step{
		step(okta, "look up alice before create", http.MethodGet, lookup("alice@example.com"), "", http.StatusOK),
		saving(step(okta, "create user alice", http.MethodPost, "/Users", alice, http.StatusCreated), "alice"),
		step(okta, "look up bob before create", http.MethodGet, lookup("bob@example.com"), "", http.StatusOK),
		saving(step(okta, "create user bob", http.MethodPost, "/Users", `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "bob@example.com",
  "name": {"givenName": "Bob", "familyName": "Builder"},
  "emails": [{"primary": true, "value": "bob@example.com", "type": "work"}],
  "displayName": "Bob Builder",
  "locale": "en-US",
  "externalId": "00u9z8y7x6w5V4U3t2s1",
  "groups": [],
  "password": "Bob-Pa55word!",
  "active": true
}`, http.StatusCreated), "bob"),
		step(okta, "update alice (PUT)", http.MethodPut, "/Users/{alice}", `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": "{alice}",
  "userName": "alice@example.com",
  "name": {"givenName": "Alice", "familyName": "Kingsleigh"},
  "emails": [{"primary": true, "value": "alice@example.com", "type": "work"}],
  "displayName": "Alice Kingsleigh",
  "locale": "en-GB",
  "externalId": "00u1a2b3c4d5E6F7g8h9",
  "groups": [],
  "active": true
}`, http.StatusOK),
		saving(step(okta, "push group Engineering", http.MethodPost, "/Groups", `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
  "displayName": "Engineering",
  "members": [{"value": "{alice}", "display": "alice@example.com"}]
}`, http.StatusCreated), "eng"),
		step(okta, "add bob to Engineering", http.MethodPatch, "/Groups/{eng}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "add", "path": "members", "value": [{"value": "{bob}", "display": "bob@example.com"}]}]
}`, http.StatusOK),
		step(okta, "remove alice from Engineering", http.MethodPatch, "/Groups/{eng}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "remove", "path": "members[value eq \"{alice}\"]"}]
}`, http.StatusOK),
		step(okta, "rename Engineering", http.MethodPatch, "/Groups/{eng}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "replace", "value": {"id": "{eng}", "displayName": "Platform Engineering"}}]
}`, http.StatusOK),
		step(okta, "read back Platform Engineering", http.MethodGet, "/Groups/{eng}", "", http.StatusOK),
		step(okta, "re-create alice (conflict)", http.MethodPost, "/Users", alice, http.StatusConflict),
		step(okta, "change alice's password", http.MethodPatch, "/Users/{alice}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "replace", "path": "password", "value": "Alice-N3w-Pa55word!"}]
}`, http.StatusOK),
		step(okta, "deactivate alice", http.MethodPatch, "/Users/{alice}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "replace", "value": {"active": false}}]
}`, http.StatusOK),
		step(okta, "delete group Platform Engineering", http.MethodDelete, "/Groups/{eng}", "", http.StatusNoContent),
	}
}

// EntraCycle is a user and group lifecycle as Microsoft Entra ID drives it,
// with request shapes from Microsoft's "Tutorial: Develop and plan
// provisioning for a SCIM endpoint in Microsoft Entra ID"
// (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
// look-ups by userName (no paging parameters), create users dana and erin
// with the enterprise extension and externalId = mailNickname, a PATCH with
// capitalised ops, a filtered e-mail path and a path-less Replace of dotted
// and URN-qualified keys, a group look-up with excludedAttributes=members,
// creation of group "Sales" without members, member Add of both users,
// member Remove in the shape Entra uses without the aadOptscim062020 flag
// (path "members" with a value naming dana only), deactivation with the
// string boolean "False", a read-back and deletion of dana.
//
// Placeholders saved: dana, erin, sales.
func EntraCycle() []Step {
	const entra = "entra"
	lookup := func(userName string) string {
		return "/Users?" + filterQuery(`userName eq "`+userName+`"`)
	}
	user := func(nick, given, family, number string) string {
		return `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "externalId": "` + nick + `",
  "userName": "` + nick + `@contoso.com",
  "active": true,
  "emails": [{"primary": true, "type": "work", "value": "` + nick + `@contoso.com"}],
  "meta": {"resourceType": "User"},
  "name": {"formatted": "` + given + ` ` + family + `", "familyName": "` + family + `", "givenName": "` + given + `"},
  "roles": [],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "` + number + `", "department": "Sales"}
}`
	}
	return []Step{
		step(entra, "look up dana before create", http.MethodGet, lookup("dana@contoso.com"), "", http.StatusOK),
		saving(step(entra, "create user dana", http.MethodPost, "/Users", user("dana", "Dana", "Scully", "1001"), http.StatusCreated), "dana"),
		step(entra, "look up erin before create", http.MethodGet, lookup("erin@contoso.com"), "", http.StatusOK),
		saving(step(entra, "create user erin", http.MethodPost, "/Users", user("erin", "Erin", "Brockovich", "1002"), http.StatusCreated), "erin"),
		step(entra, "update dana's attributes", http.MethodPatch, "/Users/{dana}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "dana.scully@contoso.com"},
    {"op": "Replace", "value": {"name.givenName": "Danielle", "name.familyName": "Scully-Mulder", "name.formatted": "Danielle Scully-Mulder", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "2001"}}
  ]
}`, http.StatusOK),
		step(entra, "look up group Sales before create", http.MethodGet, "/Groups?excludedAttributes=members&"+filterQuery(`displayName eq "Sales"`), "", http.StatusOK),
		saving(step(entra, "create group Sales", http.MethodPost, "/Groups", `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
  "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
  "displayName": "Sales",
  "meta": {"resourceType": "Group"}
}`, http.StatusCreated), "sales"),
		step(entra, "add dana and erin to Sales", http.MethodPatch, "/Groups/{sales}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "{dana}"}, {"$ref": null, "value": "{erin}"}]}]
}`, http.StatusOK),
		step(entra, "remove dana from Sales", http.MethodPatch, "/Groups/{sales}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "{dana}"}]}]
}`, http.StatusOK),
		step(entra, "deactivate dana", http.MethodPatch, "/Users/{dana}", `{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
}`, http.StatusOK),
		step(entra, "read back dana", http.MethodGet, "/Users/{dana}", "", http.StatusOK),
		step(entra, "delete user dana", http.MethodDelete, "/Users/{dana}", "", http.StatusNoContent),
	}
}
