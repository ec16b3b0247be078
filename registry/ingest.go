package registry

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

// Export stores recs and applies them to the users' and groups' state, all
// in one transaction. A record whose id is already stored is skipped, so
// a replay or a redelivery changes nothing. It implements the exporter
// Sink interface; it is safe to call concurrently (writes take turns).
//
// Before storing a USER or GROUP record, Export completes its changes with
// the old value where the record has none and the registry knows it (a
// sidecar that restarted without its identity cache still gets old → new
// on the console).
func (r *Registry) Export(ctx context.Context, recs []schema.Record) error {
	if len(recs) == 0 {
		return nil
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("registry: begin: %w", err)
	}
	defer tx.Rollback()
	w := &writer{ctx: ctx, tx: tx, counts: map[countKey]int64{}, errors: map[errorKey]errorCount{}, stmts: map[string]*sql.Stmt{}}
	for i := range recs {
		err := w.apply(recs[i])
		var bad badRecord
		switch {
		case errors.As(err, &bad):
			// The record cannot be stored as it is; retrying would
			// only stop every record behind it. It still went to the
			// other sinks.
			r.logger.Warn("registry: record skipped", "id", recs[i].ID, "reason", string(bad))
		case err != nil:
			return fmt.Errorf("registry: record %s: %w", recs[i].ID, err)
		}
	}
	if err := w.flushCounts(); err != nil {
		return fmt.Errorf("registry: counts: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("registry: commit: %w", err)
	}
	return nil
}

type countKey struct {
	hour         int64
	idp, outcome string
}

type errorKey struct {
	hour        int64
	idp, detail string
}

type errorCount struct{ n, last int64 }

// writer applies records inside one transaction.
type writer struct {
	ctx    context.Context
	tx     *sql.Tx
	counts map[countKey]int64
	errors map[errorKey]errorCount
	// stmts are the transaction's prepared statements by query: parsing
	// the SQL again for each record cost a third of the ingestion time.
	stmts map[string]*sql.Stmt
}

func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.tx.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writer) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		// A *sql.Row cannot be made to carry err; the query path reports
		// it again.
		return w.tx.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

// badRecord is a record Export skips: what is wrong with it.
type badRecord string

func (b badRecord) Error() string { return string(b) }

