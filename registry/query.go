package registry

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// ErrBadCursor is returned by Requests for a Filter.After that no Page
// gave.
var ErrBadCursor = errors.New("registry: bad cursor")

// Requests returns one page of records matching f, newest first. Every
// filter has an index that keeps the newest-first order, so a page costs
// about the same at any depth (the cursor is the last record's timestamp
// and arrival order, not an offset).
func (r *Registry) Requests(ctx context.Context, f Filter) (Page, error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("idp", f.IdP)
	eq("action", strings.ToUpper(f.Action))
	eq("resource_type", strings.ToUpper(f.ResourceType))
	eq("outcome", strings.ToUpper(f.Outcome))
	eq("email", strings.ToLower(f.Email))
	eq("grp", strings.ToLower(f.Group))
	if !f.From.IsZero() {
		where = append(where, "ts >= ?")
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "ts < ?")
		args = append(args, micros(f.To))
	}
	if f.After != "" {
		ts, seq, err := parseCursor(f.After)
		if err != nil {
			return Page{}, err
		}
		// ts <= ? alone is a range the index can seek to, so a deep page
		// costs what the first does.
		where = append(where, "ts <= ? AND (ts < ? OR seq < ?)")
		args = append(args, ts, ts, seq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q, args := pageQuery(where, args, f.ResourceID, limit+1)
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("registry: requests: %w", err)
	}
	defer rows.Close()
	var p Page
	var lastTS, lastSeq int64
	for rows.Next() {
		if len(p.Records) == limit {
			p.Next = strconv.FormatInt(lastTS, 10) + "." + strconv.FormatInt(lastSeq, 10)
			break
		}
		var body []byte
		if err := rows.Scan(&lastSeq, &lastTS, &body); err != nil {
			return Page{}, fmt.Errorf("registry: requests: %w", err)
		}
		rec, err := decode(body)
		if err != nil {
			return Page{}, err
		}
		p.Records = append(p.Records, rec)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("registry: requests: %w", err)
	}
	return p, nil
}

// pageQuery is the query of one page of at most n records. With a
// resource id, that matches resource_id or idp_resource_id: two bounded
// seeks in index order, merged, rather than an OR that SQLite answers by
// sorting every record of the resource on every page.
func pageQuery(where []string, args []any, resourceID string, n int) (string, []any) {
	one := func(extra string) string {
		w := append([]string{extra}, where...)
		if extra == "" {
			w = where
		}
		q := "SELECT seq, ts, body FROM records"
		if len(w) > 0 {
			q += " WHERE " + strings.Join(w, " AND ")
		}
		return q + " ORDER BY ts DESC, seq DESC LIMIT ?"
	}
	if resourceID == "" {
		return one(""), append(args, n)
	}
	all := append(append(append(append([]any{resourceID}, args...), n, resourceID), args...), n)
	return "SELECT * FROM (" + one("resource_id = ?") + ") UNION SELECT * FROM (" + one("idp_resource_id = ?") +
		") ORDER BY ts DESC, seq DESC LIMIT ?", append(all, n)
}

func parseCursor(s string) (ts, seq int64, err error) {
	a, b, ok := strings.Cut(s, ".")
	if ok {
		ts, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			seq, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, ErrBadCursor
	}
	return ts, seq, nil
}

func decode(body []byte) (schema.Record, error) {
	var rec schema.Record
	if err := json.Unmarshal(body, &rec); err != nil {
		return schema.Record{}, fmt.Errorf("registry: stored record: %w", err)
	}
	return rec, nil
}

