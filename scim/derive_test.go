package scim_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

var update = flag.Bool("update", false, "rewrite the want section of golden files under testdata/derive")

// goldenCase is one file under testdata/derive: a captured exchange, what
// was known before it, and the derivation it must yield.
type goldenCase struct {
	// Source cites the published request example the case is shaped after.
	Source   string          `json:"source"`
	Exchange goldenExchange  `json:"exchange"`
	Prior    *scim.Identity  `json:"prior,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	Want     goldenWant      `json:"want"`
}

type goldenExchange struct {
	IdP               string          `json:"idp"`
	Method            string          `json:"method"`
	Path              string          `json:"path"`
	Query             string          `json:"query,omitempty"`
	UserAgent         string          `json:"user_agent,omitempty"`
	Status            int             `json:"status"`
	Request           json.RawMessage `json:"request,omitempty"`
	RequestText       string          `json:"request_text,omitempty"`
	RequestTruncated  bool            `json:"request_truncated,omitempty"`
	Response          json.RawMessage `json:"response,omitempty"`
	ResponseText      string          `json:"response_text,omitempty"`
	ResponseTruncated bool            `json:"response_truncated,omitempty"`
}

type goldenWant struct {
	Record  json.RawMessage `json:"record"`
	Learned []scim.Identity `json:"learned,omitempty"`
	Forget  *scim.Identity  `json:"forget,omitempty"`
}

// goldenStart and goldenID make records reproducible.
var goldenStart = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

const goldenID = "019a4a6e-1f40-7000-8000-000000000001"

func (g goldenExchange) exchange() *scim.Exchange {
	ex := &scim.Exchange{
		Start: goldenStart, Duration: 1500 * time.Microsecond,
		IdPName: g.IdP, Method: g.Method, Path: g.Path, RawQuery: g.Query,
		UserAgent: g.UserAgent, ClientIP: "127.0.0.1", StatusCode: g.Status,
		RequestTruncated: g.RequestTruncated, ResponseTruncated: g.ResponseTruncated,
	}
	ex.RequestBody = []byte(g.RequestText)
	if len(g.Request) > 0 {
		ex.RequestBody = compact(g.Request)
	}
	ex.ResponseBody = []byte(g.ResponseText)
	if len(g.Response) > 0 {
		ex.ResponseBody = compact(g.Response)
	}
	return ex
}

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// TestDerive_Golden walks testdata/derive: every file is one exchange and
// its expected record. Run with -update to rewrite the want sections, then
// read the diff.
func TestDerive_Golden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "derive", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	validator, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	d := scim.Deriver{Redactor: scim.NewRedactor("secretAnswer")}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c goldenCase
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("decode %s: %v", file, err)
			}
			ex := c.Exchange.exchange()
			in := scim.Input{Exchange: ex, Prior: c.Prior}
			if len(c.After) > 0 {
				in.After = compact(c.After)
			}
			res := d.Derive(in)
			res.Record.ID = goldenID
			got, err := json.Marshal(res.Record)
			if err != nil {
				t.Fatal(err)
			}
			if err := validator.Validate(got); err != nil {
				t.Errorf("record does not match the schema: %v\n%s", err, got)
			}
			assertNoSecrets(t, ex, got)
			if *update {
				c.Want = goldenWant{Record: indent(got), Learned: res.Learned, Forget: res.Forget}
				out, err := json.MarshalIndent(c, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !jsonEqual(t, got, c.Want.Record) {
				t.Errorf("record:\n got %s\nwant %s", got, compact(c.Want.Record))
			}
			if !reflect.DeepEqual(res.Learned, c.Want.Learned) {
				t.Errorf("learned:\n got %+v\nwant %+v", res.Learned, c.Want.Learned)
			}
			if !reflect.DeepEqual(res.Forget, c.Want.Forget) {
				t.Errorf("forget:\n got %+v\nwant %+v", res.Forget, c.Want.Forget)
			}
		})
	}
}

func indent(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "    ", "  "); err != nil {
		return b
	}
	return buf.Bytes()
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// assertNoSecrets fails when a value the request carried under a password
// key, or as the value of an operation whose path names password (at any
// depth, any key case), shows in the record. A value that the request also
// carries somewhere else, or that short, could be there by chance, and is
// not counted.
func assertNoSecrets(t *testing.T, ex *scim.Exchange, record []byte) {
	request := ex.RequestBody
	t.Helper()
	var v any
	if json.Unmarshal(request, &v) != nil {
		return
	}
	for _, secret := range secretsIn(v, false) {
		// A "secret" that is also part of what the record legitimately
		// carries (the path, the fixed id and time of the test, the
		// upstream's own answer) proves nothing.
		elsewhere := bytes.Count(request, []byte(secret)) > 1 ||
			strings.Contains(ex.Path+ex.RawQuery+ex.IdPName+ex.Method+goldenID+goldenStart.Format(time.RFC3339Nano)+string(ex.ResponseBody), secret)
		if !elsewhere && bytes.Contains(record, []byte(secret)) {
			t.Errorf("secret %q leaked into the record: %s", secret, record)
		}
	}
}

func secretsIn(v any, secret bool) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		isPasswordOp := false
		for k, e := range t {
			if p, ok := e.(string); ok && strings.EqualFold(k, "path") && strings.Contains(strings.ToLower(p), "password") {
				isPasswordOp = true
			}
		}
		for k, e := range t {
			s := secret || strings.EqualFold(k, "password") || strings.EqualFold(k, "secretAnswer") ||
				(isPasswordOp && strings.EqualFold(k, "value"))
			out = append(out, secretsIn(e, s)...)
		}
	case []any:
		for _, e := range t {
			out = append(out, secretsIn(e, secret)...)
		}
	case string:
		if secret && len(t) >= 8 && t != scim.Redacted {
			out = append(out, t)
		}
	}
	return out
}
