package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/scimtrail/scimtrail/exporter"
	"github.com/scimtrail/scimtrail/schema"
)

// NoteBodyDropped is added to a record whose request_body was dropped
// because the receiver refused the record, alone, as too large.
const NoteBodyDropped = "request_body dropped: the OTLP receiver refused the record as too large"

// Options are what an Exporter takes from the program rather than from
// configuration. The zero value works.
type Options struct {
	// Logger receives the exporter's own logs. Default: discard.
	Logger *slog.Logger
	// Resource describes this process on every request.
	Resource schema.Resource
	// Registerer receives the exporter's metrics. Default: none.
	Registerer prometheus.Registerer
}

// Exporter sends records to an OTLP logs receiver over gRPC or HTTP. It is
// an exporter.Sink for the spool, which batches, retries and dead-letters;
// the Exporter splits a batch to fit MaxBatchBytes or a receiver's size
// limit and classifies the receiver's answers:
//
//   - retried: gRPC Unavailable, DeadlineExceeded, Aborted, OutOfRange,
//     DataLoss, Canceled, and ResourceExhausted that is not a size limit;
//     HTTP 429, 502, 503, 504 — after the RetryInfo or Retry-After delay
//     when the receiver gives one (exporter.Throttle);
//   - split and resent: HTTP 413 (and the Collector's 400 "request body
//     too large") and gRPC ResourceExhausted for a message over the
//     receiver's limit; a single record still too large is resent
//     once without its request_body (noted in the record);
//   - refused for good (exporter.Permanent, the dead-letter file): gRPC
//     InvalidArgument, HTTP 400 — the receiver says the data itself is bad;
//   - any other answer (authentication, permission, not found, 500…) is a
//     failure kept in the spool and retried with backoff until someone
//     fixes the receiver or the configuration. OTLP tells a client to drop
//     such data; an audit trail keeps it instead.
//
// A partial success (rejected_log_records) is logged and counted
// (scimtrail_otlp_rejected_records_total) and not retried, as OTLP says.
//
// Export is not safe for concurrent use (the spool calls it from one
// goroutine); Close may be called once, after the last Export.
type Exporter struct {
	cfg   Config
	res   schema.Resource
	log   *slog.Logger
	send  sender
	max   int // bytes per request: MaxBatchBytes, or less once the receiver refused more
	sizer plog.ProtoMarshaler

	rejected prometheus.Counter
	splits   *prometheus.CounterVec
	quoted   secrets
}

// sender delivers one request. It returns the receiver's answer, or an
// error classified as errTooLarge, exporter.Throttle, exporter.Permanent
// or a plain (retried) error.
type sender interface {
	send(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error)
	close() error
}

// errTooLarge is a sender's answer to a request over the receiver's size
// limit.
var errTooLarge = errors.New("request too large for the receiver")

// New returns an Exporter for cfg. It validates cfg, reads the TLS files
// and prepares the connection, which is made lazily: a receiver that is
// down at start-up is retried by the spool, not fatal.
func New(cfg Config, opts Options) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	if !cfg.Enabled() {
		return nil, errors.New(`otlp: requires "otlp-endpoint"`)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{
		cfg: cfg, res: opts.Resource, log: log, max: cfg.maxBatchBytes(), quoted: newSecrets(cfg.Headers),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimtrail_otlp_rejected_records_total",
			Help: "Log records the OTLP receiver accepted the request of but rejected (partial success); not retried.",
		}),
		splits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_otlp_split_requests_total",
			Help: "Batches split before sending: reason=\"max_batch_bytes\" over otlp-max-batch-bytes, \"receiver_limit\" refused by the receiver as too large.",
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.rejected, e.splits} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("otlp: register metrics: %w", err)
			}
		}
	}
	u, err := cfg.target()
	if err != nil {
		return nil, fmt.Errorf(`otlp: "otlp-endpoint": %w`, err)
	}
	tlsConf, err := cfg.ClientTLS(u)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	ua := "scimtrail"
	if opts.Resource.ServiceVersion != "" {
		ua += "/" + opts.Resource.ServiceVersion
	}
	switch cfg.protocol() {
	case ProtocolGRPC:
		e.send, err = newGRPCSender(u, tlsConf, cfg, ua)
	default:
		e.send, err = newHTTPSender(u, tlsConf, cfg, ua)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	return e, nil
}

// Name names the sink in the spool: its cursor, metrics and logs.
func (e *Exporter) Name() string { return "otlp" }

// Endpoint is where the logs go, for logs and /readyz.
func (e *Exporter) Endpoint() string { return e.cfg.url() }

// Export sends recs, in order, in as many requests as MaxBatchBytes and the
// receiver's limits need. An error means some may not have been delivered;
// the spool resends the whole batch (consumers drop duplicates by id).
func (e *Exporter) Export(ctx context.Context, recs []schema.Record) error {
	if len(recs) == 0 {
		return nil
	}
	ld := schema.NewLogs(e.res, recs)
	if len(recs) > 1 && e.sizer.LogsSize(ld) > e.max {
		e.splits.WithLabelValues("max_batch_bytes").Inc()
		for _, part := range e.chunks(ld, recs) {
			if err := e.export(ctx, schema.NewLogs(e.res, part), part); err != nil {
				return err
			}
		}
		return nil
	}
	return e.export(ctx, ld, recs)
}

