package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/scimtrail/scimtrail/registry"
)

//go:embed ui/templates/*.html ui/static/*
var uiFS embed.FS

// Options are the console's collaborators. Zero values work.
type Options struct {
	// Logger receives failed logins and internal errors (which the answer
	// never echoes). Default: discard.
	Logger *slog.Logger
	// Now is the clock that ends the summary's range. Default time.Now.
	Now func() time.Time
}

// securityHeaders go on every answer, 401 and 404 included. The CSP allows
// the embedded stylesheet and script only: no inline script or style, so a
// record value that slipped past escaping still could not run.
var securityHeaders = map[string]string{
	"Content-Security-Policy":    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Frame-Options":            "DENY",
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "no-referrer",
	"Cache-Control":              "no-store",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// authChallenge makes browsers prompt for a user name and password.
const authChallenge = `Basic realm="scimtrail", charset="UTF-8"`

// console serves the pages and the API. Safe for concurrent use.
type console struct {
	reg    *registry.Registry
	auth   *authenticator
	log    *slog.Logger
	now    func() time.Time
	pages  map[string]*template.Template
	static http.Handler
	assets map[string]struct{}
	mux    *http.ServeMux
}

// New returns the console's handler for everything under /ui/ and
// /api/v1/. It refuses a cfg that is invalid or has no credential: the
// console shows identity data and is never served open. The handler reads
// reg only; it is safe for concurrent use.
func New(reg *registry.Registry, cfg Config, opts Options) (http.Handler, error) {
	if reg == nil {
		return nil, errors.New("console: nil registry")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("console: invalid config: %w", err)
	}
	if !cfg.Enabled() {
		return nil, fmt.Errorf("console: no credential configured: set %q or %q", keyUser, keyToken)
	}
	auth, err := newAuthenticator(cfg)
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(uiFS, "ui/static")
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	files, err := fs.ReadDir(static, ".")
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	assets := make(map[string]struct{}, len(files))
	for _, f := range files {
		assets[f.Name()] = struct{}{}
	}
	c := &console{
		reg:    reg,
		auth:   auth,
		log:    opts.Logger,
		now:    opts.Now,
		pages:  pages,
		static: http.StripPrefix("/ui/static/", http.FileServerFS(static)),
		assets: assets,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.mux = c.routes()
	return c, nil
}

func (c *console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ui/{$}", c.requestsPage)
	mux.HandleFunc("/ui/requests", c.requestsPage)
	mux.HandleFunc("/ui/requests/{id}", c.requestPage)
	mux.HandleFunc("/ui/users", c.usersPage)
	mux.HandleFunc("/ui/users/{id}", c.userPage)
	mux.HandleFunc("/ui/groups", c.groupsPage)
	mux.HandleFunc("/ui/groups/{id}", c.groupPage)
	mux.HandleFunc("/ui/summary", c.summaryPage)
	mux.HandleFunc("/ui/static/{file}", c.staticFile)

	mux.HandleFunc("/api/v1/requests", c.apiRequests)
	mux.HandleFunc("/api/v1/requests/{id}", c.apiRequest)
	mux.HandleFunc("/api/v1/users", c.apiUsers)
	mux.HandleFunc("/api/v1/users/{id}", c.apiUser)
	mux.HandleFunc("/api/v1/groups", c.apiGroups)
	mux.HandleFunc("/api/v1/groups/{id}", c.apiGroup)
	mux.HandleFunc("/api/v1/idps", c.apiIdPs)
	mux.HandleFunc("/api/v1/summary", c.apiSummary)

	mux.HandleFunc("/", c.notFound)
	return mux
}

// ServeHTTP sets the security headers, then checks the credential before
// anything else — the method, the path — so an unauthenticated caller
// learns nothing about what exists.
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	if ok, scheme := c.auth.allow(r); !ok {
		if scheme != "" {
			c.log.Warn("console: credential refused", "scheme", scheme, "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		h.Set("WWW-Authenticate", authChallenge)
		c.writeError(w, r, http.StatusUnauthorized, "credentials required")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		c.writeError(w, r, http.StatusMethodNotAllowed, "the console is read-only: only GET and HEAD")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// staticFile serves the embedded stylesheet and script; anything else is
// the console's own 404, not the file server's listing or message.
func (c *console) staticFile(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.assets[r.PathValue("file")]; !ok {
		c.notFound(w, r)
		return
	}
	c.static.ServeHTTP(w, r)
}

func (c *console) notFound(w http.ResponseWriter, r *http.Request) {
	c.fail(w, r, errNotFound)
}

// statusError is an error the caller caused, with the message it may see.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

var errNotFound = &statusError{http.StatusNotFound, "not found"}

// badParam reports a malformed query parameter, naming it.
func badParam(name, format string, args ...any) error {
	return &statusError{http.StatusBadRequest, fmt.Sprintf("bad %q: ", name) + fmt.Sprintf(format, args...)}
}

// callerError returns err as the caller's mistake, nil when it is ours.
func callerError(err error) *statusError {
	if errors.Is(err, registry.ErrBadCursor) {
		return badParam("after", "not a cursor of this list; start again from its first page").(*statusError)
	}
	var se *statusError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// fail answers err: its own status and message for a statusError, 500
// otherwise, logged and never echoed (registry errors carry SQL and
// paths).
func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if se := callerError(err); se != nil {
		c.writeError(w, r, se.status, se.msg)
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		c.log.Debug("console: request abandoned", "path", r.URL.Path, "err", err)
		return
	}
	c.log.Error("console: request failed", "path", r.URL.Path, "err", err)
	c.writeError(w, r, http.StatusInternalServerError, "internal error; see the scimtrail log")
}

// writeError answers JSON under /api/, a page elsewhere, and plain text
// for 401 and 405: no page chrome before a login, so a browser just shows
// its prompt.
func (c *console) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/"):
		writeJSON(w, status, map[string]string{"error": msg})
	case status == http.StatusUnauthorized || status == http.StatusMethodNotAllowed:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintln(w, http.StatusText(status)+": "+msg)
	default:
		c.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
