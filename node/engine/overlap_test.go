package engine

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/node/engine/enginetest"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// TestOverlapsMatchAggregate checks Overlaps against Aggregate: the units
// of the classes inside a cell's scope add up to the cell's units, for
// every cell of random queries over random data, and no class is empty or
// outside every scope.
func TestOverlapsMatchAggregate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := New()
		for i := range rapid.IntRange(1, 40).Draw(t, "n") {
			if err := e.Add(enginetest.GenIncident(t, fmt.Sprint("REF-", i))); err != nil {
				t.Fatal(err)
			}
		}
		q := enginetest.GenQuery(t)
		if q.GetMeasure() == "fees_paid" {
			// Its units are persons paying, counted per incident here.
			q.Measure = "incidents"
			q.Filters = nil
			q.GroupBy = []string{"route.transit", "period.quarter"}
		}
		cells, err := e.Aggregate(q, WithFeesCurrency("USD"))
		if err != nil {
			t.Fatalf("aggregate %v: %v", q, err)
		}
		scopes := make([]*queryv1.AggregateQuery, len(cells))
		for i, c := range cells {
			scopes[i] = CellScope(q, c.Key)
		}
		classes, err := e.Overlaps(scopes, WithFeesCurrency("USD"))
		if err != nil {
			t.Fatalf("overlaps of %v: %v", q, err)
		}
		units := make([]int64, len(cells))
		sizes := make([]int64, len(cells))
		for _, c := range classes {
			if c.Units <= 0 || len(c.Scopes) == 0 {
				t.Fatalf("class %+v is empty or in no scope", c)
			}
			for _, i := range c.Scopes {
				units[i] += c.Units
				sizes[i] += c.Size
			}
		}
		for i, c := range cells {
			if units[i] != c.Units {
				t.Fatalf("query %v, cell %v: classes hold %d units, the cell %d", q, c.Key, units[i], c.Units)
			}
			if sizes[i] != c.Value {
				t.Fatalf("query %v, cell %v: classes' sizes add up to %d, the cell's value is %d", q, c.Key, sizes[i], c.Value)
			}
		}
	})
}

func TestOverlapsRejectsGroupedScopes(t *testing.T) {
	e := New()
	_, err := e.Overlaps([]*queryv1.AggregateQuery{{Measure: "incidents", GroupBy: []string{"sex"}}})
	if err == nil {
		t.Fatal("a grouped scope was accepted")
	}
	_, err = e.Overlaps([]*queryv1.AggregateQuery{{Measure: "incidents"}, {Measure: "migrants"}})
	if err == nil {
		t.Fatal("scopes of two measures were accepted")
	}
}

// TestGeneration: every change moves the generation, reads do not.
func TestGeneration(t *testing.T) {
	e := New()
	g0 := e.Generation()
	inc := &recordv1.Incident{NationalRef: "G-1", DetectedOn: "2025-01-02"}
	if err := e.Add(inc); err != nil {
		t.Fatal(err)
	}
	g1 := e.Generation()
	if g1 == g0 {
		t.Fatal("Add did not move the generation")
	}
	if _, err := e.Aggregate(&queryv1.AggregateQuery{Measure: "incidents"}); err != nil {
		t.Fatal(err)
	}
	if e.Generation() != g1 {
		t.Fatal("a read moved the generation")
	}
	e.Apply(inc, nil)
	if e.Generation() == g1 {
		t.Fatal("Apply did not move the generation")
	}
}
