package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/node/engine/enginetest"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// TestFastPathsMatchReference runs each query shape the specialised loop
// takes (and the period index and the month summaries) against the
// brute-force reference, with dense arrays and with maps as accumulators,
// on one goroutine and split.
func TestFastPathsMatchReference(t *testing.T) {
	period := func(q *queryv1.AggregateQuery, from, to string) *queryv1.AggregateQuery {
		q.PeriodFrom, q.PeriodTo = from, to
		return q
	}
	tests := []struct {
		name    string
		q       *queryv1.AggregateQuery
		fast    bool
		summary bool // must be answered from the month summaries
	}{
		{"incidents total", &queryv1.AggregateQuery{Measure: "incidents"}, true, true},
		{"incidents by month and mode", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month", "transport_mode"}}, true, true},
		{"incidents by year quarter origin destination subdivision location", &queryv1.AggregateQuery{Measure: "incidents",
			GroupBy: []string{"period.year", "period.quarter", "route.origin", "route.destination", "subdivision", "location_type"}}, true, false},
		{"incidents by mode, sea, one year", period(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"transport_mode"},
			Filters: []*queryv1.Filter{{Dimension: "iccs", Values: []string{"08051"}}}}, "2025-01-01", "2025-12-31"), true, false},
		{"incidents in part of a month", period(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month"}}, "2025-03-10", "2025-05-20"), true, false},
		{"incidents by month, quarter filter", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month"},
			Filters: []*queryv1.Filter{{Dimension: "period.quarter", Values: []string{"2024-Q2", "2026-Q4"}}}}, true, true},
		{"incidents in no month", period(&queryv1.AggregateQuery{Measure: "incidents"}, "2030-01-01", "2030-12-31"), true, true},
		{"incidents by quarter and subdivision, year filter", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"subdivision", "period.quarter"},
			Filters: []*queryv1.Filter{{Dimension: "period.year", Values: []string{"2025"}}}}, true, true},
		{"incidents by year and location, whole months", period(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.year", "location_type"}}, "2024-03-01", "2025-04-30"), true, true},
		{"migrants by citizenship, one year", period(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}}, "2025-01-01", "2025-12-31"), true, true},
		{"migrants by month", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month"}}, true, true},
		{"migrants by sex and origin, year filter", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "sex"},
			Filters: []*queryv1.Filter{{Dimension: "period.year", Values: []string{"2025"}}}}, true, false},
		{"migrants by age band, one year", period(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"age_band"}}, "2025-01-01", "2025-12-31"), true, true},
		{"suspects by legal status and year", &queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"legal_status", "period.year"}}, true, true},
		{"suspects by destination", &queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"route.destination"}}, true, true},
		// One person dimension through the scan (dense counters per code).
		{"migrants by citizenship, sea", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA"}}}}, true, false},
		{"migrants by age band, part of a year", period(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"age_band"}}, "2025-02-10", "2025-11-20"), true, false},
		{"migrants by sex, land", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"LAND"}}}}, true, false},
		{"suspects by legal status, air", &queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"legal_status"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"AIR"}}}}, true, false},
		{"migrants by origin and destination", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination"}}, true, false},
		{"migrants by origin destination sex", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "route.destination", "sex"}}, true, false},
		{"migrants by citizenship sex age month", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship", "period.month", "sex", "age_band"}}, true, false},
		{"suspects by every person dimension", &queryv1.AggregateQuery{Measure: "suspects",
			GroupBy: []string{"suspect_role", "route.origin", "legal_status", "citizenship", "sex", "age_band"}}, true, false},
		{"suspects by role, mode filter", &queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"suspect_role"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA", "LAND"}}}}, true, false},
		// Shapes left to the generic loop, still through the period index.
		{"migrants by sex, citizenship filter", period(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"},
			Filters: []*queryv1.Filter{{Dimension: "citizenship", Values: []string{"MMR"}}}}, "2024-06-01", "2025-06-30"), false, false},
		{"convictions by year, one year", period(&queryv1.AggregateQuery{Measure: "convictions", GroupBy: []string{"period.year"}}, "2025-01-01", "2025-12-31"), false, false},
		{"incidents by transit", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"route.transit"}}, false, false},
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
				checkMonthLists(rt, e)
				e.mu.RLock()
				c, err := e.compile(tt.q, options{feesCurrency: "USD"})
				summary := err == nil && e.fromSummary(c, newAccumulator(c.totalBits, 0, c.countOnly()))
				e.mu.RUnlock()
				if err != nil {
					rt.Fatalf("compile: %v", err)
				}
				if tt.summary && !summary {
					rt.Fatalf("not answered from the summaries")
				}
				if c.fastPath() != tt.fast {
					rt.Fatalf("fastPath %v, want %v", c.fastPath(), tt.fast)
				}
				compare(rt, e, slices.Collect(maps.Values(current)), tt.q)
			})
		})
	}
}

