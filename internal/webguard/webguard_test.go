package webguard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

func TestGuard(t *testing.T) {
	h := Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }),
		Options{CSP: "default-src 'self'", ReferrerPolicy: "no-referrer", Hosts: map[string]bool{"localhost": true}})
	for _, c := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:8080", http.StatusTeapot},
		{"[::1]:8080", http.StatusTeapot},
		{"localhost:8080", http.StatusTeapot},
		{"LOCALHOST.", http.StatusTeapot},
		{"evil.example:8080", http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = c.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("host %q: status %d, want %d", c.host, w.Code, c.want)
		}
		if got := w.Header().Get("Content-Security-Policy"); got != "default-src 'self'" {
			t.Errorf("host %q: CSP %q", c.host, got)
		}
		if w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("host %q: headers %v", c.host, w.Header())
		}
	}
}

func TestHosts(t *testing.T) {
	hosts := Hosts([]string{"UI.Example", "node.local"})
	for _, c := range []struct {
		host string
		want bool
	}{
		{"localhost:8080", true},
		{"ui.example", true},
		{"UI.EXAMPLE:443", true},
		{"node.local", true},
		{"other.example", false},
	} {
		if got := HostAllowed(c.host, hosts); got != c.want {
			t.Errorf("HostAllowed(%q) = %v, want %v", c.host, got, c.want)
		}
	}
	if got := Hosts(nil); len(got) != 1 || !got["localhost"] {
		t.Errorf("Hosts(nil) = %v, want only localhost", got)
	}
}

func TestStaticFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"app.css":   {Data: []byte("body{}")},
		"img/a.svg": {Data: []byte("<svg/>")},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", StaticFiles(fsys))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, c := range []struct {
		path string
		want int
		body string
	}{
		{"/static/app.css", http.StatusOK, "body{}"},
		{"/static/img/a.svg", http.StatusOK, "<svg/>"},
		{"/static/", http.StatusNotFound, ""},
		{"/static/img/", http.StatusNotFound, ""},
		{"/static/missing.js", http.StatusNotFound, ""},
	} {
		resp, err := srv.Client().Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode, c.want)
		}
		if c.body != "" && string(b) != c.body {
			t.Errorf("%s: body %q, want %q", c.path, b, c.body)
		}
	}
}
