//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/internal/loadgen"
)

const burstUsage = `Usage: scimtrail bench burst [flags]

Run an initial sync through scimtrail with all three sinks at once (a file,
Kafka, OTLP): --users distinct Okta-shaped POST /Users, each sent exactly
once over --conns keep-alive connections, to an upstream that answers 201
with the user and an id. Prints when the last POST was answered, the rate
and latency, then when every sink had every record (the spool empty), and
checks each sink: the file's lines, the Kafka topic read back with franz-go
(not with kafka-go, which wrote it) and the log records the OTLP receiver
got each hold every user. Then a verdict; exit status 1 when a user's
record is missing from a sink, a POST failed or the spool did not empty
within --drain-timeout.

The broker (kfake) and the OTLP/gRPC receiver run in this process; the
proxy runs pinned as in "scimtrail bench"; all traffic stays on 127.0.0.1.

Flags:
`

// burstReadTimeout bounds the read of the whole topic after the burst.
const burstReadTimeout = 5 * time.Minute

// burstEmailAttr is the OTLP attribute the receiver collects: a user's
// record is there when its e-mail is.
const burstEmailAttr = "scim.user_email"

// burstOptions are the flags of "scimtrail bench burst".
type burstOptions struct {
	users        int
	conns        int
	drainTimeout time.Duration
	pin          bool
	jsonPath     string
	args         []string
}

// parseBurstFlags returns the options, or an exit code ≥ 0 to return.
func parseBurstFlags(args []string, stderr io.Writer) (burstOptions, int) {
	o := burstOptions{args: args}
	fs := flag.NewFlagSet("scimtrail bench burst", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.users, "users", 100_000, "how many distinct users to create, one POST each")
	fs.IntVar(&o.conns, "conns", 32, "keep-alive connections the POSTs are sent over, as an IdP's sync workers")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Minute, "after the last answer, the longest wait for every sink to have every record")
	if code := parseCommandFlags(fs, burstUsage, args, &o.pin, &o.jsonPath); code >= 0 {
		return o, code
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if o.users < 1 || o.users > 10_000_000 {
		errs = append(errs, errors.New(`"users" must be 1 to 10000000`))
	}
	if o.conns < 1 || o.conns > 4096 {
		errs = append(errs, errors.New(`"conns" must be 1 to 4096`))
	}
	if o.drainTimeout <= 0 {
		errs = append(errs, errors.New(`"drain-timeout" must be positive`))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "scimtrail bench burst: %s\n", oneLine(err))
		return o, 2
	}
	return o, -1
}

func runBurst(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code := parseBurstFlags(args, stderr)
	if code >= 0 {
		return code
	}
	br := &burst{opts: opts, b: &bench{log: stderr}}
	defer br.b.close()
	rep, err := br.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "scimtrail bench burst: %v\n", err)
		return 1
	}
	rep.writeMarkdown(stdout)
	if opts.jsonPath != "" {
		if err := writeJSONFile(opts.jsonPath, rep); err != nil {
			fmt.Fprintf(stderr, "scimtrail bench burst: %v\n", err)
			return 1
		}
	}
	if !rep.Passed {
		return 1
	}
	return 0
}

// burstUser is user i's POST body as Okta sends it on an initial sync.
func burstUser(i int) []byte {
	n := fmt.Sprintf("%07d", i+1)
	email := burstEmail(i)
	return []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + email + `",` +
		`"name":{"givenName":"Grace","familyName":"Hopper` + n + `"},` +
		`"emails":[{"primary":true,"value":"` + email + `","type":"work"}],` +
		`"displayName":"Grace Hopper` + n + `","locale":"en-US","externalId":"00u9burst` + n + `","groups":[],"active":true}`)
}

func burstEmail(i int) string { return fmt.Sprintf("grace.hopper%07d@example.com", i+1) }

// burstRequests are the POSTs of n users, encoded for host.
func burstRequests(host string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = loadgen.Encode(host, loadgen.Request{
			Method: http.MethodPost,
			Target: "/scim/v2/Users",
			Header: http.Header{
				"Authorization": {"Bearer " + benchToken},
				"Content-Type":  {scimJSON},
				"Accept":        {scimJSON},
				"User-Agent":    {benchUserAgent},
			},
			Body: burstUser(i),
		})
	}
	return out
}