// chunks cuts recs into runs whose requests stay under MaxBatchBytes, from
// the sizes of ld's log records (ld holds recs, in order). A record larger
// than the bound on its own makes a run of one.
func (e *Exporter) chunks(ld plog.Logs, recs []schema.Record) [][]schema.Record {
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	empty := plog.NewLogs()
	ld.ResourceLogs().At(0).Resource().CopyTo(empty.ResourceLogs().AppendEmpty().Resource())
	ld.ResourceLogs().At(0).ScopeLogs().At(0).Scope().CopyTo(empty.ResourceLogs().At(0).ScopeLogs().AppendEmpty().Scope())
	// The envelope's length prefixes grow with the content; 16 bytes
	// cover the extra varint bytes of three nested messages.
	base := e.sizer.LogsSize(empty) + 16

	var out [][]schema.Record
	start, size := 0, base
	for i := range recs {
		n := e.sizer.LogRecordSize(lrs.At(i))
		n += 1 + varintLen(n) // field tag and length prefix
		if i > start && size+n > e.max {
			out = append(out, recs[start:i])
			start, size = i, base
		}
		size += n
	}
	return append(out, recs[start:])
}

// export sends one request holding recs (ld is their logs), splitting it
// in halves while the receiver says it is too large.
func (e *Exporter) export(ctx context.Context, ld plog.Logs, recs []schema.Record) error {
	rctx, cancel := context.WithTimeout(ctx, e.cfg.timeout())
	resp, err := e.send.send(rctx, plogotlp.NewExportRequestFromLogs(ld))
	cancel()
	switch {
	case err == nil:
		e.partial(resp, len(recs))
		return nil
	case !errors.Is(err, errTooLarge):
		return fmt.Errorf("otlp: export %d records to %s: %w", len(recs), e.Endpoint(), err)
	case len(recs) > 1:
		e.splits.WithLabelValues("receiver_limit").Inc()
		// Learn the receiver's limit: later batches are cut below what
		// it refused, rather than probing it again (a slow receiver's
		// refusals could otherwise eat the export's time on every retry).
		if refused := e.sizer.LogsSize(ld); refused/2 < e.max {
			e.max = max(refused/2, 1)
			e.log.Info("otlp: the receiver refused a request as too large; later requests stay under half its size",
				"refused_bytes", refused, "max_batch_bytes", e.max)
		}
		half := len(recs) / 2
		for _, part := range [][]schema.Record{recs[:half], recs[half:]} {
			if err := e.export(ctx, schema.NewLogs(e.res, part), part); err != nil {
				return err
			}
		}
		return nil
	case recs[0].RequestBody != "":
		r := recs[0]
		r.RequestBody, r.BodyTruncated = "", true
		if !slices.Contains(r.Notes, NoteBodyDropped) {
			r.Notes = append(slices.Clip(r.Notes), NoteBodyDropped)
		}
		e.log.Warn("otlp: receiver refused a record as too large; sending it without request_body",
			"record_id", r.ID)
		one := []schema.Record{r}
		return e.export(ctx, schema.NewLogs(e.res, one), one)
	default:
		return exporter.Permanent(fmt.Errorf("otlp: export record %s to %s: %w, even without request_body",
			recs[0].ID, e.Endpoint(), err))
	}
}

// partial logs and counts what a partial success rejected.
func (e *Exporter) partial(resp plogotlp.ExportResponse, sent int) {
	ps := resp.PartialSuccess()
	if n := ps.RejectedLogRecords(); n > 0 {
		e.rejected.Add(float64(n))
		e.log.Warn("otlp: receiver rejected part of a request (partial success); not retried",
			"rejected", n, "sent", sent, "message", e.quoted.redact(ps.ErrorMessage()))
	} else if msg := ps.ErrorMessage(); msg != "" {
		e.log.Warn("otlp: receiver accepted the request with a warning", "message", e.quoted.redact(msg))
	}
}

// Close releases the connection. Call it after the last Export.
func (e *Exporter) Close() error {
	if err := e.send.close(); err != nil {
		return fmt.Errorf("otlp: close: %w", err)
	}
	return nil
}

// secrets are the configured header values, and their words of minLen
// bytes or more (the token after "Bearer "), longest first: a receiver
// refusing a credential may quote it back, and its message goes into
// errors the spool logs and /readyz shows.
type secrets []string

func newSecrets(headers map[string]string) secrets {
	const minLen = 8
	var out secrets
	for _, v := range headers {
		for _, w := range append(strings.Fields(v), strings.TrimSpace(v)) {
			if len(w) >= minLen && !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redact replaces every secret in msg.
func (s secrets) redact(msg string) string {
	for _, w := range s {
		msg = strings.ReplaceAll(msg, w, "[REDACTED]")
	}
	return msg
}

func varintLen(n int) int {
	size := 1
	for u := uint64(n); u >= 0x80; u >>= 7 {
		size++
	}
	return size
}
