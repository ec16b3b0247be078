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

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

var update = flag.Bool("update", false, "rewrite the want section of golden files under testdata/derive")

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
			c, err := scimtest.LoadGolden(file)
			if err != nil {
				t.Fatal(err)
			}
			ex := c.Exchange.ToExchange()
			in := scim.Input{Exchange: ex, Prior: c.Prior}
			if len(c.After) > 0 {
				in.After = scimtest.Compact(c.After)
			}
			res := d.Derive(in)
			res.Record.ID = scimtest.GoldenID
			got, err := json.Marshal(res.Record)
			if err != nil {
				t.Fatal(err)
			}
			if err := validator.Validate(got); err != nil {
				t.Errorf("record does not match the schema: %v\n%s", err, got)
			}
			assertNoSecrets(t, ex, got)
			if *update {
				c.Want = scimtest.GoldenWant{Record: indent(got), Learned: res.Learned, Forget: res.Forget}
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
				t.Errorf("record:\n got %s\nwant %s", got, scimtest.Compact(c.Want.Record))
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
			strings.Contains(ex.Path+ex.RawQuery+ex.IdPName+ex.Method+scimtest.GoldenID+scimtest.GoldenStart.Format(time.RFC3339Nano)+string(ex.ResponseBody), secret)
		if !elsewhere && bytes.Contains(record, []byte(secret)) {
			t.Errorf("secret %q leaked into the record: %s", secret, record)
		}
	}
}

// namesPassword: one of the path's attribute names (split at anything
// but name characters) is password, in any case — the rule the contract
// states ("any PATCH operation whose path is password"), so "oldPassword"
// or "0password" is another attribute.
func namesPassword(path string) bool {
	for _, tok := range strings.FieldsFunc(path, func(c rune) bool {
		return !(c == '-' || c == '_' || c == '$' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z'))
	}) {
		if strings.EqualFold(tok, "password") {
			return true
		}
	}
	return false
}

func secretsIn(v any, secret bool) []string {
	var out []string
	switch t := v.(type) {
	case map[string]any:
		isPasswordOp := false
		for k, e := range t {
			if p, ok := e.(string); ok && strings.EqualFold(k, "path") && namesPassword(p) {
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
