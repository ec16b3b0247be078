package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/internal/logtest"
	"github.com/scimtrail/scimtrail/registry"
	"github.com/scimtrail/scimtrail/schema"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "rewrite console/screenshots/*.png, shown in the README, from the browser test")

// readmeScreenshots are the steps' screenshots -update-screenshots writes
// to console/screenshots.
var readmeScreenshots = []string{"requests", "detail", "user", "summary"}

// Browser test settings. The window is the screenshots' size.
const (
	browserEnv        = "SCIMTRAIL_CHROMIUM"     // the browser to run
	browserRequired   = "SCIMTRAIL_BROWSER_TEST" // "required": no browser fails the test
	artifactsEnv      = "SCIMTRAIL_ARTIFACTS"    // where the screenshots go
	browserTestBudget = 60 * time.Second         // the whole test, browser start included
	browserStepBudget = 15 * time.Second         // one navigation, query or screenshot
	windowW, windowH  = 1400, 1000
	screenshotMaxSize = 300 << 10 // the committed ones are in the repository

	// errorRowBackground is console.css's --badbg on a failed request's row.
	errorRowBackground = "rgb(255, 235, 233)"
)

// findChromium returns the browser to drive: $SCIMTRAIL_CHROMIUM, else
// /usr/bin/chromium, else chromium on $PATH. Without one the test skips,
// unless SCIMTRAIL_BROWSER_TEST=required (CI), where it fails: a CI run
// that silently skipped its only browser test would prove nothing.
func findChromium(t *testing.T) string {
	t.Helper()
	var tried []string
	candidates := []string{"/usr/bin/chromium", "chromium"}
	if p := os.Getenv(browserEnv); p != "" {
		// An explicit choice is not second-guessed with another browser.
		candidates = []string{p}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
		tried = append(tried, c)
	}
	msg := fmt.Sprintf("no chromium (tried %s; set $%s)", strings.Join(tried, ", "), browserEnv)
	if os.Getenv(browserRequired) == "required" {
		t.Fatalf("%s, and %s=required", msg, browserRequired)
	}
	if *updateScreenshots {
		t.Fatalf("%s: cannot -update-screenshots", msg)
	}
	t.Skip(msg)
	return ""
}

