package ui

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vrs-federation/vrs/internal/browsertest"
)

func TestDashboardInBrowser(t *testing.T) {
	// One whole-test bound: the browser lives as long as this context.
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	bctx, problems := browsertest.Start(t, ctx, 1360, 900)

	now := time.Now()
	f := newFixture(now)
	cfg := f.config(now)
	cfg.Clock = time.Now
	cfg.PollInterval = time.Second
	srv := httptest.NewServer(newHandler(t, cfg)) // listens on 127.0.0.1
	defer srv.Close()

	start := time.Now()
	pic, _ := f.picture.RegionalPicture(t.Context())
	figures := len(pic.GetFigures())
	poll := func(expr string) chromedp.Action[bool] {
		return chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		// Charts drawn and the first refresh done.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := poll(`document.body.classList.contains('js') &&
				document.getElementById('updated').textContent.startsWith('Updated') &&
				[...document.querySelectorAll('article.figure')].every(a => a.querySelector('.chart svg.chart-svg'))`)(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatalf("page did not render: %v", err)
	}
	t.Logf("browser started and page rendered in %v", time.Since(start).Round(time.Millisecond))

	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	if got := eval(`String(document.querySelectorAll('article.figure svg.chart-svg[role="img"][aria-labelledby]').length)`); got != strconv.Itoa(figures) {
		t.Errorf("%s labelled charts, want %d", got, figures)
	}
	text := eval(`document.body.innerText`)
	for code, name := range fakeStates {
		if !strings.Contains(text, name) || !strings.Contains(text, code) {
			t.Errorf("page does not show %s %s", code, name)
		}
	}
	// Every figure carries its coverage line; the one without a run says so.
	coverage := eval(`[...document.querySelectorAll('article.figure')].map(a => {
		const c = a.querySelector('.coverage'); return a.dataset.figure + '=' + (c ? c.textContent : '');
	}).join('\n')`)
	for _, line := range strings.Split(coverage, "\n") {
		id, cov, _ := strings.Cut(line, "=")
		want := "Contributed: IDN, MYS, THA · Suppressed some cells: MYS · Missing: AUS (offline)"
		if id == "fees-paid" {
			want = "No complete run yet"
		}
		if cov != want {
			t.Errorf("figure %s coverage %q, want %q", id, cov, want)
		}
	}
	// Suppressed cells are drawn (hatched) and named in the text alternative.
	if got := eval(`String(document.querySelectorAll('svg.chart-svg [fill^="url(#"]').length > 0 && [...document.querySelectorAll('svg.chart-svg title')].some(t => t.textContent.endsWith('suppressed')))`); got != "true" {
		t.Error("no hatched, labelled suppressed cell in any chart")
	}
	if got := eval(`String(document.querySelector('#fig-routes path.band') !== null)`); got != "true" {
		t.Error("route figure drew no flow bands")
	}
	if !strings.Contains(eval(`document.querySelector('tr[data-country="MYS"]').textContent`), "⚠ expires in") {
		t.Error("MYS certificate warning missing")
	}

	// Live progress: run-live completes on the hub; the page notices.
	if !strings.Contains(eval(`document.querySelector('tr[data-run="run-live"]').textContent`), "2 of 4 settled") {
		t.Error("run-live progress not shown")
	}
	f.runs.finish()
	if _, err := chromedp.Run(bctx, poll(`document.querySelector('tr[data-run="run-live"]').textContent.includes('4 of 4 settled') &&
		document.getElementById('announce').textContent.includes('run-live complete')`)); err != nil {
		t.Errorf("page did not show run-live completing: %v", err)
	}

	shot := browsertest.Screenshot(t, bctx, "vrs-hub-ui")
	t.Logf("screenshot taken after %v", time.Since(start).Round(time.Millisecond))
	// VRS_UPDATE_DOCS=1 refreshes the README's screenshot from this test.
	if os.Getenv("VRS_UPDATE_DOCS") != "" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", "hub-ui.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Keyboard: the first Tab reaches the skip link.
	if err := chromedp.Do(bctx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatalf("tab: %v", err)
	}
	if got := eval(`document.activeElement.className`); got != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}

	for _, p := range problems() {
		t.Errorf("console %s", p)
	}
}
