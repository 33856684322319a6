// Package ui serves the hub's read-only web dashboard: the regional picture
// as charts, the node status table, runs with live progress and export
// links.
//
// Everything the browser loads comes from this package (go:embed): the CAU
// and the ministries run air-gapped, so there is no CDN, web font or
// third-party script. The charts are hand-written SVG in plain JavaScript
// (static/app.js, no build step and no charting library): a few hundred
// readable lines are easier to audit and keep working offline than a
// vendored library of tens of thousands.
//
// The first response is rendered on the server with html/template, so the
// page is meaningful before (and without) JavaScript and screen readers get
// real tables: nodes, runs and every figure's cells. The script then draws
// the charts and polls the JSON endpoints under /api/ for live progress.
// The UI never changes anything: it has no endpoint that submits a query.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/webguard"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// Nodes lists the states the hub knows, connected or not.
type Nodes interface {
	ListNodes(ctx context.Context) ([]*hubv1.Node, error)
}

// Picture returns the latest regional picture.
type Picture interface {
	RegionalPicture(ctx context.Context) (*hubv1.RegionalPicture, error)
}

// Runs lists and reads federated query runs.
type Runs interface {
	List(ctx context.Context, pageSize int, pageToken string) ([]*hubv1.Run, string, error)
	Get(ctx context.Context, id string) (*hubv1.Run, error)
}

// Exporter renders a run's merged table in one of the export formats.
type Exporter interface {
	Export(ctx context.Context, runID string, format hubv1.ExportFormat) (contentType, filename string, content []byte, err error)
}

// ErrNotFound may be wrapped by Runs and Exporter implementations to say a
// run does not exist; the UI answers 404 instead of 500.
var ErrNotFound = errors.New("not found")

// Config holds the UI's dependencies.
type Config struct {
	// Nodes is the node registry (required).
	Nodes Nodes
	// Picture is the regional picture (required).
	Picture Picture
	// Runs is the run manager (required).
	Runs Runs
	// Export renders exports (required).
	Export Exporter
	// Log receives request errors; default discards.
	Log hclog.Logger
	// Clock is the current time; default time.Now.
	Clock func() time.Time
	// CertWarning is how long before a node certificate expires the table
	// warns; default 30 days.
	CertWarning time.Duration
	// PollInterval is how often the page refreshes runs, nodes and the
	// picture; default 5 seconds.
	PollInterval time.Duration
	// NotFound reports whether an error from Runs.Get or Export means the
	// run does not exist, in addition to errors.Is(err, ErrNotFound) and a
	// connect NotFound code, which are always recognised. Pass e.g.
	// func(err error) bool { return errors.Is(err, runs.ErrNotFound) } to
	// recognise another package's sentinel.
	NotFound func(error) bool
	// AllowedHosts are host names (without port) the UI answers to besides
	// IP literals and "localhost". Requests naming any other Host are
	// refused, so a web page cannot reach the loopback-only UI through DNS
	// rebinding. Add the name operators type when the UI is served on one.
	AllowedHosts []string
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// csp allows only this origin's own files: no inline script or style (the
// script sets no style attributes either), no frames, no plug-ins.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type server struct {
	cfg   Config
	log   hclog.Logger
	page  *template.Template
	hosts map[string]bool
}

// New returns the UI's HTTP handler: "/" (the dashboard), "/static/" (the
// embedded script and style sheet) and the read-only JSON endpoints under
// "/api/".
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Nodes == nil:
		return nil, errors.New("ui: nodes required")
	case cfg.Picture == nil:
		return nil, errors.New("ui: picture required")
	case cfg.Runs == nil:
		return nil, errors.New("ui: runs required")
	case cfg.Export == nil:
		return nil, errors.New("ui: exporter required")
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.CertWarning <= 0 {
		cfg.CertWarning = 30 * 24 * time.Hour
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	page, err := template.New("index.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/index.html")
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	s := &server{cfg: cfg, log: cfg.Log.Named("ui"), page: page, hosts: webguard.Hosts(cfg.AllowedHosts)}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("GET /static/", webguard.StaticFiles(static))
	mux.HandleFunc("GET /api/labels", s.labels)
	mux.HandleFunc("GET /api/nodes", s.nodes)
	mux.HandleFunc("GET /api/picture", s.picture)
	mux.HandleFunc("GET /api/runs", s.listRuns)
	mux.HandleFunc("GET /api/runs/{id}", s.getRun)
	mux.HandleFunc("GET /api/runs/{id}/export", s.export)
	return s.guard(mux), nil
}

// guard sets the security headers on every response and refuses foreign
// Host headers (DNS rebinding).
func (s *server) guard(next http.Handler) http.Handler {
	return webguard.Guard(next, webguard.Options{CSP: csp, ReferrerPolicy: "no-referrer", Hosts: s.hosts})
}

func (s *server) now() time.Time { return s.cfg.Clock() }
