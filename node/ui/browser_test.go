package ui

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vrs-federation/vrs/internal/browsertest"
)

// screenshot saves the whole page to a temporary PNG and logs its path.
func screenshot(t *testing.T, bctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, bctx, "vrs-node-ui-"+name)
}

func TestTransparencyAndPreviewInBrowser(t *testing.T) {
	// One whole-test bound: the browser lives as long as this context.
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	bctx, problems := browsertest.Start(t, ctx, 1280, 900)

	f := newFixture(t)
	srv := httptest.NewServer(newHandler(t, f.config())) // listens on 127.0.0.1
	defer srv.Close()

	poll := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))(ctx, tg)
			return err
		})
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	loaded := poll(`document.readyState === 'complete'`)
	// afterNavigation waits for expr on the page a click or a form
	// submission leads to; evaluating while the old page is torn down fails,
	// so failures are retried until the deadline.
	afterNavigation := func(what, expr string) {
		t.Helper()
		for {
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](expr))
			if err == nil && ok {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %v (last error %v)", what, ctx.Err(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Transparency: the chain status and every entry, newest first.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/transparency"), loaded); err != nil {
		t.Fatalf("transparency page: %v", err)
	}
	if got := eval(`[...document.querySelectorAll('table.entries tbody tr')].map(r => r.dataset.seq).join(',')`); got != "4,3,2,1" {
		t.Errorf("entries %q, want 4,3,2,1", got)
	}
	text := eval(`document.body.innerText`)
	for _, want := range []string{"Audit chain verified", "Migrants by transport mode, all dates", "Refused", "measure suspects is not shared by THA"} {
		if !strings.Contains(text, want) {
			t.Errorf("transparency page does not show %q", want)
		}
	}
	if got := eval(`getComputedStyle(document.querySelector('header.top')).backgroundColor`); got != "rgb(29, 74, 58)" {
		t.Errorf("style sheet not applied: header background %s", got)
	}
	screenshot(t, bctx, "transparency")

	// An entry shows the exact answer, decoded.
	if err := chromedp.Do(bctx, chromedp.Click(`tr[data-seq="2"] a`)); err != nil {
		t.Fatalf("open entry 2: %v", err)
	}
	afterNavigation("open entry 2", `location.pathname === '/transparency/2' && document.readyState === 'complete'`)
	if text := eval(`document.body.innerText`); !strings.Contains(text, "matches the stored bytes") || !strings.Contains(text, "Sea") {
		t.Errorf("entry 2 does not show its decoded answer:\n%s", text)
	}
	screenshot(t, bctx, "entry")
	for _, p := range []string{"/", "/agreement"} {
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+p), loaded); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		screenshot(t, bctx, map[string]string{"/": "overview", "/agreement": "agreement"}[p])
	}

	// Preview: fill in the form with the keyboard-reachable controls and
	// submit it like a person would.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/preview"), loaded,
		chromedp.SetValue(`#measure`, "migrants"),
		chromedp.Click(`input[name="group_by"][value="citizenship"]`),
		chromedp.Click(`form.preview button[type="submit"]`),
	); err != nil {
		t.Fatalf("submit preview: %v", err)
	}
	afterNavigation("submit preview", `document.querySelector('#result') !== null && document.readyState === 'complete'`)
	result := eval(`document.querySelector('#result').innerText`)
	for _, want := range []string{"Would be sent", "Migrants by citizenship, all dates", "Afghanistan (AFG)", "withheld", "Nothing was sent and nothing was recorded."} {
		if !strings.Contains(result, want) {
			t.Errorf("preview result does not show %q:\n%s", want, result)
		}
	}
	if got := eval(`location.hash`); got != "#result" {
		t.Errorf("after submitting, location.hash = %q: the result is not brought into view", got)
	}
	if strings.Contains(eval(`document.documentElement.outerHTML`), canary) {
		t.Error("preview page shows a never-shared field")
	}
	screenshot(t, bctx, "preview")

	// Keyboard: the first Tab on a fresh page reaches the skip link.
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/preview"), loaded, chromedp.KeyEvent("\t")); err != nil {
		t.Fatalf("tab: %v", err)
	}
	if got := eval(`document.activeElement.className`); got != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}

	for _, p := range problems() {
		t.Errorf("console %s", p)
	}
}
