// Command testsummary reads `go test -json` on standard input and prints
// the usual line per package and, for the tests whose top-level name
// starts with one of -prefix, a
// Markdown table of every test and subtest with its result (a skip with
// its reason), followed by the full output of every test that failed. It
// exits 1 when a test or a package failed, so `make test` fails as `go
// test` would. The reliability and attack suite (issue 12) is reported
// this way; docs/testing.md shows the table.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// result is what became of one test.
type result struct {
	name    string
	action  string // pass, fail, skip; "" while running
	elapsed time.Duration
	output  strings.Builder
}

func main() {
	prefixes := flag.String("prefix", "TestRel", "comma-separated prefixes of the top-level tests to tabulate")
	flag.Parse()
	failed, err := summarize(os.Stdin, os.Stdout, strings.Split(*prefixes, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// summarize reads the events from r and writes the report to w; failed
// says whether anything failed.
func summarize(r io.Reader, w io.Writer, prefixes []string) (failed bool, err error) {
	tests := map[string]*result{}
	var order []string
	pkgOutput := map[string]*strings.Builder{}
	var failedPkgs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil || e.Action == "" {
			// Not an event (e.g. a build error printed by go test): pass it on.
			fmt.Fprintln(w, string(line))
			continue
		}
		if e.Action == "build-output" {
			// A compiler's message (go test -json reports the build as
			// events since Go 1.24): without it a failed build says only
			// "build failed".
			fmt.Fprint(w, e.Output)
			continue
		}
		if e.Test == "" {
			switch e.Action {
			case "output":
				// The usual one line per package, as it comes.
				if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "?") {
					fmt.Fprint(w, e.Output)
				}
				b := pkgOutput[e.Package]
				if b == nil {
					b = &strings.Builder{}
					pkgOutput[e.Package] = b
				}
				b.WriteString(e.Output)
			case "fail":
				failedPkgs = append(failedPkgs, e.Package)
			}
			continue
		}
		key := e.Package + " " + e.Test
		t := tests[key]
		if t == nil {
			t = &result{name: e.Test}
			tests[key] = t
			order = append(order, key)
		}
		switch e.Action {
		case "output":
			t.output.WriteString(e.Output)
		case "pass", "fail", "skip":
			t.action = e.Action
			t.elapsed = time.Duration(e.Elapsed * float64(time.Second))
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}

	var rows []*result
	for _, k := range order {
		t := tests[k]
		if t.action == "fail" {
			failed = true
		}
		top, _, _ := strings.Cut(t.name, "/")
		if slices.ContainsFunc(prefixes, func(p string) bool { return p != "" && strings.HasPrefix(top, p) }) {
			rows = append(rows, t)
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "\n| scenario | result | time |\n|---|---|---|")
		for _, t := range rows {
			fmt.Fprintf(w, "| %s | %s | %s |\n", strings.ReplaceAll(t.name, "_", " "), verdict(t), t.elapsed.Round(100*time.Millisecond))
		}
	}
	for _, k := range order {
		if t := tests[k]; t.action == "fail" {
			fmt.Fprintf(w, "\n--- FAIL: %s\n%s", t.name, t.output.String())
		}
	}
	for _, p := range failedPkgs {
		failed = true
		fmt.Fprintf(w, "\nFAIL %s\n", p)
		if b := pkgOutput[p]; b != nil {
			fmt.Fprint(w, b.String())
		}
	}
	return failed, nil
}

// verdict is the table's result column: pass, FAIL, or the skip reason.
func verdict(t *result) string {
	switch t.action {
	case "pass":
		return "pass"
	case "fail":
		return "**FAIL**"
	case "skip":
		return "skipped: " + skipReason(t.output.String())
	}
	return "did not finish"
}

// skipReason is the message a t.Skip printed: the last output line that
// is not one of go test's own "=== RUN" or "--- SKIP" lines (the header
// comes before or after the message depending on how the test ran).
func skipReason(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- ") {
			return cell(l)
		}
	}
	return ""
}

// cell makes a log line fit a table cell: without the file:line prefix,
// pipes escaped.
func cell(l string) string {
	l = strings.TrimSpace(l)
	if i := strings.Index(l, ".go:"); i >= 0 {
		if j := strings.Index(l[i:], ": "); j >= 0 {
			l = l[i+j+2:]
		}
	}
	return strings.ReplaceAll(l, "|", `\|`)
}
