package engine

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/node/engine/enginetest"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// TestFastPathsMatchReference runs each query shape the specialised loop
// takes (and the period index) against the brute-force reference, with
// dense arrays and with maps as accumulators, on one goroutine and split.
func TestFastPathsMatchReference(t *testing.T) {
	period := func(q *queryv1.AggregateQuery, from, to string) *queryv1.AggregateQuery {
		q.PeriodFrom, q.PeriodTo = from, to
		return q
	}
	tests := []struct {
		name string
		q    *queryv1.AggregateQuery
		fast bool
	}{
		{"incidents total", &queryv1.AggregateQuery{Measure: "incidents"}, true},
		{"incidents by month and mode", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month", "transport_mode"}}, true},
		{"incidents by year quarter origin destination subdivision location", &queryv1.AggregateQuery{Measure: "incidents",
			GroupBy: []string{"period.year", "period.quarter", "route.origin", "route.destination", "subdivision", "location_type"}}, true},
		{"incidents by mode, sea, one year", period(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"transport_mode"},
			Filters: []*queryv1.Filter{{Dimension: "iccs", Values: []string{"08051"}}}}, "2025-01-01", "2025-12-31"), true},
		{"incidents in part of a month", period(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month"}}, "2025-03-10", "2025-05-20"), true},
		{"incidents by month, quarter filter", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month"},
			Filters: []*queryv1.Filter{{Dimension: "period.quarter", Values: []string{"2024-Q2", "2026-Q4"}}}}, true},
		{"incidents in no month", period(&queryv1.AggregateQuery{Measure: "incidents"}, "2030-01-01", "2030-12-31"), true},
		{"migrants by citizenship, one year", period(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}}, "2025-01-01", "2025-12-31"), true},
		{"migrants by origin and destination", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination"}}, true},
		{"migrants by origin destination sex", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination", "sex"}}, true},
		{"migrants by citizenship sex age month", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship", "period.month", "sex", "age_band"}}, true},
		{"suspects by every person dimension", &queryv1.AggregateQuery{Measure: "suspects",
			GroupBy: []string{"suspect_role", "route.origin", "legal_status", "citizenship", "sex", "age_band"}}, true},
		{"suspects by role, mode filter", &queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"suspect_role"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA", "LAND"}}}}, true},
		// Shapes left to the generic loop, still through the period index.
		{"migrants by sex, citizenship filter", period(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"},
			Filters: []*queryv1.Filter{{Dimension: "citizenship", Values: []string{"MMR"}}}}, "2024-06-01", "2025-06-30"), false},
		{"convictions by year, one year", period(&queryv1.AggregateQuery{Measure: "convictions", GroupBy: []string{"period.year"}}, "2025-01-01", "2025-12-31"), false},
		{"incidents by transit", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"route.transit"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				e := New()
				e.rowsPerWorker = rapid.SampledFrom([]int{4, 1 << 20}).Draw(rt, "rowsPerWorker")
				e.denseMax = rapid.SampledFrom([]int{0, 1}).Draw(rt, "denseMax")
				current := map[string]*recordv1.Incident{}
				for i := range rapid.IntRange(0, 60).Draw(rt, "ops") {
					ref := fmt.Sprintf("REF-%d", rapid.IntRange(0, 40).Draw(rt, fmt.Sprint("ref", i)))
					if rapid.IntRange(0, 6).Draw(rt, fmt.Sprint("op", i)) == 0 {
						e.Apply(current[ref], nil)
						delete(current, ref)
						continue
					}
					inc := enginetest.GenIncident(rt, ref)
					e.Apply(current[ref], inc)
					current[ref] = inc
				}
				e.mu.RLock()
				c, err := e.compile(tt.q, options{feesCurrency: "USD"})
				e.mu.RUnlock()
				if err != nil {
					rt.Fatalf("compile: %v", err)
				}
				if c.fastPath() != tt.fast {
					rt.Fatalf("fastPath %v, want %v", c.fastPath(), tt.fast)
				}
				compare(rt, e, slices.Collect(maps.Values(current)), tt.q)
			})
		})
	}
}
