package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
// Writes are kept in memory (Get sees them at once) and written to the
// file by one goroutine, all the writes that arrived meanwhile in one
// transaction: a transaction per write was 30 µs and 18 KB on the request
// path of every POST. They are not fsynced (bbolt NoSync): the store is a
// cache, and a crash (or kill -9) may lose the last writes, which only
// costs an upstream look-up for the resources they named. Close writes
// what is pending and syncs, so a clean shutdown loses nothing.
// The file is locked while open: a second Open of the same path, in this
// process or another, waits Options.Timeout and fails.
type Store struct {
	db   *bolt.DB
	path string

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// recent keeps the last identities read or written, decoded, so the
	// request path reads most of them without a bbolt transaction and a
	// JSON decoding (a read per request was 4% of the proxy's CPU).
	recent recentIdentities

	// pending holds the writes not yet in the file, by key; the writer
	// goroutine empties it. pmu guards it and lastErr; roomy is signalled
	// when it shrinks or the file fails. A write reaches pending and
	// recent under pmu, in one step: Get takes recent's generation with
	// the same lock, so a read of the file that began before a write
	// cannot put back into recent what that write replaced or deleted,
	// and two writes of one key leave recent and the file agreeing.
	pmu     sync.Mutex
	fmu     sync.Mutex // held by flush
	pending map[string]pendingWrite
	seq     uint64
	roomy   *sync.Cond
	lastErr error
	kick    chan struct{} // wakes the writer; capacity 1
	stop    chan struct{} // closed by Close: the writer writes what is left and ends
	done    chan struct{} // closed by the writer when it ends
}

// pendingWrite is a Put (value set) or a Delete (value nil) waiting for the
// writer; seq tells whether a newer write replaced it meanwhile.
type pendingWrite struct {
	ident scim.Identity
	value []byte
	seq   uint64
}

// maxPending bounds the writes held in memory: past it, Put and Delete wait
// for a slow writer (until their context ends) and are refused while the
// file fails, so the file costs a request neither unbounded memory nor
// unbounded time.
const maxPending = 4096

// retryWrite is the writer's pause after a failed transaction.
const retryWrite = 100 * time.Millisecond

// recentSize bounds the identities kept decoded in memory (a few MB).
const recentSize = 8192

// recentIdentities is a bounded map, evicting in insertion order.
type recentIdentities struct {
	mu    sync.Mutex
	byKey map[string]scim.Identity
	order []string // keys, oldest first (a key may repeat: stale ones are skipped)
	// gen counts writes (put, forget): a read of the file fills the map
	// only if no write came between, or it could bring back what a
	// concurrent Put or Delete replaced.
	gen uint64
}

// generation returns the write count, taken before reading the file.
func (r *recentIdentities) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// fill keeps what a read of the file found, unless a write came since gen.
func (r *recentIdentities) fill(k string, id scim.Identity, gen uint64) {
	r.mu.Lock()
	stale := r.gen != gen
	r.mu.Unlock()
	if !stale {
		r.put(k, id)
	}
}

func (r *recentIdentities) get(k string) (scim.Identity, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.byKey[k]
	return own(id), ok
}

// own returns id with slices and pointers of its own: the caller of Get
// and Put owns what it holds, the store what it keeps.
func own(id scim.Identity) scim.Identity {
	id.Members = slices.Clone(id.Members)
	if id.Active != nil {
		a := *id.Active
		id.Active = &a
	}
	return id
}

