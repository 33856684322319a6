package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/node/engine/enginetest"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

func compare(t *rapid.T, e *Engine, incs []*recordv1.Incident, q *queryv1.AggregateQuery) {
	cells, err := e.Aggregate(q, WithFeesCurrency("USD"))
	if err != nil {
		t.Fatalf("aggregate %v: %v", q, err)
	}
	want := enginetest.Reference(incs, q, "USD")
	got := map[string]enginetest.Cell{}
	for i, c := range cells {
		if len(c.Key) != len(q.GetGroupBy()) {
			t.Fatalf("cell %v has %d key values, want %d", c.Key, len(c.Key), len(q.GetGroupBy()))
		}
		if i > 0 && slices.CompareFunc(cells[i-1].Key, c.Key, strings.Compare) >= 0 {
			t.Fatalf("cells out of order: %v then %v", cells[i-1].Key, c.Key)
		}
		got[strings.Join(c.Key, "\x00")] = enginetest.Cell{V: c.Value, Units: c.Units}
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.V != w.V || g.Units != w.Units {
			t.Fatalf("query %v: cell %q: got %+v (present %v), want value %d units %d", q, k, g, ok, w.V, w.Units)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("query %v: got %d cells, want %d: %v", q, len(got), len(want), slices.Sorted(maps.Keys(got)))
	}
}

func TestAggregateMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := New()
		e.compactFloor = 4  // exercise compaction on small data
		e.rowsPerWorker = 4 // and parallel scans with merged accumulators
		current := map[string]*recordv1.Incident{}
		for i := range rapid.IntRange(0, 40).Draw(t, "ops") {
			ref := fmt.Sprintf("REF-%d", rapid.IntRange(0, 25).Draw(t, fmt.Sprint("ref", i)))
			if rapid.IntRange(0, 5).Draw(t, fmt.Sprint("op", i)) == 0 {
				e.Apply(current[ref], nil)
				delete(current, ref)
				continue
			}
			inc := enginetest.GenIncident(t, ref)
			e.Apply(current[ref], inc)
			current[ref] = inc
		}
		if e.Len() != len(current) {
			t.Fatalf("Len %d, want %d", e.Len(), len(current))
		}
		incs := slices.Collect(maps.Values(current))
		for range 5 {
			compare(t, e, incs, enginetest.GenQuery(t))
		}
	})
}