func (w *writer) apply(rec schema.Record) error {
	if rec.ID == "" {
		return badRecord("no id")
	}
	// Completing old values must not reach the caller's record, which a
	// retry after a rollback would send again.
	rec.Changes = slices.Clone(rec.Changes)
	dest := rec.DestinationHost
	var u *userRow
	var g *groupRow
	var err error
	switch {
	case rec.ResourceID == "":
	case rec.ResourceType == schema.ResourceUser:
		if u, err = w.user(dest, rec.ResourceID); err != nil {
			return err
		}
		if u.known && micros(rec.Timestamp) >= u.lastSeen {
			completeUserChanges(&rec, u)
		}
	case rec.ResourceType == schema.ResourceGroup:
		if g, err = w.group(dest, rec.ResourceID); err != nil {
			return err
		}
		if g.known && micros(rec.Timestamp) >= g.lastSeen {
			completeGroupChanges(&rec, g)
		}
	}
	body, err := rec.AppendJSON(nil)
	if err != nil {
		return badRecord("cannot be encoded: " + err.Error())
	}
	ts := micros(rec.Timestamp)
	res, err := w.exec(`INSERT OR IGNORE INTO records
		(id, ts, idp, action, resource_type, outcome, email, grp, resource_id, idp_resource_id, destination, error_detail, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.ID, ts, rec.IdPName, rec.Action, rec.ResourceType, rec.Outcome,
		strings.ToLower(rec.UserEmail), strings.ToLower(rec.GroupName),
		rec.ResourceID, rec.IdPResourceID, dest, rec.ErrorDetail, body)
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // already stored: applied before
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	hour := rec.Timestamp.Unix() / 3600 * 3600
	w.counts[countKey{hour, rec.IdPName, rec.Outcome}]++
	if rec.Outcome != schema.OutcomeSuccess {
		k := errorKey{hour, rec.IdPName, rec.ErrorDetail}
		e := w.errors[k]
		w.errors[k] = errorCount{n: e.n + 1, last: max(e.last, ts)}
		return nil // a refused request changed nothing
	}
	switch {
	case u != nil:
		return w.applyUser(rec, u, seq)
	case g != nil:
		return w.applyGroup(rec, g, seq)
	}
	return nil
}

func (w *writer) flushCounts() error {
	for k, n := range w.counts {
		if _, err := w.exec(`INSERT INTO counts (hour, idp, outcome, n) VALUES (?, ?, ?, ?)
			ON CONFLICT (hour, idp, outcome) DO UPDATE SET n = n + excluded.n`, k.hour, k.idp, k.outcome, n); err != nil {
			return err
		}
	}
	for k, e := range w.errors {
		if _, err := w.exec(`INSERT INTO error_counts (hour, idp, detail, n, last) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (hour, idp, detail) DO UPDATE SET n = n + excluded.n, last = max(last, excluded.last)`,
			k.hour, k.idp, k.detail, e.n, e.last); err != nil {
			return err
		}
	}
	return nil
}

// userRow is a users row; known is false for a user not yet stored.
type userRow struct {
	known                                         bool
	userName, email, displayName, externalID, idp string
	active                                        sql.NullBool
	firstSeen, lastSeen                           int64
	deleted                                       bool
}

func (w *writer) user(dest, id string) (*userRow, error) {
	u := &userRow{}
	err := w.queryRow(`SELECT user_name, email, display_name, external_id, idp, active, first_seen, last_seen, deleted
		FROM users WHERE destination = ? AND id = ?`, dest, id).
		Scan(&u.userName, &u.email, &u.displayName, &u.externalID, &u.idp, &u.active, &u.firstSeen, &u.lastSeen, &u.deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return u, nil
	case err != nil:
		return nil, fmt.Errorf("read user %s: %w", id, err)
	}
	u.known = true
	return u, nil
}

// completeUserChanges fills the old value of tracked attributes the
// proxy did not know (its identity cache was lost) from the registry's
// state, for a record newer than that state. Only entries in the tracked
// shape (a scalar new value) are completed; one the proxy listed as asked
// keeps its shape.
func completeUserChanges(rec *schema.Record, u *userRow) {
	if u.deleted || rec.Outcome != schema.OutcomeSuccess {
		return
	}
	for i := range rec.Changes {
		c := &rec.Changes[i]
		switch c.Attribute {
		case "userName":
			complete(c, jsonString(u.userName))
		case "emails":
			complete(c, jsonString(u.email))
		case "name":
			complete(c, jsonString(u.displayName))
		case "externalId":
			complete(c, jsonString(u.externalID))
		case "active":
			if u.active.Valid {
				b, _ := json.Marshal(u.active.Bool)
				complete(c, b)
			}
		}
	}
}

// complete gives a change without an old value the one the registry knew,
// when the new value is a scalar of the tracked shape; add becomes replace.
func complete(c *schema.Change, old json.RawMessage) {
	if c.Old != nil || old == nil || !scalar(c.New) {
		return
	}
	c.Old = old
	if c.Op == "add" {
		c.Op = "replace"
	}
}

// scalar reports whether v is a JSON string, number or boolean (absent
// counts too: a removal).
func scalar(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || (v[0] != '[' && v[0] != '{' && !bytes.Equal(v, []byte("null")))
}

func jsonString(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	b, _ := json.Marshal(s)
	return b
}

func (w *writer) applyUser(rec schema.Record, u *userRow, seq int64) error {
	ts := micros(rec.Timestamp)
	newer := !u.known || ts >= u.lastSeen
	if !u.known {
		u.firstSeen, u.lastSeen = ts, ts
	}
	u.firstSeen, u.lastSeen = min(u.firstSeen, ts), max(u.lastSeen, ts)
	if newer {
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&u.userName, rec.UserName)
		set(&u.email, rec.UserEmail)
		set(&u.displayName, rec.UserDisplayName)
		set(&u.externalID, rec.IdPResourceID)
		// A tracked attribute the request removed is gone from the
		// state too, so a later add is not completed with a stale old.
		for _, c := range rec.Changes {
			if c.Op != "remove" || len(c.New) != 0 {
				continue
			}
			switch c.Attribute {
			case "userName":
				u.userName = ""
			case "emails":
				u.email = ""
			case "name":
				u.displayName = ""
			case "externalId":
				u.externalID = ""
			}
		}
		if rec.Active != nil {
			u.active = sql.NullBool{Bool: *rec.Active, Valid: true}
		}
		u.idp = rec.IdPName
		switch rec.Action {
		case http.MethodDelete:
			u.deleted = true
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			u.deleted = false
		}
	}
	if _, err := w.exec(`INSERT INTO users (destination, id, user_name, email, display_name, external_id, active, idp, first_seen, last_seen, deleted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (destination, id) DO UPDATE SET user_name = excluded.user_name, email = excluded.email,
			display_name = excluded.display_name, external_id = excluded.external_id, active = excluded.active,
			idp = excluded.idp, first_seen = excluded.first_seen, last_seen = excluded.last_seen, deleted = excluded.deleted`,
		rec.DestinationHost, rec.ResourceID, u.userName, u.email, u.displayName, u.externalID, u.active, u.idp,
		u.firstSeen, u.lastSeen, u.deleted); err != nil {
		return fmt.Errorf("write user %s: %w", rec.ResourceID, err)
	}
	if rec.Action == http.MethodDelete {
		// A deleted user belongs to no group any more, as of the DELETE
		// (setMember keeps newer decisions); its timeline says which
		// groups it left.
		if err := w.deletedAt("users", rec.DestinationHost, rec.ResourceID, ts); err != nil {
			return err
		}
		groups, err := w.ids(`SELECT group_id FROM members INDEXED BY members_user WHERE user_id = ? AND destination = ? AND present = 1`, rec.ResourceID, rec.DestinationHost)
		if err != nil {
			return fmt.Errorf("read memberships of %s: %w", rec.ResourceID, err)
		}
		for _, gid := range groups {
			if err := w.setMember(rec.DestinationHost, gid, rec.ResourceID, ts, seq, false, false); err != nil {
				return err
			}
		}
	}
	return nil
}

type groupRow struct {
	known                 bool
	name, externalID, idp string
	firstSeen, lastSeen   int64
	deleted               bool
}

func (w *writer) group(dest, id string) (*groupRow, error) {
	g := &groupRow{}
	err := w.queryRow(`SELECT name, external_id, idp, first_seen, last_seen, deleted
		FROM groups WHERE destination = ? AND id = ?`, dest, id).
		Scan(&g.name, &g.externalID, &g.idp, &g.firstSeen, &g.lastSeen, &g.deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return g, nil
	case err != nil:
		return nil, fmt.Errorf("read group %s: %w", id, err)
	}
	g.known = true
	return g, nil
}

func completeGroupChanges(rec *schema.Record, g *groupRow) {
	if g.deleted || rec.Outcome != schema.OutcomeSuccess {
		return
	}
	for i := range rec.Changes {
		c := &rec.Changes[i]
		switch c.Attribute {
		case "displayName":
			complete(c, jsonString(g.name))
		case "externalId":
			complete(c, jsonString(g.externalID))
		}
	}
}

func (w *writer) applyGroup(rec schema.Record, g *groupRow, seq int64) error {
	ts := micros(rec.Timestamp)
	dest, gid := rec.DestinationHost, rec.ResourceID
	newer := !g.known || ts >= g.lastSeen
	if !g.known {
		g.firstSeen, g.lastSeen = ts, ts
	}
	g.firstSeen, g.lastSeen = min(g.firstSeen, ts), max(g.lastSeen, ts)
	if newer {
		if rec.GroupName != "" {
			g.name = rec.GroupName
		}
		if rec.IdPResourceID != "" {
			g.externalID = rec.IdPResourceID
		}
		g.idp = rec.IdPName
		switch rec.Action {
		case http.MethodDelete:
			g.deleted = true
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			g.deleted = false
		}
	}
	if _, err := w.exec(`INSERT INTO groups (destination, id, name, external_id, idp, first_seen, last_seen, deleted)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (destination, id) DO UPDATE SET name = excluded.name, external_id = excluded.external_id,
			idp = excluded.idp, first_seen = excluded.first_seen, last_seen = excluded.last_seen, deleted = excluded.deleted`,
		dest, gid, g.name, g.externalID, g.idp, g.firstSeen, g.lastSeen, g.deleted); err != nil {
		return fmt.Errorf("write group %s: %w", gid, err)
	}
	switch {
	case rec.Action == http.MethodDelete:
		// Every member leaves, as of the DELETE; an older add arriving
		// later does not bring one back.
		current, err := w.memberIDs(dest, gid)
		if err != nil {
			return err
		}
		if err := w.membersSet(dest, gid, ts); err != nil {
			return err
		}
		if err := w.deletedAt("groups", dest, gid, ts); err != nil {
			return err
		}
		return w.setMembers(dest, gid, current, ts, seq, false, false)
	case rec.Action == http.MethodPost:
		if err := w.membersSet(dest, gid, ts); err != nil {
			return err
		}
	case rec.Action == http.MethodPut || rec.Action == http.MethodPatch:
		// A PUT names the whole membership, and so does a PATCH that
		// replaces or empties it: what the registry holds beyond it is
		// gone, even when the proxy did not know the prior list.
		var next []string
		var whole bool
		if rec.Action == http.MethodPut {
			next, whole = putMembers(rec.RequestBody)
		} else {
			current, err := w.memberIDs(dest, gid)
			if err != nil {
				return err
			}
			next, whole = patchMembers(rec.RequestBody, current, rec.MembersRemoved)
		}
		if whole {
			current, err := w.memberIDs(dest, gid)
			if err != nil {
				return err
			}
			if err := w.membersSet(dest, gid, ts); err != nil {
				return err
			}
			// Every member the list names is decided as of ts, kept ones
			// too: an older remove arriving later does not undo it.
			if err := w.setMembers(dest, gid, next, ts, seq, true, false); err != nil {
				return err
			}
			if err := w.setMembers(dest, gid, difference(current, next), ts, seq, false, false); err != nil {
				return err
			}
			// What the record itself says it added or removed is history
			// whatever the state already was.
			return w.statedChanges(dest, gid, rec, ts, seq)
		}
	}
	if err := w.setMembers(dest, gid, rec.MembersAdded, ts, seq, true, true); err != nil {
		return err
	}
	return w.setMembers(dest, gid, rec.MembersRemoved, ts, seq, false, true)
}

// statedChanges puts the record's members_added and members_removed on the
// members' timelines (a change already written for this record is kept
// once).
func (w *writer) statedChanges(dest, gid string, rec schema.Record, ts, seq int64) error {
	for _, uid := range rec.MembersAdded {
		if err := w.memberChange(dest, uid, seq, ts, gid, "added"); err != nil {
			return err
		}
	}
	for _, uid := range rec.MembersRemoved {
		if err := w.memberChange(dest, uid, seq, ts, gid, "removed"); err != nil {
			return err
		}
	}
	return nil
}

// deletedAt notes the newest DELETE of a user or group: adds older than it
// come too late, even after the resource is created again.
func (w *writer) deletedAt(table, dest, id string, ts int64) error {
	if _, err := w.exec(`UPDATE `+table+` SET deleted_at = max(deleted_at, ?) WHERE destination = ? AND id = ?`, ts, dest, id); err != nil {
		return fmt.Errorf("%s %s: %w", table, id, err)
	}
	return nil
}

// membersSet notes that a record at ts named gid's whole membership.
func (w *writer) membersSet(dest, gid string, ts int64) error {
	if _, err := w.exec(`UPDATE groups SET members_set = max(members_set, ?) WHERE destination = ? AND id = ?`, ts, dest, gid); err != nil {
		return fmt.Errorf("group %s: %w", gid, err)
	}
	return nil
}

func (w *writer) setMembers(dest, gid string, uids []string, ts, seq int64, present, stated bool) error {
	for _, uid := range uids {
		if err := w.setMember(dest, gid, uid, ts, seq, present, stated); err != nil {
			return err
		}
	}
	return nil
}

// setMember records that uid joined (present) or left gid at ts. The
// membership follows the newest decision: a change older than the one
// that set the row is history, not state, and an add older than the
// group's or the user's deletion is not applied. The change goes on the
// user's timeline when it was applied, or when the record itself stated
// it (members_added/members_removed): those happened whatever arrived
// first.
func (w *writer) setMember(dest, gid, uid string, ts, seq int64, present, stated bool) error {
	var was, found bool
	var changed, since int64
	err := w.queryRow(`SELECT present, changed, since FROM members WHERE destination = ? AND group_id = ? AND user_id = ?`, dest, gid, uid).
		Scan(&was, &changed, &since)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read member %s of %s: %w", uid, gid, err)
	default:
		found = true
	}
	apply := !found || ts >= changed
	if apply && present && !(found && was) {
		late, err := w.lateAdd(dest, gid, uid, ts)
		if err != nil {
			return err
		}
		apply = !late
	}
	if apply {
		if present && !(found && was) {
			since = ts
		}
		if _, err := w.exec(`INSERT INTO members (destination, group_id, user_id, since, changed, present) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (destination, group_id, user_id) DO UPDATE SET since = excluded.since, changed = excluded.changed, present = excluded.present`,
			dest, gid, uid, since, ts, present); err != nil {
			return fmt.Errorf("set member %s of %s: %w", uid, gid, err)
		}
	}
	if !stated && !(apply && (!found || was != present)) {
		return nil
	}
	op := "removed"
	if present {
		op = "added"
	}
	return w.memberChange(dest, uid, seq, ts, gid, op)
}

// lateAdd reports whether an add at ts of a member not present comes
// after a newer decision: the group or the user deleted later (even if
// created again since), or the whole membership named later without it.
func (w *writer) lateAdd(dest, gid, uid string, ts int64) (bool, error) {
	var n int
	// A DELETE at the same instant as the add wins: the resource is gone.
	err := w.queryRow(`SELECT (SELECT COUNT(*) FROM groups WHERE destination = ? AND id = ? AND (deleted_at >= ? OR members_set > ?))
		+ (SELECT COUNT(*) FROM users WHERE destination = ? AND id = ? AND deleted_at >= ?)`,
		dest, gid, ts, ts, dest, uid, ts).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read what came after adding %s to %s: %w", uid, gid, err)
	}
	return n > 0, nil
}

func (w *writer) memberChange(dest, uid string, seq, ts int64, gid, op string) error {
	if _, err := w.exec(`INSERT OR IGNORE INTO member_changes (destination, user_id, seq, ts, group_id, op) VALUES (?, ?, ?, ?, ?, ?)`,
		dest, uid, seq, ts, gid, op); err != nil {
		return fmt.Errorf("member change %s %s: %w", op, uid, err)
	}
	return nil
}

func (w *writer) memberIDs(dest, gid string) ([]string, error) {
	ids, err := w.ids(`SELECT user_id FROM members WHERE destination = ? AND group_id = ? AND present = 1`, dest, gid)
	if err != nil {
		return nil, fmt.Errorf("read members of %s: %w", gid, err)
	}
	return ids, nil
}

func (w *writer) ids(query string, args ...any) ([]string, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(w.ctx, args...)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// putMembers reads the member ids of a group PUT body; ok is false when the
// body has no members attribute (the PUT left them as they were).
func putMembers(body string) ([]string, bool) {
	var g struct {
		Members *[]struct {
			Value string `json:"value"`
		} `json:"members"`
	}
	if body == "" || json.Unmarshal([]byte(body), &g) != nil || g.Members == nil {
		return nil, false
	}
	ids := make([]string, 0, len(*g.Members))
	for _, m := range *g.Members {
		if m.Value != "" {
			ids = append(ids, m.Value)
		}
	}
	return ids, true
}

// patchMembers reads a group PatchOp body. When an operation replaces the
// whole member list or removes every member, it returns the membership
// after the operations, starting from current, and true; otherwise false:
// the record's members_added and members_removed say what changed.
// removed are the record's members_removed, which also covers operations
// addressing members by filter (members[value eq "id"]).
func patchMembers(body string, current, removed []string) ([]string, bool) {
	var p struct {
		Operations []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if body == "" || json.Unmarshal([]byte(body), &p) != nil {
		return nil, false
	}
	set, whole := current, false
	for _, o := range p.Operations {
		value := o.Value
		if strings.TrimSpace(o.Path) == "" {
			// {"op":"replace","value":{"members":[…]}}, RFC 7644 §3.5.2.
			var obj map[string]json.RawMessage
			if json.Unmarshal(o.Value, &obj) != nil {
				continue
			}
			value = nil
			for k, v := range obj {
				if strings.EqualFold(k, "members") {
					value = v
				}
			}
			if value == nil {
				continue
			}
		} else if !strings.EqualFold(strings.TrimSpace(o.Path), "members") {
			continue
		}
		ids := valueIDs(value)
		switch strings.ToLower(o.Op) {
		case "replace":
			set, whole = ids, true
		case "add":
			set = append(set, difference(ids, set)...)
		case "remove":
			if len(ids) == 0 {
				set, whole = nil, true
			} else {
				set = difference(set, ids)
			}
		}
	}
	if !whole {
		return nil, false
	}
	return difference(set, removed), true
}

// valueIDs reads the member ids of a members value: a list of {"value":
// id} objects, or one such object.
func valueIDs(v json.RawMessage) []string {
	var list []struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(v, &list) != nil {
		var one struct {
			Value string `json:"value"`
		}
		if json.Unmarshal(v, &one) != nil || one.Value == "" {
			return nil
		}
		return []string{one.Value}
	}
	ids := make([]string, 0, len(list))
	for _, m := range list {
		if m.Value != "" {
			ids = append(ids, m.Value)
		}
	}
	return ids
}

// difference is a minus b.
func difference(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
			in[s] = true
		}
	}
	return out
}
