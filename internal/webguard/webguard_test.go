package webguard

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
