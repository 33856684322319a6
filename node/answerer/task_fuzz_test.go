package answerer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/internal/synth"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/extract"
	"github.com/vrs-federation/vrs/node/store"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// fuzzAgreement shares a few measures, some with period floors and
// multi-valued dimensions, and an extract.
const fuzzAgreement = `agreement "cau-regional" {
  version        = 5
  recipients     = ["spiffe://vrs.local/hub"]
  min_cell       = 3
  rounding       = "rr3"
  max_group_by   = 2
  period_floor   = "month"
  suppress_zeros = true
  fees_currency  = "USD"
  measure "migrants"  { dimensions = ["period.month", "citizenship", "sex", "transport_mode", "age_band"] }
  measure "incidents" { dimensions = ["period.quarter", "transport_mode", "iccs", "route.transit"] }
  measure "fees_paid" { dimensions = ["period.year", "route.origin"] }
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

// resettableLog captures the answerer's log lines of one fuzz input.
type resettableLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *resettableLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was logged since the last take.
func (l *resettableLog) take() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := bytes.Clone(l.b.Bytes())
	l.b.Reset()
	return out
}

// taskFixture is a node's answering side over a Badger store on disk
// holding synthetic records: the record store the engine is loaded from,
// the audit log, the agreement holder and the answerer.
type taskFixture struct {
	a       *Answerer
	e       *engine.Engine
	ag      *agreement.Agreement
	key     *ecdsa.PrivateKey
	logs    *resettableLog
	refs    [][]byte // national references: never shared
	answers map[string][]byte
}

func newTaskFixture(tb testing.TB) *taskFixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	db, err := kv.Open(kv.Options{Dir: filepath.Join(dir, "db"), Logger: logging.Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	st, err := store.Open(db, logging.Discard())
	if err != nil {
		tb.Fatal(err)
	}
	g, err := synth.New(synth.Options{Country: "THA", Seed: 7,
		From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		tb.Fatal(err)
	}
	fx := &taskFixture{logs: &resettableLog{}, answers: map[string][]byte{}}
	recs := make([]*recordv1.Incident, 0, 60)
	for range 60 {
		recs = append(recs, g.Next())
	}
	for _, inc := range recs {
		fx.refs = append(fx.refs, []byte(inc.GetNationalRef()))
	}
	if _, err := st.Upsert(ctx, recs); err != nil {
		tb.Fatal(err)
	}
	fx.e = engine.New()
	if err := st.Scan(fx.e.Add); err != nil {
		tb.Fatal(err)
	}
	if fx.e.Len() != len(recs) {
		tb.Fatalf("engine holds %d of %d records", fx.e.Len(), len(recs))
	}
	log, err := audit.Open(db)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "agreement.hcl")
	if err := os.WriteFile(path, []byte(fuzzAgreement), 0o600); err != nil {
		tb.Fatal(err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{Output: fx.logs, Level: hclog.Trace, JSONFormat: true})
	h, err := agreement.NewHolder(ctx, agreement.HolderConfig{Path: path, Country: "THA", Audit: log, Log: hlog})
	if err != nil {
		tb.Fatal(err)
	}
	fx.ag = h.Current()
	if fx.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		tb.Fatal(err)
	}
	fx.a, err = New(Config{
		Country: "THA", Agreement: h, Engine: fx.e, Audit: log,
		Signer: func() crypto.Signer { return fx.key }, Secret: bytes.Repeat([]byte{42}, 32),
		Clock: func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) },
		Log:   hlog, SoftwareVersion: "test",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return fx
}

// taskSeeds are hub messages a node may receive: valid tasks within the
// agreement, tasks it must refuse, and messages that are not tasks.
func taskSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	task := func(id string, t *federationv1.Task) []byte {
		t.TaskId, t.RunId, t.Requester = id, "run-"+id, hub
		t.IssuedAt = timestamppb.New(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC))
		t.Deadline = timestamppb.New(time.Date(2026, 5, 1, 11, 10, 0, 0, time.UTC))
		b, err := proto.Marshal(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Task{Task: t}})
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	agg := func(q *queryv1.AggregateQuery) *federationv1.Task {
		return &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: q}}
	}
	ext := func(q *queryv1.ExtractQuery) *federationv1.Task {
		return &federationv1.Task{Query: &federationv1.Task_Extract{Extract: q}}
	}
	other := func(m *federationv1.HubMessage) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	return [][]byte{
		task("a1", agg(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}})),
		task("a2", agg(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month", "sex"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-06-30",
			Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA", "LAND"}}}})),
		task("a3", agg(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"iccs", "route.transit"}})),
		task("a4", agg(&queryv1.AggregateQuery{Measure: "fees_paid", GroupBy: []string{"route.origin"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"})),
		task("a5", agg(&queryv1.AggregateQuery{Measure: "incidents"})),
		task("r1", agg(&queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"citizenship"}})),
		task("r2", agg(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"full_name"}})),
		task("r3", agg(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship", "sex", "age_band"}})),
		task("r4", agg(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month"}, PeriodFrom: "2025-01-15", PeriodTo: "2025-02-03"})),
		task("r5", agg(&queryv1.AggregateQuery{Measure: "incidents", Filters: []*queryv1.Filter{{Dimension: "location_type", Values: []string{"AT_SEA"}}}})),
		task("r6", &federationv1.Task{}),
		task("", agg(&queryv1.AggregateQuery{Measure: "migrants"})),
		task("x1", ext(&queryv1.ExtractQuery{Extract: "routes", PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"})),
		task("x2", ext(&queryv1.ExtractQuery{Extract: "routes", Filters: []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"LAND"}}}})),
		task("x3", ext(&queryv1.ExtractQuery{Extract: "names"})),
		other(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Welcome{Welcome: &federationv1.Welcome{Country: "THA", HeartbeatIntervalSeconds: 15, HubVersion: "test"}}}),
		other(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.Now()}}}),
	}
}

// FuzzAnswerTask is the node's receive path with arbitrary HubMessage
// bytes: as the federation client does, a Task is handed to the answerer
// with the hub's verified identity as requester (or, claimed, the task's
// own requester field, as the client does when the transport names no
// peer); anything else is ignored. Every task with an id is answered with
// a signed body for that task: a refusal with a code, or cells that respect
// the agreement (granted measure and dimensions only, nothing shown under
// min_cell, zeros suppressed), or an extract of the agreed fields; a
// repeated task id gets its first body again. Nothing never-shared or a
// national reference is in the answer or the log lines, unless the hub
// itself put it in the task.
func FuzzAnswerTask(f *testing.F) {
	fx := newTaskFixture(f)
	for _, s := range taskSeeds(f) {
		f.Add(s, false)
	}
	f.Add(taskSeeds(f)[0], true)
	f.Fuzz(func(t *testing.T, data []byte, claimed bool) {
		fx.answerOne(t, data, claimed)
	})
}

// answerOne runs one input through the answerer and checks it; it returns
// the body sent, or nil when nothing was.
func (fx *taskFixture) answerOne(t *testing.T, data []byte, claimed bool) *federationv1.AnswerBody {
	t.Helper()
	m := &federationv1.HubMessage{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil // grpc would have refused the bytes
	}
	task := m.GetTask()
	if task == nil {
		return nil // the client ignores all but tasks
	}
	requester := hub
	if claimed {
		requester = task.GetRequester()
	}
	fx.logs.take()
	ans, err := fx.a.Answer(t.Context(), requester, task)
	logged := fx.logs.take()
	if task.GetTaskId() == "" {
		if err == nil {
			t.Fatal("a task without an id was answered")
		}
		return nil
	}
	if err != nil {
		t.Fatalf("task %q not answered: %v", task.GetTaskId(), err)
	}
	if !ecdsa.VerifyASN1(&fx.key.PublicKey, answer.Digest(ans.GetBody()), ans.GetSignature()) {
		t.Fatal("answer signature does not verify")
	}
	body := &federationv1.AnswerBody{}
	if err := proto.Unmarshal(ans.GetBody(), body); err != nil {
		t.Fatalf("body: %v", err)
	}
	if ans.GetTaskId() != task.GetTaskId() || body.GetTaskId() != task.GetTaskId() || body.GetCountry() != "THA" {
		t.Fatalf("answer for task %q, body for %q from %q; the task was %q", ans.GetTaskId(), body.GetTaskId(), body.GetCountry(), task.GetTaskId())
	}

	// Never-shared values and national references: only what the hub put
	// in the task itself may come back (a refusal quotes the query).
	taskBytes, _ := proto.Marshal(task)
	leaks := func(where string, b []byte) {
		for _, c := range append([][]byte{[]byte(synth.Marker)}, fx.refs...) {
			if bytes.Contains(b, c) && !bytes.Contains(taskBytes, c) && !bytes.Contains([]byte(requester), c) {
				t.Fatalf("%s holds the never-shared %q", where, c)
			}
		}
	}
	leaks("the answer", ans.GetBody())
	leaks("the log", logged)

	if prev, ok := fx.answers[task.GetTaskId()]; ok {
		if !bytes.Equal(prev, ans.GetBody()) {
			t.Fatalf("task %q answered again with another body", task.GetTaskId())
		}
		return body
	}
	fx.answers[task.GetTaskId()] = ans.GetBody()
	if body.GetRunId() != task.GetRunId() {
		t.Fatalf("body for run %q, task of run %q", body.GetRunId(), task.GetRunId())
	}
	switch o := body.GetOutcome().(type) {
	case *federationv1.AnswerBody_Refusal:
		if o.Refusal.GetCode() == queryv1.RefusalCode_REFUSAL_CODE_UNSPECIFIED || o.Refusal.GetReason() == "" {
			t.Fatalf("refusal without a code or reason: %v", o.Refusal)
		}
	case *federationv1.AnswerBody_Aggregate:
		fx.checkAggregate(t, requester, task.GetAggregate(), o.Aggregate)
	case *federationv1.AnswerBody_Extract:
		fx.checkExtract(t, requester, task.GetExtract(), o.Extract)
	default:
		t.Fatalf("task %v neither refused nor answered: %v", task, body)
	}
	return body
}

// checkAggregate checks an aggregate answer against the agreement and the
// exact cells.
func (fx *taskFixture) checkAggregate(t *testing.T, requester string, q *queryv1.AggregateQuery, res *queryv1.AggregateResult) {
	t.Helper()
	ag := fx.ag
	if q == nil {
		t.Fatalf("aggregate answer to a task without an aggregate query")
	}
	if r := ag.Check(q, requester); r != nil {
		t.Fatalf("answered although the agreement refuses: %v", r)
	}
	g, ok := ag.Grant(q.GetMeasure())
	if !ok || res.GetMeasure() != q.GetMeasure() || !slices.Equal(res.GetGroupBy(), q.GetGroupBy()) || len(res.GetGroupBy()) > ag.MaxGroupBy {
		t.Fatalf("answer %s by %v for query %v", res.GetMeasure(), res.GetGroupBy(), q)
	}
	for _, id := range res.GetGroupBy() {
		if !slices.Contains(g.Dimensions, id) {
			t.Fatalf("dimension %s answered but not granted", id)
		}
	}
	for _, f := range q.GetFilters() {
		if !slices.Contains(g.Dimensions, f.GetDimension()) {
			t.Fatalf("filter on %s answered but not granted", f.GetDimension())
		}
	}
	exact, err := fx.e.Aggregate(q, engine.WithFeesCurrency(ag.FeesCurrency))
	if err != nil {
		t.Fatalf("exact: %v", err)
	}
	if len(exact) != len(res.GetCells()) {
		t.Fatalf("%d cells sent for %d exact cells", len(res.GetCells()), len(exact))
	}
	m, _ := registry.MeasureByID(q.GetMeasure())
	for i, c := range res.GetCells() {
		x := exact[i]
		if !slices.Equal(c.GetKey(), x.Key) || len(c.GetKey()) != len(q.GetGroupBy()) {
			t.Fatalf("cell %v for exact cell %v", c.GetKey(), x.Key)
		}
		size := x.Value
		if m.Sum {
			size = x.Units
		}
		switch c.GetStatus() {
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
			if c.GetValue() != 0 {
				t.Fatalf("suppressed cell %v carries %d", c.GetKey(), c.GetValue())
			}
		case queryv1.CellStatus_CELL_STATUS_ROUNDED, queryv1.CellStatus_CELL_STATUS_EXACT:
			if size > 0 && size < int64(ag.MinCell) {
				t.Fatalf("cell %v shown with size %d under min_cell %d", c.GetKey(), size, ag.MinCell)
			}
			if x.Value == 0 && ag.SuppressZeros {
				t.Fatalf("zero cell %v shown under suppress_zeros", c.GetKey())
			}
		default:
			t.Fatalf("cell %v has status %v", c.GetKey(), c.GetStatus())
		}
	}
}

// checkExtract checks an extract against the agreement's extract.
func (fx *taskFixture) checkExtract(t *testing.T, requester string, q *queryv1.ExtractQuery, res *queryv1.ExtractResult) {
	t.Helper()
	if q == nil {
		t.Fatalf("extract answer to a task without an extract query")
	}
	if r := fx.ag.CheckExtract(q, requester); r != nil {
		t.Fatalf("extract sent although the agreement refuses: %v", r)
	}
	x, ok := fx.ag.Extract(q.GetExtract())
	if !ok || res.GetExtract() != x.Name || int(res.GetK()) != x.K {
		t.Fatalf("extract %q (k %d) for query %q", res.GetExtract(), res.GetK(), q.GetExtract())
	}
	var cols []string
	for _, f := range x.Fields {
		cols = append(cols, f.Field)
	}
	if !slices.Equal(res.GetColumns(), cols) || len(res.GetRows()) > extract.MaxRows {
		t.Fatalf("extract columns %v, %d rows; agreed %v", res.GetColumns(), len(res.GetRows()), cols)
	}
	for _, r := range res.GetRows() {
		if len(r.GetValues()) != len(cols) {
			t.Fatalf("row %v for columns %v", r.GetValues(), cols)
		}
	}
}

// TestAnswerTaskSeeds pins what the seeds do, so that FuzzAnswerTask's
// properties are known to be exercised on answers, extracts and refusals.
func TestAnswerTaskSeeds(t *testing.T) {
	fx := newTaskFixture(t)
	var answered, cells, extracts, refused int
	for _, s := range taskSeeds(t) {
		body := fx.answerOne(t, s, false)
		switch {
		case body.GetAggregate() != nil:
			answered++
			for _, c := range body.GetAggregate().GetCells() {
				if c.GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED {
					cells++
				}
			}
		case len(body.GetExtract().GetRows()) > 0:
			extracts++
		case body.GetRefusal() != nil:
			refused++
		}
	}
	if answered != 5 || cells == 0 || extracts != 2 || refused != 7 {
		t.Fatalf("%d answered with %d shown cells, %d extracts, %d refused; want 5, some, 2, 7", answered, cells, extracts, refused)
	}
}
