package ui

import (
	"bytes"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestNewRequiresParts(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		break_ func(*Config)
	}{
		{"country", func(c *Config) { c.Country = "" }},
		{"records", func(c *Config) { c.Records = nil }},
		{"agreement", func(c *Config) { c.Agreement = nil }},
		{"preview", func(c *Config) { c.Preview = nil }},
		{"audit", func(c *Config) { c.Audit = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			tc.break_(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted an incomplete config")
			}
		})
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	h := newHandler(t, f.config())
	for _, tc := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{
			"THA</span> Thailand", "<span class=\"num-strong\">60</span> incidents",
			"Connected to the hub", "cau-regional</strong>, version 3", "Thailand shares with spiffe://vrs.local/hub: migrants by month",
			// 60 incidents over two years and three modes, two migrants each.
			"<th scope=\"row\">2025</th><td class=\"num\">30</td><td class=\"num\">60</td>",
			"<th scope=\"row\">Sea</th><td class=\"num\">20</td><td class=\"num\">40</td>",
			"Audit chain verified", "all 4 entries", `href="/transparency/4"`,
		}},
		{"/agreement", 200, []string{
			"Thailand shares with spiffe://vrs.local/hub: migrants by month (or coarser), citizenship, sex and transport mode; " +
				"incidents by month (or coarser), transport mode and offence (ICCS); the redacted extract “sea-routes”. " +
				"Counts below 5 are withheld; other values are randomly rounded to base 3.",
			"any other query is refused, and the refusal is recorded.",
			"<strong>Migrants</strong>", "by month (or coarser), citizenship, sex and transport mode.",
			"Counts below 5 are withheld", "randomly rounded to a multiple of 3",
			"at most 2 dimensions", "shorter than a month", "US Dollar (USD)",
			"“sea-routes”", "unless at least 3 rows share its period, country of origin and country of destination",
			"agreement &#34;cau-regional&#34; {", // the source, escaped
		}},
		{"/preview", 200, []string{
			`<form method="post" action="/preview#result"`, `name="token" value="`,
			`<option value="migrants" selected>Migrants</option>`, "Suspected smugglers (not shared)",
			`<input type="checkbox" name="group_by" value="citizenship">`,
		}},
		{"/transparency", 200, []string{
			"Audit chain verified", "Entries 4 to 1 of 4, newest first",
			`<tr data-seq="4">`, `<tr data-seq="1">`, "<code>spiffe://vrs.local/hub</code>",
			"<code>run-task-a</code>", "Migrants by transport mode, all dates",
			"Migrants by citizenship × month, 2026-01-01 to 2026-03-31",
			`<span class="pill ok">Disclosed</span>`, `<span class="pill warn">Refused</span>`,
			"measure suspects is not shared by THA", `<span class="pill pending">Agreement loaded</span>`,
			"v3 <code", "3 cells<br>", "(1 withheld)",
		}},
		{"/transparency/2", 200, []string{
			"Audit entry 2", "Migrants by transport mode", "✔ matches the stored bytes",
			`href="/transparency/2/answer.bin"`, "cau-regional version 3", "<td>Sea</td>",
			"3 cells:", `&#34;measure&#34;: &#34;migrants&#34;`, `href="/transparency/1"`, `href="/transparency/3"`,
		}},
		{"/transparency/3", 200, []string{"Refusal (measure not shared):", "measure suspects is not shared by THA"}},
		{"/transparency/1", 200, []string{"Agreement loaded", "Nothing was sent for this entry."}},
		{"/transparency/5", 404, []string{"There is no audit entry with that number."}},
		{"/transparency/x", 404, nil},
		{"/transparency?from=abc", 400, nil},
		{"/transparency/1/answer.bin", 404, []string{"This entry sent no answer."}},
		{"/static/app.css", 200, []string{"--ink"}},
		{"/static/", 404, nil},
		{"/nope", 404, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			status, body, _ := get(t, h, tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			mustContain(t, tc.path, body, tc.want...)
			if strings.Contains(body, canary) {
				t.Errorf("%s shows a never-shared field", tc.path)
			}
		})
	}
}

func TestAnswerBytesAreTheSentBody(t *testing.T) {
	f := newFixture(t)
	h := newHandler(t, f.config())
	status, body, hdr := get(t, h, "/transparency/4/answer.bin")
	if status != 200 || !bytes.Equal([]byte(body), f.bodies["task-c"]) {
		t.Fatalf("status %d: the bytes served are not the body sent", status)
	}
	if hdr.Get("Content-Type") != "application/octet-stream" || !strings.Contains(hdr.Get("Content-Disposition"), "answer-4.bin") {
		t.Errorf("headers %v", hdr)
	}
}

func TestHubStatus(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	h := newHandler(t, cfg)
	f.connected.Store(false)
	_, body, _ := get(t, h, "/")
	mustContain(t, "overview", body, "Not connected to the hub")
	cfg.Connected = nil
	_, body, _ = get(t, newHandler(t, cfg), "/agreement")
	mustContain(t, "agreement", body, "No hub configured")
}

func TestBrokenChainIsShown(t *testing.T) {
	f := newFixture(t)
	f.tamper(t, 2)
	h := newHandler(t, f.config())
	for _, p := range []string{"/", "/transparency"} {
		_, body, _ := get(t, h, p)
		mustContain(t, p, body, "The audit chain is broken:", "entry 2")
		if strings.Contains(body, "Audit chain verified") {
			t.Errorf("%s says a tampered chain is verified", p)
		}
	}
}

