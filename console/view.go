package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// Display layouts: UTC, ISO-like. Seconds are what an admin compares with
// the IdP's own log; the title attribute carries the full instant.
const (
	displayTime = "2006-01-02 15:04:05"
	// inputTime is an HTML datetime-local value.
	inputTime = "2006-01-02T15:04:05"
)

// page is what every template gets: the chrome's fields and the page's
// own Data.
type page struct {
	Title string
	Tab   string // requests, users, groups or summary: the tab shown active
	Error string // shown above the content
	Data  any
}

// pageNames are the templates under ui/templates, each defining "content"
// inside layout.html, with the parts.html shared by several.
var pageNames = []string{"requests", "request", "users", "user", "groups", "group", "summary", "error"}

var funcs = template.FuncMap{
	"ts":         displayTS,
	"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"requestURL": requestURL,
	"userURL":    userURL,
	"groupURL":   groupURL,
	"dash":       dash,
	"join":       strings.Join,
	"f1":         func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"active":     activeText,
}

func parsePages() (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(uiFS, "ui/templates/layout.html", "ui/templates/parts.html", "ui/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render executes the page into a buffer first, so a template failure is
// a clean 500 rather than half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("console: render failed", "page", name, "path", r.URL.Path, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "internal error; see the scimtrail log")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func displayTS(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(displayTime)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func activeText(a *bool) string {
	switch {
	case a == nil:
		return "—"
	case *a:
		return "yes"
	default:
		return "no"
	}
}

// URLs of the pages, built here and not in templates: ids are escaped as
// one path segment, whatever they hold.
func requestURL(id string) string { return "/ui/requests/" + url.PathEscape(id) }

func userURL(dest, id string) string { return resourceURL("/ui/users/", dest, id) }

func groupURL(dest, id string) string { return resourceURL("/ui/groups/", dest, id) }

func resourceURL(base, dest, id string) string {
	u := base + url.PathEscape(id)
	if dest != "" {
		u += "?" + url.Values{"destination": {dest}}.Encode()
	}
	return u
}

func requestsURL(q url.Values) string {
	if len(q) == 0 {
		return "/ui/requests"
	}
	return "/ui/requests?" + q.Encode()
}

// jsonText shows a JSON value as the record holds it, compact; "—" when
// absent.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "—"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// prettyJSON indents a JSON text; text that is not JSON is shown as is.
func prettyJSON(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return buf.String()
}

// what says what a record changed, in the words of the list's last
// column: its events, member counts, or that it was a no-op.
func what(rec schema.Record) string {
	var parts []string
	if len(rec.Events) > 0 {
		parts = append(parts, strings.Join(rec.Events, ", "))
	}
	if n := len(rec.MembersAdded); n > 0 {
		parts = append(parts, fmt.Sprintf("+%d %s", n, plural(n, "member")))
	}
	if n := len(rec.MembersRemoved); n > 0 {
		parts = append(parts, fmt.Sprintf("-%d %s", n, plural(n, "member")))
	}
	if rec.NoOp {
		parts = append(parts, "no-op")
	}
	if len(rec.Changes) > 0 && len(rec.Events) == 0 && !rec.NoOp && rec.Outcome != schema.OutcomeError {
		parts = append(parts, fmt.Sprintf("%d %s", len(rec.Changes), plural(len(rec.Changes), "change")))
	}
	return strings.Join(parts, " · ")
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// noOp is in its own function so the CSV's column reads like the others.
func noOp(rec schema.Record) bool { return rec.NoOp }

// who is the user's e-mail or the group's name a list row shows.
func who(rec schema.Record) string {
	if rec.ResourceType == schema.ResourceGroup {
		return rec.GroupName
	}
	if rec.UserEmail != "" {
		return rec.UserEmail
	}
	return rec.UserName
}

// destination is the registry's destination of a record's resource: its
// SaaS host for egress records, "" for the service scimtrail fronts.
func destination(rec schema.Record) string { return rec.DestinationHost }

// resourceLink is the page of a record's user or group, "" when the
// record names none.
func resourceLink(rec schema.Record) string {
	if rec.ResourceID == "" {
		return ""
	}
	switch rec.ResourceType {
	case schema.ResourceUser:
		return userURL(destination(rec), rec.ResourceID)
	case schema.ResourceGroup:
		return groupURL(destination(rec), rec.ResourceID)
	}
	return ""
}