// TestSummaryRefuses checks the month summaries leave to the scan every
// query they cannot answer exactly.
func TestSummaryRefuses(t *testing.T) {
	e := New()
	for i, day := range []string{"2025-01-15", "2025-02-03", "2025-03-28", "2025-06-30"} {
		inc := &recordv1.Incident{NationalRef: fmt.Sprint("R", i), DetectedOn: day,
			TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
			Migrants:      []*recordv1.Person{{Citizenship: "MMR", Sex: recordv1.Sex_SEX_FEMALE}}}
		if err := e.Add(inc); err != nil {
			t.Fatal(err)
		}
	}
	year := []*queryv1.Filter{{Dimension: "period.year", Values: []string{"2025"}}}
	tests := []struct {
		name string
		q    *queryv1.AggregateQuery
		want bool
	}{
		{"whole months", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex", "period.quarter"}, Filters: year,
			PeriodFrom: "2025-02-01", PeriodTo: "2025-03-31"}, true},
		{"part of a month", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"}, PeriodFrom: "2025-02-01", PeriodTo: "2025-03-27"}, false},
		{"two dimensions", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex", "citizenship"}}, false},
		{"a filter", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"},
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA"}}}}, false},
		{"a multi-valued dimension", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"iccs"}}, false},
		{"not a plain count", &queryv1.AggregateQuery{Measure: "minors_unaccompanied", GroupBy: []string{"period.year"}}, false},
		{"a sum", &queryv1.AggregateQuery{Measure: "deaths"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.mu.RLock()
			defer e.mu.RUnlock()
			c, err := e.compile(tt.q, options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.fromSummary(c, newAccumulator(c.totalBits, 0, c.countOnly())); got != tt.want {
				t.Errorf("fromSummary = %v, want %v", got, tt.want)
			}
		})
	}
}

// checkMonthLists checks that the month index lists every live row once,
// under its month, and nothing else.
func checkMonthLists(t *rapid.T, e *Engine) {
	t.Helper()
	seen := map[uint32]bool{}
	for m, rows := range e.byMonth {
		for i, r := range rows {
			if !e.alive[r] || e.month[r] != m || e.monthPos[r] != uint32(i) || seen[r] {
				t.Fatalf("month %d lists row %d at %d (alive %v, month %d, pos %d, seen %v)",
					m, r, i, e.alive[r], e.month[r], e.monthPos[r], seen[r])
			}
			seen[r] = true
		}
	}
	if len(seen) != e.live {
		t.Fatalf("month lists hold %d rows, %d live", len(seen), e.live)
	}
}

// TestHarmAboveAByte checks harm counts that do not fit the one-byte
// columns, including an update back to small counts and a delete.
func TestHarmAboveAByte(t *testing.T) {
	harm := func(ref string, d, m, i int32) *recordv1.Incident {
		return &recordv1.Incident{NationalRef: ref, DetectedOn: "2025-05-05",
			TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
			Harm:          &recordv1.Harm{Deaths: d, Missing: m, Injured: i}}
	}
	e := New()
	current := map[string]*recordv1.Incident{}
	apply := func(ref string, inc *recordv1.Incident) {
		e.Apply(current[ref], inc)
		if inc == nil {
			delete(current, ref)
			return
		}
		current[ref] = inc
	}
	apply("A", harm("A", 1000, 0, 254))
	apply("B", harm("B", 254, 255, 3))
	apply("C", harm("C", 70000, 1, 0))
	apply("D", harm("D", 2, 2, 2))
	apply("B", harm("B", 1, 1, 1)) // no longer big
	apply("C", nil)
	apply("E", harm("E", 0, 0, 300))
	if len(e.bigHarm) != 2 {
		t.Errorf("%d rows with big harm, want 2 (A and E)", len(e.bigHarm))
	}
	for _, m := range []string{"deaths", "missing", "injured"} {
		q := &queryv1.AggregateQuery{Measure: m, GroupBy: []string{"transport_mode"}}
		cells, err := e.Aggregate(q)
		if err != nil {
			t.Fatal(err)
		}
		want := enginetest.Reference(slices.Collect(maps.Values(current)), q, "USD")
		if len(cells) != 1 || len(want) != 1 {
			t.Fatalf("%s: %d cells, reference %d", m, len(cells), len(want))
		}
		if w := want[strings.Join(cells[0].Key, "\x00")]; cells[0].Value != w.V || cells[0].Units != w.Units {
			t.Errorf("%s: got %+v, want %+v", m, cells[0], w)
		}
	}
}

// TestPush checks push keeps every value, past the length where it
// starts growing by a sixteenth.
func TestPush(t *testing.T) {
	var s []uint32
	for i := range 3 * bigSlice {
		s = push(s, uint32(i))
		if i%1000 == 0 {
			s = push(s, 7, 8)
			s = s[:len(s)-2]
		}
	}
	if len(s) != 3*bigSlice {
		t.Fatalf("len %d, want %d", len(s), 3*bigSlice)
	}
	for i, v := range s {
		if v != uint32(i) {
			t.Fatalf("s[%d] = %d", i, v)
		}
	}
	if c := cap(s); c > len(s)+len(s)/16+1 {
		t.Errorf("cap %d for len %d: grew by more than a sixteenth", c, len(s))
	}
}