// TestBrowser_ConsoleWalkthrough drives the admin console in headless
// Chromium the way an admin would, on the registry the demo's Okta and
// Entra ID cycles fill through the real proxy: the request list, the
// outcome filter, a request's detail, the user it changed, the summary.
// Each step asserts on what the page shows and leaves a screenshot.
func TestBrowser_ConsoleWalkthrough(t *testing.T) {
	exe := findChromium(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), browserTestBudget)
	defer cancel()

	// The data: both cycles through the proxy into a registry.
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.db")
	recs, err := demo(ctx, false, dir, regPath)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	reg, err := registry.Open(context.Background(), regPath, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })

	// The console, with a user whose password only this test knows.
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var consoleLog logtest.Buffer
	h, err := console.New(reg, console.Config{Users: []string{"admin:" + string(hash)}},
		console.Options{Logger: newLogger(&consoleLog, "debug", "")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // 127.0.0.1:0
	defer srv.Close()

	shots := artifactsDir(t)
	t.Logf("screenshots: %s", shots)

	// The browser. chromedp gives it a fresh temporary profile (user data
	// dir) and removes it, killing stray child processes first, when the
	// allocator ends; it talks to it over a pipe, not a debugging port.
	var browserOut logtest.Buffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-extensions", true),
		// No name resolves: whatever the browser might try on its own
		// goes nowhere; the console is reached by IP.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(windowW, windowH),
		chromedp.CombinedOutput(&browserOut),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			t.Logf("console log:\n%s", consoleLog.String())
			t.Logf("browser output (tail):\n%s", lastBytes(browserOut.String(), 4000))
		}
	}()

	b := &browserRun{t: t, ctx: bctx, base: srv.URL, shots: shots}
	if err := chromedp.Do(bctx); err != nil { // start the browser, open the tab
		t.Fatalf("start %s: %v", exe, err)
	}
	t.Logf("browser started in %v", time.Since(start).Round(time.Millisecond))
	b.watch()
	b.call("set up the tab", func(ctx context.Context) error {
		// Headless Chromium's viewport comes out shorter than its window
		// (857 of 1000 pixels): pin it, so every screenshot is 1400x1000.
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(windowW, windowH)); err != nil {
			return err
		}
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+password))
		// Every request of the tab carries them: pages, CSS, script.
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": auth},
		})
		if err != nil {
			return err
		}
		// The Copy button writes to the clipboard; a user's click grants
		// that, a headless one needs the permission up front.
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: srv.URL,
			})
			if err != nil {
				return fmt.Errorf("grant %s: %w", name, err)
			}
		}
		return nil
	})

	newestFirst := slices.SortedFunc(slices.Values(recs), func(a, b schema.Record) int {
		return cmp.Or(b.Timestamp.Compare(a.Timestamp), strings.Compare(b.ID, a.ID))
	})
	var errs []schema.Record
	for _, r := range recs {
		if r.Outcome == schema.OutcomeError {
			errs = append(errs, r)
		}
	}
	if len(errs) == 0 {
		t.Fatal("the demo has no ERROR record to filter on")
	}

	// The Entra ID PATCH that changed dana's e-mail and name.
	update := demoRecord(t, recs, func(r schema.Record) bool {
		return r.IdPName == "entra" && r.Action == "PATCH" && r.ResourceType == schema.ResourceUser && slices.Contains(r.Events, "user.updated")
	})

	// Each step starts on the page the previous one left, as a user goes.
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1 requests list, newest first", func(t *testing.T) {
			b := b.with(t)
			b.open("/ui/")
			b.wantText("nav a.on", "Requests")
			rows := b.rows("table.list tbody tr")
			want := newestFirst[:min(len(newestFirst), registry.DefaultLimit)]
			if len(rows) != len(want) {
				t.Fatalf("the list shows %d rows, want %d (the demo's records)", len(rows), len(want))
			}
			links := b.nodes("table.list tbody td.time a")
			var prev time.Time
			for i, r := range want {
				row := rows[i]
				if got := links[i].AttributeValue("href"); got != "/ui/requests/"+r.ID {
					t.Errorf("row %d links %s, want the record %s (%s %s %s)", i, got, r.ID, r.IdPName, r.Action, r.Timestamp)
				}
				ts, err := time.Parse(time.RFC3339Nano, links[i].AttributeValue("title"))
				if err != nil {
					t.Errorf("row %d: time title: %v", i, err)
				} else if i > 0 && ts.After(prev) {
					t.Errorf("row %d (%s) is newer than row %d (%s): not newest first", i, ts, i-1, prev)
				}
				prev = ts
				if row.cell(1) != r.IdPName || row.cell(2) != r.Action || !strings.HasPrefix(row.cell(6), string(r.Outcome)) {
					t.Errorf("row %d shows %s, want %s %s %s", i, row, r.IdPName, r.Action, r.Outcome)
				}
			}
			last := newestFirst[0]
			if got := rows[0].cell(4); got != listedWho(last) {
				t.Errorf("newest row is about %q, want %q", got, listedWho(last))
			}
			b.screenshot("requests")
		}},

		{"2 filter by outcome ERROR", func(t *testing.T) {
			b := b.with(t)
			b.do("pick ERROR", chromedp.SetValue(chromedp.CSS(`form.filters select[name="outcome"]`), "ERROR"))
			b.follow("submit the filter", chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
			if q := b.query(); q.Get("outcome") != "ERROR" {
				t.Errorf("the form sent %v, want outcome=ERROR", q)
			}
			if got := b.value(`form.filters select[name="outcome"]`); got != "ERROR" {
				t.Errorf("the outcome select shows %q after the filter, want ERROR", got)
			}
			rows := b.rows("table.list tbody tr")
			if len(rows) != len(errs) {
				t.Fatalf("ERROR filter shows %d rows, want %d", len(rows), len(errs))
			}
			for i, row := range rows {
				if !slices.Contains(strings.Fields(row.class), "error") {
					t.Errorf("row %d has class %q, want the error styling", i, row.class)
				}
				if !strings.HasPrefix(row.cell(6), "ERROR") {
					t.Errorf("row %d outcome %q, want ERROR", i, row.cell(6))
				}
			}
			// The styling is the stylesheet's, so it loaded with the credentials.
			if bg := b.style(`table.list tbody tr.error td`, "background-color"); bg != errorRowBackground {
				t.Errorf("an error row's background is %q, want the stylesheet's %s", bg, errorRowBackground)
			}
			conflict := demoRecord(t, errs, func(r schema.Record) bool { return r.StatusCode == http.StatusConflict })
			var shown bool
			for _, row := range rows {
				shown = shown || row.cell(6) == "ERROR 409" && row.cell(7) == conflict.ErrorDetail
			}
			if !shown || conflict.ErrorDetail == "" {
				t.Errorf("no row shows the 409 %q: %q", conflict.ErrorDetail, rows)
			}
			if got := b.text(`table.list tbody tr.error .detail`); got != conflict.ErrorDetail {
				t.Errorf("error detail shows %q, want %q", got, conflict.ErrorDetail)
			}
			b.screenshot("errors")
		}},

		{"3 request detail", func(t *testing.T) {
			b := b.with(t)
			b.do("filter entra USER PATCH",
				chromedp.SetValue(chromedp.CSS(`form.filters select[name="outcome"]`), ""),
				chromedp.SetValue(chromedp.CSS(`form.filters select[name="idp"]`), "entra"),
				chromedp.SetValue(chromedp.CSS(`form.filters select[name="action"]`), "PATCH"),
				chromedp.SetValue(chromedp.CSS(`form.filters select[name="resource_type"]`), "USER"),
			)
			b.follow("submit the filter", chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
			rows := b.rows("table.list tbody tr")
			var pick *tableRow
			for i, row := range rows {
				if row.cell(1) != "entra" || row.cell(2) != "PATCH" || row.cell(3) != "USER" {
					t.Errorf("row %d %q does not match the filter entra PATCH USER", i, row.cells)
				}
				if strings.Contains(row.cell(7), "user.updated") {
					pick = &rows[i]
				}
			}
			if pick == nil {
				t.Fatalf("no user.updated row among %q", rows)
			}
			b.follow("click the PATCH", chromedp.Click(chromedp.CSS(`td:nth-child(3) a`), chromedp.FromNode(pick.node)))
			if got, want := b.path(), "/ui/requests/"+update.ID; got != want {
				t.Fatalf("the row led to %s, want %s", got, want)
			}
			b.wantText("h1", "PATCH USER "+update.UserEmail+" SUCCESS 200")

			var body bytes.Buffer
			if err := json.Indent(&body, []byte(update.RequestBody), "", "  "); err != nil {
				t.Fatal(err)
			}
			gotBody := b.text("pre#request-body")
			if gotBody != body.String() {
				t.Errorf("request body shows\n%s\nwant it pretty-printed\n%s", gotBody, body.String())
			}
			if !strings.Contains(gotBody, "\n  \"Operations\": [\n") {
				t.Errorf("request body is not indented:\n%s", gotBody)
			}

			changes := b.rows("table.changes tbody tr")
			if len(changes) != len(update.Changes) {
				t.Errorf("changes table has %d rows, the record %d", len(changes), len(update.Changes))
			}
			wantEmail := []string{"emails", "replace", `"dana@contoso.com"`, "→", `"dana.scully@contoso.com"`}
			if !slices.ContainsFunc(changes, func(r tableRow) bool { return slices.Equal(r.cells, wantEmail) }) {
				t.Errorf("changes table lacks %q: %q", wantEmail, changes)
			}

			copyButton := `button.copy[data-copy="request-body"]`
			b.wantText(copyButton, "Copy")
			b.screenshot("detail") // before the click: the button says Copy

			// The console's one script: Copy puts the body on the clipboard
			// and says so for 1.5 s; the poll catches what it says.
			b.do("click Copy", chromedp.Click(chromedp.CSS(copyButton)))
			said := result(b, "wait for Copy's answer", chromedp.Poll[string](
				`(s => s !== "Copy" && s)(document.querySelector('`+copyButton+`').textContent)`,
				chromedp.WithPollingTimeout(browserStepBudget)))
			if said != "Copied" {
				t.Errorf("after a click the Copy button says %q, want Copied", said)
			} else if clip := result(b, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); clip != gotBody {
				t.Errorf("the clipboard holds %q, want the request body", clip)
			}
		}},

		{"4 user page", func(t *testing.T) {
			b := b.with(t)
			b.follow("open the user", chromedp.Click(chromedp.CSS(`p.tools a[href^="/ui/users/"]`)))
			if got, want := b.path(), "/ui/users/"+update.ResourceID; got != want {
				t.Fatalf("the user link led to %s, want %s", got, want)
			}
			b.wantText("h1", "dana.scully@contoso.com deleted")
			dts, dds := b.texts("dl.fields dt"), b.texts("dl.fields dd")
			if len(dts) != len(dds) {
				t.Fatalf("identity has %d labels and %d values", len(dts), len(dds))
			}
			identity := make(map[string]string, len(dts))
			for i := range dts {
				identity[dts[i]] = dds[i]
			}
			for label, want := range map[string]string{
				"Email": "dana.scully@contoso.com", "User name": "dana@contoso.com", "Resource ID": update.ResourceID,
				"IdP resource ID": "dana", "Active": "no", "Deleted": "yes", "IdP": "entra",
			} {
				if identity[label] != want {
					t.Errorf("last seen identity: %s = %q, want %q (all: %q)", label, identity[label], want, identity)
				}
			}

			rows := b.rows("table.timeline tbody tr")
			if len(rows) == 0 || rows[0].cell(2) != "DELETE" {
				t.Errorf("timeline does not start with the newest entry, the DELETE: %q", rows)
			}
			has := func(what string, match func(tableRow) bool) {
				t.Helper()
				if !slices.ContainsFunc(rows, match) {
					t.Errorf("timeline lacks %s:\n%s", what, dumpRows(rows))
				}
			}
			change := func(line string) func(tableRow) bool {
				return func(r tableRow) bool { return slices.Contains(strings.Split(r.cell(4), "\n"), line) }
			}
			has("the e-mail change", change(`emails "dana@contoso.com" → "dana.scully@contoso.com"`))
			has("the deactivation", change(`active true → false`))
			has("added to Sales", func(r tableRow) bool { return r.cell(3) == "added to Sales" })
			has("removed from Sales", func(r tableRow) bool { return r.cell(3) == "removed from Sales" })
			b.screenshot("user")
		}},

		{"5 summary", func(t *testing.T) {
			b := b.with(t)
			b.follow("open the summary tab", chromedp.Click(chromedp.CSS(`nav a[href="/ui/summary"]`)))
			b.wantText("nav a.on", "Summary")
			var ok, failed int
			perIdP := map[string][2]int{}
			for _, r := range recs {
				n := perIdP[r.IdPName]
				if r.Outcome == schema.OutcomeError {
					failed++
					n[1]++
				} else {
					ok++
					n[0]++
				}
				perIdP[r.IdPName] = n
			}
			if got, want := b.texts(".totals .n"), []string{strconv.Itoa(len(recs)), strconv.Itoa(ok), strconv.Itoa(failed)}; !slices.Equal(got, want) {
				t.Errorf("totals show %q, want %q (requests, succeeded, failed)", got, want)
			}

			bars := b.nodes("figure.chart svg g.bars rect")
			for i, bar := range bars {
				if h, err := strconv.ParseFloat(bar.AttributeValue("height"), 64); err != nil || h <= 0 {
					t.Errorf("bar %d has height %q", i, bar.AttributeValue("height"))
				}
			}
			// Each bar's title counts its requests: together, the totals.
			var barOK, barFailed int
			count := regexp.MustCompile(`(\d+) (succeeded|failed)$`)
			for _, title := range b.texts("figure.chart svg g.bars rect title") {
				m := count.FindStringSubmatch(title)
				if m == nil {
					t.Errorf("bar title %q has no count", title)
					continue
				}
				n, _ := strconv.Atoi(m[1])
				if m[2] == "failed" {
					barFailed += n
				} else {
					barOK += n
				}
			}
			if barOK != ok || barFailed != failed {
				t.Errorf("the chart's %d bars count %d succeeded and %d failed, want %d and %d", len(bars), barOK, barFailed, ok, failed)
			}

			for idp, n := range perIdP {
				row := b.rowWith(".cols > section:first-child table.list tbody tr", 0, idp)
				if row == nil || row.cell(1) != strconv.Itoa(n[0]) || row.cell(2) != strconv.Itoa(n[1]) {
					t.Errorf("per IdP %s shows %q, want %d succeeded, %d failed", idp, row, n[0], n[1])
				}
			}
			top := b.rows(".cols > section:last-child table.list tbody tr")
			conflict := demoRecord(t, recs, func(r schema.Record) bool { return r.StatusCode == http.StatusConflict })
			if len(top) == 0 || top[0].class != "error" || top[0].cell(0) != conflict.ErrorDetail || top[0].cell(1) != conflict.IdPName || top[0].cell(2) != "1" {
				t.Errorf("top errors show %q, want %q from %s once", top, conflict.ErrorDetail, conflict.IdPName)
			}
			b.screenshot("summary")
		}},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Logf("the walkthrough stops after %q: the next steps start on its page", step.name)
			break
		}
	}

	// What the browser did besides: asked nothing of anyone but the
	// console, and met no error (a 401 on the stylesheet, a script the CSP
	// blocked, an exception).
	b.seen.mu.Lock()
	defer b.seen.mu.Unlock()
	if len(b.seen.requests) == 0 {
		t.Error("saw no request at all: the network watch is broken")
	}
	for _, u := range b.seen.requests {
		if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the browser requested %s, outside the console %s", u, srv.URL)
		}
	}
	for _, m := range b.seen.problems {
		t.Errorf("browser console: %s", m)
	}
	t.Logf("browser test took %v, %d requests", time.Since(start).Round(time.Millisecond), len(b.seen.requests))
}

