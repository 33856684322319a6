package answerer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/engine/enginetest"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

const hub = "spiffe://vrs.local/hub"

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is what every answerer test shares: one store, one audit log,
// one key, a log capture.
type fixture struct {
	dir  string
	db   *kv.DB
	log  *audit.Log
	key  *ecdsa.PrivateKey
	logs *syncBuffer
	hlog hclog.Logger
	n    atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), logs: &syncBuffer{}}
	var err error
	f.db, err = kv.Open(kv.Options{Dir: filepath.Join(f.dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.log, err = audit.Open(f.db); err != nil {
		t.Fatal(err)
	}
	if f.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	f.hlog = hclog.New(&hclog.LoggerOptions{Output: f.logs, Level: hclog.Trace, JSONFormat: true})
	return f
}

// answerer builds an Answerer over incs under the agreement text src.
func (f *fixture) answerer(ctx context.Context, fatalf func(string, ...any), src string, incs []*recordv1.Incident) (*Answerer, *engine.Engine) {
	path := filepath.Join(f.dir, fmt.Sprintf("agreement-%d.hcl", f.n.Add(1)))
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		fatalf("%v", err)
	}
	h, err := agreement.NewHolder(ctx, agreement.HolderConfig{Path: path, Country: "THA", Audit: f.log, Log: f.hlog})
	if err != nil {
		fatalf("holder: %v", err)
	}
	e := engine.New()
	for _, inc := range incs {
		e.Apply(nil, inc)
	}
	a, err := New(Config{
		Country: "THA", Agreement: h, Engine: e, Audit: f.log,
		Signer: func() crypto.Signer { return f.key }, Secret: bytes.Repeat([]byte{42}, 32),
		Clock: func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) },
		Log:   f.hlog, SoftwareVersion: "test",
	})
	if err != nil {
		fatalf("answerer: %v", err)
	}
	return a, e
}

func (f *fixture) verify(t interface{ Fatalf(string, ...any) }, ans *federationv1.Answer) *federationv1.AnswerBody {
	if !ecdsa.VerifyASN1(&f.key.PublicKey, answer.Digest(ans.GetBody()), ans.GetSignature()) {
		t.Fatalf("answer signature does not verify")
	}
	body := &federationv1.AnswerBody{}
	if err := proto.Unmarshal(ans.GetBody(), body); err != nil {
		t.Fatalf("body: %v", err)
	}
	return body
}

const demoAgreement = `agreement "cau-regional" {
  version        = 3
  recipients     = ["spiffe://vrs.local/hub"]
  min_cell       = 3
  rounding       = "rr3"
  max_group_by   = 2
  fees_currency  = "USD"
  measure "migrants"  { dimensions = ["period.month", "citizenship", "sex", "transport_mode"] }
  measure "incidents" { dimensions = ["period.month", "transport_mode", "iccs"] }
}
`

func incidents(n int) []*recordv1.Incident {
	var out []*recordv1.Incident
	for i := range n {
		out = append(out, &recordv1.Incident{
			NationalRef:   fmt.Sprintf("CANARY-REF-%d", i),
			DetectedOn:    fmt.Sprintf("2026-0%d-1%d", 1+i%3, i%10),
			TransportMode: recordv1.TransportMode(1 + i%3),
			Notes:         "CANARY-NOTES",
			Migrants:      []*recordv1.Person{{Citizenship: "MMR", Sex: recordv1.Sex_SEX_FEMALE, FullName: "CANARY-NAME"}},
		})
	}
	return out
}

