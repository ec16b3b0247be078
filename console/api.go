package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

// Timeline sizes: the newest entries of a user's or a group's history.
const (
	defaultTimeline = 200
	maxTimeline     = registry.MaxLimit
)

// Search result sizes of /users and /groups.
const (
	defaultSearch = 50
	maxSearch     = registry.MaxLimit
)

// maxIDLen bounds a resource or record id in a path.
const maxIDLen = 512

// pathID returns the {id} path value, refusing an overlong one.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if len(id) > maxIDLen {
		return "", badParam("id", "longer than %d bytes", maxIDLen)
	}
	return id, nil
}

// apiRequests answers GET /api/v1/requests: one page of the filtered list
// as {"records": […], "next": "cursor"}, or, with format=csv|ndjson (or
// Accept: text/csv or application/x-ndjson), the whole list as a download;
// see export.
func (c *console) apiRequests(w http.ResponseWriter, r *http.Request) {
	format, err := exportFormat(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if format != "" {
		c.export(w, r, format)
		return
	}
	f, err := parseFilter(r.URL.Query(), registry.MaxLimit)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p, err := c.reg.Requests(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if p.Records == nil {
		p.Records = []schema.Record{}
	}
	writeJSON(w, http.StatusOK, struct {
		Records []schema.Record `json:"records"`
		Next    string          `json:"next"`
	}{p.Records, p.Next})
}

// apiRequest answers GET /api/v1/requests/{id}: the record itself.
func (c *console) apiRequest(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rec, ok, err := c.reg.Request(r.Context(), id)
	if err == nil && !ok {
		err = errNotFound
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// apiUser answers GET /api/v1/users/{id}?destination=&limit=: the user's
// state and its timeline, newest first.
func (c *console) apiUser(w http.ResponseWriter, r *http.Request) {
	u, timeline, err := c.user(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		registry.User
		Timeline []registry.Entry `json:"timeline"`
	}{u, timeline})
}

// apiGroup answers GET /api/v1/groups/{id}?destination=&limit=: the
// group's state, its members and its timeline, newest first.
func (c *console) apiGroup(w http.ResponseWriter, r *http.Request) {
	g, timeline, err := c.group(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		registry.Group
		Timeline []registry.Entry `json:"timeline"`
	}{g, timeline})
}

// user loads the user of the request's path with its timeline.
func (c *console) user(r *http.Request) (registry.User, []registry.Entry, error) {
	id, dest, limit, err := resourceParams(r)
	if err != nil {
		return registry.User{}, nil, err
	}
	u, ok, err := c.reg.User(r.Context(), dest, id)
	if err == nil && !ok {
		err = errNotFound
	}
	if err != nil {
		return registry.User{}, nil, err
	}
	timeline, err := c.reg.UserTimeline(r.Context(), dest, id, limit)
	if err != nil {
		return registry.User{}, nil, err
	}
	if u.Groups == nil {
		u.Groups = []registry.GroupRef{}
	}
	if timeline == nil {
		timeline = []registry.Entry{}
	}
	return u, timeline, nil
}

// group loads the group of the request's path with its timeline.
func (c *console) group(r *http.Request) (registry.Group, []registry.Entry, error) {
	id, dest, limit, err := resourceParams(r)
	if err != nil {
		return registry.Group{}, nil, err
	}
	g, ok, err := c.reg.Group(r.Context(), dest, id)
	if err == nil && !ok {
		err = errNotFound
	}
	if err != nil {
		return registry.Group{}, nil, err
	}
	timeline, err := c.reg.GroupTimeline(r.Context(), dest, id, limit)
	if err != nil {
		return registry.Group{}, nil, err
	}
	if g.Members == nil {
		g.Members = []registry.Member{}
	}
	if timeline == nil {
		timeline = []registry.Entry{}
	}
	return g, timeline, nil
}

// resourceParams reads a user's or group's path id, ?destination= (the
// SaaS host of egress records; empty for the service scimtrail fronts)
// and the timeline's ?limit=.
func resourceParams(r *http.Request) (id, dest string, limit int, err error) {
	if id, err = pathID(r); err != nil {
		return
	}
	q := r.URL.Query()
	if dest, err = param(q, "destination"); err != nil {
		return
	}
	limit, err = parseLimit(q, defaultTimeline, maxTimeline)
	return
}

// apiUsers answers GET /api/v1/users?q=&limit=: users whose e-mail or
// userName starts with q.
func (c *console) apiUsers(w http.ResponseWriter, r *http.Request) {
	users, err := c.findUsers(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]registry.User{"users": users})
}

// apiGroups answers GET /api/v1/groups?q=&limit=: groups whose name starts
// with q.
func (c *console) apiGroups(w http.ResponseWriter, r *http.Request) {
	groups, err := c.findGroups(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]registry.Group{"groups": groups})
}

func (c *console) findUsers(r *http.Request) ([]registry.User, error) {
	q, limit, err := searchParams(r)
	if err != nil {
		return nil, err
	}
	users, err := c.reg.Users(r.Context(), q, limit)
	if users == nil {
		users = []registry.User{}
	}
	return users, err
}

func (c *console) findGroups(r *http.Request) ([]registry.Group, error) {
	q, limit, err := searchParams(r)
	if err != nil {
		return nil, err
	}
	groups, err := c.reg.Groups(r.Context(), q, limit)
	if groups == nil {
		groups = []registry.Group{}
	}
	return groups, err
}

func searchParams(r *http.Request) (string, int, error) {
	q := r.URL.Query()
	s, err := param(q, "q")
	if err != nil {
		return "", 0, err
	}
	limit, err := parseLimit(q, defaultSearch, maxSearch)
	return s, limit, err
}

// apiIdPs answers GET /api/v1/idps: every IdP name the records carry.
func (c *console) apiIdPs(w http.ResponseWriter, r *http.Request) {
	idps, err := c.reg.IdPs(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if idps == nil {
		idps = []string{}
	}
	writeJSON(w, http.StatusOK, map[string][]string{"idps": idps})
}

// apiSummary answers GET /api/v1/summary?range=24h|7d|30d.
func (c *console) apiSummary(w http.ResponseWriter, r *http.Request) {
	s, _, err := c.summary(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// summaryRanges are the ranges the summary offers, in the order the page
// lists them; the first is the default.
var summaryRanges = []struct {
	Name string
	Span time.Duration
}{
	{"24h", 24 * time.Hour},
	{"7d", 7 * 24 * time.Hour},
	{"30d", 30 * 24 * time.Hour},
}

// summary counts the requests of ?range= up to now, and returns the range
// name in force.
func (c *console) summary(r *http.Request) (registry.Summary, string, error) {
	name, err := param(r.URL.Query(), "range")
	if err != nil {
		return registry.Summary{}, "", err
	}
	if name == "" {
		name = summaryRanges[0].Name
	}
	var span time.Duration
	for _, sr := range summaryRanges {
		if strings.EqualFold(sr.Name, name) {
			name, span = sr.Name, sr.Span
		}
	}
	if span == 0 {
		return registry.Summary{}, "", badParam("range", "want 24h, 7d or 30d")
	}
	to := c.now().UTC()
	s, err := c.reg.Summary(r.Context(), to.Add(-span), to)
	return s, name, err
}
