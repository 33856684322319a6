package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the repository's top directory (this file is two levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// tourBlocks returns the shell blocks of README.md marked <!-- tour -->.
func tourBlocks(t *testing.T, readme string) []string {
	t.Helper()
	re := regexp.MustCompile("(?s)<!-- tour -->\\s*```sh\\n(.*?)```")
	var blocks []string
	for _, m := range re.FindAllStringSubmatch(readme, -1) {
		blocks = append(blocks, m[1])
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d tour blocks in README.md, want at least 3", len(blocks))
	}
	return blocks
}

// TestDemoAndReadmeTour runs `scripts/demo.sh` (what `make demo` runs) with
// a small data set, checks what it prints and serves, runs every command of
// the README's five-minute tour against it, then stops it with Ctrl-C.
func TestDemoAndReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub and four nodes")
	}
	hubBin, _ := binaries(t)
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "demo-data")
	base := 20000 + rand.IntN(20000)
	api := fmt.Sprintf("127.0.0.1:%d", base+44)
	nodeIDN := fmt.Sprintf("127.0.0.1:%d", base+51)
	ui := fmt.Sprintf("127.0.0.1:%d", base+80)

	cmd := exec.Command("bash", filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "BIN="+filepath.Dir(hubBin), "DEMO_DIR="+dir,
		"DEMO_RECORDS=1500", fmt.Sprintf("DEMO_PORT_BASE=%d", base))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})

	// Read the demo's output until it says it is serving.
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed strings.Builder
	deadline := time.After(4 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early:\n%s", printed.String())
			}
			printed.WriteString(l + "\n")
			if strings.Contains(l, "Press Ctrl-C to stop.") {
				break wait
			}
		case <-deadline:
			t.Fatalf("demo not ready after 4 minutes:\n%s", printed.String())
		}
	}
	text := printed.String()
	for _, want := range []string{"REGIONAL PICTURE", "4 nodes connected", "Smuggled migrants detected, by month",
		"contributed: AUS, IDN, MYS, THA", "Web UI: http://" + ui + "/"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}

	// The UI page names the four states.
	res, err := http.Get("http://" + ui + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, name := range []string{"Indonesia", "Thailand", "Malaysia", "Australia"} {
		if !strings.Contains(string(page), name) {
			t.Errorf("UI page does not name %s", name)
		}
	}

	// The README's tour, with this demo's directory and ports.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{`"connected"`, `"contributors"`, `"ok"`}
	for i, block := range tourBlocks(t, string(readme)) {
		script := strings.NewReplacer(
			"demo-data", dir,
			"127.0.0.1:7444", api,
			"127.0.0.1:7451", nodeIDN,
			".bin/vrs-hub", hubBin,
		).Replace(block)
		sh := exec.Command("bash", "-euo", "pipefail", "-c", script)
		sh.Dir = root
		got, err := sh.CombinedOutput()
		if err != nil {
			t.Errorf("tour block %d failed: %v\n%s\n--- output:\n%s", i+1, err, block, got)
			continue
		}
		if i < len(wants) && !strings.Contains(string(got), wants[i]) {
			t.Errorf("tour block %d output lacks %s:\n%s", i+1, wants[i], got)
		}
	}

	// Ctrl-C stops every process cleanly.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		stopped = true
		var ws syscall.WaitStatus
		if err != nil && cmd.ProcessState != nil {
			ws, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
		}
		if err != nil && !(ws.Signaled() && ws.Signal() == syscall.SIGINT) && cmd.ProcessState.ExitCode() != 130 {
			t.Errorf("demo exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30 s of Ctrl-C")
	}
	if out, _ := exec.Command("pgrep", "-f", dir).Output(); len(out) > 0 {
		t.Errorf("processes left running after Ctrl-C: %s", out)
	}
}