func TestAnswerSignsAuditsAndRepeats(t *testing.T) {
	f := newFixture(t)
	a, _ := f.answerer(t.Context(), t.Fatalf, demoAgreement, incidents(40))
	task := &federationv1.Task{TaskId: "t1", RunId: "r1", Requester: hub,
		Query: &federationv1.Task_Aggregate{Aggregate: &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"transport_mode"}}}}
	ans, err := a.Answer(t.Context(), hub, task)
	if err != nil {
		t.Fatal(err)
	}
	body := f.verify(t, ans)
	if body.GetCountry() != "THA" || body.GetAgreementVersion() != 3 || len(body.GetAggregate().GetCells()) != 3 {
		t.Fatalf("body %v", body)
	}
	e, err := f.log.FindTask("t1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.GetAnswer(), ans.GetBody()) || e.GetSequence() != body.GetAuditSequence() || e.GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED {
		t.Fatalf("audit entry %v does not hold the sent body", e)
	}
	// A re-delivered task gets the same body, even under another agreement.
	again, err := a.Answer(t.Context(), hub, task)
	if err != nil {
		t.Fatal(err)
	}
	f.verify(t, again)
	if !bytes.Equal(again.GetBody(), ans.GetBody()) {
		t.Fatal("repeated task got a different answer")
	}
	if seq, _ := f.log.Head(); seq != e.GetSequence() {
		t.Fatalf("repeat appended to the audit log (head %d)", seq)
	}
	if strings.Contains(f.logs.String(), "different query") {
		t.Fatal("an unchanged repeat was logged as carrying a different query")
	}
	// The same task id with another query: the recorded answer, and a
	// warning for the node's officers.
	changed := &federationv1.Task{TaskId: "t1", RunId: "r1", Requester: hub,
		Query: &federationv1.Task_Aggregate{Aggregate: &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"}}}}
	other, err := a.Answer(t.Context(), hub, changed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(other.GetBody(), ans.GetBody()) {
		t.Fatal("a replayed task id with another query got a new answer")
	}
	if !strings.Contains(f.logs.String(), "came back with a different query") {
		t.Fatal("no warning for a replayed task id with another query")
	}
	// Refusals are signed and audited too.
	ref, err := a.Answer(t.Context(), hub, &federationv1.Task{TaskId: "t2", Query: &federationv1.Task_Aggregate{Aggregate: &queryv1.AggregateQuery{Measure: "suspects"}}})
	if err != nil {
		t.Fatal(err)
	}
	rb := f.verify(t, ref)
	if rb.GetRefusal().GetCode() != queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED || rb.GetRefusal().GetReason() != "measure suspects is not shared by THA" {
		t.Fatalf("refusal %v", rb.GetRefusal())
	}
	if e, _ := f.log.FindTask("t2"); e.GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_REFUSED {
		t.Fatalf("refusal audited as %v", e.GetDecision())
	}
	// Preview is not audited.
	before, _ := f.log.Head()
	p, err := a.Preview(t.Context(), &nodev1.PreviewRequest{Aggregate: &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"period.month"}}})
	if err != nil || p.GetAggregate() == nil || len(p.GetExplanation()) == 0 {
		t.Fatalf("preview %v, %v", p, err)
	}
	if after, _ := f.log.Head(); after != before {
		t.Fatal("preview was audited")
	}
	if h := a.Hello(); h.GetCountry() != "THA" || h.GetAgreement().GetVersion() != 3 {
		t.Fatalf("hello %v", h)
	}
	if v, _ := f.log.Verify(); !v.GetOk() {
		t.Fatalf("audit log broken: %v", v)
	}
}

func TestConcurrentRedeliveriesAnswerOnce(t *testing.T) {
	f := newFixture(t)
	a, _ := f.answerer(t.Context(), t.Fatalf, demoAgreement, incidents(10))
	task := &federationv1.Task{TaskId: "same", Query: &federationv1.Task_Aggregate{Aggregate: &queryv1.AggregateQuery{Measure: "incidents"}}}
	bodies := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() {
			ans, err := a.Answer(t.Context(), hub, task)
			if err != nil {
				t.Error(err)
				return
			}
			bodies[i] = ans.GetBody()
		})
	}
	wg.Wait()
	for _, b := range bodies[1:] {
		if !bytes.Equal(b, bodies[0]) {
			t.Fatal("concurrent deliveries got different answers")
		}
	}
	es, _ := f.log.List(0, 100)
	n := 0
	for _, e := range es {
		if e.GetTaskId() == "same" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d audit entries for one task", n)
	}
}

// genAgreement draws an agreement's text.
func genAgreement(t *rapid.T) string {
	var b strings.Builder
	floor := rapid.SampledFrom([]string{"month", "quarter", "year"}).Draw(t, "floor")
	fmt.Fprintf(&b, "agreement \"gen\" {\n  version = %d\n  recipients = [%q]\n  min_cell = %d\n  rounding = %q\n  max_group_by = %d\n  period_floor = %q\n  suppress_zeros = %v\n  fees_currency = \"USD\"\n",
		rapid.IntRange(1, 9).Draw(t, "version"), hub, rapid.IntRange(1, 6).Draw(t, "min_cell"),
		rapid.SampledFrom([]string{"none", "rr3"}).Draw(t, "rounding"), rapid.IntRange(0, 3).Draw(t, "max_group_by"),
		floor, rapid.Bool().Draw(t, "suppress_zeros"))
	fl, _ := registry.ParseGranularity(floor)
	ms := rapid.SliceOfNDistinct(rapid.SampledFrom(registry.Measures()), 0, 6, func(m registry.Measure) string { return m.ID }).Draw(t, "measures")
	for i, m := range ms {
		var dims []string
		for _, d := range registry.Dimensions() {
			if registry.Applies(m, d) && (d.Period == registry.GranularityNone || d.Period >= fl) && rapid.Bool().Draw(t, fmt.Sprint("dim", i, d.ID)) {
				dims = append(dims, fmt.Sprintf("%q", d.ID))
			}
		}
		fmt.Fprintf(&b, "  measure %q { dimensions = [%s] }\n", m.ID, strings.Join(dims, ", "))
	}
	b.WriteString("}\n")
	return b.String()
}