func (r *recentIdentities) put(k string, id scim.Identity) {
	id = own(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if r.byKey == nil {
		r.byKey = make(map[string]scim.Identity)
	}
	if _, ok := r.byKey[k]; !ok {
		r.order = append(r.order, k)
	}
	r.byKey[k] = id
	for len(r.byKey) > recentSize && len(r.order) > 0 {
		delete(r.byKey, r.order[0])
		r.order = r.order[1:]
	}
	if len(r.order) > 2*recentSize {
		// Forgotten keys and keys put again pile up: keep each present
		// key once, at its latest place.
		seen := make(map[string]bool, len(r.byKey))
		kept := make([]string, 0, len(r.byKey))
		for i := len(r.order) - 1; i >= 0; i-- {
			if k := r.order[i]; !seen[k] && r.byKey[k].ID != "" {
				seen[k] = true
				kept = append(kept, k)
			}
		}
		slices.Reverse(kept)
		r.order = kept
	} else if cap(r.order) > 4*recentSize {
		r.order = slices.Clone(r.order) // let the consumed prefix go
	}
}

func (r *recentIdentities) forget(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	delete(r.byKey, k) // its key in order is skipped when it comes up
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
	st := &Store{db: db, path: path, pending: map[string]pendingWrite{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	st.roomy = sync.NewCond(&st.pmu)
	go st.writeLoop()
	return st, nil
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

// storableKey rejects a key the file would refuse. Put checks it before
// holding the write: written with the others, it would fail every group
// it is in, and no identity would reach the file again.
func storableKey(resourceType, id string) error {
	if len(resourceType)+1+len(id) > bolt.MaxKeySize {
		return errKeyTooLong
	}
	return nil
}

var errKeyTooLong = fmt.Errorf("type and id longer than %d bytes", bolt.MaxKeySize-1)

// Get returns the identity of a resource and whether it was known. ctx is
// checked before the read; the read itself does not block on writers.
func (s *Store) Get(ctx context.Context, resourceType, id string) (scim.Identity, bool, error) {
	if err := validKey(resourceType, id); err != nil {
		return scim.Identity{}, false, fmt.Errorf("identity: get %q/%q: %w", resourceType, id, err)
	}
	if err := s.ready(ctx); err != nil {
		return scim.Identity{}, false, fmt.Errorf("identity: get %s/%s: %w", resourceType, id, err)
	}
	k := key(resourceType, id)
	// Not pending means every earlier write of k is in the file; a later
	// one changes the generation, and the file's answer is not kept.
	s.pmu.Lock()
	w, ok := s.pending[string(k)]
	gen := s.recent.generation()
	s.pmu.Unlock()
	if ok {
		return own(w.ident), w.value != nil, nil
	}
	if ident, ok := s.recent.get(string(k)); ok {
		return ident, true, nil
	}
	var (
		ident scim.Identity
		found bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(bucket)).Get(k)
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
	if found {
		s.recent.fill(string(k), ident, gen)
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
	if err := storableKey(ident.Type, ident.ID); err != nil {
		return fmt.Errorf("identity: put %s/%.64s...: %w", ident.Type, ident.ID, err)
	}
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("identity: put %s/%s: %w", ident.Type, ident.ID, err)
	}
	v, err := json.Marshal(ident)
	if err != nil {
		return fmt.Errorf("identity: put %s/%s: %w", ident.Type, ident.ID, err)
	}
	k := string(key(ident.Type, ident.ID))
	if err := s.enqueue(ctx, k, ident, v); err != nil {
		return fmt.Errorf("identity: put %s/%s: %w", ident.Type, ident.ID, err)
	}
	return nil
}

// enqueue hands a write (a Put when value is set, else a Delete) to the
// writer and applies it to recent, waiting while maxPending are held and
// the writer makes progress, until ctx is done. It returns ErrClosed after
// Close; when the write is held, the writer's last error while the file
// refuses writes (the write is retried); when it is not held, why: the
// store then is as before the call.
func (s *Store) enqueue(ctx context.Context, k string, ident scim.Identity, value []byte) error {
	s.pmu.Lock()
	if len(s.pending) >= maxPending {
		// Wake the wait below when ctx ends: a request's deadline bounds
		// how long its write waits for room.
		stopWake := context.AfterFunc(ctx, func() {
			s.pmu.Lock()
			s.roomy.Broadcast()
			s.pmu.Unlock()
		})
		defer stopWake()
	}
	for len(s.pending) >= maxPending && !s.closed.Load() {
		if _, ok := s.pending[k]; ok {
			break // replaces a held write: no more room needed
		}
		if s.lastErr != nil {
			// The file refuses writes: room may never come, and waiting
			// would hold every request for its whole deadline.
			err := s.lastErr
			s.pmu.Unlock()
			return fmt.Errorf("not held, %d writes waiting: %w", maxPending, err)
		}
		if err := ctx.Err(); err != nil {
			s.pmu.Unlock()
			return fmt.Errorf("not held, %d writes waiting: %w", maxPending, err)
		}
		s.roomy.Wait()
	}
	if s.closed.Load() {
		s.pmu.Unlock()
		return ErrClosed
	}
	s.seq++
	s.pending[k] = pendingWrite{ident: own(ident), value: value, seq: s.seq}
	if value != nil {
		s.recent.put(k, ident)
	} else {
		s.recent.forget(k)
	}
	err := s.lastErr
	s.pmu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return err
}

// writeLoop writes what is pending, all of it in one transaction, until
// Close; then once more.
func (s *Store) writeLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			for range 3 { // a failing file does not hold Close for long
				if s.flush() == nil {
					return
				}
			}
			return
		}
		if err := s.flush(); err != nil {
			select {
			case <-time.After(retryWrite):
			case <-s.stop:
			}
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	}
}

// flush writes a snapshot of pending and drops from it what was written
// and not replaced since.
func (s *Store) flush() error {
	// One flush at a time (the writer's, Len's): a snapshot written after
	// a newer one would put back what the newer one deleted.
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.pmu.Lock()
	batch := make(map[string]pendingWrite, len(s.pending))
	for k, w := range s.pending {
		batch[k] = w
	}
	s.pmu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		for k, w := range batch {
			var err error
			if w.value == nil {
				err = b.Delete([]byte(k))
			} else {
				err = b.Put([]byte(k), w.value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if err != nil {
		s.lastErr = fmt.Errorf("write %d identities: %w", len(batch), closedErr(err))
		s.roomy.Broadcast() // writes waiting for room stop waiting
		return err
	}
	s.lastErr = nil
	for k, w := range batch {
		if s.pending[k].seq == w.seq {
			delete(s.pending, k)
		}
	}
	s.roomy.Broadcast()
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
	k := string(key(resourceType, id))
	if err := s.enqueue(ctx, k, scim.Identity{}, nil); err != nil {
		return fmt.Errorf("identity: delete %s/%s: %w", resourceType, id, err)
	}
	return nil
}

// Len returns the number of identities stored, or 0 when the store is
// closed. It writes what is pending first, then walks the bucket's pages,
// so it costs O(size): meant for metrics and tests, not for the request
// path.
func (s *Store) Len() int {
	if s == nil || s.db == nil || s.closed.Load() {
		return 0
	}
	_ = s.flush() // a failure shows in the next Put's error
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
		s.pmu.Lock()
		s.closed.Store(true)
		s.roomy.Broadcast() // writers waiting for room get ErrClosed
		s.pmu.Unlock()
		close(s.stop)
		<-s.done
		s.pmu.Lock()
		unwritten, writeErr := len(s.pending), s.lastErr
		s.pmu.Unlock()
		if unwritten > 0 {
			writeErr = fmt.Errorf("%d identities not written: %w", unwritten, writeErr)
		}
		syncErr := errors.Join(writeErr, s.db.Sync())
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
