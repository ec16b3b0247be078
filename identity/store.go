package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/scimtrail/scimtrail/scim"
)

// ErrClosed is returned (wrapped) by a Store that is closed, or that was not
// made by Open.
var ErrClosed = errors.New("identity: store closed")

// bucket holds every identity under the key "<resourceType>/<id>".
const bucket = "identities"

// defaultTimeout is Options.Timeout's default.
const defaultTimeout = time.Second

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for the file's lock, held by another
	// process or another Store of the same file, before failing with a
	// wrapped go.etcd.io/bbolt/errors.ErrTimeout. Zero or negative means
	// the default, 1s.
	Timeout time.Duration
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return defaultTimeout
	}
	return o.Timeout
}

// Store is a scim.IdentityCache kept in a bbolt file. It is safe for
// concurrent use. The zero value is a closed store: every method returns
// ErrClosed.
//
// Writes are not fsynced (bbolt NoSync): the store is a cache, and a crash
// may lose the last writes, which only costs an upstream look-up for the
// resources they named. Close syncs, so a clean shutdown loses nothing.
// The file is locked while open: a second Open of the same path, in this
// process or another, waits Options.Timeout and fails.
type Store struct {
	db   *bolt.DB
	path string

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ scim.IdentityCache = (*Store)(nil)

// Open opens the store at path, creating the file (mode 0600) when it does
// not exist; its directory must exist. A file that is not a bbolt database,
// or is corrupt, or stays locked longer than opts.Timeout yields a wrapped
// error; Open never deletes or repairs a file, so a caller that prefers an
// empty cache to an error removes the file and opens again.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.timeout(),
		NoSync:  true,
	})
	if err != nil {
		return nil, fmt.Errorf("identity: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(bucket))
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("identity: open %s: create bucket: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// key is "<resourceType>/<id>". A type never holds "/" (validKey), so the
// key is unambiguous even when the id does.
func key(resourceType, id string) []byte {
	return []byte(resourceType + "/" + id)
}

// validKey rejects what key could not encode unambiguously.
func validKey(resourceType, id string) error {
	if resourceType == "" || id == "" || strings.Contains(resourceType, "/") {
		return errInvalidKey
	}
	return nil
}

var errInvalidKey = errors.New(`type and id must be non-empty and type must not contain "/"`)

// Get returns the identity of a resource and whether it was known. ctx is
// checked before the read; the read itself does not block on writers.
func (s *Store) Get(ctx context.Context, resourceType, id string) (scim.Identity, bool, error) {
	if err := validKey(resourceType, id); err != nil {
		return scim.Identity{}, false, fmt.Errorf("identity: get %q/%q: %w", resourceType, id, err)
	}
	if err := s.ready(ctx); err != nil {
		return scim.Identity{}, false, fmt.Errorf("identity: get %s/%s: %w", resourceType, id, err)
	}
	var (
		ident scim.Identity
		found bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucket)).Get(key(resourceType, id))
		if v == nil {
			return nil
		}
		found = true
		// v is only valid inside the transaction: decode here.
		return json.Unmarshal(v, &ident)
	})
	if err != nil {
		return scim.Identity{}, false, fmt.Errorf("identity: get %s/%s: %w", resourceType, id, closedErr(err))
	}
	return ident, found, nil
}

// Put stores an identity under its Type and ID, replacing what was known
// of it.
//
// In Get, Put and Delete the resource type and id must be non-empty and the
// type must not contain "/"; otherwise they return an error and touch
// nothing.
func (s *Store) Put(ctx context.Context, ident scim.Identity) error {
	if err := validKey(ident.Type, ident.ID); err != nil {
		return fmt.Errorf("identity: put %q/%q: %w", ident.Type, ident.ID, err)
	}
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("identity: put %s/%s: %w", ident.Type, ident.ID, err)
	}
	v, err := json.Marshal(ident)
	if err != nil {
		return fmt.Errorf("identity: put %s/%s: %w", ident.Type, ident.ID, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put(key(ident.Type, ident.ID), v)
	})
	if err != nil {
		return fmt.Errorf("identity: put %s/%s: %w", ident.Type, ident.ID, closedErr(err))
	}
	return nil
}

// Delete forgets a resource. Deleting an unknown resource is not an error.
func (s *Store) Delete(ctx context.Context, resourceType, id string) error {
	if err := validKey(resourceType, id); err != nil {
		return fmt.Errorf("identity: delete %q/%q: %w", resourceType, id, err)
	}
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("identity: delete %s/%s: %w", resourceType, id, err)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Delete(key(resourceType, id))
	})
	if err != nil {
		return fmt.Errorf("identity: delete %s/%s: %w", resourceType, id, closedErr(err))
	}
	return nil
}

// Len returns the number of identities stored, or 0 when the store is
// closed. It walks the bucket's pages, so it costs O(size): meant for
// metrics and tests, not for the request path.
func (s *Store) Len() int {
	if s == nil || s.db == nil || s.closed.Load() {
		return 0
	}
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte(bucket)).Stats().KeyN
		return nil
	})
	return n
}

// Close syncs the file (writes are otherwise not fsynced) and releases it
// and its lock. Calls after the first return the first call's result; the
// other methods return ErrClosed afterwards.
func (s *Store) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		syncErr := s.db.Sync()
		closeErr := s.db.Close()
		if err := errors.Join(syncErr, closeErr); err != nil {
			s.closeErr = fmt.Errorf("identity: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// ready reports ErrClosed for a closed store or one not made by Open, else
// ctx's error.
func (s *Store) ready(ctx context.Context) error {
	if s == nil || s.db == nil || s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// closedErr maps the error of a call that raced with Close to ErrClosed, so
// callers test one error whichever side won.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
