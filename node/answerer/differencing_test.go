package answerer

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/node/engine/enginetest"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func guardAgreement(rounding string) string {
	return fmt.Sprintf(`agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = %q
  max_group_by = 2
  measure "incidents" { dimensions = ["period.month", "transport_mode"] }
}
`, rounding)
}

func byMode(from, to string) *queryv1.AggregateQuery {
	return &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"transport_mode"}, PeriodFrom: from, PeriodTo: to}
}

// landStatus returns the status of the LAND cell in an answer.
func landStatus(t *testing.T, cells []*queryv1.Cell) queryv1.CellStatus {
	t.Helper()
	for _, c := range cells {
		if slices.Equal(c.GetKey(), []string{"LAND"}) {
			return c.GetStatus()
		}
	}
	t.Fatalf("no LAND cell in %v", cells)
	return 0
}

// TestDifferencingGuard: under an exact agreement, once Q1 LAND is sent,
// January-February LAND would give away March LAND (suppressed) by
// subtraction, so it is withheld: in the preview with its reason, in the
// answer, and still after a restart, which rebuilds the guard's memory
// from the audit log. Under RR3 the guard is not applied.
func TestDifferencingGuard(t *testing.T) {
	f := newFixture(t)
	a, _ := f.answerer(t.Context(), t.Fatalf, guardAgreement("none"), enginetest.AttackQ1("THA", 1))
	ask := func(a *Answerer, id string, q *queryv1.AggregateQuery) []*queryv1.Cell {
		t.Helper()
		ans, err := a.Answer(t.Context(), hub, &federationv1.Task{TaskId: id, Query: &federationv1.Task_Aggregate{Aggregate: q}})
		if err != nil {
			t.Fatal(err)
		}
		return f.verify(t, ans).GetAggregate().GetCells()
	}
	if got := landStatus(t, ask(a, "q1", byMode("2025-01-01", "2025-03-31"))); got != queryv1.CellStatus_CELL_STATUS_EXACT {
		t.Fatalf("Q1 LAND %v, want EXACT", got)
	}
	janFeb := byMode("2025-01-01", "2025-02-28")
	p, err := a.Preview(t.Context(), &nodev1.PreviewRequest{Aggregate: janFeb})
	if err != nil {
		t.Fatal(err)
	}
	if got := landStatus(t, p.GetAggregate().GetCells()); got != queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY {
		t.Errorf("preview: Jan-Feb LAND %v, want SUPPRESSED_SECONDARY", got)
	}
	if why := strings.Join(p.GetExplanation(), "\n"); !strings.Contains(why, "1 cells withheld (secondary suppression)") {
		t.Errorf("preview explanation does not say why a cell is withheld:\n%s", why)
	}

	// A restart: a new answerer over the same audit log.
	a2, _ := f.answerer(t.Context(), t.Fatalf, guardAgreement("none"), enginetest.AttackQ1("THA", 1))
	cells := ask(a2, "jan-feb", janFeb)
	if got := landStatus(t, cells); got != queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY {
		t.Errorf("after restart: Jan-Feb LAND %v, want SUPPRESSED_SECONDARY", got)
	}
	for _, c := range cells {
		if c.GetStatus() == queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY && c.GetValue() != 0 {
			t.Errorf("withheld cell %v carries value %d", c.GetKey(), c.GetValue())
		}
	}

	rr3 := newFixture(t)
	r, _ := rr3.answerer(t.Context(), t.Fatalf, guardAgreement("rr3"), enginetest.AttackQ1("THA", 1))
	for i, q := range []*queryv1.AggregateQuery{byMode("2025-01-01", "2025-03-31"), janFeb} {
		ans, err := r.Answer(t.Context(), hub, &federationv1.Task{TaskId: fmt.Sprint("rr3-", i), Query: &federationv1.Task_Aggregate{Aggregate: q}})
		if err != nil {
			t.Fatal(err)
		}
		if got := landStatus(t, rr3.verify(t, ans).GetAggregate().GetCells()); got != queryv1.CellStatus_CELL_STATUS_ROUNDED {
			t.Errorf("rr3 answer %d: LAND %v, want ROUNDED", i, got)
		}
	}
}

// TestFeesCurrencyRemembered: a fees_paid answer states its currency, and
// the guard's memory is rebuilt under it; an older answer that does not
// state it is left out of the memory with a warning, rather than
// remembered under whatever currency the agreement has now.
func TestFeesCurrencyRemembered(t *testing.T) {
	f := newFixture(t)
	a, _ := f.answerer(t.Context(), t.Fatalf, demoAgreementFees, incidents(12))
	q := &queryv1.AggregateQuery{Measure: "fees_paid", GroupBy: []string{"transport_mode"}}
	ans, err := a.Answer(t.Context(), hub, &federationv1.Task{TaskId: "fees", Query: &federationv1.Task_Aggregate{Aggregate: q}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.verify(t, ans).GetAggregate().GetFeesCurrency(); got != "USD" {
		t.Fatalf("fees_paid answer states currency %q, want USD", got)
	}
	// An answer recorded before answers stated their currency.
	old := &federationv1.AnswerBody{TaskId: "old-fees", Country: "THA",
		Outcome: &federationv1.AnswerBody_Aggregate{Aggregate: &queryv1.AggregateResult{Measure: "fees_paid", Cells: []*queryv1.Cell{{Value: 7, Status: queryv1.CellStatus_CELL_STATUS_EXACT}}}}}
	raw, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Append(t.Context(), &nodev1.AuditEntry{TaskId: "old-fees", Requester: hub, Aggregate: &queryv1.AggregateQuery{Measure: "fees_paid"},
		Decision: nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED, Answer: raw}); err != nil {
		t.Fatal(err)
	}
	b, _ := f.answerer(t.Context(), t.Fatalf, demoAgreementFees, incidents(12))
	if got := b.guard.Len(); got != a.guard.Len() {
		t.Errorf("after restart the guard remembers %d cells, before %d: the answer without a currency was not left out", got, a.guard.Len())
	}
	if !strings.Contains(f.logs.String(), "without their currency") {
		t.Error("no warning about the fees_paid answer without its currency")
	}
}

const demoAgreementFees = `agreement "cau-regional" {
  version       = 1
  recipients    = ["spiffe://vrs.local/hub"]
  min_cell      = 1
  rounding      = "none"
  max_group_by  = 2
  fees_currency = "USD"
  measure "fees_paid" { dimensions = ["transport_mode"] }
}
`
