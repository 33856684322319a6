package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// question is one aggregate asked of both the engine and SQLite.
type question struct {
	name  string
	query *queryv1.AggregateQuery
	sql   string
	args  []any
}

// questions returns the three questions of the benchmark; year is the one
// year question (a) looks at.
func questions(year int) []question {
	y := strconv.Itoa(year)
	return []question{
		{
			name: "(a) migrants by citizenship, " + y,
			query: &queryv1.AggregateQuery{
				Measure: "migrants",
				GroupBy: []string{"citizenship"},
				Filters: []*queryv1.Filter{{Dimension: "period.year", Values: []string{y}}},
			},
			sql:  "SELECT citizenship, COUNT(*) FROM migrants WHERE year = ? GROUP BY citizenship",
			args: []any{year},
		},
		{
			name:  "(b) incidents by month × transport mode",
			query: &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month", "transport_mode"}},
			sql:   "SELECT month, mode, COUNT(*) FROM incidents GROUP BY month, mode",
		},
		{
			name:  "(c) migrants by origin × destination × sex",
			query: &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination", "sex"}},
			sql:   "SELECT origin, destination, sex, COUNT(*) FROM migrants GROUP BY origin, destination, sex",
		},
	}
}

// peers holds the engine and SQLite loaded with the same incidents, and
// DuckDB too when the binary is built with -tags duckdb (duck is nil
// otherwise).
type peers struct {
	eng         *engine.Engine
	sql         *sqliteDB
	duck        *duckDB
	engineBuild time.Duration
	sqliteBuild time.Duration
	duckLoad    duckdbLoad
}

// duckdbLoad is how DuckDB took the data in, for the table's notes.
type duckdbLoad struct {
	version                      string
	build                        time.Duration
	threads, incidents, migrants int
}

func (p *peers) Close() error { return errors.Join(p.sql.Close(), p.duck.Close()) }