// browserRun drives one tab. Each step is bounded by browserStepBudget, so
// a selector that never matches fails the test with its name instead of
// hanging until the test's deadline.
type browserRun struct {
	t     *testing.T
	ctx   context.Context // the tab's
	base  string          // the console's URL
	shots string          // where screenshots go

	seen *tabLog // shared by the subtests' copies
}

// tabLog is what the tab did besides the steps. The browser's event loop
// writes it while the test reads it.
type tabLog struct {
	mu       sync.Mutex
	requests []string // every URL the tab requested
	problems []string // console errors and exceptions
	shots    int      // screenshots taken, to number their files
}

// with returns b reporting to the subtest t.
func (b *browserRun) with(t *testing.T) *browserRun {
	c := *b
	c.t = t
	return &c
}

// watch records the tab's requests and console errors until it closes.
func (b *browserRun) watch() {
	b.t.Helper()
	b.seen = new(tabLog)
	seen := b.seen
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
			seen.mu.Lock()
			seen.requests = append(seen.requests, ev.Request.URL)
			seen.mu.Unlock()
		}
	}); err != nil {
		b.t.Fatal(err)
	}
	msgs := chromedp.Console(b.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return // the tab closed
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				seen.mu.Lock()
				seen.problems = append(seen.problems, m.String())
				seen.mu.Unlock()
			}
		}
	}()
}