// createUpstream answers POST /scim/v2/Users with 201 and the user as sent
// with an "id" first, as a SCIM service does, without decoding it: the
// bench's CPU is shared with the load generator, the broker and the
// receiver. Anything else is a SCIM 404.
type createUpstream struct {
	ids atomic.Int64
}

func (u *createUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h := w.Header()
	h["Content-Type"] = []string{scimJSON}
	if r.Method != http.MethodPost || r.URL.Path != "/scim/v2/Users" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, notFoundBody)
		return
	}
	i := bytes.IndexByte(body, '{')
	if err != nil || i < 0 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","detail":"not a user"}`)
		return
	}
	id := fmt.Sprintf("b0f5e9a2-3c47-4d1e-8a6b-%012d", u.ids.Add(1))
	out := make([]byte, 0, len(body)+64)
	out = append(out, body[:i+1]...)
	out = append(out, `"id":"`+id+`",`...)
	out = append(out, body[i+1:]...)
	h["Location"] = []string{"/scim/v2/Users/" + id}
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(out)
}

// burst is one run of "scimtrail bench burst".
type burst struct {
	opts burstOptions
	b    *bench
}

// burstSink is what one sink delivered.
type burstSink struct {
	Sink string `json:"sink"`
	// Records is what it got, duplicates included.
	Records int64 `json:"records"`
	// DistinctIDs is nil for OTLP, whose receiver keeps only e-mails.
	DistinctIDs *int64 `json:"distinct_ids,omitempty"`
	// Users is how many of the users sent have a record there; Missing
	// the others.
	Users   int64 `json:"users"`
	Missing int64 `json:"missing"`
}