// genFittingQuery draws a query within the agreement, so that most
// properties are exercised on answers rather than refusals.
func genFittingQuery(t *rapid.T, ag *agreement.Agreement) *queryv1.AggregateQuery {
	g := rapid.SampledFrom(ag.Measures).Draw(t, "grant")
	q := &queryv1.AggregateQuery{Measure: g.Measure}
	if len(g.Dimensions) > 0 {
		q.GroupBy = rapid.SliceOfNDistinct(rapid.SampledFrom(g.Dimensions), 0, ag.MaxGroupBy, func(s string) string { return s }).Draw(t, "fgroup")
		if rapid.Bool().Draw(t, "ffilter") {
			d, _ := registry.DimensionByID(rapid.SampledFrom(g.Dimensions).Draw(t, "ffdim"))
			q.Filters = []*queryv1.Filter{{Dimension: d.ID, Values: enginetest.SampleValues(t, d, "ffvals")}}
		}
	}
	return q
}

// cellID names a cell independently of the group_by order.
func cellID(groupBy, key []string) string {
	var parts []string
	for i := range groupBy {
		parts = append(parts, groupBy[i]+"="+key[i])
	}
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// TestDisclosureProperties checks, for random records, agreements and
// queries, what DESIGN §6 promises about everything that leaves the node.
func TestDisclosureProperties(t *testing.T) {
	f := newFixture(t)
	task, answered, cells := 0, 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		var incs []*recordv1.Incident
		for i := range rapid.IntRange(0, 60).Draw(rt, "n") {
			incs = append(incs, enginetest.GenIncident(rt, fmt.Sprintf("CANARY-REF-%d", i)))
		}
		src := genAgreement(rt)
		a, e := f.answerer(t.Context(), rt.Fatalf, src, incs)
		ag, err := agreement.Parse("gen.hcl", []byte(src), "THA")
		if err != nil {
			rt.Fatalf("agreement: %v", err)
		}
		var q *queryv1.AggregateQuery
		if len(ag.Measures) > 0 && rapid.IntRange(0, 3).Draw(rt, "fit") > 0 {
			q = genFittingQuery(rt, ag)
		} else {
			q = enginetest.GenQuery(rt)
		}
		// Align generated periods on the floor half of the time, so that
		// some queries get through.
		if rapid.Bool().Draw(rt, "align") {
			q.PeriodFrom, q.PeriodTo = "", ""
		}
		task++
		ans, err := a.Answer(t.Context(), hub, &federationv1.Task{TaskId: fmt.Sprint("p", task), Query: &federationv1.Task_Aggregate{Aggregate: q}})
		if err != nil {
			rt.Fatalf("answer: %v", err)
		}
		body := f.verify(rt, ans)
		if bytes.Contains(ans.GetBody(), []byte(enginetest.Canary)) {
			rt.Fatalf("canary in the answer")
		}
		refusal := ag.Check(q, hub)
		if (refusal == nil) != (body.GetAggregate() != nil) {
			rt.Fatalf("Check says %v but the answer is %v", refusal, body)
		}
		res := body.GetAggregate()
		if res == nil {
			return
		}
		answered++
		cells += len(res.GetCells())
		g, ok := ag.Grant(q.GetMeasure())
		if !ok || res.GetMeasure() != q.GetMeasure() {
			rt.Fatalf("measure %s answered but not granted", res.GetMeasure())
		}
		for _, id := range res.GetGroupBy() {
			d, _ := registry.DimensionByID(id)
			if !g.Allows(d) {
				rt.Fatalf("dimension %s answered but not granted", id)
			}
		}
		exact, err := e.Aggregate(q, engine.WithFeesCurrency("USD"))
		if err != nil {
			rt.Fatalf("exact: %v", err)
		}
		ref := enginetest.Reference(incs, q, "USD")
		m, _ := registry.MeasureByID(q.GetMeasure())
		if len(exact) != len(res.GetCells()) {
			rt.Fatalf("%d cells sent for %d exact cells", len(res.GetCells()), len(exact))
		}
		for i, c := range res.GetCells() {
			x := exact[i]
			r := ref[strings.Join(c.GetKey(), "\x00")]
			if !slices.Equal(c.GetKey(), x.Key) || r.V != x.Value {
				rt.Fatalf("cell %v: exact %d, reference %d", c.GetKey(), x.Value, r.V)
			}
			size := x.Value
			if m.Sum {
				size = x.Units
			}
			switch c.GetStatus() {
			case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
				if c.GetValue() != 0 || !(size > 0 && size < int64(ag.MinCell) || x.Value == 0 && ag.SuppressZeros) {
					rt.Fatalf("cell %v suppressed wrongly (exact %d, size %d)", c.GetKey(), x.Value, size)
				}
			case queryv1.CellStatus_CELL_STATUS_EXACT:
				if ag.Rounding != "none" || c.GetValue() != r.V {
					rt.Fatalf("EXACT cell %v = %d, reference %d", c.GetKey(), c.GetValue(), r.V)
				}
			case queryv1.CellStatus_CELL_STATUS_ROUNDED:
				if d := c.GetValue() - x.Value; ag.Rounding != "rr3" || d < -2 || d > 2 || c.GetValue()%3 != 0 {
					rt.Fatalf("cell %v rounded %d to %d", c.GetKey(), x.Value, c.GetValue())
				}
			case queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
				// The differencing guard withheld it: exact answers only.
				if ag.Rounding != "none" || c.GetValue() != 0 {
					rt.Fatalf("cell %v withheld with value %d under rounding %s", c.GetKey(), c.GetValue(), ag.Rounding)
				}
			default:
				rt.Fatalf("cell %v has status %v", c.GetKey(), c.GetStatus())
			}
			if c.GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED && size > 0 && size < int64(ag.MinCell) {
				rt.Fatalf("cell %v shown with size %d below min_cell %d", c.GetKey(), size, ag.MinCell)
			}
			if x.Value == 0 && ag.SuppressZeros && c.GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED {
				rt.Fatalf("zero cell %v shown under suppress_zeros", c.GetKey())
			}
		}
		// The same cells asked again, in reverse group_by order, under
		// another task id, get the same values.
		q2 := proto.Clone(q).(*queryv1.AggregateQuery)
		slices.Reverse(q2.GroupBy)
		task++
		ans2, err := a.Answer(t.Context(), hub, &federationv1.Task{TaskId: fmt.Sprint("p", task), Query: &federationv1.Task_Aggregate{Aggregate: q2}})
		if err != nil {
			rt.Fatalf("answer: %v", err)
		}
		res2 := f.verify(rt, ans2).GetAggregate()
		first := map[string]int64{}
		for _, c := range res.GetCells() {
			first[cellID(res.GetGroupBy(), c.GetKey())] = c.GetValue()
		}
		for _, c := range res2.GetCells() {
			if v, ok := first[cellID(res2.GetGroupBy(), c.GetKey())]; !ok || v != c.GetValue() {
				rt.Fatalf("cell %v: %d in one order, %d (present %v) in the other", c.GetKey(), c.GetValue(), v, ok)
			}
		}
		// Preview shows exactly what would be sent.
		p, err := a.Preview(t.Context(), &nodev1.PreviewRequest{Aggregate: q})
		if err != nil {
			rt.Fatalf("preview: %v", err)
		}
		if !proto.Equal(p.GetAggregate(), res) {
			rt.Fatalf("preview differs from the answer")
		}
		if strings.Contains(strings.Join(p.GetExplanation(), "\n"), enginetest.Canary) {
			rt.Fatalf("canary in the preview explanation")
		}
	})
	t.Logf("%d queries answered with %d cells", answered, cells)
	if answered == 0 || cells == 0 {
		t.Fatal("no query was answered: the properties were not exercised")
	}
	// Nothing never-shared reached the audit log or the logs.
	es, err := f.log.List(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, _ := proto.Marshal(e)
		if bytes.Contains(b, []byte(enginetest.Canary)) {
			t.Fatalf("canary in audit entry %d", e.GetSequence())
		}
	}
	if strings.Contains(f.logs.String(), enginetest.Canary) {
		t.Fatal("canary in the logs")
	}
	if f.logs.String() == "" {
		t.Fatal("no log output captured: the canary check would be vacuous")
	}
	if v, _ := f.log.Verify(); !v.GetOk() {
		t.Fatalf("audit log broken: %v", v)
	}
}
