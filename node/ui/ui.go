// Package ui serves a node's own web pages on its loopback listener: the
// records overview, the sharing agreement in plain language, a Preview form
// that shows exactly what a query would send, and the transparency page —
// every entry of the audit log, what was shared, when, with whom and under
// which agreement version, the exact answer bytes decoded, and the hash
// chain's verification status.
//
// The pages are rendered on the server with html/template and need no
// script at all: forms and links work with a keyboard and a screen reader
// as plain HTML, and the Content-Security-Policy forbids every script.
// Everything the browser loads (one style sheet, one icon) is embedded in
// the binary, because states run nodes air-gapped: no CDN, no web font.
//
// The UI is unauthenticated and must only listen on loopback. It is
// read-only: the one form, Preview, has no side effect (a preview is not a
// disclosure and is not audited). Preview is still protected against
// cross-site requests (a per-process token in the form and a SameSite=Strict
// cookie, plus a same-origin check), and every request must name a loopback
// host, so a web page cannot reach the UI through DNS rebinding.
package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/webguard"

	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/engine"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Records is the node's record store (*store.Store).
type Records interface {
	// Count is the number of incidents stored.
	Count() int
}

// Counter computes exact counts over the records (*engine.Engine). The
// overview uses it for the node's own tables; nothing it returns leaves
// the node.
type Counter interface {
	Aggregate(q *queryv1.AggregateQuery, opts ...engine.Option) ([]engine.RawCell, error)
}

// Agreement holds the agreement in force (*agreement.Holder).
type Agreement interface {
	Current() *agreement.Agreement
}

// Previewer answers a query the way the node would, without disclosing or
// auditing anything (*answerer.Answerer).
type Previewer interface {
	Preview(ctx context.Context, req *nodev1.PreviewRequest) (*nodev1.PreviewResponse, error)
}

// Audit reads the node's audit log (*audit.Log).
type Audit interface {
	// List returns up to limit entries from sequence from on, in order.
	List(from uint64, limit int) ([]*nodev1.AuditEntry, error)
	// Get returns one entry; an error for a sequence that does not exist.
	Get(seq uint64) (*nodev1.AuditEntry, error)
	// Head returns the last sequence number and its hash.
	Head() (uint64, string)
	// Verify walks the whole hash chain.
	Verify() (*nodev1.VerifyResponse, error)
}

// Config holds the UI's dependencies.
type Config struct {
	// Country is the node's state, ISO 3166-1 alpha-3 (required).
	Country string
	// Records is the record store (required).
	Records Records
	// Counter computes the overview's tables; nil shows the total only.
	Counter Counter
	// Agreement is the agreement in force (required).
	Agreement Agreement
	// Preview is the answerer (required).
	Preview Previewer
	// Audit is the audit log (required).
	Audit Audit
	// Connected reports whether the link to the hub is up; nil means the
	// node runs without a hub.
	Connected func() bool
	// Log receives request errors; default discards.
	Log hclog.Logger
	// Clock is the current time; default time.Now.
	Clock func() time.Time
	// PageSize is how many audit entries a transparency page shows;
	// default 50.
	PageSize int
	// AllowedHosts are host names (without port) the UI answers to besides
	// IP literals and "localhost"; any other Host header is refused.
	AllowedHosts []string
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows no script at all and only this origin's style sheet and
// images; forms may only post back here.
const csp = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// csrfCookie carries the per-process token for the Preview form.
const csrfCookie = "vrs_node_ui_csrf"

type server struct {
	cfg   Config
	log   hclog.Logger
	pages map[string]*template.Template
	hosts map[string]bool
	token string
}

var pageNames = []string{"overview", "agreement", "preview", "transparency", "entry", "error"}

// New returns the UI's HTTP handler: "/" (overview), "/agreement",
// "/preview" (GET the form, POST a query), "/transparency" (the audit log,
// newest first, "?before=N" pages back), "/transparency/{seq}" (one entry
// with its answer decoded), "/transparency/{seq}/answer.bin" (the exact
// signed body bytes) and "/static/".
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Country == "":
		return nil, errors.New("ui: country required")
	case cfg.Records == nil:
		return nil, errors.New("ui: records required")
	case cfg.Agreement == nil:
		return nil, errors.New("ui: agreement required")
	case cfg.Preview == nil:
		return nil, errors.New("ui: previewer required")
	case cfg.Audit == nil:
		return nil, errors.New("ui: audit log required")
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 50
	}
	s := &server{cfg: cfg, log: cfg.Log.Named("ui"), pages: map[string]*template.Template{},
		hosts: webguard.Hosts(cfg.AllowedHosts)}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	// One token per process: restarting the node invalidates open forms,
	// which is harmless for a form without side effects.
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("csrf token: %w", err)
	}
	s.token = hex.EncodeToString(b[:])
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /agreement", s.agreement)
	mux.HandleFunc("GET /preview", s.previewForm)
	mux.HandleFunc("POST /preview", s.previewSubmit)
	mux.HandleFunc("GET /transparency", s.transparency)
	mux.HandleFunc("GET /transparency/{seq}", s.entry)
	mux.HandleFunc("GET /transparency/{seq}/answer.bin", s.answerBytes)
	mux.Handle("GET /static/", webguard.StaticFiles(static))
	return s.guard(mux), nil
}

// guard sets the security headers on every response and refuses foreign
// Host headers (DNS rebinding).
func (s *server) guard(next http.Handler) http.Handler {
	// same-origin, not the hub UI's no-referrer: with no-referrer the
	// browser sends "Origin: null" on the Preview form's POST, and the
	// same-origin check needs the real origin. Nothing leaves the origin.
	return webguard.Guard(next, webguard.Options{CSP: csp, ReferrerPolicy: "same-origin", Hosts: s.hosts})
}

// setTokenCookie gives the browser the token the form must echo.
func (s *server) setTokenCookie(w http.ResponseWriter) {
	// Not Secure: the UI is plain HTTP on loopback, where a Secure cookie
	// would not be sent back.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // loopback HTTP; HttpOnly and SameSite=Strict are set
		Name: csrfCookie, Value: s.token, Path: "/preview",
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// sameOrigin rejects cross-site form posts: the form's token must be this
// process's, the SameSite=Strict cookie (which a cross-site request does not
// carry) must hold it too, and the browser's Origin and Sec-Fetch-Site, when
// sent, must name this origin.
func (s *server) sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request (%s)", site)
	}
	switch o := r.Header.Get("Origin"); {
	case o == "null":
		// An opaque origin: a privacy setting or a sandboxed frame. Only
		// the browser's own word that the request is same-origin will do.
		if r.Header.Get("Sec-Fetch-Site") != "same-origin" {
			return errors.New("request from an opaque origin")
		}
	case o != "":
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("request from another origin")
		}
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return errors.New("missing form cookie")
	}
	form := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(form), []byte(s.token)) != 1 ||
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.token)) != 1 {
		return errors.New("stale or forged form")
	}
	return nil
}

func (s *server) now() time.Time { return s.cfg.Clock() }
