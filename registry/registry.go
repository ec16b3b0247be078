package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// Options tune a Registry. The zero value works.
type Options struct {
	// Logger receives the registry's own log lines. Default: discard.
	Logger *slog.Logger
}

// Registry is the record store. It is safe for concurrent use: writes
// (Export, Prune) take turns, reads run beside them (SQLite WAL mode).
type Registry struct {
	db     *sql.DB
	logger *slog.Logger
	// writeMu serialises write transactions: SQLite has one writer, and
	// waiting here is cheaper than SQLITE_BUSY retries.
	writeMu sync.Mutex
}

// schemaVersion is the database layout this build writes (PRAGMA
// user_version). Opening a database of a newer layout fails.
const schemaVersion = 1

// ddl creates the layout. Times are Unix microseconds (UTC). seq, the
// records' rowid, is the arrival order and breaks timestamp ties.
const ddl = `
CREATE TABLE IF NOT EXISTS records (
	seq             INTEGER PRIMARY KEY,
	id              TEXT    NOT NULL UNIQUE,
	ts              INTEGER NOT NULL,
	idp             TEXT    NOT NULL,
	action          TEXT    NOT NULL,
	resource_type   TEXT    NOT NULL,
	outcome         TEXT    NOT NULL,
	email           TEXT    NOT NULL, -- lower case
	grp             TEXT    NOT NULL, -- lower case
	resource_id     TEXT    NOT NULL,
	idp_resource_id TEXT    NOT NULL,
	destination     TEXT    NOT NULL,
	error_detail    TEXT    NOT NULL,
	body            BLOB    NOT NULL  -- the record, JSON
);
CREATE INDEX IF NOT EXISTS records_ts          ON records(ts);
CREATE INDEX IF NOT EXISTS records_idp         ON records(idp, ts);
CREATE INDEX IF NOT EXISTS records_outcome     ON records(outcome, ts);
-- action and resource_type have a few common values: the newest-first
-- scan of records_ts finds a page of them sooner than an index would.
CREATE INDEX IF NOT EXISTS records_email       ON records(email, ts);
CREATE INDEX IF NOT EXISTS records_grp         ON records(grp, ts);
CREATE INDEX IF NOT EXISTS records_resource    ON records(resource_id, ts);
CREATE INDEX IF NOT EXISTS records_idp_res     ON records(idp_resource_id, ts);

CREATE TABLE IF NOT EXISTS users (
	destination  TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	user_name    TEXT    NOT NULL DEFAULT '',
	email        TEXT    NOT NULL DEFAULT '',
	display_name TEXT    NOT NULL DEFAULT '',
	external_id  TEXT    NOT NULL DEFAULT '',
	active       INTEGER,          -- NULL: unknown
	idp          TEXT    NOT NULL DEFAULT '',
	first_seen   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	deleted      INTEGER NOT NULL DEFAULT 0,
	deleted_at   INTEGER NOT NULL DEFAULT 0, -- the newest DELETE, kept after a re-create
	PRIMARY KEY (destination, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_email ON users(lower(email));
CREATE INDEX IF NOT EXISTS users_name  ON users(lower(user_name));
CREATE INDEX IF NOT EXISTS users_seen  ON users(last_seen);

CREATE TABLE IF NOT EXISTS groups (
	destination TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	name        TEXT    NOT NULL DEFAULT '',
	external_id TEXT    NOT NULL DEFAULT '',
	idp         TEXT    NOT NULL DEFAULT '',
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	deleted     INTEGER NOT NULL DEFAULT 0,
	-- members_set is the newest record that named the whole membership
	-- (a create, a PUT, a PATCH replacing or emptying it, a DELETE): an
	-- older add of someone it left out comes too late.
	members_set INTEGER NOT NULL DEFAULT 0,
	deleted_at  INTEGER NOT NULL DEFAULT 0, -- the newest DELETE, kept after a re-create
	PRIMARY KEY (destination, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS groups_name ON groups(lower(name));
CREATE INDEX IF NOT EXISTS groups_seen ON groups(last_seen);

-- members keeps, per group and user, whether the user is a member and
-- when that was last decided: records can arrive out of order (a user's and
-- a group's records travel on different Kafka partitions), and an older
-- add must not undo a newer remove. A removed member stays as a row with
-- present = 0 for that reason.
CREATE TABLE IF NOT EXISTS members (
	destination TEXT    NOT NULL,
	group_id    TEXT    NOT NULL,
	user_id     TEXT    NOT NULL,
	since       INTEGER NOT NULL, -- when the current membership began
	changed     INTEGER NOT NULL, -- the newest record that decided present
	present     INTEGER NOT NULL,
	PRIMARY KEY (destination, group_id, user_id)
) WITHOUT ROWID;
-- A user's groups. Queries name it (INDEXED BY): every ingress row has
-- the same empty destination, and without statistics the planner prefers
-- the primary key's destination prefix, a scan of every membership.
CREATE INDEX IF NOT EXISTS members_user ON members(user_id, destination);

-- member_changes puts a group's membership records on its members'
-- timelines.
CREATE TABLE IF NOT EXISTS member_changes (
	destination TEXT    NOT NULL,
	user_id     TEXT    NOT NULL,
	seq         INTEGER NOT NULL, -- records.seq
	ts          INTEGER NOT NULL,
	group_id    TEXT    NOT NULL,
	op          TEXT    NOT NULL, -- added | removed
	PRIMARY KEY (destination, user_id, seq, group_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS member_changes_ts ON member_changes(ts);

-- counts keeps requests per hour, IdP and outcome, so the summary does not
-- scan a million records.
CREATE TABLE IF NOT EXISTS counts (
	hour    INTEGER NOT NULL, -- Unix seconds, a multiple of 3600
	idp     TEXT    NOT NULL,
	outcome TEXT    NOT NULL,
	n       INTEGER NOT NULL,
	PRIMARY KEY (hour, idp, outcome)
) WITHOUT ROWID;

-- error_counts keeps refused requests per hour, IdP and error detail, for
-- the summary's top errors.
CREATE TABLE IF NOT EXISTS error_counts (
	hour   INTEGER NOT NULL,
	idp    TEXT    NOT NULL,
	detail TEXT    NOT NULL,
	n      INTEGER NOT NULL,
	last   INTEGER NOT NULL, -- the latest record's ts
	PRIMARY KEY (hour, idp, detail)
) WITHOUT ROWID;
`

// Open opens the registry database at path, creating it when missing.
// The database is in WAL mode with synchronous=NORMAL: a process crash
// (kill -9) loses no committed write; a power loss may lose the last
// transactions, which a replay (idempotent by id) restores.
func Open(ctx context.Context, path string, opts Options) (*Registry, error) {
	if path == "" {
		return nil, errors.New(`registry: requires a database path ("registry")`)
	}
	if strings.ContainsAny(path, "?#") {
		// They would end the file name in the connection string.
		return nil, fmt.Errorf(`registry: %q: a database path may not contain "?" or "#"`, path)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(OFF)", "cache_size(-32000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("registry: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	r := &Registry{db: db, logger: opts.Logger}
	if r.logger == nil {
		r.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := r.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("registry: open %s: %w", path, err)
	}
	return r, nil
}

func (r *Registry) migrate(ctx context.Context) error {
	var v int
	if err := r.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read layout version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("database layout %d is newer than this build's %d", v, schemaVersion)
	}
	if _, err := r.db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create tables: %w", err)
	}
	if _, err := r.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("write layout version: %w", err)
	}
	return nil
}

// Close closes the database. Calls after the first return nil.
func (r *Registry) Close() error {
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("registry: close: %w", err)
	}
	return nil
}
