package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// placeholder stands for the run id in the fuzz seeds; each input is
// handled against a fresh run, whose id replaces it.
const placeholder = "RUN"

// Signing modes of FuzzHandle: how an Answer is signed before it is
// handled.
const (
	signAsIs     = iota // as received: nothing received can name the fresh run
	signNode            // the node's own key, after the placeholder is replaced
	signStranger        // another key: a forgery naming the fresh run's task
	signModes
)

// handleFixture is a hub's federation server with a real run manager and
// registry over Badger on disk, and the certificate of the node whose
// stream the messages arrive on.
type handleFixture struct {
	srv      *Server
	mgr      *runs.Manager
	cert     *x509.Certificate
	key      crypto.Signer
	stranger crypto.Signer
}

const fuzzCountry = "THA"

func newHandleFixture(tb testing.TB) *handleFixture {
	tb.Helper()
	p := identitytest.New(tb)
	src := p.Source(tb, p.Node(fuzzCountry))
	db, err := kv.Open(kv.Options{Dir: tb.TempDir(), Logger: logging.Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	st := store.New(db)
	log := logging.Discard()
	reg, err := registry.New(registry.Config{Store: st, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	mgr, err := runs.New(runs.Config{Store: st, Requester: p.Hub().String(), Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := New(Config{Registry: reg, Runs: mgr, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	hello := &federationv1.Hello{SoftwareVersion: "test", Country: fuzzCountry, Agreement: &queryv1.AgreementSummary{Name: "cau-regional", Version: 1, Hash: "h1", MinCell: 3}}
	if err := reg.Attached(fuzzCountry, hello, src.NotAfter()); err != nil {
		tb.Fatal(err)
	}
	// As Attach does: the stream is registered, so tasks are PENDING.
	mgr.Attach(fuzzCountry, func(*federationv1.Task) error { return nil })
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &handleFixture{srv: srv, mgr: mgr, cert: src.Leaf(), key: src.Signer(), stranger: stranger}
}

func fuzzAggregate() *queryv1.AggregateQuery {
	return &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
}

func fuzzExtract() *queryv1.ExtractQuery {
	return &queryv1.ExtractQuery{Extract: "routes", PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
}

// seedBody is an answer body for the placeholder run's task.
func seedBody(outcome func(*federationv1.AnswerBody)) *federationv1.AnswerBody {
	b := &federationv1.AnswerBody{
		TaskId: placeholder + "." + fuzzCountry, RunId: placeholder, Country: fuzzCountry,
		AgreementName: "cau-regional", AgreementVersion: 1, AgreementHash: "h1",
		AnsweredAt: timestamppb.New(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)), AuditSequence: 7,
	}
	outcome(b)
	return b
}

func aggregateOutcome(cells ...*queryv1.Cell) func(*federationv1.AnswerBody) {
	return func(b *federationv1.AnswerBody) {
		b.Outcome = &federationv1.AnswerBody_Aggregate{Aggregate: &queryv1.AggregateResult{
			Measure: "migrants", GroupBy: []string{"citizenship"}, Rounding: "none", MinCell: 3, Cells: cells}}
	}
}

func cell(key string, v int64) *queryv1.Cell {
	return &queryv1.Cell{Key: []string{key}, Value: v, Status: queryv1.CellStatus_CELL_STATUS_EXACT}
}

func marshal(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzHandle feeds Server.handle (what the hub does with every message
// after a stream's Hello) arbitrary NodeMessage bytes on THA's stream,
// against a fresh run asking THA. Answers are signed as received, re-signed
// with the node's key after the placeholder run id is replaced (a node
// that signs whatever it sends), or re-signed with a stranger's key (a
// forgery). Whatever arrives: no panic; only a Hello for another country
// ends the stream; nothing but an answer signed with the node's key and
// matching the run's query is ever counted into the run.
func FuzzHandle(f *testing.F) {
	fx := newHandleFixture(f)
	for _, s := range handleSeeds(f, fx) {
		f.Add(s.msg, s.sign, s.extract)
	}
	f.Fuzz(func(t *testing.T, data []byte, sign uint8, extract bool) {
		fx.handleOne(t, data, sign, extract)
	})
}

// handleSeed is one FuzzHandle seed and the state it must leave.
type handleSeed struct {
	name    string
	msg     []byte
	sign    uint8
	extract bool
	want    hubv1.StateStatus
}

// handleSeeds are valid messages (a real Hello, answers made with
// internal/answer) and the near misses the hub must refuse.
func handleSeeds(tb testing.TB, fx *handleFixture) []handleSeed {
	tb.Helper()
	signed := func(key crypto.Signer, b *federationv1.AnswerBody) *federationv1.Answer {
		a, err := answer.Sign(key, b)
		if err != nil {
			tb.Fatal(err)
		}
		return a
	}
	msg := func(m *federationv1.NodeMessage) []byte { return marshal(tb, m) }
	ans := func(a *federationv1.Answer) []byte {
		return msg(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Answer{Answer: a}})
	}
	body := func(outcome func(*federationv1.AnswerBody)) []byte { return ans(signed(fx.key, seedBody(outcome))) }
	good := seedBody(aggregateOutcome(cell("MMR", 40), cell("KHM", 12), &queryv1.Cell{Key: []string{"LAO"}, Status: queryv1.CellStatus_CELL_STATUS_SUPPRESSED}))
	hello := func(cc string) []byte {
		return msg(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: &federationv1.Hello{
			SoftwareVersion: "0.1.0", Country: cc, Capabilities: []string{"aggregate", "extract"},
			Agreement: &queryv1.AgreementSummary{Name: "cau-regional", Version: 2, Hash: "h2", MinCell: 5, Measures: []*queryv1.MeasureGrant{{Measure: "migrants", Dimensions: []string{"citizenship"}}}},
		}}})
	}
	const (
		pending  = hubv1.StateStatus_STATE_STATUS_PENDING
		answered = hubv1.StateStatus_STATE_STATUS_ANSWERED
		refused  = hubv1.StateStatus_STATE_STATUS_REFUSED
		failed   = hubv1.StateStatus_STATE_STATUS_FAILED
	)
	return []handleSeed{
		{"hello", hello(fuzzCountry), signAsIs, false, pending},
		{"hello for another country", hello("MYS"), signAsIs, false, pending},
		{"heartbeat", msg(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.Now()}}}), signAsIs, false, pending},
		{"empty message", msg(&federationv1.NodeMessage{}), signAsIs, false, pending},
		{"empty answer", []byte{0x12, 0x00}, signAsIs, false, pending},
		{"answer for an unknown run", ans(signed(fx.key, good)), signAsIs, false, pending},
		{"answer", ans(signed(fx.key, good)), signNode, false, answered},
		{"forged answer", ans(signed(fx.key, good)), signStranger, false, failed},
		{"aggregate answer to an extract", ans(signed(fx.key, good)), signNode, true, failed},
		{"negative cell", body(aggregateOutcome(cell("MMR", -4))), signNode, false, failed},
		{"cell of the wrong shape", body(aggregateOutcome(&queryv1.Cell{Key: []string{"MMR", "F"}, Value: 9})), signNode, false, failed},
		{"another measure", body(func(b *federationv1.AnswerBody) {
			aggregateOutcome(cell("MMR", 9))(b)
			b.GetAggregate().Measure = "suspects"
		}), signNode, false, failed},
		{"another country", body(func(b *federationv1.AnswerBody) { b.Country = "MYS"; aggregateOutcome(cell("MMR", 9))(b) }), signNode, false, failed},
		{"refusal", body(func(b *federationv1.AnswerBody) {
			b.Outcome = &federationv1.AnswerBody_Refusal{Refusal: &queryv1.Refusal{Code: queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED, Reason: "measure migrants is not shared by THA"}}
		}), signNode, false, refused},
		{"failure", body(func(b *federationv1.AnswerBody) {
			b.Outcome = &federationv1.AnswerBody_Failure{Failure: "the node could not compute the aggregate"}
		}), signNode, false, failed},
		{"no outcome", body(func(*federationv1.AnswerBody) {}), signNode, false, failed},
		{"extract", body(func(b *federationv1.AnswerBody) {
			b.Outcome = &federationv1.AnswerBody_Extract{Extract: &queryv1.ExtractResult{
				Extract: "routes", Columns: []string{"period", "transport_mode"}, K: 3, WithheldRows: 2,
				Rows: []*queryv1.ExtractRow{{Pseudonym: "p1", Values: []string{"2025-01", "SEA"}}}}}
		}), signNode, true, answered},
		{"body that does not parse", ans(&federationv1.Answer{TaskId: placeholder + "." + fuzzCountry, Body: []byte{0xff, 0x01}, Signature: []byte{0x30, 0x00}}), signNode, false, failed},
		{"envelope naming another task", ans(&federationv1.Answer{TaskId: "other", Body: marshal(tb, good), Signature: signed(fx.key, good).GetSignature()}), signAsIs, false, pending},
	}
}

// TestHandleSeeds pins what each seed does, so that FuzzHandle's
// properties are known to be exercised on answered, refused and failed
// tasks, not only on untouched ones.
func TestHandleSeeds(t *testing.T) {
	fx := newHandleFixture(t)
	for _, s := range handleSeeds(t, fx) {
		t.Run(s.name, func(t *testing.T) {
			if got := fx.handleOne(t, s.msg, s.sign, s.extract); got.GetStatus() != s.want {
				t.Fatalf("state %v, want %v", got, s.want)
			}
		})
	}
}

// handleOne handles one message against a fresh run asking THA, checks
// the properties FuzzHandle states, and returns the run's THA state (nil
// for bytes that are no NodeMessage).
func (fx *handleFixture) handleOne(t *testing.T, data []byte, sign uint8, extract bool) *hubv1.StateResult {
	t.Helper()
	m := &federationv1.NodeMessage{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil // grpc would have refused the bytes before the handler
	}
	ctx := t.Context()
	req := &hubv1.SubmitQueryRequest{States: []string{fuzzCountry}, Timeout: durationpb.New(time.Hour)}
	if extract {
		req.Extract = fuzzExtract()
	} else {
		req.Query = fuzzAggregate()
	}
	runID, err := fx.mgr.Submit(ctx, req, "spiffe://vrs.test/operator/fuzz", "")
	if err != nil {
		t.Fatal(err)
	}
	taskID := runID + "." + fuzzCountry
	// Settle the task afterwards, so the run completes and leaves the
	// manager's active set.
	defer func() { _ = fx.mgr.Fail(context.WithoutCancel(ctx), fuzzCountry, taskID, "fuzz input handled") }()

	sign %= signModes
	var body *federationv1.AnswerBody // what a node-signed answer says, when it parses
	if a := m.GetAnswer(); a != nil && sign != signAsIs {
		a.TaskId = strings.ReplaceAll(a.GetTaskId(), placeholder, runID)
		b := &federationv1.AnswerBody{}
		if proto.Unmarshal(a.GetBody(), b) == nil {
			b.TaskId = strings.ReplaceAll(b.GetTaskId(), placeholder, runID)
			b.RunId = strings.ReplaceAll(b.GetRunId(), placeholder, runID)
			a.Body = marshal(t, b)
			body = b
		}
		key := fx.key
		if sign == signStranger {
			key = fx.stranger
		}
		sig, err := key.Sign(rand.Reader, answer.Digest(a.GetBody()), crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		a.Signature = sig
	}

	herr := fx.srv.handle(ctx, logging.Discard(), fuzzCountry, fx.cert, m)

	h := m.GetHello()
	if wantErr := h != nil && h.GetCountry() != fuzzCountry; (herr != nil) != wantErr {
		t.Fatalf("handle returned %v for %v", herr, m)
	}
	r, err := fx.mgr.Get(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	var s *hubv1.StateResult
	for _, st := range r.GetStates() {
		if st.GetCountry() == fuzzCountry {
			s = st
		}
	}
	a := m.GetAnswer()
	counted := s.GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED || s.GetStatus() == hubv1.StateStatus_STATE_STATUS_REFUSED
	if !counted && (len(s.GetCells()) > 0 || len(r.GetCells()) > 0 || len(r.GetRows()) > 0) {
		t.Fatalf("state %v but the run holds cells or rows: %v", s.GetStatus(), r)
	}
	switch {
	case a == nil || sign == signAsIs:
		// Nothing received names the fresh run.
		if s.GetStatus() != hubv1.StateStatus_STATE_STATUS_PENDING {
			t.Fatalf("state %v after a message that does not name the run: %v", s.GetStatus(), m)
		}
	case sign == signStranger:
		// A forgery may fail the task (its stream is the node's own),
		// never answer it.
		if counted {
			t.Fatalf("forged answer counted: %v", s)
		}
		if a.GetTaskId() != taskID && s.GetStatus() != hubv1.StateStatus_STATE_STATUS_PENDING {
			t.Fatalf("forged answer for task %q changed the run's task: %v", a.GetTaskId(), s)
		}
	default:
		if a.GetTaskId() != taskID {
			if s.GetStatus() != hubv1.StateStatus_STATE_STATUS_PENDING {
				t.Fatalf("answer for task %q changed the run's task: %v", a.GetTaskId(), s)
			}
			return s
		}
		if counted {
			checkCounted(t, req, body, s, r)
		}
	}
	return s
}

// checkCounted checks an answered or refused state against the signed body
// that settled it: it must name this task, run and country, carry the
// outcome the state shows, and match the run's query.
func checkCounted(t *testing.T, req *hubv1.SubmitQueryRequest, body *federationv1.AnswerBody, s *hubv1.StateResult, r *hubv1.Run) {
	t.Helper()
	if body == nil {
		t.Fatalf("state %v from an answer whose body does not parse", s.GetStatus())
	}
	if body.GetTaskId() != r.GetId()+"."+fuzzCountry || body.GetRunId() != r.GetId() || body.GetCountry() != fuzzCountry {
		t.Fatalf("state %v from a body for task %q, run %q, country %q", s.GetStatus(), body.GetTaskId(), body.GetRunId(), body.GetCountry())
	}
	if s.GetStatus() == hubv1.StateStatus_STATE_STATUS_REFUSED {
		if body.GetRefusal() == nil || len(s.GetCells()) > 0 {
			t.Fatalf("refused state %v from body %v", s, body)
		}
		return
	}
	if res := body.GetAggregate(); res != nil {
		q := req.GetQuery()
		if q == nil || res.GetMeasure() != q.GetMeasure() || !slices.Equal(res.GetGroupBy(), q.GetGroupBy()) {
			t.Fatalf("aggregate answer %v counted for query %v", res, q)
		}
		for _, c := range res.GetCells() {
			if len(c.GetKey()) != len(q.GetGroupBy()) || c.GetValue() < 0 {
				t.Fatalf("cell %v counted", c)
			}
		}
		if !proto.Equal(&queryv1.AggregateResult{Cells: s.GetCells()}, &queryv1.AggregateResult{Cells: res.GetCells()}) {
			t.Fatalf("state cells %v differ from the signed cells %v", s.GetCells(), res.GetCells())
		}
		return
	}
	if x := body.GetExtract(); x != nil {
		if req.GetExtract() == nil || x.GetExtract() != req.GetExtract().GetExtract() || len(r.GetRows()) != len(x.GetRows()) {
			t.Fatalf("extract answer %v counted for %v", x, req)
		}
		for _, row := range r.GetRows() {
			if row.GetCountry() != fuzzCountry {
				t.Fatalf("row from %s", row.GetCountry())
			}
		}
		return
	}
	t.Fatalf("state %v from body %v", s.GetStatus(), body)
}
