package scim

import (
	"encoding/json"
	"testing"
)

// redactSeeds are bodies with and without secrets, in the shapes that could
// slip past a look at the bytes: escapes, Unicode case folding, paths.
var redactSeeds = []string{
	`{"userName":"a@example.com","name":{"givenName":"A"},"active":true}`,
	`{"userName":"a","password":"x"}`, `{"userName":"a","PassWord":"x"}`,
	`{"userName":"a","p\u0061ssword":"x"}`, `{"userName":"a","pa\u017f\u017fword":"x"}`,
	`{"userName":"a","paſſword":"x"}`, `{"Operations":[{"op":"replace","path":"PASSWORD","value":"x"}]}`,
	`{"Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:password","value":"x"}]}`,
	`{"Operations":[{"op":"replace","path":"pass\"word","value":"x"}]}`, `{"a":[{"b":{"Pin":"1"}}]}`,
	`{"note":"not a secret: pass word"}`, `{"K":"kelvin K"}`, `[{"path":"x.password","VALUE":"v"}]`,
	`{"api\/key":"x"}`, `{"api/key":"x"}`, `{"Operations":[{"path":"api\/key","value":"x"}]}`,
}

// oddRedactor redacts an extra name written escaped in JSON text ("/"
// may be sent as "\/"), which a look at the bytes cannot find.
var oddRedactor = NewRedactor("pin", "api/key")

// TestRedactor_CannotHoldNeverMissesASecret: the fast check on the bytes
// may only answer "no secret" where the walk of the decoded body agrees,
// and it does answer so for a plain body.
func TestRedactor_CannotHoldNeverMissesASecret(t *testing.T) {
	r := NewRedactor("pin")
	for _, s := range redactSeeds {
		checkCannotHold(t, r, []byte(s))
		checkCannotHold(t, oddRedactor, []byte(s))
	}
	if !r.cannotHold([]byte(redactSeeds[0])) {
		t.Errorf("cannotHold(%s) = false, want the fast answer for a plain body", redactSeeds[0])
	}
}

func checkCannotHold(t *testing.T, r Redactor, raw []byte) {
	t.Helper()
	v, err := decodeJSON(raw)
	if err != nil {
		return
	}
	if r.cannotHold(raw) && r.Has(v) {
		b, _ := json.Marshal(v)
		t.Fatalf("cannotHold(%s) = true but the decoded body holds a secret: %s", raw, b)
	}
}

func FuzzRedactor_CannotHold(f *testing.F) {
	for _, s := range redactSeeds {
		f.Add([]byte(s))
	}
	r := NewRedactor("pin")
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkCannotHold(t, r, raw)
		checkCannotHold(t, oddRedactor, raw)
	})
}
