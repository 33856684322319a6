//go:build duckdb

package main

import (
	"os"
	"strconv"
	"testing"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// TestEngineAgreesWithDuckDB is the check the command makes before timing
// DuckDB, on a small data set: every question, every cell, the same count
// in the engine, in SQLite and in DuckDB.
func TestEngineAgreesWithDuckDB(t *testing.T) {
	p := loadTestPeers(t, 2_000)
	if p.duck == nil {
		t.Fatal("built with -tags duckdb but loadPeers did not load DuckDB")
	}
	if p.duckLoad.incidents != 2_000 || p.duckLoad.migrants != p.sql.rows.migrants || p.duckLoad.threads < 1 {
		t.Fatalf("DuckDB load = %+v, SQLite has %d migrants", p.duckLoad, p.sql.rows.migrants)
	}
	for _, q := range questions(2025) {
		t.Run(q.name, func(t *testing.T) {
			ec, err := engineCells(p.eng, q.query)
			if err != nil {
				t.Fatal(err)
			}
			dc, err := p.duck.query(q.sql, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			if len(dc) == 0 {
				t.Fatal("DuckDB gave no cells")
			}
			if _, err := compareAnswers(q.name, "DuckDB", ec, dc); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDuckDBColumns(t *testing.T) {
	tb := &table{header: []string{"question"}}
	tb.add("(a)")
	duckdbColumns(tb, []aggResult{{}}, duckdbLoad{threads: 2})
	if len(tb.rows[0]) != len(tb.header) {
		t.Fatalf("row has %d cells, header %d", len(tb.rows[0]), len(tb.header))
	}
}

// BenchmarkDuckDB times DuckDB alone on the three questions, loading only
// DuckDB (VRS_BENCH_INCIDENTS, default 100,000):
//
//	cd bench && go test -tags duckdb -run '^$' -bench DuckDB
func BenchmarkDuckDB(b *testing.B) {
	n := 100_000
	if s := os.Getenv("VRS_BENCH_INCIDENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	d, err := openDuckDB(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	err = testDataset().chunks(n, 10_000, func(incs []*recordv1.Incident) error {
		for _, inc := range incs {
			if err := d.add(inc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.finish(b.Context()); err != nil {
		b.Fatal(err)
	}
	for i, q := range questions(2025) {
		b.Run(string(rune('a'+i)), func(b *testing.B) {
			for b.Loop() {
				if _, err := d.query(q.sql, q.args...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