// call runs f within one step's budget.
func (b *browserRun) call(what string, f func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepBudget)
	defer cancel()
	if err := f(ctx); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browserRun) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.call(what, func(ctx context.Context) error { return chromedp.Do(ctx, steps...) })
}

// result runs one action within a step's budget and returns its value.
func result[T any](b *browserRun, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	var v T
	b.call(what, func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, a)
		return err
	})
	return v
}

// open loads path as if typed in the address bar; the page must answer 200.
func (b *browserRun) open(path string) {
	b.t.Helper()
	resp := result(b, "open "+path, chromedp.NavigateResponse(b.base+path))
	if resp.Status != http.StatusOK {
		b.t.Fatalf("open %s: status %d", path, resp.Status)
	}
}

// follow runs steps that load another page (a click on a link or a
// button), waits for it and requires a 200.
func (b *browserRun) follow(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	var resp *network.Response
	b.call(what, func(ctx context.Context) (err error) {
		resp, err = chromedp.RunResponse(ctx, steps...)
		return err
	})
	if resp == nil || resp.Status != http.StatusOK {
		b.t.Fatalf("%s: got %+v, want a page with status 200", what, resp)
	}
}

func (b *browserRun) location() *url.URL {
	b.t.Helper()
	u, err := url.Parse(result(b, "location", chromedp.Location()))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

func (b *browserRun) path() string      { return b.location().Path }
func (b *browserRun) query() url.Values { return b.location().Query() }

// text is the visible text (innerText) of the first element sel matches.
func (b *browserRun) text(sel string) string {
	b.t.Helper()
	return result(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browserRun) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); got != want {
		b.t.Errorf("%s shows %q, want %q", sel, got, want)
	}
}

