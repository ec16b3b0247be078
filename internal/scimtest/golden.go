package scimtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/scimtrail/scimtrail/scim"
)

// GoldenCase is one derivation golden file (scim/testdata/derive): a
// captured exchange, what was known before it, and the derivation it must
// yield. The derivation test reads them directly; the proxy tests send
// the same exchanges through both proxy modes.
type GoldenCase struct {
	// Source cites the published request example the case is shaped after.
	Source   string          `json:"source"`
	Exchange GoldenExchange  `json:"exchange"`
	Prior    *scim.Identity  `json:"prior,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	Want     GoldenWant      `json:"want"`
}

// GoldenExchange is the request and answer of a GoldenCase.
type GoldenExchange struct {
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

// GoldenWant is what the derivation of a GoldenCase must give.
type GoldenWant struct {
	Record  json.RawMessage `json:"record"`
	Learned []scim.Identity `json:"learned,omitempty"`
	Forget  *scim.Identity  `json:"forget,omitempty"`
}

// GoldenStart and GoldenID make golden records reproducible.
var GoldenStart = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

const GoldenID = "019a4a6e-1f40-7000-8000-000000000001"

// LoadGolden reads a golden file strictly: an unknown key is an error.
func LoadGolden(file string) (GoldenCase, error) {
	var c GoldenCase
	raw, err := os.ReadFile(file)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("decode %s: %w", file, err)
	}
	return c, nil
}

// RequestBody and ResponseBody are the bodies as sent: the JSON compacted,
// or the text as it is.
func (g GoldenExchange) RequestBody() []byte {
	if len(g.Request) > 0 {
		return Compact(g.Request)
	}
	return []byte(g.RequestText)
}

func (g GoldenExchange) ResponseBody() []byte {
	if len(g.Response) > 0 {
		return Compact(g.Response)
	}
	return []byte(g.ResponseText)
}

// ToExchange is the captured exchange, at GoldenStart, lasting 1.5 ms, from
// 127.0.0.1.
func (g GoldenExchange) ToExchange() *scim.Exchange {
	return &scim.Exchange{
		Start: GoldenStart, Duration: 1500 * time.Microsecond,
		IdPName: g.IdP, Method: g.Method, Path: g.Path, RawQuery: g.Query,
		UserAgent: g.UserAgent, ClientIP: "127.0.0.1", StatusCode: g.Status,
		RequestTruncated: g.RequestTruncated, ResponseTruncated: g.ResponseTruncated,
		RequestBody: g.RequestBody(), ResponseBody: g.ResponseBody(),
	}
}

// Compact is b without insignificant space, or b when it is not JSON.
func Compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
