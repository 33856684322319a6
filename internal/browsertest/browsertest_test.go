package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestStartCollectsProblemsAndScreenshots(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	bctx, problems := Start(t, ctx, 800, 600)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, `<!doctype html><title>t</title><link rel="icon" href="data:,"><p>hello</p><script src="/s.js"></script>`)
		case "/s.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `console.log("fine"); console.error("broken-canary"); document.title = "done";`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.title === 'done'`, chromedp.WithPollingTimeout(15*time.Second))(ctx, tg)
			return err
		}),
	); err != nil {
		t.Fatalf("page did not load: %v", err)
	}
	shot := Screenshot(t, bctx, "vrs-browsertest")
	if !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Errorf("screenshot is not a PNG: % x", shot[:min(8, len(shot))])
	}

	// console.log is not a problem; console.error is (the data: icon keeps
	// a favicon 404 from being one too).
	got := problems()
	if len(got) != 1 || !strings.Contains(got[0], "broken-canary") {
		t.Errorf("problems = %q, want one with broken-canary", got)
	}
}
