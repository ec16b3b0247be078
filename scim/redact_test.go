package scim_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/scimtrail/scimtrail/scim"
)

// TestRedactor_HasAgreesWithValue: Has is true exactly when Value
// changes something, on every golden request and the tricky shapes.
func TestRedactor_HasAgreesWithValue(t *testing.T) {
	r := scim.NewRedactor("pin")
	for _, s := range []string{
		`{"userName":"a","password":"x"}`, `{"userName":"a"}`, `{"Operations":[{"op":"replace","path":"password","value":"x"}]}`,
		`{"Operations":[{"op":"replace","Path":"PASSWORD"}]}`, `{"Operations":[{"op":"replace","path":"userName","value":"x"}]}`,
		`{"a":[{"b":{"Pin":"1"}}]}`, `{"a":[{"b":{"pin2":"1"}}]}`, `[{"path":"urn:x:User:password","VALUE":"v"}]`, `"password"`, `null`,
	} {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		changed := !reflect.DeepEqual(r.Value(v), v)
		if got := r.Has(v); got != changed {
			t.Errorf("Has(%s) = %v, Value changed it: %v", s, got, changed)
		}
	}
}
