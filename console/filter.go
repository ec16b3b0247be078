package console

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/registry"
)

// maxParamLen bounds every query value: longer ones are typing accidents
// or probes, and the registry need not see them.
const maxParamLen = 1024

// Time layouts accepted for "from" and "to": RFC 3339 for the API, the
// value of an HTML datetime-local input (no zone: read as UTC, the zone
// the pages show), and a bare date.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// filterParams are the query parameters of the request list, in the order
// links carry them.
var filterParams = []string{"idp", "action", "resource_type", "outcome", "email", "group", "resource_id", "from", "to"}

// param returns q's trimmed value of name, refusing an overlong one.
func param(q url.Values, name string) (string, error) {
	v := strings.TrimSpace(q.Get(name))
	if len(v) > maxParamLen {
		return "", badParam(name, "longer than %d bytes", maxParamLen)
	}
	return v, nil
}

// parseFilter reads the request list's filter from q. Empty values do not
// filter (an HTML form sends its empty inputs). limit may be up to
// maxLimit; each error names its parameter.
func parseFilter(q url.Values, maxLimit int) (registry.Filter, error) {
	var f registry.Filter
	var err error
	str := func(name string, dst *string) {
		if err == nil {
			*dst, err = param(q, name)
		}
	}
	str("idp", &f.IdP)
	str("action", &f.Action)
	str("resource_type", &f.ResourceType)
	str("outcome", &f.Outcome)
	str("email", &f.Email)
	str("group", &f.Group)
	str("resource_id", &f.ResourceID)
	str("after", &f.After)
	if err != nil {
		return f, err
	}
	f.Action = strings.ToUpper(f.Action)
	if f.Action != "" && !isToken(f.Action) {
		return f, badParam("action", "want an HTTP method such as POST, PUT, PATCH or DELETE")
	}
	switch f.ResourceType = strings.ToUpper(f.ResourceType); f.ResourceType {
	case "", "USER", "GROUP":
	default:
		return f, badParam("resource_type", "want USER or GROUP")
	}
	switch f.Outcome = strings.ToUpper(f.Outcome); f.Outcome {
	case "", "SUCCESS", "ERROR":
	default:
		return f, badParam("outcome", "want SUCCESS or ERROR")
	}
	if f.From, err = parseTime(q, "from"); err != nil {
		return f, err
	}
	if f.To, err = parseTime(q, "to"); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, badParam("from", "must be before \"to\"")
	}
	if f.Limit, err = parseLimit(q, 0, maxLimit); err != nil {
		return f, err
	}
	return f, nil
}

// parseTime reads a time parameter; see timeLayouts. Zero when absent.
func parseTime(q url.Values, name string) (time.Time, error) {
	v, err := param(q, name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badParam(name, "want RFC 3339 (2006-01-02T15:04:05Z) or a UTC date and time (2006-01-02T15:04)")
}

// parseLimit reads "limit": def when absent, else 1…max.
func parseLimit(q url.Values, def, max int) (int, error) {
	v, err := param(q, "limit")
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badParam("limit", "want a whole number from 1 to %d", max)
	}
	return n, nil
}

// isToken accepts an upper-case method name: letters only, short.
func isToken(s string) bool {
	if len(s) > 16 {
		return false
	}
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// linkQuery returns q without empty values and without the names in drop,
// so links carry only the filters in force.
func linkQuery(q url.Values, drop ...string) url.Values {
	out := url.Values{}
	for _, name := range filterParams {
		if v := strings.TrimSpace(q.Get(name)); v != "" {
			out.Set(name, v)
		}
	}
	for _, name := range []string{"after", "limit"} {
		if v := strings.TrimSpace(q.Get(name)); v != "" {
			out.Set(name, v)
		}
	}
	for _, name := range drop {
		out.Del(name)
	}
	return out
}