// Request returns the record with id.
func (r *Registry) Request(ctx context.Context, id string) (schema.Record, bool, error) {
	var body []byte
	err := r.db.QueryRowContext(ctx, "SELECT body FROM records WHERE id = ?", id).Scan(&body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return schema.Record{}, false, nil
	case err != nil:
		return schema.Record{}, false, fmt.Errorf("registry: request %s: %w", id, err)
	}
	rec, err := decode(body)
	return rec, err == nil, err
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

const userColumns = "destination, id, user_name, email, display_name, external_id, active, idp, first_seen, last_seen, deleted"

func scanUser(s interface{ Scan(...any) error }) (User, error) {
	var u User
	var active sql.NullBool
	var first, last int64
	if err := s.Scan(&u.Destination, &u.ID, &u.UserName, &u.Email, &u.DisplayName, &u.ExternalID, &active, &u.IdP, &first, &last, &u.Deleted); err != nil {
		return User{}, err
	}
	if active.Valid {
		u.Active = &active.Bool
	}
	u.FirstSeen, u.LastSeen = fromMicros(first), fromMicros(last)
	u.Groups = []GroupRef{}
	return u, nil
}

// User returns a user's state with its current groups.
func (r *Registry) User(ctx context.Context, destination, id string) (User, bool, error) {
	u, err := scanUser(r.db.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE destination = ? AND id = ?", destination, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, false, nil
	case err != nil:
		return User{}, false, fmt.Errorf("registry: user %s: %w", id, err)
	}
	// INDEXED BY: without statistics the planner prefers the primary
	// key's (destination, …) prefix, a scan of every membership.
	rows, err := r.db.QueryContext(ctx, `SELECT m.group_id, COALESCE(g.name, ''), m.since FROM members m INDEXED BY members_user
		LEFT JOIN groups g ON g.destination = m.destination AND g.id = m.group_id
		WHERE m.destination = ? AND m.user_id = ? AND m.present = 1 ORDER BY lower(g.name), m.group_id`, destination, id)
	if err != nil {
		return User{}, false, fmt.Errorf("registry: groups of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var g GroupRef
		var since int64
		if err := rows.Scan(&g.ID, &g.Name, &since); err != nil {
			return User{}, false, fmt.Errorf("registry: groups of %s: %w", id, err)
		}
		g.Since = fromMicros(since)
		u.Groups = append(u.Groups, g)
	}
	if err := rows.Err(); err != nil {
		return User{}, false, fmt.Errorf("registry: groups of %s: %w", id, err)
	}
	return u, true, nil
}

// timelineRow is a record with its order keys, before merging.
type timelineRow struct {
	ts, seq int64
	entry   Entry
}

func (r *Registry) recordsAbout(ctx context.Context, limit int, query string, args ...any) ([]timelineRow, error) {
	rows, err := r.db.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []timelineRow
	for rows.Next() {
		var t timelineRow
		var body []byte
		if err := rows.Scan(&t.ts, &t.seq, &body); err != nil {
			return nil, err
		}
		if t.entry.Record, err = decode(body); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func timelineLimit(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return min(limit, MaxLimit)
}

// UserTimeline returns the newest limit entries about a user: its own
// records (also refused creations that named its e-mail before it had an
// id) and the group records that added or removed it.
func (r *Registry) UserTimeline(ctx context.Context, destination, id string, limit int) ([]Entry, error) {
	limit = timelineLimit(limit)
	own, err := r.recordsAbout(ctx, limit, `SELECT ts, seq, body FROM records
		WHERE resource_id = ? AND resource_type = 'USER' AND destination = ? ORDER BY ts DESC, seq DESC LIMIT ?`, id, destination)
	if err != nil {
		return nil, fmt.Errorf("registry: timeline of %s: %w", id, err)
	}
	var email string
	if err := r.db.QueryRowContext(ctx, "SELECT lower(email) FROM users WHERE destination = ? AND id = ?", destination, id).Scan(&email); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("registry: timeline of %s: %w", id, err)
	}
	if email != "" {
		// The unary + keeps the planner on the e-mail index: every record
		// without a resource id shares resource_id = ''.
		unnamed, err := r.recordsAbout(ctx, limit, `SELECT ts, seq, body FROM records
			WHERE email = ? AND +resource_type = 'USER' AND +resource_id = '' AND destination = ? ORDER BY ts DESC, seq DESC LIMIT ?`, email, destination)
		if err != nil {
			return nil, fmt.Errorf("registry: timeline of %s: %w", id, err)
		}
		own = append(own, unnamed...)
	}
	rows, err := r.db.QueryContext(ctx, `SELECT mc.ts, mc.seq, mc.op, mc.group_id, COALESCE(g.name, ''), r.body FROM member_changes mc
		JOIN records r ON r.seq = mc.seq
		LEFT JOIN groups g ON g.destination = mc.destination AND g.id = mc.group_id
		WHERE mc.destination = ? AND mc.user_id = ? ORDER BY mc.ts DESC, mc.seq DESC LIMIT ?`, destination, id, limit)
	if err != nil {
		return nil, fmt.Errorf("registry: memberships of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t timelineRow
		var g GroupRef
		var body []byte
		if err := rows.Scan(&t.ts, &t.seq, &t.entry.Membership, &g.ID, &g.Name, &body); err != nil {
			return nil, fmt.Errorf("registry: memberships of %s: %w", id, err)
		}
		if t.entry.Record, err = decode(body); err != nil {
			return nil, err
		}
		g.Since = t.entry.Record.Timestamp
		if n := t.entry.Record.GroupName; n != "" {
			g.Name = n // the name the group had then
		}
		t.entry.Group = &g
		own = append(own, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: memberships of %s: %w", id, err)
	}
	return newestFirst(own, limit), nil
}

func newestFirst(rows []timelineRow, limit int) []Entry {
	slices.SortFunc(rows, func(a, b timelineRow) int {
		return cmp.Or(cmp.Compare(b.ts, a.ts), cmp.Compare(b.seq, a.seq))
	})
	out := make([]Entry, 0, min(len(rows), limit))
	for i, t := range rows {
		if i == limit {
			break
		}
		out = append(out, t.entry)
	}
	return out
}

// Group returns a group's state with its members, resolved to the users'
// identities where known.
func (r *Registry) Group(ctx context.Context, destination, id string) (Group, bool, error) {
	g, err := scanGroup(r.db.QueryRowContext(ctx, "SELECT "+groupColumns+" FROM groups WHERE destination = ? AND id = ?", destination, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Group{}, false, nil
	case err != nil:
		return Group{}, false, fmt.Errorf("registry: group %s: %w", id, err)
	}
	rows, err := r.db.QueryContext(ctx, `SELECT m.user_id, COALESCE(u.email, ''), COALESCE(u.user_name, ''), m.since FROM members m
		LEFT JOIN users u ON u.destination = m.destination AND u.id = m.user_id
		WHERE m.destination = ? AND m.group_id = ? AND m.present = 1 ORDER BY lower(COALESCE(u.email, '')), m.user_id`, destination, id)
	if err != nil {
		return Group{}, false, fmt.Errorf("registry: members of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Member
		var since int64
		if err := rows.Scan(&m.ID, &m.Email, &m.UserName, &since); err != nil {
			return Group{}, false, fmt.Errorf("registry: members of %s: %w", id, err)
		}
		m.Since = fromMicros(since)
		g.Members = append(g.Members, m)
	}
	if err := rows.Err(); err != nil {
		return Group{}, false, fmt.Errorf("registry: members of %s: %w", id, err)
	}
	return g, true, nil
}

const groupColumns = "destination, id, name, external_id, idp, first_seen, last_seen, deleted"

func scanGroup(s interface{ Scan(...any) error }) (Group, error) {
	var g Group
	var first, last int64
	if err := s.Scan(&g.Destination, &g.ID, &g.Name, &g.ExternalID, &g.IdP, &first, &last, &g.Deleted); err != nil {
		return Group{}, err
	}
	g.FirstSeen, g.LastSeen = fromMicros(first), fromMicros(last)
	g.Members = []Member{}
	return g, nil
}

// GroupTimeline returns the newest limit records about a group, with the
// member ids they name resolved to e-mails (or userNames) where known.
func (r *Registry) GroupTimeline(ctx context.Context, destination, id string, limit int) ([]Entry, error) {
	rows, err := r.recordsAbout(ctx, timelineLimit(limit), `SELECT ts, seq, body FROM records
		WHERE resource_id = ? AND resource_type = 'GROUP' AND destination = ? ORDER BY ts DESC, seq DESC LIMIT ?`, id, destination)
	if err != nil {
		return nil, fmt.Errorf("registry: timeline of %s: %w", id, err)
	}
	out := make([]Entry, len(rows))
	for i, t := range rows {
		out[i] = t.entry
		ids := slices.Concat(t.entry.Record.MembersAdded, t.entry.Record.MembersRemoved)
		// A bulk change can name thousands: the first ones are resolved,
		// the rest show as ids.
		if out[i].Members, err = r.Resolve(ctx, destination, ids[:min(len(ids), maxResolved)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxResolved bounds the member ids resolved per group timeline entry.
const maxResolved = 200

// Resolve maps user ids to the e-mail (else userName) the registry knows
// for them; unknown ids are left out.
func (r *Registry) Resolve(ctx context.Context, destination string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for chunk := range slices.Chunk(ids, 500) {
		q := "SELECT id, CASE WHEN email <> '' THEN email ELSE user_name END FROM users WHERE destination = ? AND id IN (" +
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + ")"
		args := []any{destination}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := r.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("registry: resolve members: %w", err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, fmt.Errorf("registry: resolve members: %w", err)
			}
			if name != "" {
				out[id] = name
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("registry: resolve members: %w", err)
		}
	}
	return out, nil
}

// prefixRange is the [lo, hi) range of strings starting with p.
func prefixRange(p string) (string, string) {
	p = strings.ToLower(p)
	return p, p + "\U0010FFFF"
}

// Users finds users whose e-mail or userName starts with query (any
// case), ordered by e-mail; an empty query lists the most recently seen.
// Groups are left empty.
func (r *Registry) Users(ctx context.Context, query string, limit int) ([]User, error) {
	limit = timelineLimit(limit)
	var rows *sql.Rows
	var err error
	if query == "" {
		rows, err = r.db.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY last_seen DESC LIMIT ?", limit)
	} else {
		lo, hi := prefixRange(query)
		rows, err = r.db.QueryContext(ctx, "SELECT "+userColumns+" FROM users WHERE lower(email) >= ? AND lower(email) < ? "+
			"UNION SELECT "+userColumns+" FROM users WHERE lower(user_name) >= ? AND lower(user_name) < ? "+
			"ORDER BY 4, 3 LIMIT ?", lo, hi, lo, hi, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: users: %w", err)
	}
	return out, nil
}

// Groups finds groups whose name starts with query (any case), ordered by
// name; an empty query lists the most recently seen. Members are left
// empty.
func (r *Registry) Groups(ctx context.Context, query string, limit int) ([]Group, error) {
	limit = timelineLimit(limit)
	var rows *sql.Rows
	var err error
	if query == "" {
		rows, err = r.db.QueryContext(ctx, "SELECT "+groupColumns+" FROM groups ORDER BY last_seen DESC LIMIT ?", limit)
	} else {
		lo, hi := prefixRange(query)
		rows, err = r.db.QueryContext(ctx, "SELECT "+groupColumns+" FROM groups WHERE lower(name) >= ? AND lower(name) < ? ORDER BY lower(name) LIMIT ?", lo, hi, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: groups: %w", err)
	}
	defer rows.Close()
	out := []Group{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: groups: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: groups: %w", err)
	}
	return out, nil
}

// IdPs lists the IdP names of all stored records, sorted.
func (r *Registry) IdPs(ctx context.Context) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT DISTINCT idp FROM counts ORDER BY idp")
	if err != nil {
		return nil, fmt.Errorf("registry: idps: %w", err)
	}
	out, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("registry: idps: %w", err)
	}
	return out, nil
}

// Summary counts the requests of [from, to) per IdP and outcome in steps
// of an hour (ranges up to two days), six hours (up to fourteen) or a day,
// and lists the ten most frequent error details. Counts are kept per hour
// at ingestion, so the range's edges are rounded to whole hours.
func (r *Registry) Summary(ctx context.Context, from, to time.Time) (Summary, error) {
	from, to = from.UTC().Truncate(time.Hour), to.UTC()
	if !to.After(from) {
		return Summary{}, fmt.Errorf("registry: summary: empty range %s..%s", from, to)
	}
	step := 24 * time.Hour
	switch span := to.Sub(from); {
	case span <= 48*time.Hour:
		step = time.Hour
	case span <= 14*24*time.Hour:
		step = 6 * time.Hour
	}
	s := Summary{From: from, To: to, Step: step, IdPs: []string{}, TopErrors: []ErrorCount{}}
	for t := from; t.Before(to); t = t.Add(step) {
		s.Buckets = append(s.Buckets, Bucket{Start: t, ByIdP: map[string]Counts{}})
	}
	rows, err := r.db.QueryContext(ctx, "SELECT hour, idp, outcome, n FROM counts WHERE hour >= ? AND hour < ?", from.Unix(), to.Unix())
	if err != nil {
		return Summary{}, fmt.Errorf("registry: summary: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var hour, n int64
		var idp, outcome string
		if err := rows.Scan(&hour, &idp, &outcome, &n); err != nil {
			return Summary{}, fmt.Errorf("registry: summary: %w", err)
		}
		i := int(time.Unix(hour, 0).Sub(from) / step)
		if i < 0 || i >= len(s.Buckets) {
			continue
		}
		c := s.Buckets[i].ByIdP[idp]
		if outcome == schema.OutcomeSuccess {
			c.Success += n
			s.Totals.Success += n
		} else {
			c.Error += n
			s.Totals.Error += n
		}
		s.Buckets[i].ByIdP[idp] = c
		if !seen[idp] {
			seen[idp] = true
			s.IdPs = append(s.IdPs, idp)
		}
	}
	if err := rows.Err(); err != nil {
		return Summary{}, fmt.Errorf("registry: summary: %w", err)
	}
	slices.Sort(s.IdPs)
	errs, err := r.db.QueryContext(ctx, `SELECT detail, idp, SUM(n), MAX(last) FROM error_counts
		WHERE hour >= ? AND hour < ? GROUP BY detail, idp ORDER BY 3 DESC, 1 LIMIT 10`, from.Unix(), to.Unix())
	if err != nil {
		return Summary{}, fmt.Errorf("registry: top errors: %w", err)
	}
	defer errs.Close()
	for errs.Next() {
		var e ErrorCount
		var last int64
		if err := errs.Scan(&e.Detail, &e.IdP, &e.Count, &last); err != nil {
			return Summary{}, fmt.Errorf("registry: top errors: %w", err)
		}
		e.LastSeen = fromMicros(last)
		s.TopErrors = append(s.TopErrors, e)
	}
	if err := errs.Err(); err != nil {
		return Summary{}, fmt.Errorf("registry: top errors: %w", err)
	}
	return s, nil
}

// Count returns how many records the registry holds.
func (r *Registry) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM records").Scan(&n); err != nil {
		return 0, fmt.Errorf("registry: count: %w", err)
	}
	return n, nil
}
