package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

// Sink takes records from the request path. Take must not wait on the
// network; an error means the record was not taken.
type Sink interface {
	Take(ctx context.Context, rec schema.Record) error
}

// Config is the audit pipeline's part of the configuration.
type Config struct {
	// SkipReads leaves GET requests unrecorded. Default false: every
	// exchange yields a record, reads included.
	SkipReads bool
	// DisableLookup stops the read-back of resources the identity cache
	// does not know (a GET before a DELETE, after a PATCH/PUT answered
	// 204). Default false: look-ups are on.
	DisableLookup bool
	// Redact names attributes whose values are secrets besides password.
	Redact []string
}

// Options are the pipeline's collaborators. Zero values work.
type Options struct {
	// Logger receives the pipeline's own logs. Default: discard.
	Logger *slog.Logger
	// Registerer receives the pipeline's metrics. Default: none kept.
	Registerer prometheus.Registerer
	// NewID returns a record id. Default: a UUIDv7 string.
	NewID func() string
	// IdPs are the configured IdP names, the only idp label values besides
	// "unknown" (so a metric's label set stays bounded).
	IdPs []string
}

// Pipeline implements proxy.Recorder. It is safe for concurrent use.
type Pipeline struct {
	cfg     Config
	deriver scim.Deriver
	cache   scim.IdentityCache
	sink    Sink
	newID   func() string
	log     *slog.Logger
	m       *metrics
	// locks serialise read-derive-write of one resource's identity, so
	// concurrent PATCHes of one group do not lose each other's members.
	// Resources share a lock by hash; the array bounds the memory.
	locks [256]sync.Mutex
}

// New returns a pipeline writing to sink and remembering identities in
// cache. A nil cache remembers nothing.
func New(cfg Config, cache scim.IdentityCache, sink Sink, opts Options) *Pipeline {
	p := &Pipeline{
		cfg:     cfg,
		deriver: scim.Deriver{Redactor: scim.NewRedactor(cfg.Redact...)},
		cache:   cache,
		sink:    sink,
		newID:   opts.NewID,
		log:     opts.Logger,
		m:       newMetrics(opts.Registerer, opts.IdPs),
	}
	if p.newID == nil {
		p.newID = newUUIDv7
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.cache == nil {
		p.cache = noCache{}
	}
	return p
}

func newUUIDv7() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 fails only when the system's randomness does; a v4 id is
		// still unique, only not time-ordered.
		return uuid.NewString()
	}
	return id.String()
}

// Prepare reads a resource the cache does not know before a DELETE removes
// it, so the DELETE's record can name it.
func (p *Pipeline) Prepare(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) {
	if p.cfg.DisableLookup || fetch == nil || ex.Method != http.MethodDelete {
		return
	}
	ep := scim.ParseEndpoint(ex.Path)
	if ep.ID == "" {
		return
	}
	cache := p.cacheFor(ex)
	defer p.lock(ex.Destination, ep)()
	if prior, ok := p.known(ctx, cache, ep); ok && prior.Named() {
		return
	}
	if body := p.lookup(ctx, ex.Path, fetch); body != nil {
		if id, ok := scim.IdentityFromJSON(ep.ResourceType, body); ok && id.ID == ep.ID {
			p.remember(ctx, cache, ep, nil, scim.Result{Learned: []scim.Identity{id}})
		}
	}
}

// lock holds the lock of ep's resource at destination (none for
// collections) and returns its release.
func (p *Pipeline) lock(destination string, ep scim.Endpoint) (unlock func()) {
	if ep.ID == "" {
		return func() {}
	}
	h := fnv.New32a()
	h.Write([]byte(destination))
	h.Write([]byte(ep.ResourceType))
	h.Write([]byte(ep.ID))
	mu := &p.locks[h.Sum32()%uint32(len(p.locks))]
	mu.Lock()
	return mu.Unlock
}

// takeTimeout bounds the hand-over to the sink, whatever a look-up left of
// the request's time: the spool only waits when its writer is stalled.
const takeTimeout = 5 * time.Second

