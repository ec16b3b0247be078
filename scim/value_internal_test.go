package scim

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeSeeds are bodies where JSON decoders tend to differ: numbers,
// escapes, invalid UTF-8, duplicate keys, trailing data, deep nesting.
var decodeSeeds = []string{
	`{"userName":"a@example.com","emails":[{"value":"a@example.com","primary":true}],"n":12.50,"e":1e3,"neg":-0}`,
	`{"a":"\u00e9\ud83d\ude00\n\"\\\/","b":"a` + "\xff" + `b","dup":1,"dup":2}`, `{"a":"\ud800"}`,
	`[1,2,3]`, `"str"`, `null`, `true`, `01`, `1.`, `-`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{} x`, `{}]`, `{}  `, "\t{}\n",
	`{"a":` + "\x01" + `}`, `"` + "\x01" + `"`, `1e999`, `{"a":[{"b":{"c":[]}}]}`, ``, ` `, `{"`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 100) + strings.Repeat("]", 100),
	strings.Repeat(`{"a":`, 64) + "1" + strings.Repeat("}", 64), strings.Repeat(`{"a":[`, 40) + "1" + strings.Repeat("]}", 40),
}

// TestDecodeJSON_AgreesWithEncodingJSON: the fast decoder accepts exactly
// the valid documents and gives encoding/json's values for them.
func TestDecodeJSON_AgreesWithEncodingJSON(t *testing.T) {
	for _, s := range decodeSeeds {
		checkDecode(t, []byte(s))
	}
}

func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	got, err := decodeJSON(b)
	valid := json.Valid(b)
	if valid != (err == nil) {
		t.Fatalf("decodeJSON(%q): error %v, but json.Valid says %v", b, err, valid)
	}
	if !valid {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		if strings.Contains(err.Error(), "exceeded max depth") {
			return // valid, too deep for encoding/json: both refuse
		}
		t.Fatalf("encoding/json refuses %q: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeJSON(%q) = %#v, encoding/json gives %#v", b, got, want)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

// TestNestedDeeperThan: depth is counted outside strings only (escaped
// quotes and backslashes, brackets inside strings), a stray close does not
// make up for a deep value, and a wide value deep down counts by its
// bytes' depths, not its greatest depth alone.
func TestNestedDeeperThan(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	wideAt := func(depth int) string {
		return strings.Repeat("[", depth) + strings.Repeat("1,", 10000) + "1" + strings.Repeat("]", depth)
	}
	for _, c := range []struct {
		b    string
		want bool
	}{
		{`{"a":[{"b":{"c":[]}}]}`, false},
		{`"` + strings.Repeat("[", 100) + `"`, false},
		{`"\"` + strings.Repeat("[", 100) + `"`, false},
		{`"\\"` + strings.Repeat("[", 100), true},
		{`"\\\"` + strings.Repeat("[", 100) + `"`, false},
		{`{"` + strings.Repeat("{", 100) + `":1}`, false},
		{strings.Repeat("[", 65), true},
		{strings.Repeat("]", 100) + strings.Repeat("[", 65), true},
		{deep(64), true},  // small, but inside 32 levels on average
		{deep(12), false}, // six on average
		{wideAt(8), false},
		{wideAt(9), true},
		{wideAt(9) + strings.Repeat("]", 1000), true},
	} {
		if got := nestedDeeperThan([]byte(c.b), fastDepth, fastAverageDepth); got != c.want {
			b := c.b
			if len(b) > 60 {
				b = b[:60] + "..."
			}
			t.Errorf("nestedDeeperThan(%q) = %v, want %v", b, got, c.want)
		}
	}
}
