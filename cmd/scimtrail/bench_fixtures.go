//go:build linux

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the OTLP sink may compress

	"github.com/scimtrail/scimtrail/exporter/kafka"
	"github.com/scimtrail/scimtrail/internal/loadgen"
)

// The bench's traffic: an Okta-shaped PATCH of one of benchUsers users,
// with a bearer token scimtrail identifies as Okta's.
const (
	benchUsers     = 64
	benchToken     = "bench-okta-token-3c1f9a"
	benchUserAgent = "Okta SCIM Client 1.0.0"
	scimJSON       = "application/scim+json"
)

func benchIdP() string {
	sum := sha256.Sum256([]byte(benchToken))
	return "okta=token-sha256:" + hex.EncodeToString(sum[:])
}

func benchUserID(i int) string { return fmt.Sprintf("7f3c9a10-5b2e-4d61-9a8e-%012d", i+1) }

// benchPatch is a path-less replace of a user's profile, as Okta sends one
// when an admin edits a user: about 1 KB.
func benchPatch(i int) []byte {
	n := fmt.Sprintf("%03d", i+1)
	return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{` +
		`"userName":"ada.lovelace` + n + `@example.com","name":{"givenName":"Ada","familyName":"Lovelace` + n + `","formatted":"Ada Lovelace` + n + `"},` +
		`"displayName":"Ada Lovelace` + n + `","nickName":"ada","title":"Principal Engineer, Identity Platform","preferredLanguage":"en-US",` +
		`"locale":"en-US","timezone":"America/Los_Angeles","userType":"Employee",` +
		`"emails":[{"primary":true,"value":"ada.lovelace` + n + `@example.com","type":"work"}],` +
		`"phoneNumbers":[{"primary":true,"value":"+1 555 0100 ` + n + `","type":"work"}],` +
		`"addresses":[{"primary":true,"type":"work","streetAddress":"100 Analytical Engine Way","locality":"San Francisco","region":"CA","postalCode":"94105","country":"US"}],` +
		`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"100` + n + `","costCenter":"CC-7730",` +
		`"organization":"Example Corp","division":"Engineering","department":"Identity Platform","manager":{"value":"` + benchUserID(benchUsers) + `"}},` +
		`"active":true}}]}`)
}

// benchUser is the user as the service answers it after the PATCH: about
// 1.3 KB.
func benchUser(i int) []byte {
	n := fmt.Sprintf("%03d", i+1)
	id := benchUserID(i)
	return []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],` +
		`"id":"` + id + `","externalId":"00u8bench` + n + `x7d2","userName":"ada.lovelace` + n + `@example.com",` +
		`"name":{"givenName":"Ada","familyName":"Lovelace` + n + `","formatted":"Ada Lovelace` + n + `"},"displayName":"Ada Lovelace` + n + `",` +
		`"nickName":"ada","title":"Principal Engineer, Identity Platform","preferredLanguage":"en-US","locale":"en-US","timezone":"America/Los_Angeles",` +
		`"userType":"Employee","active":true,"emails":[{"primary":true,"value":"ada.lovelace` + n + `@example.com","type":"work"}],` +
		`"phoneNumbers":[{"primary":true,"value":"+1 555 0100 ` + n + `","type":"work"}],` +
		`"addresses":[{"primary":true,"type":"work","streetAddress":"100 Analytical Engine Way","locality":"San Francisco","region":"CA","postalCode":"94105","country":"US"}],` +
		`"groups":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"100` + n + `","costCenter":"CC-7730",` +
		`"organization":"Example Corp","division":"Engineering","department":"Identity Platform","manager":{"value":"` + benchUserID(benchUsers) + `"}},` +
		`"meta":{"resourceType":"User","created":"2026-01-05T09:30:00Z","lastModified":"2026-03-14T15:09:26Z","version":"W/\"7\"",` +
		`"location":"/scim/v2/Users/` + id + `"}}`)
}

