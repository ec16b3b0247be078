package jsonenc_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/scimtrail/scimtrail/internal/jsonenc"
)

func decode(t testing.TB, s string) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

func checkValue(t *testing.T, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := jsonenc.AppendValue([]byte("x"), v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[1:], want) {
		t.Errorf("AppendValue\n got %s\nwant %s", got[1:], want)
	}
}

func TestAppendValue_SameBytesAsMarshal(t *testing.T) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b.c"}]}`,
		`{"b":1,"a":[true,false,null,1.50,-0,1e400,12345678901234567890],"c":{"z":"<&>","y":"\u2028\u0000\t\"\\é😀"}}`,
		`[]`, `{}`, `"x"`, `null`, `[{"":""}]`,
	} {
		v, ok := decode(t, s)
		if !ok {
			t.Fatalf("bad test input %s", s)
		}
		checkValue(t, v)
	}
	checkValue(t, map[string]any{"f": 1e-7, "g": 1e21, "h": 0.1, "i": "\xff"})
}

func TestAppendString_SameBytesAsEncoder(t *testing.T) {
	for _, s := range []string{"", "plain", "\x00\x01\b\f\n\r\t\x1f\x7f\"\\/<>&é€😀\u2028\u2029\xff\xfe"} {
		for _, html := range []bool{true, false} {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(html)
			enc.Encode(s)
			want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			if got := jsonenc.AppendString(nil, s, html); !bytes.Equal(got, want) {
				t.Errorf("AppendString(%q, %v)\n got %s\nwant %s", s, html, got, want)
			}
		}
	}
}

func TestAppendFloat_SameBytesAsMarshal(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 0.1, 1.0 / 3, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789.125, 5e-324, math.MaxFloat64} {
		want, _ := json.Marshal(f)
		if got := jsonenc.AppendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("AppendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestAppendValue_RefusesWhatMarshalRefuses(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(-1), json.Number("1x"), struct{}{}} {
		if _, err := jsonenc.AppendValue(nil, v); err == nil {
			t.Errorf("AppendValue(%#v) gave no error", v)
		}
	}
}

func FuzzAppendValue(f *testing.F) {
	f.Add(`{"a":[1,"<b>",{"c":null}]}`)
	f.Add(`"\ud800"`)
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := decode(t, s)
		if !ok {
			return
		}
		checkValue(t, v)
	})
}
