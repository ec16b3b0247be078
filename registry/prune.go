package registry

import (
	"context"
	"fmt"
	"time"
)

// pruneChunk is how many records one prune transaction deletes, so that
// ingestion waits for at most one chunk.
const pruneChunk = 5000

// Prune deletes the records older than before, their membership history
// and hourly counts, and users and groups deleted before it. The current
// state of users and groups that still exist is kept whatever its age: it
// is not history. It returns how many records it deleted.
func (r *Registry) Prune(ctx context.Context, before time.Time) (int64, error) {
	cut := micros(before)
	var total int64
	for {
		n, err := r.pruneStep(ctx, `DELETE FROM records WHERE seq IN (SELECT seq FROM records WHERE ts < ? LIMIT ?)`, cut, pruneChunk)
		if err != nil {
			return total, fmt.Errorf("registry: prune records: %w", err)
		}
		total += n
		if n < pruneChunk {
			break
		}
	}
	for {
		n, err := r.pruneStep(ctx, `DELETE FROM member_changes WHERE (destination, user_id, seq, group_id) IN
			(SELECT destination, user_id, seq, group_id FROM member_changes WHERE ts < ? LIMIT ?)`, cut, pruneChunk)
		if err != nil {
			return total, fmt.Errorf("registry: prune membership history: %w", err)
		}
		if n < pruneChunk {
			break
		}
	}
	for _, q := range []struct {
		what, sql string
		arg       int64
	}{
		{"counts", `DELETE FROM counts WHERE hour < ?`, before.Unix() / 3600 * 3600},
		{"error counts", `DELETE FROM error_counts WHERE hour < ?`, before.Unix() / 3600 * 3600},
		// A removed member's row only guards against older adds, which
		// retention no longer expects.
		{"removed members", `DELETE FROM members WHERE present = 0 AND changed < ?`, cut},
		{"deleted users", `DELETE FROM users WHERE deleted = 1 AND last_seen < ?`, cut},
		{"deleted groups", `DELETE FROM groups WHERE deleted = 1 AND last_seen < ?`, cut},
	} {
		if _, err := r.pruneStep(ctx, q.sql, q.arg); err != nil {
			return total, fmt.Errorf("registry: prune %s: %w", q.what, err)
		}
	}
	return total, nil
}

func (r *Registry) pruneStep(ctx context.Context, query string, args ...any) (int64, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	res, err := r.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RunRetention prunes records older than keep now and then every interval
// until ctx ends. Errors are logged, not fatal: the next round retries.
func (r *Registry) RunRetention(ctx context.Context, keep, interval time.Duration, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := r.Prune(ctx, now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			r.logger.Warn("registry: retention", "err", err)
		case n > 0:
			r.logger.Info("registry: retention pruned records", "records", n, "older_than", keep.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