// burstReport is a whole burst, as printed and as written with --json.
type burstReport struct {
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Machine  string    `json:"machine"`
	Layout   string    `json:"layout"`
	Load     string    `json:"load"`
	Upstream string    `json:"upstream"`
	Proxy    string    `json:"proxy"`
	Notes    []string  `json:"notes,omitempty"`
	Users    int       `json:"users"`
	Conns    int       `json:"conns"`
	// Created is the POSTs the upstream received.
	Created int64 `json:"created"`
	// AnsweredS is from the first POST to the last answer; DeliveredS to
	// the spool's emptying (every sink has every record).
	AnsweredS  float64 `json:"answered_s"`
	ReqPerSec  float64 `json:"req_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	Errors     int64   `json:"errors"`
	Drained    bool    `json:"drained"`
	DeliveredS float64 `json:"delivered_s"`
	// ProxyCPUS is the proxy's CPU time, user and system, over the burst
	// and its delivery; LoadCPUPercent the bench process's share of its
	// CPUs meanwhile.
	ProxyCPUS      float64     `json:"proxy_cpu_s"`
	LoadCPUPercent float64     `json:"load_cpu_percent"`
	PeakRSSMiB     float64     `json:"peak_rss_mib"`
	RssAnonMiB     float64     `json:"rss_anon_mib"`
	Sinks          []burstSink `json:"sinks"`
	Verdict        string      `json:"verdict"`
	Passed         bool        `json:"passed"`
}

func (br *burst) run(ctx context.Context) (*burstReport, error) {
	started := time.Now()
	b, n := br.b, br.opts.users
	if err := b.setup(br.opts.pin); err != nil {
		return nil, err
	}
	upstream := &countingHandler{h: &createUpstream{}, method: http.MethodPost}
	up, err := startBenchServer(upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	b.closers = append(b.closers, up.close)
	cluster, kafkaAddr, err := startKafka()
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, cluster.Close)
	if b.otlp, err = startOTLPReceiver(burstEmailAttr); err != nil {
		return nil, fmt.Errorf("otlp receiver: %w", err)
	}
	b.closers = append(b.closers, b.otlp.close)
	argv, dir, err := b.scimtrailCommand("scimtrail-burst", "http://"+up.addr)
	if err != nil {
		return nil, err
	}
	logFile := filepath.Join(dir, "records.jsonl")
	argv = append(argv, "--log-file", logFile, "--kafka-brokers", kafkaAddr,
		"--otlp-endpoint", "http://"+b.otlp.addr, "--otlp-protocol", "grpc")
	proxy, err := b.startScimtrail(ctx, "scimtrail", argv)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, proxy.stop)
	metrics := "http://" + proxy.admin + "/metrics"

	lt := loadgen.Target{Addr: proxy.listen, Requests: burstRequests(proxy.listen, n)}
	ticks0, err := procTicks(proxy.pid())
	if err != nil {
		return nil, err
	}
	self0, err := procTicks(os.Getpid())
	if err != nil {
		return nil, err
	}
	began := time.Now()
	res, err := loadgen.Each(ctx, lt, br.opts.conns)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.log, "scimtrail bench burst: %d POSTs answered in %.1f s (%.0f req/s, %d errors); waiting for the sinks\n",
		res.Answered(), res.Duration.Seconds(), res.Rate(), res.Errors())
	// The proxy answers once the record is in its spool, so with the last
	// answer every record is there: an empty spool is every sink done.
	_, drained, err := waitSpoolEmpty(ctx, b.metrics, metrics, br.opts.drainTimeout)
	if err != nil {
		return nil, err
	}
	delivered := time.Since(began)
	if err := proxy.exited(); err != nil {
		return nil, err
	}
	ticks1, err := procTicks(proxy.pid())
	if err != nil {
		return nil, err
	}
	self1, err := procTicks(os.Getpid())
	if err != nil {
		return nil, err
	}
	mem, err := procStatus(proxy.pid(), "VmHWM", "RssAnon")
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(b.log, "scimtrail bench burst: every sink had every record %.1f s after the first POST; reading them back\n", delivered.Seconds())
	sinks, err := br.verify(ctx, logFile, kafkaAddr)
	if err != nil {
		return nil, err
	}
	rep := &burstReport{
		Command: "scimtrail bench burst" + shellArgs(br.opts.args),
		Started: started.UTC().Truncate(time.Second),
		Machine: machine(),
		Layout:  b.layout.describe("upstream, Kafka broker and OTLP receiver"),
		Load: fmt.Sprintf("an initial sync: %d distinct Okta-shaped POST /scim/v2/Users of about %d bytes, each sent once over %d keep-alive connections, "+
			"each connection sending its next as soon as it has its answer; latency from each request's write to its answer", n, len(burstUser(0)), br.opts.conns),
		Upstream: "a handler in the bench process that answers 201 with the user as sent and an \"id\", without decoding it, and counts the POSTs",
		Proxy: "scimtrail with the file (in " + fsName(b.tmp) + "), Kafka (kfake in the bench process) and OTLP/gRPC (a receiver in the bench process " +
			"that decodes each request and keeps the e-mails) sinks at once",
		Notes:          b.notes,
		Users:          n,
		Conns:          br.opts.conns,
		Created:        upstream.n.Load(),
		AnsweredS:      res.Duration.Seconds(),
		ReqPerSec:      res.Rate(),
		P50Ms:          ms(res.Latency.Quantile(0.5)),
		P99Ms:          ms(res.Latency.Quantile(0.99)),
		Errors:         res.Errors(),
		Drained:        drained,
		DeliveredS:     delivered.Seconds(),
		ProxyCPUS:      ticksToDuration(ticks1 - ticks0).Seconds(),
		LoadCPUPercent: 100 * ticksToDuration(self1-self0).Seconds() / (delivered.Seconds() * float64(b.layout.benchCPUCount)),
		PeakRSSMiB:     mib(mem["VmHWM"]),
		RssAnonMiB:     mib(mem["RssAnon"]),
		Sinks:          sinks,
	}
	if res.Errors() > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d non-2xx, %d transport errors (%d timeouts), %d not sent",
			res.NotOK, res.TransportErrors, res.Timeouts, res.Unsent))
	}
	rep.judge(br.opts.drainTimeout)
	return rep, nil
}

// verify reads back what each sink delivered and counts, for each, the
// users sent that have a record there.
func (br *burst) verify(ctx context.Context, logFile, kafkaAddr string) ([]burstSink, error) {
	n := br.opts.users
	fromTally := func(name string, t *tally) burstSink {
		ids := int64(len(t.ids))
		s := burstSink{Sink: name, Records: t.records, DistinctIDs: &ids}
		for i := range n {
			if _, ok := t.emails[burstEmail(i)]; ok {
				s.Users++
			}
		}
		s.Missing = int64(n) - s.Users
		return s
	}
	file, err := readRecordFile(logFile)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	topic, err := readTopic(ctx, kafkaAddr, kafka.DefaultTopic, burstReadTimeout)
	if err != nil {
		return nil, err
	}
	otlp := burstSink{Sink: "otlp", Records: br.b.otlp.records()}
	for i := range n {
		if br.b.otlp.has(burstEmail(i)) {
			otlp.Users++
		}
	}
	otlp.Missing = int64(n) - otlp.Users
	return []burstSink{fromTally("file", file), fromTally("kafka", topic), otlp}, nil
}

// judge sets the verdict: every POST created a user and every sink has
// every user's record.
func (r *burstReport) judge(drainTimeout time.Duration) {
	var fails []string
	var missing []string
	for _, s := range r.Sinks {
		if s.Missing > 0 {
			missing = append(missing, fmt.Sprintf("%s %d", s.Sink, s.Missing))
		}
	}
	if len(missing) > 0 {
		fails = append(fails, "records missing: "+strings.Join(missing, ", ")+fmt.Sprintf(" of %d users", r.Users))
	}
	if r.Errors > 0 {
		fails = append(fails, fmt.Sprintf("%d POSTs not answered 2xx", r.Errors))
	}
	if r.Created != int64(r.Users) {
		fails = append(fails, fmt.Sprintf("the upstream received %d POSTs for %d users", r.Created, r.Users))
	}
	if !r.Drained {
		fails = append(fails, fmt.Sprintf("the sinks did not have every record within %s of the last answer", drainTimeout))
	}
	r.Passed = len(fails) == 0
	if !r.Passed {
		r.Verdict = strings.Join(fails, "; ")
		return
	}
	r.Verdict = fmt.Sprintf("every record delivered: %d users created, each in the file, in Kafka and in OTLP; "+
		"the last POST answered after %.1f s, every record delivered after %.1f s", r.Users, r.AnsweredS, r.DeliveredS)
}

// writeMarkdown prints the burst as Markdown, ready for the README.
func (r *burstReport) writeMarkdown(w io.Writer) {
	writeReportHead(w, r.Command, r.Started, r.Notes, [][2]string{
		{"Machine", r.Machine}, {"Layout", r.Layout}, {"Load", r.Load}, {"Upstream", r.Upstream}, {"Proxy", r.Proxy},
		{"Columns", "created = POSTs the upstream received; answered = from the first POST to the last answer; " +
			"delivered = from the first POST to the spool's emptying, every sink having every record; proxy CPU = its utime+stime " +
			"over both; peak RSS = VmHWM, file-backed pages included, RssAnon = its own memory at the end; load CPU = the bench process's " +
			"share of its CPUs. Sinks: records = what the sink got, duplicates included; users = users sent that have a record there " +
			"(by user_email), read back from the file, from Kafka with franz-go, and from what the OTLP receiver got"},
	})
	fmt.Fprint(w, "\n| users | conns | created | answered s | req/s | p50 ms | p99 ms | errors | delivered s | proxy CPU s | peak RSS MiB | RssAnon MiB | load CPU % |\n")
	fmt.Fprint(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	fmt.Fprintf(w, "| %d | %d | %d | %.2f | %.0f | %.3f | %.3f | %d | %.2f | %.2f | %.1f | %.1f | %.0f |\n",
		r.Users, r.Conns, r.Created, r.AnsweredS, r.ReqPerSec, r.P50Ms, r.P99Ms, r.Errors, r.DeliveredS,
		r.ProxyCPUS, r.PeakRSSMiB, r.RssAnonMiB, r.LoadCPUPercent)
	fmt.Fprint(w, "\n| sink | records | distinct ids | users | missing |\n|---|--:|--:|--:|--:|\n")
	for _, s := range r.Sinks {
		ids := "—"
		if s.DistinctIDs != nil {
			ids = strconv.FormatInt(*s.DistinctIDs, 10)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d | %d |\n", s.Sink, s.Records, ids, s.Users, s.Missing)
	}
	fmt.Fprintf(w, "\nVerdict: %s\n", r.Verdict)
}
