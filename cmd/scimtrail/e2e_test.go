package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/logtest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/exporter/otlp"
	"github.com/scimtrail/scimtrail/exporter/spool"
	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/proxy"
	"github.com/scimtrail/scimtrail/schema"
)

// Tokens the test IdPs send. Okta is identified by its token's hash, Entra
// ID by its base path.
const (
	oktaToken  = "okta-e2e-token-9f8e7d6c"
	entraToken = "entra-e2e-token-1a2b3c4d"
)

// e2e is a running backend + scimtrail stack for one test.
type e2e struct {
	t        *testing.T
	backend  *scimtest.Backend
	st       *stack
	base     string
	upstream string
	logFile  string
	stateDir string
	logs     *syncBuffer
	reg      *prometheus.Registry
	stopped  bool
}

type e2eOptions struct {
	patchNoContent bool
	stateDir       string // reuse a state dir (restart tests)
	backend        *scimtest.Backend
	noLookup       bool
	kafka          []string     // Kafka brokers: the Kafka sink is on
	spool          spool.Config // spool settings (Dir defaults under stateDir)
	noLogFile      bool         // Kafka alone
	kafkaTopic     string
	kafkaEncoding  string
	otlp           otlp.Config // the OTLP sink, on with an endpoint
	serviceName    string
	resourceAttrs  map[string]string
	otlpTraces     bool
	// stack, when set, supplies the egress mode's settings (Egress,
	// Forward, CACert, CAKey); the rest is set here as for every test.
	stack *config
	// wrapUpstream wraps the SCIM service's handler (to see what reaches it).
	wrapUpstream func(http.Handler) http.Handler
}

