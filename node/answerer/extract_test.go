package answerer

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/node/engine/enginetest"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

const extractAgreement = `agreement "cau-regional" {
  version        = 4
  recipients     = ["spiffe://vrs.local/hub"]
  min_cell       = 3
  rounding       = "rr3"
  max_group_by   = 2
  measure "incidents" { dimensions = ["period.month", "transport_mode"] }
  extract "routes" {
    fields = {
      "period"         = "month"
      "transport_mode" = "as_is"
      "migrants"       = "band"
      "route.transit"  = "country"
    }
    quasi_identifiers = ["period", "transport_mode"]
    k = 3
  }
}
`

// extractIncidents are incidents(40) (months and modes in step, groups of
// 13 or 14) plus two AIR incidents in January, a group of 2 below k.
func extractIncidents() []*recordv1.Incident {
	incs := incidents(40)
	for _, ref := range []string{"CANARY-REF-X1", "CANARY-REF-X2"} {
		incs = append(incs, &recordv1.Incident{
			NationalRef: ref, DetectedOn: "2026-01-20", TransportMode: recordv1.TransportMode_TRANSPORT_MODE_AIR,
			Conveyance: "CANARY-FLIGHT", Route: &recordv1.Route{Transit: []string{"SGP", "MYS"}, Embarkation: "CANARY-EMBARK"},
			Migrants: []*recordv1.Person{{FullName: "CANARY-NAME"}, {FullName: "CANARY-NAME-2", DocumentNumber: "CANARY-DOC"}},
		})
	}
	return incs
}

func extractTask(id string, q *queryv1.ExtractQuery) *federationv1.Task {
	return &federationv1.Task{TaskId: id, RunId: "run-" + id, Requester: hub, Query: &federationv1.Task_Extract{Extract: q}}
}

func TestAnswerExtract(t *testing.T) {
	f := newFixture(t)
	a, _ := f.answerer(t.Context(), t.Fatalf, extractAgreement, extractIncidents())
	if !slices.Contains(a.Hello().GetCapabilities(), "extract") {
		t.Fatalf("capabilities %v", a.Hello().GetCapabilities())
	}
	q := &queryv1.ExtractQuery{Extract: "routes", PeriodFrom: "2026-01-01", PeriodTo: "2026-12-31"}
	ans, err := a.Answer(t.Context(), hub, extractTask("x1", q))
	if err != nil {
		t.Fatal(err)
	}
	body := f.verify(t, ans)
	x := body.GetExtract()
	if x == nil || x.GetExtract() != "routes" || x.GetK() != 3 || x.GetWithheldRows() != 2 || len(x.GetRows()) != 40 {
		t.Fatalf("extract %v (refusal %v)", x, body.GetRefusal())
	}
	if !slices.Equal(x.GetColumns(), []string{"period", "transport_mode", "migrants", "route.transit"}) {
		t.Fatalf("columns %v", x.GetColumns())
	}
	for _, r := range x.GetRows() {
		if (r.GetValues()[0] == "2026-01" && r.GetValues()[1] == "AIR") || r.GetValues()[2] != "1" || r.GetValues()[3] != "none" {
			t.Fatalf("row %v", r.GetValues())
		}
	}
	if bytes.Contains(ans.GetBody(), []byte(enginetest.Canary)) {
		t.Fatal("a never-shared value or a national reference is in the answer")
	}
	e, err := f.log.FindTask("x1")
	if err != nil {
		t.Fatal(err)
	}
	if e.GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED || e.GetExtract().GetExtract() != "routes" ||
		!bytes.Equal(e.GetAnswer(), ans.GetBody()) || e.GetAgreementVersion() != 4 {
		t.Fatalf("audit entry %v", e)
	}
	// Redelivered: the same rows and pseudonyms, from the audit log.
	again, err := a.Answer(t.Context(), hub, extractTask("x1", q))
	if err != nil {
		t.Fatal(err)
	}
	f.verify(t, again)
	if !bytes.Equal(again.GetBody(), ans.GetBody()) {
		t.Fatal("redelivery got a different answer")
	}
	// A new task with the same query: the same rows, unlinkable pseudonyms.
	other, err := a.Answer(t.Context(), hub, extractTask("x2", q))
	if err != nil {
		t.Fatal(err)
	}
	y := f.verify(t, other).GetExtract()
	seen := map[string]bool{}
	for _, r := range x.GetRows() {
		seen[r.GetPseudonym()] = true
	}
	for _, r := range y.GetRows() {
		if seen[r.GetPseudonym()] {
			t.Fatalf("pseudonym %s in two answers", r.GetPseudonym())
		}
	}
	if len(y.GetRows()) != len(x.GetRows()) {
		t.Fatalf("second answer %d rows, first %d", len(y.GetRows()), len(x.GetRows()))
	}

	// Refusals are signed and audited like aggregate ones.
	for _, tt := range []struct {
		id     string
		q      *queryv1.ExtractQuery
		code   queryv1.RefusalCode
		reason string
	}{
		{"r1", &queryv1.ExtractQuery{Extract: "sea-routes"}, queryv1.RefusalCode_REFUSAL_CODE_EXTRACT_NOT_SHARED, `extract "sea-routes" is not offered by THA`},
		{"r2", &queryv1.ExtractQuery{Extract: "routes", Filters: []*queryv1.Filter{{Dimension: "route.origin", Values: []string{"MMR"}}}}, queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED, `field "route.origin" is not in THA's extract routes`},
		{"r3", &queryv1.ExtractQuery{Extract: "routes", PeriodFrom: "2026-01-05", PeriodTo: "2026-01-31"}, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "first day of a month"},
	} {
		ans, err := a.Answer(t.Context(), hub, extractTask(tt.id, tt.q))
		if err != nil {
			t.Fatal(err)
		}
		r := f.verify(t, ans).GetRefusal()
		if r.GetCode() != tt.code || !strings.Contains(r.GetReason(), tt.reason) {
			t.Fatalf("%s: refusal %v, want %v %q", tt.id, r, tt.code, tt.reason)
		}
		if e, _ := f.log.FindTask(tt.id); e.GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_REFUSED || e.GetReason() != r.GetReason() {
			t.Fatalf("%s audited as %v", tt.id, e)
		}
	}
	if _, err := a.Answer(t.Context(), "spiffe://vrs.local/partner/x", extractTask("r4", q)); err != nil {
		t.Fatal(err)
	}
	if e, _ := f.log.FindTask("r4"); !strings.Contains(e.GetReason(), "not a recipient") {
		t.Fatalf("stranger's extract: %v", e)
	}

	// Preview: the extract that would be sent, explained, not audited.
	before, _ := f.log.Head()
	p, err := a.Preview(t.Context(), &nodev1.PreviewRequest{Extract: &queryv1.ExtractQuery{Extract: "routes",
		Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"LAND", "AIR"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.GetExtract().GetWithheldRows() != 2 || len(p.GetExtract().GetRows()) == 0 {
		t.Fatalf("preview %v", p.GetExtract())
	}
	expl := strings.Join(p.GetExplanation(), "\n")
	if !strings.Contains(expl, "2 rows withheld") || !strings.Contains(expl, "period=month") {
		t.Fatalf("explanation %q", expl)
	}
	if after, _ := f.log.Head(); after != before {
		t.Fatal("preview was audited")
	}
	if strings.Contains(f.logs.String(), enginetest.Canary) {
		t.Fatal("a never-shared value or a national reference is in the log")
	}
	if v, _ := f.log.Verify(); !v.GetOk() {
		t.Fatalf("audit log broken: %v", v)
	}
}
