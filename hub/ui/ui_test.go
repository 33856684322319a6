package ui

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

var testNow = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

type fixture struct {
	nodes   fakeNodes
	picture fakePicture
	runs    *fakeRuns
	export  fakeExporter
}

func newFixture(now time.Time) *fixture {
	return &fixture{
		nodes:   fakeNodes{now: now},
		picture: fakePicture{now: now},
		runs:    &fakeRuns{now: now},
	}
}

func (f *fixture) config(now time.Time) Config {
	return Config{
		Nodes: f.nodes, Picture: f.picture, Runs: f.runs, Export: f.export,
		Clock:    func() time.Time { return now },
		NotFound: func(err error) bool { return errors.Is(err, errNoRun) },
	}
}

func newHandler(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// get serves one GET request on a loopback Host.
func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, target, nil)
	req.Host = "127.0.0.1:8080"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestNewRequiresDependencies(t *testing.T) {
	t.Parallel()
	full := newFixture(testNow).config(testNow)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"nodes", func(c *Config) { c.Nodes = nil }},
		{"picture", func(c *Config) { c.Picture = nil }},
		{"runs", func(c *Config) { c.Runs = nil }},
		{"exporter", func(c *Config) { c.Export = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := full
			tt.edit(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("New without %s: err = %v", tt.name, err)
			}
		})
	}
	if _, err := New(full); err != nil {
		t.Fatalf("New with everything: %v", err)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHandler(t, newFixture(testNow).config(testNow))
	for _, path := range []string{"/", "/static/app.js", "/static/app.css", "/api/nodes", "/api/runs/none", "/nowhere"} {
		t.Run(path, func(t *testing.T) {
			rec := get(t, h, path)
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP allows unsafe sources: %q", csp)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"X-Frame-Options":        "DENY",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestIndexRendersEverythingOnServer(t *testing.T) {
	t.Parallel()
	h := newHandler(t, newFixture(testNow).config(testNow))
	rec := get(t, h, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	page := rec.Body.String()
	for code, name := range fakeStates {
		row := regexp.MustCompile(`<th scope="row"><span class="code">` + code + `</span> ` + name + `</th>`)
		if !row.MatchString(page) {
			t.Errorf("node table lacks a row for %s %s", code, name)
		}
	}
	wants := []string{
		"⚠ expires in 10 days", // MYS: inside the 30-day warning window
		"valid for 200 days",
		"○ Disconnected",
		"No complete run yet",
		`Missing: <abbr title="Australia">AUS</abbr> (offline)`,
		`Suppressed some cells: <abbr title="Malaysia">MYS</abbr>`,
		`Contributed: <abbr title="Indonesia">IDN</abbr>, <abbr title="Malaysia">MYS</abbr>, <abbr title="Thailand">THA</abbr>`,
		"Myanmar (MMR)",
		"Period: 2025-01-01 to 2025-12-31",
		"Values marked ≈ are rounded.",
		`href="/api/runs/run-migrants-by-month/export?format=sdmx-csv"`,
		`href="/api/runs/run-done/export?format=csv"`,
		"2 of 4 settled",
		`<script src="/static/app.js" defer></script>`,
	}
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	pic, _ := fakePicture{now: testNow}.RegionalPicture(t.Context())
	for _, f := range pic.GetFigures() {
		if !strings.Contains(page, `id="fig-`+f.GetId()+`"`) || !strings.Contains(page, f.GetTitle()) {
			t.Errorf("page lacks figure %s", f.GetId())
		}
	}
	if got := strings.Count(page, `class="coverage`); got != len(pic.GetFigures()) {
		t.Errorf("%d coverage lines, want one per figure (%d)", got, len(pic.GetFigures()))
	}
	// The policy forbids inline code; make sure the page needs none.
	if regexp.MustCompile(`<script[^>]*>[^<]`).MatchString(page) || regexp.MustCompile(`(?i)\sstyle=|\son[a-z]+=`).MatchString(page) {
		t.Error("page has inline script, style or event handler")
	}
}

func TestIndexSurvivesBrokenParts(t *testing.T) {
	t.Parallel()
	f := newFixture(testNow)
	f.picture.err = errors.New("picture store at /secret/path is broken")
	f.runs.err = errors.New("runs broken")
	h := newHandler(t, f.config(testNow))
	rec := get(t, h, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d", rec.Code)
	}
	page := rec.Body.String()
	if !strings.Contains(page, "Indonesia") || !strings.Contains(page, "The regional picture could not be loaded.") {
		t.Error("node table or error note missing")
	}
	if strings.Contains(page, "/secret/path") {
		t.Error("internal error text reached the page")
	}
}

func TestJSONEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(testNow)
	h := newHandler(t, f.config(testNow))
	nodes, _ := f.nodes.ListNodes(t.Context())
	byCode := map[string]*hubv1.Node{}
	for _, n := range nodes {
		n.Name = fakeStates[n.GetCountry()]
		byCode[n.GetCountry()] = n
	}
	pic, _ := f.picture.RegionalPicture(t.Context())
	runs := f.runs.runs()
	tests := []struct {
		path string
		got  proto.Message
		want proto.Message
	}{
		{"/api/nodes", &hubv1.ListNodesResponse{}, &hubv1.ListNodesResponse{Nodes: []*hubv1.Node{byCode["AUS"], byCode["IDN"], byCode["MYS"], byCode["THA"]}}},
		{"/api/picture", &hubv1.GetRegionalPictureResponse{}, &hubv1.GetRegionalPictureResponse{Picture: pic}},
		{"/api/runs", &hubv1.ListRunsResponse{}, &hubv1.ListRunsResponse{Runs: runs}},
		{"/api/runs/run-done", &hubv1.GetRunResponse{}, &hubv1.GetRunResponse{Run: runs[1]}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := get(t, h, tt.path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d: %s", tt.path, rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if err := protojson.Unmarshal(rec.Body.Bytes(), tt.got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			// proto.Equal rather than protocmp: go-cmp is not a module
			// dependency and one is not worth adding for this.
			if !proto.Equal(tt.want, tt.got) {
				t.Errorf("%s:\n got %v\nwant %v", tt.path, tt.got, tt.want)
			}
		})
	}
}

func TestListRunsPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query     string
		code      int
		size      int
		pageToken string
	}{
		{"", http.StatusOK, defaultPageSize, ""},
		{"?page_size=5&page_token=abc", http.StatusOK, 5, "abc"},
		{"?page_size=100000", http.StatusOK, maxPageSize, ""},
		{"?page_size=0", http.StatusBadRequest, 0, ""},
		{"?page_size=x", http.StatusBadRequest, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			f := newFixture(testNow)
			rec := get(t, newHandler(t, f.config(testNow)), "/api/runs"+tt.query)
			if rec.Code != tt.code {
				t.Fatalf("code = %d, want %d", rec.Code, tt.code)
			}
			if tt.code == http.StatusOK && (f.runs.lastSize != tt.size || f.runs.lastToken != tt.pageToken) {
				t.Errorf("List(%d, %q), want (%d, %q)", f.runs.lastSize, f.runs.lastToken, tt.size, tt.pageToken)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(testNow)
	f.nodes.err = errors.New("registry at /var/lib/vrs exploded")
	h := newHandler(t, f.config(testNow))
	tests := []struct {
		path string
		code int
	}{
		{"/api/runs/nope", http.StatusNotFound},
		{"/api/runs/bad%20id", http.StatusNotFound},
		{"/api/runs/nope/export?format=csv", http.StatusNotFound},
		{"/api/runs/run-done/export?format=xlsx", http.StatusBadRequest},
		{"/api/runs/run-done/export", http.StatusBadRequest},
		{"/api/nodes", http.StatusInternalServerError},
		{"/api/elsewhere", http.StatusNotFound},
		{"/static/", http.StatusNotFound},
		{"/static/missing.js", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := get(t, h, tt.path)
			if rec.Code != tt.code {
				t.Fatalf("GET %s = %d, want %d", tt.path, rec.Code, tt.code)
			}
			if strings.Contains(rec.Body.String(), "/var/lib") {
				t.Errorf("internal detail leaked: %s", rec.Body)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	h := newHandler(t, newFixture(testNow).config(testNow))
	for _, path := range []string{"/api/runs", "/api/runs/run-done", "/"} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader("{}"))
		req.Host = "localhost"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d, want 405", path, rec.Code)
		}
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, filename string
		wantType, wantFile     string
	}{
		{"csv", "csv", "", "text/csv; charset=utf-8", "run-done.csv"},
		{"sdmx-csv", "sdmx-csv", "", "application/vnd.sdmx.data+csv; version=2.0.0", "run-done.sdmx.csv"},
		{"sdmx-json", "sdmx-json", "", "application/vnd.sdmx.data+json; version=2.0.0", "run-done.sdmx.json"},
		{"hostile name", "csv", "../../etc/pass\r\nwd\".csv", "text/csv; charset=utf-8", "_.._etc_pass__wd_.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(testNow)
			f.export.filename = tt.filename
			rec := get(t, newHandler(t, f.config(testNow)), "/api/runs/run-done/export?format="+tt.format)
			if rec.Code != http.StatusOK {
				t.Fatalf("code = %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			disp, params, err := mime.ParseMediaType(rec.Header().Get("Content-Disposition"))
			if err != nil || disp != "attachment" || params["filename"] != tt.wantFile {
				t.Errorf("Content-Disposition = %q (%v), want attachment; filename=%q", rec.Header().Get("Content-Disposition"), err, tt.wantFile)
			}
			_, _, want, _ := f.export.Export(t.Context(), "run-done", exportFormats[tt.format])
			if body, _ := io.ReadAll(rec.Body); string(body) != string(want) {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}
}

func TestHostCheck(t *testing.T) {
	t.Parallel()
	cfg := newFixture(testNow).config(testNow)
	cfg.AllowedHosts = []string{"hub.cau.example"}
	h := newHandler(t, cfg)
	tests := []struct {
		host string
		code int
	}{
		{"127.0.0.1:8443", http.StatusOK},
		{"[::1]:8443", http.StatusOK},
		{"localhost:8443", http.StatusOK},
		{"localhost", http.StatusOK},
		{"HUB.cau.example:443", http.StatusOK},
		{"10.1.2.3", http.StatusOK},
		{"attacker.example:8443", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/nodes", nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Errorf("Host %s: code = %d, want %d", tt.host, rec.Code, tt.code)
			}
		})
	}
}

func TestStaticAndLabels(t *testing.T) {
	t.Parallel()
	h := newHandler(t, newFixture(testNow).config(testNow))
	tests := []struct{ path, typ, contains string }{
		{"/static/app.js", "text/javascript", "'use strict'"},
		{"/static/app.css", "text/css", "--ink"},
		{"/api/labels", "application/json", `"THA":"Thailand"`},
	}
	for _, tt := range tests {
		rec := get(t, h, tt.path)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tt.typ) || !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("GET %s = %d %q", tt.path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	// Nothing may point outside this origin: the hub runs air-gapped.
	for _, path := range []string{"/", "/static/app.js", "/static/app.css"} {
		body := get(t, h, path).Body.String()
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(body); m != "" && !strings.Contains(m, "www.w3.org") {
			t.Errorf("%s refers to %q", path, m)
		}
	}
}
