package engine

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vrs-federation/vrs/internal/synth"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// benchIncidents is how many incidents the benchmark loads: one million,
// or VRS_BENCH_INCIDENTS for a quicker run.
func benchIncidents() int {
	if n, err := strconv.Atoi(os.Getenv("VRS_BENCH_INCIDENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// benchEngine is built once per benchmark binary: generating a million
// synthetic incidents takes longer than the queries measured.
var benchEngine = sync.OnceValues(func() (*Engine, error) {
	g, err := synth.New(synth.Options{Country: "THA", Seed: 7,
		From: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	e := New()
	for range benchIncidents() {
		if err := e.Add(g.Next()); err != nil {
			return nil, err
		}
	}
	return e, nil
})

// BenchmarkAggregate runs typical regional-picture queries over one
// million incidents (about ten million persons).
func BenchmarkAggregate(b *testing.B) {
	e, err := benchEngine()
	if err != nil {
		b.Fatal(err)
	}
	queries := []struct {
		name string
		q    *queryv1.AggregateQuery
	}{
		{"total", &queryv1.AggregateQuery{Measure: "incidents"}},
		{"incidents_by_month_mode", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month", "transport_mode"}}},
		{"incidents_by_iccs_sea_2024", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"iccs"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA"}}}, PeriodFrom: "2024-01-01", PeriodTo: "2024-12-31"}},
		{"migrants_by_origin_destination", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination"}}},
		{"migrants_by_citizenship_sex_age", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship", "sex", "age_band"}}},
		{"migrants_by_citizenship_2025", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"},
			PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}},
		{"migrants_by_origin_destination_sex", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination", "sex"}}},
		{"convictions_by_year", &queryv1.AggregateQuery{Measure: "convictions", GroupBy: []string{"period.year"}}},
		{"fees_by_origin", &queryv1.AggregateQuery{Measure: "fees_paid", GroupBy: []string{"route.origin"}}},
	}
	for _, tt := range queries {
		b.Run(tt.name, func(b *testing.B) {
			var cells int
			for b.Loop() {
				c, err := e.Aggregate(tt.q, WithFeesCurrency("USD"))
				if err != nil {
					b.Fatal(err)
				}
				cells = len(c)
			}
			b.ReportMetric(float64(cells), "cells")
		})
	}
	b.Run("rows", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(e.Len()), "incidents")
		b.Logf("%d incidents, %d migrants, %d suspects", e.Len(), e.mig.len(), e.sus.len())
	})
}

// questionsEngine holds the data set of cmd bench's aggregate scenario
// (Indonesia, seed 1, ten years, about 27 migrants per incident), built
// once per benchmark binary.
var questionsEngine = sync.OnceValues(func() (*Engine, error) {
	g, err := synth.New(synth.Options{Country: "IDN", Seed: 1,
		From: time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	e := New()
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("VRS_BENCH_QUESTIONS")); err == nil && v > 0 {
		n = v
	}
	for range n {
		if err := e.Add(g.Next()); err != nil {
			return nil, err
		}
	}
	return e, nil
})

// BenchmarkQuestions runs the three questions of cmd bench's aggregate
// scenario on its data set (200,000 incidents, or VRS_BENCH_QUESTIONS).
func BenchmarkQuestions(b *testing.B) {
	e, err := questionsEngine()
	if err != nil {
		b.Fatal(err)
	}
	queries := []struct {
		name string
		q    *queryv1.AggregateQuery
	}{
		{"a_migrants_by_citizenship_2025", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"},
			Filters: []*queryv1.Filter{{Dimension: "period.year", Values: []string{"2025"}}}}},
		{"b_incidents_by_month_mode", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month", "transport_mode"}}},
		{"c_migrants_by_origin_destination_sex", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination", "sex"}}},
		{"a2_migrants_by_citizenship_2025_sea", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"},
			Filters: []*queryv1.Filter{{Dimension: "period.year", Values: []string{"2025"}}, {Dimension: "transport_mode", Values: []string{"SEA"}}}}},
		{"b2_incidents_by_month_mode_location", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month", "transport_mode", "location_type"}}},
	}
	for _, tt := range queries {
		b.Run(tt.name, func(b *testing.B) {
			var cells int
			cpu0 := cpuTime()
			for b.Loop() {
				c, err := e.Aggregate(tt.q)
				if err != nil {
					b.Fatal(err)
				}
				cells = len(c)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(cells), "cells")
		})
	}
}