// benchRequests are the PATCHes of every user, encoded for host.
func benchRequests(host string) [][]byte {
	out := make([][]byte, benchUsers)
	for i := range out {
		out[i] = loadgen.Encode(host, loadgen.Request{
			Method: http.MethodPatch,
			Target: "/scim/v2/Users/" + benchUserID(i),
			Header: http.Header{
				"Authorization": {"Bearer " + benchToken},
				"Content-Type":  {scimJSON},
				"Accept":        {scimJSON},
				"User-Agent":    {benchUserAgent},
			},
			Body: benchPatch(i),
		})
	}
	return out
}

// fixedUpstream answers GET, PUT and PATCH of the bench's users with the
// user, from bytes made once; anything else is a SCIM 404. It reads every
// request body. A few microseconds a request: the bench's CPU is shared
// with the load generator, so the upstream must not be what limits a run
// (internal/scimtest's backend decodes and re-encodes every resource under
// one lock, and keeps every request it gets).
type fixedUpstream struct {
	users map[string][]byte // path → body
}

func newFixedUpstream() *fixedUpstream {
	u := &fixedUpstream{users: make(map[string][]byte, benchUsers)}
	for i := range benchUsers {
		u.users["/scim/v2/Users/"+benchUserID(i)] = benchUser(i)
	}
	return u
}

const notFoundBody = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"Resource not found"}`

func (u *fixedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	body, ok := u.users[r.URL.Path]
	status := http.StatusOK
	switch {
	case !ok, r.Method != http.MethodPatch && r.Method != http.MethodGet && r.Method != http.MethodPut:
		body, status = []byte(notFoundBody), http.StatusNotFound
	}
	h := w.Header()
	h["Content-Type"] = []string{scimJSON}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// benchServer serves h on 127.0.0.1 until closed.
type benchServer struct {
	srv  *http.Server
	addr string
}

func startBenchServer(h http.Handler) (*benchServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchServer{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String()}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *benchServer) close() { s.srv.Close() }

// countingHandler counts the requests of one method that reach h: the
// requests the upstream received, which the stress runs hold the records
// up against.
type countingHandler struct {
	h      http.Handler
	method string
	n      atomic.Int64
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == c.method {
		c.n.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

// startKafka is a kfake broker on 127.0.0.1 with scimtrail's topic. It
// keeps every record in memory, so the bench starts one per target.
func startKafka() (*kfake.Cluster, string, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, kafka.DefaultTopic))
	if err != nil {
		return nil, "", fmt.Errorf("kafka broker: %w", err)
	}
	return c, c.ListenAddrs()[0], nil
}

// otlpReceiver is an OTLP/gRPC logs receiver on 127.0.0.1 that decodes
// each request, as a Collector would, counts its log records and drops
// them.
type otlpReceiver struct {
	srv  *grpc.Server
	addr string
	logs *countLogs
}

// countLogs counts the log records it gets and, when attr is set, keeps
// the distinct values of that attribute. That set grows with the values, so
// only the burst, whose users are a bounded list, sets attr; the bench runs
// for as long as it is told.
type countLogs struct {
	plogotlp.UnimplementedGRPCServer
	records atomic.Int64
	attr    string
	mu      sync.Mutex
	values  map[string]struct{}
}

func (c *countLogs) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	logs := req.Logs()
	c.records.Add(int64(logs.LogRecordCount()))
	if c.attr == "" {
		return plogotlp.NewExportResponse(), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rl := range logs.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if v, ok := lr.Attributes().Get(c.attr); ok {
					c.values[v.Str()] = struct{}{}
				}
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

// startOTLPReceiver starts a receiver that keeps the distinct values of
// attribute attr, or none when attr is "".
func startOTLPReceiver(attr string) (*otlpReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	logs := &countLogs{attr: attr, values: map[string]struct{}{}}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	plogotlp.RegisterGRPCServer(srv, logs)
	go srv.Serve(ln)
	return &otlpReceiver{srv: srv, addr: ln.Addr().String(), logs: logs}, nil
}

func (o *otlpReceiver) close() { o.srv.Stop() }

// records is the number of log records received, duplicates included.
func (o *otlpReceiver) records() int64 { return o.logs.records.Load() }

// has says whether a log record with attribute value v was received.
func (o *otlpReceiver) has(v string) bool {
	o.logs.mu.Lock()
	defer o.logs.mu.Unlock()
	_, ok := o.logs.values[v]
	return ok
}