func (b *browserRun) value(sel string) string {
	b.t.Helper()
	return result(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

func (b *browserRun) style(sel, property string) string {
	b.t.Helper()
	for _, p := range result(b, "style of "+sel, chromedp.ComputedStyle(chromedp.CSS(sel))) {
		if p.Name == property {
			return p.Value
		}
	}
	return ""
}

// nodes are every element sel matches; at least one must.
func (b *browserRun) nodes(sel string) []*chromedp.Node {
	b.t.Helper()
	return result(b, "find "+sel, chromedp.Nodes(chromedp.CSSAll(sel)))
}

// texts are the text contents of every element sel matches, in order.
// textContent rather than innerText: it also reads SVG titles, which are
// never rendered.
func (b *browserRun) texts(sel string) []string {
	b.t.Helper()
	var out []string
	for _, n := range b.nodes(sel) {
		s := result(b, "text of "+sel, chromedp.TextContent(chromedp.NodeIDs{n.NodeID}))
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// tableRow is a table row as the page shows it: its cells' text.
type tableRow struct {
	node  *chromedp.Node
	class string
	cells []string
}

func (r tableRow) String() string { return fmt.Sprintf("%q", r.cells) }

// cell is the text of cell i, "" when the row has fewer cells (the
// "nothing matches" row spans them all).
func (r tableRow) cell(i int) string {
	if i < len(r.cells) {
		return r.cells[i]
	}
	return ""
}

// rows reads every row sel matches. A row's innerText separates its cells
// with tabs, so one round trip reads a row.
func (b *browserRun) rows(sel string) []tableRow {
	b.t.Helper()
	var out []tableRow
	for _, n := range b.nodes(sel) {
		s := result(b, "text of "+sel, chromedp.Text(chromedp.NodeIDs{n.NodeID}))
		cells := strings.Split(s, "\t")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		out = append(out, tableRow{node: n, class: n.AttributeValue("class"), cells: cells})
	}
	return out
}

// rowWith is the first row sel matches whose cell col is text, nil if none.
func (b *browserRun) rowWith(sel string, col int, text string) *tableRow {
	b.t.Helper()
	for _, r := range b.rows(sel) {
		if len(r.cells) > col && r.cells[col] == text {
			return &r
		}
	}
	return nil
}

// screenshot saves the viewport as NAME.png among the artifacts and, with
// -update-screenshots, as console/screenshots/NAME.png for the README.
func (b *browserRun) screenshot(name string) {
	b.t.Helper()
	shot := result(b, "screenshot "+name, chromedp.CaptureScreenshot())
	img, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil {
		b.t.Fatalf("screenshot %s is no PNG: %v", name, err)
	}
	if img.Width != windowW || img.Height != windowH {
		b.t.Errorf("screenshot %s is %dx%d, want the window's %dx%d", name, img.Width, img.Height, windowW, windowH)
	}
	b.seen.mu.Lock()
	b.seen.shots++
	n := b.seen.shots
	b.seen.mu.Unlock()
	path := filepath.Join(b.shots, fmt.Sprintf("%d-%s.png", n, name))
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d KiB)", path, len(shot)>>10)
	if !*updateScreenshots || !slices.Contains(readmeScreenshots, name) {
		return
	}
	if len(shot) > screenshotMaxSize {
		b.t.Errorf("screenshot %s is %d KiB, more than the %d KiB a committed one may take", name, len(shot)>>10, screenshotMaxSize>>10)
		return
	}
	committed := filepath.Join("..", "..", "console", "screenshots")
	if err := os.MkdirAll(committed, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(committed, name+".png"), shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// artifactsDir is $SCIMTRAIL_ARTIFACTS, else a new directory that outlives
// the test, so a failed run's screenshots can be looked at.
func artifactsDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv(artifactsEnv); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "scimtrail-browser-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func demoRecord(t *testing.T, recs []schema.Record, match func(schema.Record) bool) schema.Record {
	t.Helper()
	i := slices.IndexFunc(recs, match)
	if i < 0 {
		t.Fatal("the demo lacks a record the browser test needs")
	}
	return recs[i]
}

// listedWho is what the request list shows in its "User email / group name"
// column.
func listedWho(r schema.Record) string {
	if r.ResourceType == schema.ResourceGroup {
		return r.GroupName
	}
	return cmp.Or(r.UserEmail, r.UserName, "—")
}

func dumpRows(rows []tableRow) string {
	var s strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&s, "  %q\n", r.cells)
	}
	return s.String()
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