func startE2E(t *testing.T, o e2eOptions) *e2e {
	t.Helper()
	e := &e2e{t: t, backend: o.backend, stateDir: o.stateDir, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	if e.backend == nil {
		e.backend = scimtest.NewBackend(scimtest.Options{PatchNoContent: o.patchNoContent})
	}
	if e.stateDir == "" {
		e.stateDir = t.TempDir()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var upstream http.Handler = e.backend
	if o.wrapUpstream != nil {
		upstream = o.wrapUpstream(upstream)
	}
	srv := &http.Server{Handler: upstream, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	e.logFile = filepath.Join(t.TempDir(), "records.jsonl")
	e.upstream = "http://" + ln.Addr().String()
	c := config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", LogFile: e.logFile, StateDir: e.stateDir,
		Lookup: !o.noLookup, Proxy: proxyConfigFor(e.upstream), Spool: o.spool}
	c.Audit.DisableLookup = o.noLookup
	c.Kafka.Brokers = o.kafka
	c.Kafka.Topic = o.kafkaTopic
	c.Kafka.Encoding = o.kafkaEncoding
	c.OTLP = o.otlp
	c.ServiceName, c.ResourceAttributes = o.serviceName, o.resourceAttrs
	c.OTLPTraces = o.otlpTraces
	if o.stack != nil {
		c.Egress, c.Forward, c.CACert, c.CAKey = o.stack.Egress, o.stack.Forward, o.stack.CACert, o.stack.CAKey
	}
	if o.noLogFile {
		c.LogFile = ""
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	logger := newLogger(e.logs, "debug", "json")
	e.st, err = start(context.Background(), c, io.Discard, e.reg, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + e.st.proxyAddr
	t.Cleanup(func() { e.stop() })
	return e
}

// newUpstream serves an in-memory SCIM service on 127.0.0.1.
func newUpstream(t testing.TB) string {
	t.Helper()
	return newUpstreamHandler(t, scimtest.NewBackend(scimtest.Options{}))
}

// newUpstreamHandler serves h on 127.0.0.1 and returns its URL.
func newUpstreamHandler(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// proxyConfigFor is the test IdPs' proxy configuration for upstream.
func proxyConfigFor(upstream string) proxy.Config {
	sum := sha256.Sum256([]byte(oktaToken))
	return proxy.Config{Upstream: upstream,
		IdPs: []string{"okta=token-sha256:" + hex.EncodeToString(sum[:]), "entra=path-prefix:/scim/entra"}}
}

// run sends steps through the proxy as the IdPs would.
func (e *e2e) run(steps []scimtest.Step) []scimtest.Result {
	e.t.Helper()
	return e.runAt(e.base, steps)
}

// runAt sends steps to base: the proxy, or the upstream directly.
func (e *e2e) runAt(base string, steps []scimtest.Step) []scimtest.Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	res, err := scimtest.Run(ctx, client,
		map[string]string{"okta": base + "/scim/v2", "entra": base + "/scim/entra"},
		map[string]string{"okta": oktaToken, "entra": entraToken}, steps)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// stop drains the stack as SIGTERM does.
func (e *e2e) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	if err := e.st.shutdown(10 * time.Second); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
}

// records stops the stack and reads back the JSON lines it wrote, each
// validated against the schema.
func (e *e2e) records() []schema.Record {
	e.t.Helper()
	e.stop()
	raw := mustRead(e.t, e.logFile)
	v, err := schema.NewValidator()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []schema.Record
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if err := v.Validate(sc.Bytes()); err != nil {
			e.t.Errorf("record does not match the schema: %v\n%s", err, sc.Bytes())
		}
		var r schema.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// want is what a test asserts of one record; empty fields are asserted
// empty too, except where noted.
type want struct {
	email, group, resourceID, idpResourceID string
	events, added, removed                  []string
	changed                                 []string // attributes in changes
	active                                  *bool
	errorDetail, scimType                   string
}

func ptr[T any](v T) *T { return &v }

// TestE2E_ProvisioningCycles drives Okta's and Entra ID's published request
// shapes through the real proxy to the in-memory SCIM service and checks
// every record field, with the service answering PATCH with a body and,
// so that nothing can lean on response bodies, with 204.
func TestE2E_ProvisioningCycles(t *testing.T) {
	for _, noContent := range []bool{false, true} {
		name := "patch-200"
		if noContent {
			name = "patch-204"
		}
		t.Run(name, func(t *testing.T) {
			e := startE2E(t, e2eOptions{patchNoContent: noContent})
			steps := slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle())
			if noContent {
				steps = scimtest.ExpectPatchNoContent(steps)
			}
			results := e.run(steps)
			recs := e.records()
			// Requests were sent one after another: arrival order is theirs.
			slices.SortStableFunc(recs, func(a, b schema.Record) int { return a.Timestamp.Compare(b.Timestamp) })
			if len(recs) != len(results) {
				t.Fatalf("%d records for %d requests", len(recs), len(results))
			}
			ids := map[string]string{}
			for _, r := range results {
				if r.Step.Save != "" {
					ids[r.Step.Save] = r.ID
				}
			}
			expect := cycleExpectations(ids)
			seen := 0
			for i, rec := range recs {
				res := results[i]
				st := res.Step
				path, query, _ := strings.Cut(st.Path, "?")
				prefix := map[string]string{"okta": "/scim/v2", "entra": "/scim/entra"}[st.IdP]
				if rec.IdPName != st.IdP || rec.Action != st.Method || rec.StatusCode != res.Status ||
					rec.Path != prefix+path || rec.Query != query {
					t.Errorf("%s: record %+v does not match the request %s %s → %d", st.Name, rec, st.Method, st.Path, res.Status)
				}
				if wantOutcome := outcomeOf(res.Status); rec.Outcome != wantOutcome {
					t.Errorf("%s: outcome %s, want %s", st.Name, rec.Outcome, wantOutcome)
				}
				if rec.ID == "" || rec.Timestamp.IsZero() || rec.ClientIP != "127.0.0.1" || rec.UserAgent == "" || rec.DurationMS <= 0 {
					t.Errorf("%s: id/timestamp/client_ip/user_agent/duration missing: %+v", st.Name, rec)
				}
				if len(rec.Notes) != 0 || rec.BodyTruncated {
					t.Errorf("%s: notes %q, truncated %v: these requests must derive in full", st.Name, rec.Notes, rec.BodyTruncated)
				}
				assertRequestBody(t, st.Name, st.Body, rec.RequestBody)
				_, short, _ := strings.Cut(st.Name, ": ")
				w, ok := expect[short]
				if !ok {
					continue
				}
				seen++
				checkRecord(t, st.Name, rec, w)
			}
			if seen != len(expect) {
				t.Errorf("checked %d records in detail, want %d: a step was renamed?", seen, len(expect))
			}
			assertUniqueOrderedIDs(t, recs)
			assertForwardedAsSent(t, e.backend, results)
		})
	}
}

// assertForwardedAsSent: the SCIM service got every request as the IdP
// sent it — method, path, query, body byte for byte, and the IdP's own
// Authorization — and nothing else but look-ups made by scimtrail.
func assertForwardedAsSent(t *testing.T, backend *scimtest.Backend, results []scimtest.Result) {
	t.Helper()
	var got []scimtest.RecordedRequest
	for _, r := range backend.Requests() {
		if r.Header.Get("User-Agent") != "scimtrail" {
			got = append(got, r)
		}
	}
	if len(got) != len(results) {
		t.Fatalf("the service got %d requests for %d sent", len(got), len(results))
	}
	tokens := map[string]string{"okta": oktaToken, "entra": entraToken}
	for i, res := range results {
		st, r := res.Step, got[i]
		path, query, _ := strings.Cut(st.Path, "?")
		if r.Method != st.Method || !strings.HasSuffix(r.Path, path) || r.RawQuery != query ||
			!bytes.Equal(r.Body, []byte(st.Body)) || r.Header.Get("Authorization") != "Bearer "+tokens[st.IdP] {
			t.Errorf("%s: the service got %s %s?%s %q, not the request as sent", st.Name, r.Method, r.Path, r.RawQuery, r.Body)
		}
	}
}

// assertRequestBody: the record carries the body the IdP sent, with the
// password members and password operations' values redacted.
func assertRequestBody(t *testing.T, name, sent, recorded string) {
	t.Helper()
	if sent == "" {
		if recorded != "" {
			t.Errorf("%s: request_body %q for a request without one", name, recorded)
		}
		return
	}
	var want, got any
	if err := json.Unmarshal([]byte(sent), &want); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := json.Unmarshal([]byte(recorded), &got); err != nil {
		t.Fatalf("%s: request_body is not JSON: %v", name, err)
	}
	redactPasswords(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: request_body\n got %s\nwant the body as sent, passwords redacted", name, recorded)
	}
}

func redactPasswords(v any) {
	switch t := v.(type) {
	case map[string]any:
		secretOp := t["path"] == "password"
		for k, e := range t {
			if k == "password" || (secretOp && k == "value") {
				t[k] = "[REDACTED]"
				continue
			}
			redactPasswords(e)
		}
	case []any:
		for _, e := range t {
			redactPasswords(e)
		}
	}
}

func outcomeOf(status int) string {
	if status >= 200 && status < 300 {
		return schema.OutcomeSuccess
	}
	return schema.OutcomeError
}

func cycleExpectations(id map[string]string) map[string]want {
	const aliceExt, bobExt = "00u1a2b3c4d5E6F7g8h9", "00u9z8y7x6w5V4U3t2s1"
	return map[string]want{
		"look up alice before create": {email: "alice@example.com"},
		"create user alice":           {email: "alice@example.com", resourceID: id["alice"], idpResourceID: aliceExt, events: []string{"user.created"}, active: ptr(true)},
		"create user bob":             {email: "bob@example.com", resourceID: id["bob"], idpResourceID: bobExt, events: []string{"user.created"}, active: ptr(true)},
		"update alice (PUT)":          {email: "alice@example.com", resourceID: id["alice"], idpResourceID: aliceExt, events: []string{"user.updated"}, active: ptr(true), changed: []string{"name", "displayName"}},
		"push group Engineering":      {group: "Engineering", resourceID: id["eng"], events: []string{"group.created", "group.member_added"}, added: []string{id["alice"]}},
		"add bob to Engineering":      {group: "Engineering", resourceID: id["eng"], events: []string{"group.member_added"}, added: []string{id["bob"]}},
		"remove alice from Engineering": {group: "Engineering", resourceID: id["eng"], events: []string{"group.member_removed"},
			removed: []string{id["alice"]}},
		"rename Engineering":                {group: "Platform Engineering", resourceID: id["eng"], events: []string{"group.renamed"}, changed: []string{"displayName"}},
		"read back Platform Engineering":    {group: "Platform Engineering", resourceID: id["eng"]},
		"re-create alice (conflict)":        {email: "alice@example.com", idpResourceID: aliceExt, errorDetail: `User with userName "alice@example.com" already exists`, scimType: "uniqueness"},
		"change alice's password":           {email: "alice@example.com", resourceID: id["alice"], idpResourceID: aliceExt, events: []string{"user.updated"}, active: ptr(true), changed: []string{"password"}},
		"deactivate alice":                  {email: "alice@example.com", resourceID: id["alice"], idpResourceID: aliceExt, events: []string{"user.deactivated"}, active: ptr(false), changed: []string{"active"}},
		"delete group Platform Engineering": {group: "Platform Engineering", resourceID: id["eng"], events: []string{"group.deleted"}},
		"create user dana":                  {email: "dana@contoso.com", resourceID: id["dana"], idpResourceID: "dana", events: []string{"user.created"}, active: ptr(true)},
		"update dana's attributes": {email: "dana.scully@contoso.com", resourceID: id["dana"], idpResourceID: "dana", events: []string{"user.updated"}, active: ptr(true),
			changed: []string{"emails", "name", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"}},
		"create group Sales": {group: "Sales", resourceID: id["sales"], idpResourceID: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", events: []string{"group.created"}},
		"add dana and erin to Sales": {group: "Sales", resourceID: id["sales"], idpResourceID: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
			events: []string{"group.member_added"}, added: []string{id["dana"], id["erin"]}},
		"remove dana from Sales": {group: "Sales", resourceID: id["sales"], idpResourceID: "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
			events: []string{"group.member_removed"}, removed: []string{id["dana"]}},
		"deactivate dana":  {email: "dana.scully@contoso.com", resourceID: id["dana"], idpResourceID: "dana", events: []string{"user.deactivated"}, active: ptr(false), changed: []string{"active"}},
		"delete user dana": {email: "dana.scully@contoso.com", resourceID: id["dana"], idpResourceID: "dana", events: []string{"user.deleted"}, active: ptr(false)},
	}
}

func checkRecord(t *testing.T, name string, rec schema.Record, w want) {
	t.Helper()
	eq := func(field, got, want string) {
		if got != want {
			t.Errorf("%s: %s = %q, want %q", name, field, got, want)
		}
	}
	eq("user_email", rec.UserEmail, w.email)
	if w.email != "" && rec.UserName == "" {
		t.Errorf("%s: user_name missing", name)
	}
	eq("group_name", rec.GroupName, w.group)
	eq("resource_id", rec.ResourceID, w.resourceID)
	eq("idp_resource_id", rec.IdPResourceID, w.idpResourceID)
	eq("error_detail", rec.ErrorDetail, w.errorDetail)
	eq("scim_type", rec.SCIMType, w.scimType)
	var changed []string
	for _, c := range rec.Changes {
		changed = append(changed, c.Attribute)
	}
	if !slices.Equal(changed, w.changed) {
		t.Errorf("%s: changes %q, want %q", name, changed, w.changed)
	}
	if !slices.Equal(rec.Events, w.events) {
		t.Errorf("%s: events = %q, want %q", name, rec.Events, w.events)
	}
	if !slices.Equal(rec.MembersAdded, w.added) || !slices.Equal(rec.MembersRemoved, w.removed) {
		t.Errorf("%s: members +%q -%q, want +%q -%q", name, rec.MembersAdded, rec.MembersRemoved, w.added, w.removed)
	}
	if (rec.Active == nil) != (w.active == nil) || (rec.Active != nil && *rec.Active != *w.active) {
		t.Errorf("%s: active = %v, want %v", name, fmtBool(rec.Active), fmtBool(w.active))
	}
	if wantType := map[bool]string{true: "GROUP", false: "USER"}[w.group != ""]; rec.ResourceType != wantType {
		t.Errorf("%s: resource_type = %q, want %q", name, rec.ResourceType, wantType)
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "unset"
	}
	if *b {
		return "true"
	}
	return "false"
}

func assertUniqueOrderedIDs(t *testing.T, recs []schema.Record) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range recs {
		if seen[r.ID] {
			t.Errorf("record id %s repeated", r.ID)
		}
		seen[r.ID] = true
		// UUIDv7: the version nibble is 7, and ids sort by time.
		if len(r.ID) != 36 || r.ID[14] != '7' {
			t.Errorf("record id %q is not a UUIDv7", r.ID)
		}
		if i > 0 && r.ID < recs[i-1].ID {
			t.Errorf("record ids not time-ordered: %s after %s", r.ID, recs[i-1].ID)
		}
	}
}

// syncBuffer is a log sink safe for the logger's goroutines.
type syncBuffer = logtest.Buffer

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
