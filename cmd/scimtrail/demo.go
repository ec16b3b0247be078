package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/scimtrail/scimtrail/console"

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/schema"
)

// Demo bearer tokens; the proxy identifies Okta by the token's SHA-256 and
// Entra ID by its base path, the two ways deployments usually do.
const (
	demoOktaToken  = "demo-okta-token"
	demoEntraToken = "demo-entra-token"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scimtrail demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noContent := fs.Bool("patch-no-content", false, "the SCIM service answers PATCH with 204 and no body, so records lean on the identity cache and look-ups")
	jsonOnly := fs.Bool("json", false, "print only the records as JSON lines")
	serveUI := fs.Bool("serve", false, "then keep serving the console on --admin-listen with a generated password, until interrupted")
	adminAddr := fs.String("admin-listen", defaultAdminListen, "console `address` with --serve")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: scimtrail demo [flags]\n\n"+
			"Start an in-memory SCIM service and scimtrail in front of it on 127.0.0.1, send it an\n"+
			"Okta-shaped and an Entra ID-shaped provisioning cycle, then print the records.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	state, err := os.MkdirTemp("", "scimtrail-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail demo: state dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(state)
	regPath := filepath.Join(state, "registry.db")
	recs, err := demo(ctx, *noContent, state, regPath)
	if err != nil {
		fmt.Fprintf(stderr, "scimtrail demo: %v\n", err)
		return 1
	}
	if !*jsonOnly {
		printTable(stdout, recs)
		fmt.Fprintln(stdout, "\nJSON log:")
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "scimtrail demo: %v\n", err)
			return 1
		}
	}
	if *serveUI {
		if err := serveDemoConsole(ctx, regPath, *adminAddr, stdout); err != nil {
			fmt.Fprintf(stderr, "scimtrail demo: %v\n", err)
			return 1
		}
	}
	return 0
}

// serveDemoConsole serves the console on the demo's registry with a
// password made up for this run, until ctx ends.
func serveDemoConsole(ctx context.Context, regPath, addr string, stdout io.Writer) error {
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("console password: %w", err)
	}
	c := registryConfig{Path: regPath, AdminListen: addr, Console: console.Config{Users: []string{"demo:" + string(hash)}}}
	if err := c.validate(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nConsole: http://%s/ui/  user: demo  password: %s  (Ctrl-C to stop)\n", addr, password)
	return serveRegistry(ctx, c, io.Discard, newLogger(io.Discard, "", ""))
}

// demo runs the scripted cycles through a real proxy and returns the
// records in the order they were taken. The proxy keeps its state in
// state and, when registryPath is set, stores the records in that
// registry too.
func demo(ctx context.Context, patchNoContent bool, state, registryPath string) ([]schema.Record, error) {
	backend := scimtest.NewBackend(scimtest.Options{PatchNoContent: patchNoContent})
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("backend listen: %w", err)
	}
	bsrv := &http.Server{Handler: backend, ReadHeaderTimeout: 10 * time.Second}
	go bsrv.Serve(bln)
	defer bsrv.Close()

	var c config
	c.Registry = registryPath
	c.Proxy.Upstream = "http://" + bln.Addr().String()
	sum := sha256.Sum256([]byte(demoOktaToken))
	c.Proxy.IdPs = []string{"okta=token-sha256:" + hex.EncodeToString(sum[:]), "entra=path-prefix:/scim/entra"}
	c.Listen, c.AdminListen, c.StateDir = "127.0.0.1:0", adminOff, state
	if err := c.validate(); err != nil {
		return nil, err
	}
	sink := &collector{}
	logger := newLogger(io.Discard, "", "")
	st, err := start(ctx, c, io.Discard, prometheus.NewRegistry(), logger, sink)
	if err != nil {
		return nil, err
	}
	base := "http://" + st.proxyAddr
	steps := slices.Concat(scimtest.OktaCycle(), scimtest.EntraCycle())
	if patchNoContent {
		steps = scimtest.ExpectPatchNoContent(steps)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 30 * time.Second}
	_, runErr := scimtest.Run(ctx, client,
		map[string]string{"okta": base + "/scim/v2", "entra": base + "/scim/entra"},
		map[string]string{"okta": demoOktaToken, "entra": demoEntraToken}, steps)
	client.CloseIdleConnections()
	if err := errors.Join(runErr, st.shutdown(10*time.Second)); err != nil {
		return nil, err
	}
	return sink.records(), nil
}

// collector is the demo's sink: it keeps the records in memory.
type collector struct {
	mu   sync.Mutex
	recs []schema.Record
}

func (c *collector) Export(_ context.Context, recs []schema.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, recs...)
	return nil
}

func (c *collector) records() []schema.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// printTable shows records the way provisioning-log consoles do.
func printTable(w io.Writer, recs []schema.Record) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIMESTAMP\tIDP\tACTION\tTYPE\tUSER EMAIL / GROUP\tRESOURCE ID\tIDP RESOURCE ID\tOUTCOME\tWHAT")
	for _, r := range recs {
		who := r.UserEmail
		if r.ResourceType == schema.ResourceGroup {
			who = r.GroupName
		}
		what := strings.Join(r.Events, ",")
		if r.Outcome == schema.OutcomeError {
			what = fmt.Sprintf("%d %s", r.StatusCode, r.ErrorDetail)
		}
		if n := len(r.MembersAdded); n > 0 {
			what += fmt.Sprintf(" +%d %s", n, plural(n, "member"))
		}
		if n := len(r.MembersRemoved); n > 0 {
			what += fmt.Sprintf(" -%d %s", n, plural(n, "member"))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Timestamp.Format("15:04:05.000"), r.IdPName, r.Action, dash(r.ResourceType), dash(who),
			dash(r.ResourceID), dash(r.IdPResourceID), r.Outcome, dash(strings.TrimSpace(what)))
	}
	tw.Flush()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