// loadPeers feeds every chunk of incidents to the engine and to SQLite,
// timing each side's build separately.
func loadPeers(ctx context.Context, sqliteDir string, feed func(func([]*recordv1.Incident) error) error) (*peers, error) {
	s, err := openSQLite(sqliteDir)
	if err != nil {
		return nil, err
	}
	p := &peers{eng: engine.New(), sql: s}
	if p.duck, err = openDuckDB(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	l, err := s.begin(ctx)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	err = feed(func(incs []*recordv1.Incident) error {
		start := time.Now()
		for _, inc := range incs {
			if err := p.eng.Add(inc); err != nil {
				return fmt.Errorf("engine add: %w", err)
			}
		}
		p.engineBuild += time.Since(start)
		start = time.Now()
		for _, inc := range incs {
			if err := l.add(inc); err != nil {
				return err
			}
		}
		p.sqliteBuild += time.Since(start)
		if p.duck != nil {
			start = time.Now()
			for _, inc := range incs {
				if err := p.duck.add(inc); err != nil {
					return err
				}
			}
			p.duckLoad.build += time.Since(start)
		}
		return nil
	})
	if err != nil {
		_ = l.tx.Rollback()
		_ = p.Close()
		return nil, err
	}
	start := time.Now()
	if err := l.commit(s); err != nil {
		_ = p.Close()
		return nil, err
	}
	p.sqliteBuild += time.Since(start)
	if p.duck != nil {
		start = time.Now()
		if err := p.duck.finish(ctx); err != nil {
			_ = p.Close()
			return nil, err
		}
		p.duckLoad = p.duck.loaded(p.duckLoad.build + time.Since(start))
	}
	return p, nil
}

// engineCells runs q on the engine and keys its cells like SQLite's.
func engineCells(e *engine.Engine, q *queryv1.AggregateQuery) (map[string]int64, error) {
	cells, err := e.Aggregate(q)
	if err != nil {
		return nil, fmt.Errorf("engine aggregate: %w", err)
	}
	out := make(map[string]int64, len(cells))
	for _, c := range cells {
		out[cellKey(c.Key)] = c.Value
	}
	return out, nil
}

// agreement is what compareAnswers found the two answers to share.
type agreement struct {
	cells int
	total int64
}

// compareAnswers compares the engine's answer with a peer's (SQLite,
// DuckDB), cell by cell.
func compareAnswers(name, peer string, eng, other map[string]int64) (agreement, error) {
	var a agreement
	for _, k := range slices.Sorted(maps.Keys(other)) {
		v, ok := eng[k]
		if !ok {
			return a, fmt.Errorf("%s: cell %q is %d in %s, missing from the engine", name, k, other[k], peer)
		}
		if v != other[k] {
			return a, fmt.Errorf("%s: cell %q is %d in the engine, %d in %s", name, k, v, other[k], peer)
		}
		a.total += v
	}
	for k, v := range eng {
		if _, ok := other[k]; !ok {
			return a, fmt.Errorf("%s: cell %q is %d in the engine, missing from %s", name, k, v, peer)
		}
	}
	a.cells = len(other)
	return a, nil
}

// timings are the wall times of repeated runs.
type timings []time.Duration

func (t timings) sorted() timings {
	s := slices.Clone(t)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// median is the middle run (the mean of the two middle ones for an even
// count).
func (t timings) median() time.Duration {
	s := t.sorted()
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// p90 is the nearest-rank 90th percentile.
func (t timings) p90() time.Duration {
	s := t.sorted()
	if len(s) == 0 {
		return 0
	}
	i := (len(s)*90 + 99) / 100
	return s[max(i-1, 0)]
}

// runs are the wall and CPU times of repeated runs.
type runs struct{ wall, cpu timings }

// repeat runs fn once to warm up, then reps times, timing each by the
// wall clock and by the CPU time the process used (all threads): on a
// loaded machine the wall clock also counts waiting for a CPU, which
// punishes a parallel scan more than a single-threaded one.
func repeat(reps int, fn func() error) (runs, error) {
	var out runs
	if err := fn(); err != nil {
		return out, err
	}
	for range reps {
		cpu0, start := cpuTime(), time.Now()
		if err := fn(); err != nil {
			return out, err
		}
		out.wall = append(out.wall, time.Since(start))
		out.cpu = append(out.cpu, cpuTime()-cpu0)
	}
	return out, nil
}

// aggResult is one question's outcome.
type aggResult struct {
	q          question
	agree      agreement
	eng, sql   runs
	sqlitePlan string
	duck       runs // empty without -tags duckdb
}

// runQuestions verifies and then times every question on both peers.
func runQuestions(p *peers, qs []question, reps int) ([]aggResult, error) {
	var out []aggResult
	for _, q := range qs {
		ec, err := engineCells(p.eng, q.query)
		if err != nil {
			return nil, err
		}
		sc, err := p.sql.query(q.sql, q.args...)
		if err != nil {
			return nil, err
		}
		ag, err := compareAnswers(q.name, "SQLite", ec, sc)
		if err != nil {
			return nil, fmt.Errorf("engine and SQLite disagree: %w", err)
		}
		r := aggResult{q: q, agree: ag}
		if r.sqlitePlan, err = p.sql.plan(q.sql, q.args...); err != nil {
			return nil, err
		}
		// Both sides are timed up to the same map of cells.
		if r.eng, err = repeat(reps, func() error { _, err := engineCells(p.eng, q.query); return err }); err != nil {
			return nil, err
		}
		if r.sql, err = repeat(reps, func() error { _, err := p.sql.query(q.sql, q.args...); return err }); err != nil {
			return nil, err
		}
		if p.duck != nil {
			// DuckDB runs the same SQL on the same tables; it too must
			// agree cell by cell before it is timed.
			dc, err := p.duck.query(q.sql, q.args...)
			if err != nil {
				return nil, err
			}
			if _, err := compareAnswers(q.name, "DuckDB", ec, dc); err != nil {
				return nil, fmt.Errorf("engine and DuckDB disagree: %w", err)
			}
			fmt.Printf("  %s: engine and DuckDB agree on all %d cells\n", q.name, len(dc))
			if r.duck, err = repeat(reps, func() error { _, err := p.duck.query(q.sql, q.args...); return err }); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}
