package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

func testDataset() dataset {
	return dataset{country: "IDN", seed: 1,
		from: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)}
}

func loadTestPeers(tb testing.TB, n int) *peers {
	tb.Helper()
	d := testDataset()
	p, err := loadPeers(tb.Context(), "", func(fn func([]*recordv1.Incident) error) error {
		return d.chunks(n, 10_000, fn)
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// TestEngineAgreesWithSQLite is the check the command makes before timing,
// on a small data set: every question, every cell, the same count.
func TestEngineAgreesWithSQLite(t *testing.T) {
	p := loadTestPeers(t, 2_000)
	for _, q := range questions(2025) {
		t.Run(q.name, func(t *testing.T) {
			ec, err := engineCells(p.eng, q.query)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := p.sql.query(q.sql, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			a, err := compareAnswers(q.name, "SQLite", ec, sc)
			if err != nil {
				t.Fatal(err)
			}
			if a.cells == 0 || a.total == 0 {
				t.Fatalf("empty answer: %+v", a)
			}
		})
	}
}

func TestCompareAnswersFindsDifferences(t *testing.T) {
	tests := []struct {
		name     string
		eng, sql map[string]int64
		ok       bool
	}{
		{"same", map[string]int64{"a": 1, "b": 2}, map[string]int64{"a": 1, "b": 2}, true},
		{"count differs", map[string]int64{"a": 1}, map[string]int64{"a": 2}, false},
		{"missing from engine", map[string]int64{}, map[string]int64{"a": 2}, false},
		{"missing from SQLite", map[string]int64{"a": 1}, map[string]int64{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compareAnswers("q", "SQLite", tt.eng, tt.sql)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestTimings(t *testing.T) {
	ts := timings{5, 1, 4, 2, 3, 9, 8, 7, 6, 10}
	if got := ts.median(); got != 5 { // (5+6)/2 in integer nanoseconds
		t.Errorf("median = %d, want 5", got)
	}
	if got := ts.p90(); got != 9 {
		t.Errorf("p90 = %d, want 9", got)
	}
	if got := (timings{3, 1, 2}).median(); got != 2 {
		t.Errorf("median = %d, want 2", got)
	}
}

func TestMarkdownTable(t *testing.T) {
	tb := &table{title: "T", header: []string{"a", "b"}}
	tb.add("x|y", "1")
	tb.note("n %d", 1)
	var buf bytes.Buffer
	tb.markdown(&buf)
	for _, want := range []string{"### T", "| a | b |", `| x\|y | 1 |`, "- n 1"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, buf.String())
		}
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands = %q", got)
	}
}

// BenchmarkAggregate is the testing.B form of scenario 1. The size is
// VRS_BENCH_INCIDENTS (default 100,000; the command defaults to 1M):
//
//	cd bench && go test -run '^$' -bench Aggregate
func BenchmarkAggregate(b *testing.B) {
	n := 100_000
	if s := os.Getenv("VRS_BENCH_INCIDENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	p := loadTestPeers(b, n)
	for i, q := range questions(2025) {
		name := string(rune('a' + i))
		b.Run(name+"/engine", func(b *testing.B) {
			for b.Loop() {
				if _, err := engineCells(p.eng, q.query); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/sqlite", func(b *testing.B) {
			for b.Loop() {
				if _, err := p.sql.query(q.sql, q.args...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