func TestAggregateExamples(t *testing.T) {
	e := New()
	age := int32(16)
	incs := []*recordv1.Incident{
		{NationalRef: "A", DetectedOn: "2026-03-02", TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
			IccsCodes: []string{"08051", "07023"}, Route: &recordv1.Route{Origin: "MMR", Transit: []string{"THA", "MYS"}},
			Fee:      &recordv1.Fee{AmountPerPerson: 1000.4, Currency: "USD"},
			Migrants: []*recordv1.Person{{Citizenship: "MMR", Sex: recordv1.Sex_SEX_FEMALE, Age: &age, UnaccompaniedMinor: true}, {Citizenship: "MMR"}},
			Suspects: []*recordv1.Person{{LegalStatus: recordv1.LegalStatus_LEGAL_STATUS_CONVICTED}},
			Harm:     &recordv1.Harm{Deaths: 2}},
		{NationalRef: "B", DetectedOn: "2026-04-10", TransportMode: recordv1.TransportMode_TRANSPORT_MODE_LAND,
			Fee:      &recordv1.Fee{AmountPerPerson: 50, Currency: "THB"},
			Migrants: []*recordv1.Person{{Citizenship: "KHM", Sex: recordv1.Sex_SEX_MALE}}},
	}
	for _, inc := range incs {
		if err := e.Add(inc); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Add(&recordv1.Incident{NationalRef: "bad", DetectedOn: "2026-13-01"}); err == nil {
		t.Fatal("Add accepted a bad date")
	}
	tests := []struct {
		name string
		q    *queryv1.AggregateQuery
		want []RawCell
	}{
		{"total incidents", &queryv1.AggregateQuery{Measure: "incidents"}, []RawCell{{Key: []string{}, Value: 2, Units: 2}}},
		{"migrants by sex", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"}},
			[]RawCell{{Key: []string{"FEMALE"}, Value: 1, Units: 1}, {Key: []string{"MALE"}, Value: 1, Units: 1}, {Key: []string{"UNKNOWN"}, Value: 1, Units: 1}}},
		{"iccs is multi-valued", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"iccs"}},
			[]RawCell{{Key: []string{"07023"}, Value: 1, Units: 1}, {Key: []string{"08051"}, Value: 1, Units: 1}, {Key: []string{"none"}, Value: 1, Units: 1}}},
		{"transit filtered and grouped", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.transit"},
			Filters: []*queryv1.Filter{{Dimension: "route.transit", Values: []string{"MYS"}}}},
			[]RawCell{{Key: []string{"MYS"}, Value: 2, Units: 2}}},
		{"fees in USD only", &queryv1.AggregateQuery{Measure: "fees_paid"}, []RawCell{{Key: []string{}, Value: 2001, Units: 2}}},
		{"deaths by quarter", &queryv1.AggregateQuery{Measure: "deaths", GroupBy: []string{"period.quarter"}},
			[]RawCell{{Key: []string{"2026-Q1"}, Value: 2, Units: 1}, {Key: []string{"2026-Q2"}, Value: 0, Units: 1}}},
		{"minors by age", &queryv1.AggregateQuery{Measure: "minors_unaccompanied", GroupBy: []string{"age_band"}},
			[]RawCell{{Key: []string{"0-17"}, Value: 1, Units: 1}}},
		{"convictions", &queryv1.AggregateQuery{Measure: "convictions", GroupBy: []string{"period.month"}},
			[]RawCell{{Key: []string{"2026-03"}, Value: 1, Units: 1}}},
		{"period excludes", &queryv1.AggregateQuery{Measure: "incidents", PeriodFrom: "2026-04-01", PeriodTo: "2026-04-30"},
			[]RawCell{{Key: []string{}, Value: 1, Units: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st, err := e.AggregateStats(tt.q, WithFeesCurrency("USD"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b RawCell) bool {
				return slices.Equal(a.Key, b.Key) && a.Value == b.Value && a.Units == b.Units
			}) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if tt.q.GetMeasure() == "fees_paid" && st.FeesOtherCurrency != 1 {
				t.Fatalf("FeesOtherCurrency = %d, want 1", st.FeesOtherCurrency)
			}
		})
	}
	bad := []*queryv1.AggregateQuery{
		{Measure: "nope"},
		{Measure: "incidents", GroupBy: []string{"sex"}},
		{Measure: "migrants", GroupBy: []string{"legal_status"}},
		{Measure: "incidents", GroupBy: []string{"iccs", "iccs"}},
		{Measure: "incidents", Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"BOAT"}}}},
		{Measure: "incidents", PeriodFrom: "2026-02-30"},
	}
	for _, q := range bad {
		if _, err := e.Aggregate(q, WithFeesCurrency("USD")); err == nil {
			t.Errorf("query %v: no error", q)
		}
	}
	if _, err := e.Aggregate(&queryv1.AggregateQuery{Measure: "fees_paid"}); err == nil {
		t.Error("fees_paid without currency: no error")
	}
}

func TestEmptyEngine(t *testing.T) {
	e := New()
	cells, err := e.Aggregate(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.year", "sex"},
		Filters: []*queryv1.Filter{{Dimension: "period.month", Values: []string{"2026-01"}}}})
	if err != nil || len(cells) != 0 {
		t.Fatalf("got %v, %v", cells, err)
	}
}

func TestConcurrentApplyAndAggregate(t *testing.T) {
	e := New()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			inc := &recordv1.Incident{NationalRef: fmt.Sprint("R", i%300), DetectedOn: "2026-01-02",
				Migrants: []*recordv1.Person{{Citizenship: "MMR"}}}
			e.Apply(nil, inc)
			if i%7 == 0 {
				e.Apply(inc, nil)
			}
		}
	})
	wg.Go(func() {
		for range 200 {
			if _, err := e.Aggregate(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	cells, err := e.Aggregate(&queryv1.AggregateQuery{Measure: "migrants"})
	if err != nil || len(cells) != 1 || cells[0].Value != int64(e.Len()) {
		t.Fatalf("got %v, %v with %d incidents", cells, err, e.Len())
	}
}