func TestTransparencyPaging(t *testing.T) {
	f := newFixture(t)
	cfg := f.config()
	cfg.PageSize = 3
	h := newHandler(t, cfg)
	_, body, _ := get(t, h, "/transparency")
	mustContain(t, "first page", body, "Entries 4 to 2 of 4", `href="/transparency?from=1"`)
	if strings.Contains(body, `<tr data-seq="1">`) || strings.Contains(body, "Newer entries") {
		t.Error("first page shows entry 1 or a newer link")
	}
	_, body, _ = get(t, h, "/transparency?from=1")
	mustContain(t, "second page", body, "Entries 1 to 1 of 4", `<tr data-seq="1">`, `href="/transparency?from=4"`)
	if strings.Contains(body, "Older entries") {
		t.Error("last page has an older link")
	}
	_, body, _ = get(t, h, "/transparency?from=99")
	mustContain(t, "beyond the head", body, "Entries 4 to 2 of 4")
}

func TestSecurityHeadersAndHost(t *testing.T) {
	f := newFixture(t)
	h := newHandler(t, Config{Country: "THA", Records: f.store, Agreement: f.agreement, Preview: f.answerer, Audit: f.audit,
		AllowedHosts: []string{"node.internal"}})
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"127.0.0.1:8080", 200},
		{"[::1]:8080", 200},
		{"localhost:8080", 200},
		{"node.internal", 200},
		{"evil.example:8080", http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
	} {
		t.Run(tc.host, func(t *testing.T) {
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			hd := rec.Result().Header
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
				"Cache-Control": "no-store",
			} {
				if hd.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, hd.Get(k), want)
				}
			}
			if csp := hd.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
}

var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

// previewSession loads the form as a browser would and returns its token
// and cookie.
func previewSession(t *testing.T, h http.Handler) (string, *http.Cookie) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1/preview", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	m := tokenRE.FindStringSubmatch(rec.Body.String())
	cookies := rec.Result().Cookies()
	if m == nil || len(cookies) != 1 {
		t.Fatalf("form has no token or cookie: %v", cookies)
	}
	c := cookies[0]
	if c.SameSite != http.SameSiteStrictMode || !c.HttpOnly || c.Value != m[1] {
		t.Fatalf("cookie %+v", c)
	}
	return m[1], c
}

func post(t *testing.T, h http.Handler, form url.Values, cookie *http.Cookie, hdr map[string]string) (int, string) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "http://127.0.0.1/preview", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestPreviewCrossSiteRefused(t *testing.T) {
	f := newFixture(t)
	h := newHandler(t, f.config())
	token, cookie := previewSession(t, h)
	form := url.Values{"token": {token}, "measure": {"migrants"}}
	forged := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("0", 64)}
	for _, tc := range []struct {
		name   string
		form   url.Values
		cookie *http.Cookie
		hdr    map[string]string
		status int
	}{
		{"same origin", form, cookie, map[string]string{"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"}, 200},
		{"no browser headers", form, cookie, nil, 200},
		{"no cookie", form, nil, nil, 403},
		{"forged cookie", form, forged, nil, 403},
		{"no token", url.Values{"measure": {"migrants"}}, cookie, nil, 403},
		{"wrong token", url.Values{"token": {"abc"}, "measure": {"migrants"}}, cookie, nil, 403},
		{"cross site", form, cookie, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"other origin", form, cookie, map[string]string{"Origin": "http://evil.example"}, 403},
		{"opaque origin, same site", form, cookie, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, 200},
		{"opaque origin", form, cookie, map[string]string{"Origin": "null"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, h, tc.form, tc.cookie, tc.hdr)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
		})
	}
	// A token from another process (another handler) is refused.
	other := newHandler(t, f.config())
	if status, _ := post(t, other, form, cookie, nil); status != 403 {
		t.Errorf("another process's token: status %d", status)
	}
}

func TestPreviewResults(t *testing.T) {
	f := newFixture(t)
	h := newHandler(t, f.config())
	token, cookie := previewSession(t, h)
	headBefore, _ := f.audit.Head()
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"sent", url.Values{"measure": {"migrants"}, "group_by": {"transport_mode"}}, []string{
			"Would be sent", "Query: Migrants by transport mode, all dates.", "3 cells:",
			"<td>Sea</td>", "Nothing was sent and nothing was recorded.", `"rounding": "rr3"`,
		}},
		{"registry order and period", url.Values{"measure": {"incidents"}, "group_by": {"transport_mode", "period.month"},
			"period_from": {"2026-01-01"}, "period_to": {"2026-01-31"}}, []string{
			"Would be sent", "Incidents by month × transport mode, 2026-01-01 to 2026-01-31",
			`value="2026-01-01"`, `value="period.month" checked`, // the form keeps what was asked
		}},
		{"small cells withheld", url.Values{"measure": {"migrants"}, "group_by": {"citizenship"}}, []string{
			"Would be sent", "<tr class=\"st-suppressed\"><td>Afghanistan (AFG)</td><td class=\"num\">withheld</td>",
		}},
		{"measure not shared", url.Values{"measure": {"suspects"}}, []string{
			"Would be refused", "Refused (measure not shared):", "measure suspects is not shared by THA",
		}},
		{"too many dimensions", url.Values{"measure": {"migrants"}, "group_by": {"sex", "citizenship", "transport_mode"}}, []string{
			"Would be refused", "too many dimensions",
		}},
		{"unknown dimension ignored", url.Values{"measure": {"migrants"}, "group_by": {"shoe_size"}}, []string{
			"Unknown dimensions were ignored.", "Would be sent",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("token", token)
			status, body := post(t, h, tc.form, cookie, nil)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			mustContain(t, tc.name, html.UnescapeString(body), tc.want...)
			if strings.Contains(body, canary) {
				t.Error("preview shows a never-shared field")
			}
		})
	}
	if head, _ := f.audit.Head(); head != headBefore {
		t.Errorf("previews wrote to the audit log (head %d, was %d)", head, headBefore)
	}
}
