// Package browsertest is the headless-Chromium setup the hub's and the node's
// UI browser tests share: a browser with a fresh profile that never reaches
// beyond loopback on its own, a collector of console errors and exceptions,
// and a screenshot helper. It is test support only; production code must not
// import it.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where the tests expect the browser.
const ChromiumPath = "/usr/bin/chromium"

// Start starts headless Chromium with a fresh profile and the given window
// size, bounded by ctx, and returns its context. Without a browser at
// ChromiumPath the test is skipped, or fails when CI is set (CI must run
// it).
//
// Console messages, exceptions and browser log entries (CSP violations and
// failed loads arrive there) are collected from the start. problems stops
// the browser and returns the console errors and exceptions, one line each;
// call it once, at the end of the test.
func Start(t testing.TB, ctx context.Context, width, height int) (bctx context.Context, problems func() []string) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s is missing: %v", ChromiumPath, err)
		}
		t.Skipf("no browser at %s: skipping the browser test (install chromium to run it)", ChromiumPath)
	}
	// Own cancel so problems can end the browser: the console iterator only
	// returns once the browser is gone.
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)

	var (
		mu       sync.Mutex
		messages []chromedp.ConsoleMessage
	)
	console := chromedp.Console(bctx)
	collected := make(chan struct{})
	consoleCtx, stopConsole := context.WithCancel(bctx)
	t.Cleanup(stopConsole)
	go func() {
		defer close(collected)
		for m, err := range console {
			if err != nil || consoleCtx.Err() != nil {
				return
			}
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
		}
	}()
	problems = func() []string {
		stopConsole()
		cancel()
		<-collected
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, m := range messages {
			if m.Type == chromedp.ConsoleError || m.IsException() {
				out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
			}
		}
		return out
	}
	return bctx, problems
}

// Screenshot takes a full-page PNG of the browser's page, writes it to a
// temporary file named after prefix (kept after the test, to look at), logs
// the path and returns the image.
func Screenshot(t testing.TB, bctx context.Context, prefix string) []byte {
	t.Helper()
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out, err := os.CreateTemp("", prefix+"-*.png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write(shot); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %s", prefix, out.Name())
	return shot
}
