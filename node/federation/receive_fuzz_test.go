package federation_test

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/internal/synth"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/answerer"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/federation"
	"github.com/vrs-federation/vrs/node/store"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// recvAgreement names the test PKI's hub as its only recipient.
const recvAgreement = `agreement "cau-regional" {
  version        = 2
  recipients     = ["spiffe://vrs.local/hub"]
  min_cell       = 3
  rounding       = "rr3"
  max_group_by   = 2
  suppress_zeros = true
  fees_currency  = "USD"
  measure "migrants"  { dimensions = ["period.month", "citizenship", "sex"] }
  measure "incidents" { dimensions = ["transport_mode", "iccs"] }
  extract "routes" {
    fields = {
      "period"         = "month"
      "transport_mode" = "as_is"
    }
    quasi_identifiers = ["period", "transport_mode"]
    k = 3
  }
}
`

// scriptedHub is a hub's end of the stream that sends what the test hands
// it and passes the answers back.
type scriptedHub struct {
	federationv1.UnimplementedFederationServer
	out      chan *federationv1.HubMessage
	answers  chan *federationv1.Answer
	attaches atomic.Int32
}

func (h *scriptedHub) Attach(stream federationv1.Federation_AttachServer) error {
	h.attaches.Add(1)
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetHello() == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a hello")
	}
	welcome := &federationv1.HubMessage{Msg: &federationv1.HubMessage_Welcome{Welcome: &federationv1.Welcome{Country: "THA", HeartbeatIntervalSeconds: 15, HubVersion: "scripted"}}}
	if err := stream.Send(welcome); err != nil {
		return err
	}
	ctx := stream.Context()
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			if a := m.GetAnswer(); a != nil {
				select {
				case h.answers <- a:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for {
		select {
		case m := <-h.out:
			if err := stream.Send(m); err != nil {
				return err
			}
		case err := <-recvErr:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// recvFixture is a node (real answerer over a Badger store of synthetic
// records) attached with its federation client to a scripted hub, over
// mutual TLS on 127.0.0.1.
type recvFixture struct {
	hub      *scriptedHub
	client   *federation.Client
	cert     *identity.Source
	ag       *agreement.Agreement
	refs     [][]byte
	sentinel int
}

func newRecvFixture(tb testing.TB) *recvFixture {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	p := identitytest.New(tb)
	hubSrc, nodeSrc := p.Source(tb, p.Hub()), p.Source(tb, p.Node("THA"))

	db, err := kv.Open(kv.Options{Dir: filepath.Join(dir, "db"), Logger: logging.Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	st, err := store.Open(db, logging.Discard())
	if err != nil {
		tb.Fatal(err)
	}
	g, err := synth.New(synth.Options{Country: "THA", Seed: 3,
		From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		tb.Fatal(err)
	}
	fx := &recvFixture{cert: nodeSrc}
	var incs []*recordv1.Incident
	for range 40 {
		inc := g.Next()
		incs = append(incs, inc)
		fx.refs = append(fx.refs, []byte(inc.GetNationalRef()))
	}
	if _, err := st.Upsert(ctx, incs); err != nil {
		tb.Fatal(err)
	}
	e := engine.New()
	if err := st.Scan(e.Add); err != nil {
		tb.Fatal(err)
	}
	log, err := audit.Open(db)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "agreement.hcl")
	if err := os.WriteFile(path, []byte(recvAgreement), 0o600); err != nil {
		tb.Fatal(err)
	}
	h, err := agreement.NewHolder(ctx, agreement.HolderConfig{Path: path, Country: "THA", Audit: log, Log: logging.Discard()})
	if err != nil {
		tb.Fatal(err)
	}
	fx.ag = h.Current()
	a, err := answerer.New(answerer.Config{Country: "THA", Agreement: h, Engine: e, Audit: log,
		Signer: func() crypto.Signer { return nodeSrc.Signer() }, Secret: bytes.Repeat([]byte{7}, 32), SoftwareVersion: "test"})
	if err != nil {
		tb.Fatal(err)
	}

	fx.hub = &scriptedHub{out: make(chan *federationv1.HubMessage), answers: make(chan *federationv1.Answer, 16)}
	policy := &identity.Policy{Server: "federation", Rules: map[string]identity.Rule{
		"/vrs.federation.v1.Federation/Attach": {Roles: []identity.Role{identity.RoleNode}}}}
	gs := grpc.NewServer(identity.GRPCServerOptions(hubSrc, policy, logging.Discard())...)
	federationv1.RegisterFederationServer(gs, fx.hub)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	tb.Cleanup(gs.Stop)

	fx.client, err = federation.New(federation.Config{
		HubAddr:     lis.Addr().String(),
		DialOptions: identity.GRPCDialOptions(nodeSrc, func(id identity.ID) bool { return id.Role == identity.RoleHub }),
		Answerer:    a,
		Log:         logging.Discard(),
		BackoffBase: 10 * time.Millisecond,
		BackoffMax:  100 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fx.client.Run(cctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("client: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !fx.client.Connected() {
		if time.Now().After(deadline) {
			tb.Fatal("the client did not attach")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fx
}

// recvSeeds are hub messages: tasks the node answers, tasks it refuses,
// a task claiming another requester, and messages that are no task.
func recvSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	msg := func(m *federationv1.HubMessage) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	task := func(id, requester string, q any) []byte {
		t := &federationv1.Task{TaskId: id, RunId: "run-" + id, Requester: requester,
			IssuedAt: timestamppb.New(time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)), Deadline: timestamppb.New(time.Date(2026, 5, 1, 11, 10, 0, 0, time.UTC))}
		switch q := q.(type) {
		case *queryv1.AggregateQuery:
			t.Query = &federationv1.Task_Aggregate{Aggregate: q}
		case *queryv1.ExtractQuery:
			t.Query = &federationv1.Task_Extract{Extract: q}
		}
		return msg(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Task{Task: t}})
	}
	const hub = "spiffe://vrs.local/hub"
	return [][]byte{
		task("t1", hub, &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}}),
		task("t2", hub, &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"transport_mode", "iccs"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-06-30"}),
		task("t3", "spiffe://vrs.local/partner/someone", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"}}),
		task("t4", hub, &queryv1.AggregateQuery{Measure: "suspects"}),
		task("t5", hub, &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin"}}),
		task("t6", hub, &queryv1.ExtractQuery{Extract: "routes"}),
		task("t7", hub, nil),
		task("", hub, &queryv1.AggregateQuery{Measure: "migrants"}),
		msg(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Welcome{Welcome: &federationv1.Welcome{Country: "MYS", HeartbeatIntervalSeconds: 1}}}),
		msg(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.Now()}}}),
		msg(&federationv1.HubMessage{}),
	}
}

// FuzzClientReceive sends arbitrary HubMessage bytes down an attached
// node's stream, each followed by a sentinel task. The node must stay on
// the same stream and answer the sentinel; a task with an id gets an answer
// signed with the node's certificate for that task, computed for the
// hub's verified identity whatever requester the task claims: a refusal
// with a code, or cells of agreed dimensions with none under min_cell.
// No never-shared value or national reference is in an answer unless the
// task itself carried it.
func FuzzClientReceive(f *testing.F) {
	fx := newRecvFixture(f)
	for _, s := range recvSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fx.receiveOne(t, data)
	})
}

// receiveOne sends one message and its sentinel and checks the answers;
// it returns the fuzzed task's answer body, if it had one.
func (fx *recvFixture) receiveOne(t *testing.T, data []byte) *federationv1.AnswerBody {
	t.Helper()
	m := &federationv1.HubMessage{}
	if err := proto.Unmarshal(data, m); err != nil {
		return nil // grpc would refuse the bytes
	}
	fx.sentinel++
	sentinelID := fmt.Sprintf("sentinel-%d", fx.sentinel)
	sentinel := &federationv1.HubMessage{Msg: &federationv1.HubMessage_Task{Task: &federationv1.Task{TaskId: sentinelID, RunId: "sentinel",
		Query: &federationv1.Task_Aggregate{Aggregate: &queryv1.AggregateQuery{Measure: "incidents"}}}}}
	want := map[string]int{sentinelID: 1}
	task := m.GetTask()
	if task.GetTaskId() != "" {
		want[task.GetTaskId()]++
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for _, out := range []*federationv1.HubMessage{m, sentinel} {
		select {
		case fx.hub.out <- out:
		case <-timeout.C:
			t.Fatal("the scripted hub's stream is gone")
		}
	}
	taskBytes, _ := proto.Marshal(task)
	var body *federationv1.AnswerBody
	for len(want) > 0 {
		var a *federationv1.Answer
		select {
		case a = <-fx.hub.answers:
		case <-timeout.C:
			t.Fatalf("no answer within 30 s; still waiting for %v", want)
		}
		if want[a.GetTaskId()] == 0 {
			t.Fatalf("answer for task %q, which was not asked", a.GetTaskId())
		}
		if want[a.GetTaskId()]--; want[a.GetTaskId()] == 0 {
			delete(want, a.GetTaskId())
		}
		b, err := answer.Verify(fx.cert.Leaf(), a)
		if err != nil {
			t.Fatalf("answer for %q: %v", a.GetTaskId(), err)
		}
		for _, c := range append([][]byte{[]byte(synth.Marker)}, fx.refs...) {
			if bytes.Contains(a.GetBody(), c) && !bytes.Contains(taskBytes, c) {
				t.Fatalf("the answer holds the never-shared %q", c)
			}
		}
		if a.GetTaskId() == task.GetTaskId() {
			body = b
			fx.check(t, task, b)
		}
	}
	if fx.hub.attaches.Load() != 1 || !fx.client.Connected() {
		t.Fatalf("the node left the stream: %d attaches, connected %v", fx.hub.attaches.Load(), fx.client.Connected())
	}
	return body
}

// check checks the answer to a fuzzed task. A repeated task id gets the
// answer recorded for it first, so only the outcome's shape is checked
// against this task's query when the body is for this task's run.
func (fx *recvFixture) check(t *testing.T, task *federationv1.Task, b *federationv1.AnswerBody) {
	t.Helper()
	if b.GetCountry() != "THA" {
		t.Fatalf("answer from %q", b.GetCountry())
	}
	switch o := b.GetOutcome().(type) {
	case *federationv1.AnswerBody_Refusal:
		if c := o.Refusal.GetCode(); c == queryv1.RefusalCode_REFUSAL_CODE_UNSPECIFIED || c == queryv1.RefusalCode_REFUSAL_CODE_RECIPIENT_NOT_ALLOWED {
			// The verified hub is a recipient, whatever the task claims.
			t.Fatalf("refusal %v", o.Refusal)
		}
	case *federationv1.AnswerBody_Aggregate:
		res := o.Aggregate
		g, ok := fx.ag.Grant(res.GetMeasure())
		if !ok || len(res.GetGroupBy()) > fx.ag.MaxGroupBy {
			t.Fatalf("answered %s by %v", res.GetMeasure(), res.GetGroupBy())
		}
		for _, d := range res.GetGroupBy() {
			if !slices.Contains(g.Dimensions, d) {
				t.Fatalf("dimension %s answered but not granted", d)
			}
		}
		m, _ := registry.MeasureByID(res.GetMeasure())
		for _, c := range res.GetCells() {
			if len(c.GetKey()) != len(res.GetGroupBy()) {
				t.Fatalf("cell %v for %v", c.GetKey(), res.GetGroupBy())
			}
			shown := c.GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED
			// With rr3 and min_cell 3, a shown count is at least 3; sums
			// are checked by their unit counts in node/answerer.
			if shown && !m.Sum && c.GetValue() < int64(fx.ag.MinCell) {
				t.Fatalf("cell %v shows %d under min_cell %d", c.GetKey(), c.GetValue(), fx.ag.MinCell)
			}
			if !shown && c.GetValue() != 0 {
				t.Fatalf("suppressed cell %v carries %d", c.GetKey(), c.GetValue())
			}
		}
	case *federationv1.AnswerBody_Extract:
		x, ok := fx.ag.Extract(o.Extract.GetExtract())
		if !ok || len(o.Extract.GetColumns()) != len(x.Fields) {
			t.Fatalf("extract %v", o.Extract)
		}
	default:
		t.Fatalf("task %v neither refused nor answered: %v", task, b)
	}
}

// TestClientReceiveSeeds pins what the seeds do through the real client:
// the claimed requester is ignored, and answers, refusals and silence
// (no id, no task) each occur.
func TestClientReceiveSeeds(t *testing.T) {
	fx := newRecvFixture(t)
	var outcomes []string
	for _, s := range recvSeeds(t) {
		b := fx.receiveOne(t, s)
		switch {
		case b == nil:
			outcomes = append(outcomes, "none")
		case b.GetAggregate() != nil:
			outcomes = append(outcomes, "cells")
		case b.GetExtract() != nil:
			outcomes = append(outcomes, "extract")
		default:
			outcomes = append(outcomes, b.GetRefusal().GetCode().String())
		}
	}
	want := []string{"cells", "cells", "cells", "REFUSAL_CODE_MEASURE_NOT_SHARED", "REFUSAL_CODE_DIMENSION_NOT_SHARED", "extract",
		"REFUSAL_CODE_INVALID_QUERY", "none", "none", "none", "none"}
	if !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes\n%v\nwant\n%v", outcomes, want)
	}
}