// Record derives the exchange's record, updates the cache and hands the
// record to the sink, still under the resource's lock, so records of one
// resource reach the sink in the order they were derived. It returns the
// sink's error: the record was not kept.
func (p *Pipeline) Record(ctx context.Context, ex *scim.Exchange, fetch scim.FetchFunc) error {
	ep := scim.ParseEndpoint(ex.Path)
	cache := p.cacheFor(ex)
	unlock := p.lock(ex.Destination, ep)
	defer unlock()
	in := scim.Input{Exchange: ex}
	if prior, ok := p.known(ctx, cache, ep); ok {
		in.Prior = &prior
	}
	success := ex.StatusCode >= 200 && ex.StatusCode < 300
	if !p.cfg.DisableLookup && fetch != nil && success && ep.ID != "" && len(ex.ResponseBody) == 0 &&
		(ex.Method == http.MethodPatch || ex.Method == http.MethodPut) && (in.Prior == nil || !in.Prior.Named()) {
		in.After = p.lookup(ctx, ex.Path, fetch)
	}
	res := p.deriver.Derive(in)
	p.remember(ctx, cache, ep, in.Prior, res)
	rec := res.Record
	p.m.observe(rec, ex.Duration)
	if p.cfg.SkipReads && rec.Action == http.MethodGet {
		return nil
	}
	rec.ID = p.newID()
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), takeTimeout)
	defer cancel()
	if err := p.sink.Take(tctx, rec); err != nil {
		// The sink counts and reports what it drops; a log line per
		// record would flood the log exactly when the sink is overloaded.
		p.log.Debug("audit: record not taken", "record_id", rec.ID, "error", err)
		return fmt.Errorf("audit: record %s not taken: %w", rec.ID, err)
	}
	return nil
}

// known returns what the cache knows of the addressed resource.
func (p *Pipeline) known(ctx context.Context, cache scim.IdentityCache, ep scim.Endpoint) (scim.Identity, bool) {
	if ep.ID == "" {
		return scim.Identity{}, false
	}
	id, ok, err := cache.Get(ctx, ep.ResourceType, ep.ID)
	if err != nil {
		p.m.cacheErrors.Inc()
		p.log.Warn("audit: identity cache read", "error", err)
		return scim.Identity{}, false
	}
	return id, ok
}

// remember stores what a derivation learned, skipping what the cache
// already holds (most requests change no identity). The addressed
// resource's identity is already merged with prior, what was known; other
// resources (from a list answer) are merged here, so a list fetched without
// members does not erase a known membership.
func (p *Pipeline) remember(ctx context.Context, cache scim.IdentityCache, ep scim.Endpoint, prior *scim.Identity, res scim.Result) {
	var err error
	for _, id := range res.Learned {
		old, known := scim.Identity{}, false
		if id.ID == ep.ID && prior != nil {
			old, known = *prior, true
		} else if id.ID != ep.ID {
			var gerr error
			if old, known, gerr = cache.Get(ctx, id.Type, id.ID); gerr == nil && known {
				id = old.Overlay(id)
			}
		}
		if known && old.Equal(id) {
			continue
		}
		err = errors.Join(err, cache.Put(ctx, id))
	}
	if res.Forget != nil {
		err = errors.Join(err, cache.Delete(ctx, res.Forget.Type, res.Forget.ID))
	}
	if err != nil {
		p.m.cacheErrors.Inc()
		p.log.Warn("audit: identity cache write", "error", err)
	}
}

// lookup reads a resource back from the upstream, with the request's own
// credentials. It returns nil when the upstream did not answer 200.
func (p *Pipeline) lookup(ctx context.Context, path string, fetch scim.FetchFunc) []byte {
	status, body, err := fetch(ctx, path)
	switch {
	case err != nil:
		p.m.lookups.WithLabelValues("error").Inc()
		p.log.Warn("audit: look-up", "path", path, "error", err)
		return nil
	case status != http.StatusOK:
		p.m.lookups.WithLabelValues("status_" + statusClass(status)).Inc()
		return nil
	}
	p.m.lookups.WithLabelValues("found").Inc()
	return body
}

func statusClass(code int) string { return fmt.Sprintf("%dxx", code/100) }

// cacheFor is the identity cache of ex's SCIM service: the one cache for
// the reverse proxy's single upstream; in egress mode a part of it per
// destination, so two SaaS applications' ids never meet.
func (p *Pipeline) cacheFor(ex *scim.Exchange) scim.IdentityCache {
	if ex.Destination == "" {
		return p.cache
	}
	return scopedCache{inner: p.cache, scope: ex.Destination + "\x00"}
}

// scopedCache keeps its identities under ids prefixed with scope.
type scopedCache struct {
	inner scim.IdentityCache
	scope string
}

func (c scopedCache) Get(ctx context.Context, resourceType, id string) (scim.Identity, bool, error) {
	got, ok, err := c.inner.Get(ctx, resourceType, c.scope+id)
	got.ID = id
	return got, ok, err
}

func (c scopedCache) Put(ctx context.Context, id scim.Identity) error {
	id.ID = c.scope + id.ID
	return c.inner.Put(ctx, id)
}

func (c scopedCache) Delete(ctx context.Context, resourceType, id string) error {
	return c.inner.Delete(ctx, resourceType, c.scope+id)
}

type noCache struct{}

func (noCache) Get(context.Context, string, string) (scim.Identity, bool, error) {
	return scim.Identity{}, false, nil
}
func (noCache) Put(context.Context, scim.Identity) error     { return nil }
func (noCache) Delete(context.Context, string, string) error { return nil }
