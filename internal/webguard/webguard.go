// Package webguard is what the hub's and the node's loopback web UIs share:
// security headers on every response, and a Host check that defeats DNS
// rebinding (a page on another site pointing its own name at 127.0.0.1).
// The hub and the node may not import each other, so it lives here.
package webguard

import (
	"io/fs"
	"net"
	"net/http"
	"strings"
)

// Options configures Guard.
type Options struct {
	// CSP is the Content-Security-Policy of every response.
	CSP string
	// ReferrerPolicy, e.g. "no-referrer"; a page that posts a form checked
	// by origin needs "same-origin" (with no-referrer browsers send
	// "Origin: null").
	ReferrerPolicy string
	// Hosts are the host names accepted besides IP literals, lower case;
	// include "localhost".
	Hosts map[string]bool
}

// Guard sets the security headers on every response and refuses requests
// whose Host is not an IP literal or an accepted name.
func Guard(next http.Handler, o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", o.CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", o.ReferrerPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if strings.HasPrefix(r.URL.Path, "/static/") {
			// Revalidate: an upgrade must not leave an old asset running.
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		if !HostAllowed(r.Host, o.Hosts) {
			http.Error(w, "unknown host", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// HostAllowed accepts IP literals and the given names. A DNS-rebinding page
// reaches the UI under its own domain name, which is none of these.
func HostAllowed(hostport string, hosts map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil {
		return true
	}
	return hosts[strings.ToLower(host)]
}

// Hosts returns the host names a UI accepts, for Options.Hosts: "localhost"
// and the extra names (e.g. the operator's AllowedHosts), lower-cased
// because HostAllowed compares lower case.
func Hosts(extra []string) map[string]bool {
	hosts := map[string]bool{"localhost": true}
	for _, h := range extra {
		hosts[strings.ToLower(h)] = true
	}
	return hosts
}

// StaticFiles serves the files of fsys under "/static/" (the prefix Guard
// gives revalidating cache headers). Mount it as "GET /static/". Paths
// ending in "/" get 404: files only, no directory listings.
func StaticFiles(fsys fs.FS) http.Handler {
	files := http.StripPrefix("/static/", http.FileServerFS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}
