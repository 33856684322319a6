package differencing

import (
	"fmt"
	"testing"

	"github.com/vrs-federation/vrs/node/disclosure"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// answerIn is answer() for a query whose fees are summed in cur.
func answerIn(t *testing.T, e *engine.Engine, g *Guard, q *queryv1.AggregateQuery, cur string) []*queryv1.Cell {
	t.Helper()
	raw, err := e.Aggregate(q, engine.WithFeesCurrency(cur))
	if err != nil {
		t.Fatal(err)
	}
	cells, _, err := disclosure.Apply(disclosure.Rule{MinCell: 5, Rounding: disclosure.RoundingNone, FeesCurrency: cur}, q, raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Check(q, cells, Rule{MinCell: 5, FeesCurrency: cur})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range res.Withheld {
		cells[i].Value, cells[i].Status = 0, queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
	}
	g.Record(q, cells, cur)
	return cells
}

func q1(measure, from, to string, filters ...*queryv1.Filter) *queryv1.AggregateQuery {
	return &queryv1.AggregateQuery{Measure: measure, PeriodFrom: from, PeriodTo: to, Filters: filters}
}

// TestGuardComparesConvictionsWithSuspects: convictions(X) is suspects(X, legal_status
// = CONVICTED), but the two measures have separate books.
func TestGuardComparesConvictionsWithSuspects(t *testing.T) {
	e := engine.New()
	n := 0
	for _, c := range []struct {
		month string
		k     int
	}{{"2025-01", 6}, {"2025-02", 5}, {"2025-03", 3}} {
		for i := range c.k {
			n++
			if err := e.Add(&recordv1.Incident{
				NationalRef: fmt.Sprintf("R-%d", n), DetectedOn: fmt.Sprintf("%s-%02d", c.month, 1+i),
				DetectedAt: &recordv1.Place{Country: "THA"}, Route: &recordv1.Route{Origin: "MMR", Destination: "THA"},
				TransportMode: recordv1.TransportMode_TRANSPORT_MODE_LAND,
				Suspects:      []*recordv1.Person{{Citizenship: "THA", Sex: recordv1.Sex_SEX_MALE, LegalStatus: recordv1.LegalStatus_LEGAL_STATUS_CONVICTED}},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	g := New(e)
	conv := &queryv1.Filter{Dimension: "legal_status", Values: []string{"CONVICTED"}}
	march := answerIn(t, e, g, q1("suspects", "2025-03-01", "2025-03-31", conv), "")
	janFeb := answerIn(t, e, g, q1("suspects", "2025-01-01", "2025-02-28", conv), "")
	quarter := answerIn(t, e, g, q1("convictions", "2025-01-01", "2025-03-31"), "")
	t.Logf("suspects March CONVICTED: %v; suspects Jan-Feb CONVICTED: %v; convictions Q1: %v", march, janFeb, quarter)
	if march[0].GetStatus() == primary && janFeb[0].GetStatus() == exact && quarter[0].GetStatus() == exact {
		t.Errorf("suppressed suspects cell = %d - %d = %d, computable across measures",
			quarter[0].GetValue(), janFeb[0].GetValue(), quarter[0].GetValue()-janFeb[0].GetValue())
	}
}

// TestGuardProtectsClassesSplitByParts: the parts the guard adds (January
// cut out of January-February) split the class "January, origin neither
// THA nor unknown" (2 MMR incidents) that the asked cells single out:
// Jan-Feb minus THA January minus unknown January. Its pieces are each
// protected; their union must be too.
func TestGuardProtectsClassesSplitByParts(t *testing.T) {
	e := engine.New()
	n := 0
	add := func(month, origin string, k int) {
		for i := range k {
			n++
			if err := e.Add(&recordv1.Incident{
				NationalRef: fmt.Sprintf("R-%d", n), DetectedOn: fmt.Sprintf("%s-%02d", month, 1+i),
				DetectedAt: &recordv1.Place{Country: "THA"}, Route: &recordv1.Route{Origin: origin, Destination: "THA"},
				TransportMode: recordv1.TransportMode_TRANSPORT_MODE_LAND,
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("2025-01", "THA", 5)
	add("2025-01", "", 5) // origin unknown
	add("2025-01", "MMR", 2)
	add("2025-02", "MMR", 2)
	g := New(e)
	origin := func(v string) *queryv1.Filter { return &queryv1.Filter{Dimension: "route.origin", Values: []string{v}} }
	tha := answer(t, e, g, months("2025-01", "2025-01", nil, origin("THA")))["[]"]
	total := answer(t, e, g, months("2025-01", "2025-02", nil))["[]"]
	unk := answer(t, e, g, months("2025-01", "2025-01", nil, origin("unknown")))["[]"]
	if tha.GetStatus() == exact && total.GetStatus() == exact && unk.GetStatus() == exact {
		t.Errorf("Jan-Feb %d - THA Jan %d - unknown Jan %d = %d incidents, below min_cell 5",
			total.GetValue(), tha.GetValue(), unk.GetValue(), total.GetValue()-tha.GetValue()-unk.GetValue())
	}
}
