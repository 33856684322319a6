package differencing

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vrs-federation/vrs/internal/synth"
	"github.com/vrs-federation/vrs/node/disclosure"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// benchEngine holds VRS_BENCH_INCIDENTS (default 100,000) synthetic
// incidents of 2025, built once per benchmark binary.
var benchEngine = sync.OnceValues(func() (*engine.Engine, error) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("VRS_BENCH_INCIDENTS")); err == nil && v > 0 {
		n = v
	}
	g, err := synth.New(synth.Options{Country: "THA", Seed: 7,
		From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	e := engine.New()
	for range n {
		if err := e.Add(g.Next()); err != nil {
			return nil, err
		}
	}
	return e, nil
})

// BenchmarkGuard replays what a hub asks of a node over a year, under an
// exact agreement with min_cell 5, and reports, side by side, the time the
// engine takes to compute the answers and the time the guard takes to
// check them: one sequence per iteration, from an empty memory.
func BenchmarkGuard(b *testing.B) {
	e, err := benchEngine()
	if err != nil {
		b.Fatal(err)
	}
	route := []string{"route.origin", "route.destination"}
	period := func(from, to string) *queryv1.AggregateQuery {
		return &queryv1.AggregateQuery{Measure: "migrants", GroupBy: route, PeriodFrom: from, PeriodTo: to}
	}
	var months []*queryv1.AggregateQuery
	for m := 1; m <= 12; m++ {
		last := time.Date(2025, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		months = append(months, period(fmt.Sprintf("2025-%02d-01", m), fmt.Sprintf("2025-%02d-%02d", m, last)))
	}
	year := period("2025-01-01", "2025-12-31")
	byMode := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month", "transport_mode"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
	sequences := []struct {
		name string
		qs   []*queryv1.AggregateQuery
	}{
		{"route_table_year", []*queryv1.AggregateQuery{year}},
		{"route_table_year_then_12_months", append([]*queryv1.AggregateQuery{year}, months...)},
		{"route_table_year_asked_again", []*queryv1.AggregateQuery{year, year}},
		{"months_by_mode_then_route_tables", append([]*queryv1.AggregateQuery{byMode, year}, months[:3]...)},
	}
	rule := disclosure.Rule{MinCell: 5, Rounding: disclosure.RoundingNone}
	for _, s := range sequences {
		b.Run(s.name, func(b *testing.B) {
			var agg, check time.Duration
			var cells, withheld int
			for b.Loop() {
				g := New(e)
				cells, withheld = 0, 0
				for _, q := range s.qs {
					t0 := time.Now()
					raw, err := e.Aggregate(q)
					if err != nil {
						b.Fatal(err)
					}
					out, _, err := disclosure.Apply(rule, q, raw)
					if err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					res, err := g.Check(q, out, Rule{MinCell: 5})
					if err != nil {
						b.Fatal(err)
					}
					for _, i := range res.Withheld {
						out[i].Status = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
					}
					g.Record(q, out, "")
					agg += t1.Sub(t0)
					check += time.Since(t1)
					cells += len(out)
					withheld += len(res.Withheld)
				}
			}
			b.ReportMetric(float64(agg.Milliseconds())/float64(b.N), "aggregate-ms/seq")
			b.ReportMetric(float64(check.Milliseconds())/float64(b.N), "guard-ms/seq")
			b.ReportMetric(float64(cells), "cells/seq")
			b.ReportMetric(float64(withheld), "withheld/seq")
		})
	}
}
