package e2e

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hubfederation "github.com/vrs-federation/vrs/hub/federation"
	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/engine/enginetest"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// The attack data is enginetest.AttackQ1: with min_cell 5, THA (×1)
// suppresses March LAND (3) and March AIR (2); everything else it
// publishes.

// relAttackTarget is the suppressed cell every differencing strategy goes
// after: THA's (and MYS's, ×1 too) March 2025 LAND incidents, exactly 3.
const relAttackTarget = 3

// relAttackMinCell is the agreements' min_cell.
const relAttackMinCell = 5

// relFakeHub is a compromised hub: a federation server with the real hub
// certificate that the test drives task by task.
type relFakeHub struct {
	federationv1.UnimplementedFederationServer
	addr string

	mu       sync.Mutex
	queues   map[string]chan *federationv1.Task
	waiting  map[string][]chan *federationv1.Answer
	certs    map[string]*x509.Certificate // by country, from the verified stream
	attached chan string
}

// relStartFakeHub serves the federation service with the hub's
// certificate and authorization policy on a loopback port.
func relStartFakeHub(t *testing.T, p *identitytest.PKI) *relFakeHub {
	t.Helper()
	src := identitytest.StartSource(t, p.Files(t, p.Hub()))
	f := &relFakeHub{
		queues:   map[string]chan *federationv1.Task{},
		certs:    map[string]*x509.Certificate{},
		waiting:  map[string][]chan *federationv1.Answer{},
		attached: make(chan string, 64),
	}
	srv := grpc.NewServer(identity.GRPCServerOptions(src, hubfederation.Policy(), logging.Discard())...)
	federationv1.RegisterFederationServer(srv, f)
	ln := relListen(t)
	f.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return f
}

// Attach welcomes the node and then pushes whatever the test asks.
func (f *relFakeHub) Attach(stream federationv1.Federation_AttachServer) error {
	_, cert, err := identity.GRPCPeer(stream.Context())
	if err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if err := stream.Send(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Welcome{Welcome: &federationv1.Welcome{
		Country: hello.GetCountry(), HeartbeatIntervalSeconds: 1, HubVersion: "compromised",
	}}}); err != nil {
		return err
	}
	f.mu.Lock()
	f.certs[hello.GetCountry()] = cert
	f.mu.Unlock()
	tasks := f.queue(hello.GetCountry())
	f.attached <- hello.GetCountry()

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
				f.mu.Lock()
				if ws := f.waiting[a.GetTaskId()]; len(ws) > 0 {
					ws[0] <- a
					f.waiting[a.GetTaskId()] = ws[1:]
				}
				f.mu.Unlock()
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-recvErr:
			return err
		case t := <-tasks:
			if err := stream.Send(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Task{Task: t}}); err != nil {
				return err
			}
		case now := <-tick.C:
			if err := stream.Send(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.New(now)}}}); err != nil {
				return err
			}
		}
	}
}

// queue returns the task queue of country's streams.
func (f *relFakeHub) queue(country string) chan *federationv1.Task {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queues[country]
	if q == nil {
		q = make(chan *federationv1.Task)
		f.queues[country] = q
	}
	return q
}

// ask sends a task to country's attached node and returns its verified
// answer: the signed bytes and their content.
func (f *relFakeHub) ask(t *testing.T, ctx context.Context, country string, task *federationv1.Task) (*federationv1.Answer, *federationv1.AnswerBody) {
	t.Helper()
	if task.GetDeadline() == nil {
		task.Deadline = timestamppb.New(time.Now().Add(time.Minute))
		task.IssuedAt = timestamppb.Now()
	}
	ch := make(chan *federationv1.Answer, 1)
	f.mu.Lock()
	f.waiting[task.GetTaskId()] = append(f.waiting[task.GetTaskId()], ch)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, relWait())
	defer cancel()
	select {
	case f.queue(country) <- task:
	case <-ctx.Done():
		t.Fatalf("task %s: no node attached", task.GetTaskId())
	}
	select {
	case a := <-ch:
		f.mu.Lock()
		cert := f.certs[country]
		f.mu.Unlock()
		body, err := answer.Verify(cert, a)
		if err != nil {
			t.Fatalf("task %s: %v", task.GetTaskId(), err)
		}
		return a, body
	case <-ctx.Done():
		t.Fatalf("task %s: no answer", task.GetTaskId())
	}
	return nil, nil
}

// relAttackEnv is a live hub with three nodes built from the attack data,
// plus the compromised hub the tests can move nodes to.
type relAttackEnv struct {
	c    *relCluster
	fake *relFakeHub
	ctx  context.Context
	seq  int
}

// taskID returns a fresh task id for the compromised hub.
func (e *relAttackEnv) taskID() string {
	e.seq++
	return fmt.Sprintf("rel-attack-%04d", e.seq)
}

// aggregate asks the compromised hub's attached node one aggregate query
// under a fresh task id.
func (e *relAttackEnv) aggregate(t *testing.T, country string, q *queryv1.AggregateQuery) (string, *federationv1.AnswerBody) {
	t.Helper()
	id := e.taskID()
	_, body := e.fake.ask(t, e.ctx, country, &federationv1.Task{TaskId: id, RunId: "rel-attack-run", Query: &federationv1.Task_Aggregate{Aggregate: q}})
	return id, body
}

// moveToFakeHub points country's node at the compromised hub (as if the
// hub's address or host had been taken over) and waits for it to attach.
func (e *relAttackEnv) moveToFakeHub(t *testing.T, country string) {
	t.Helper()
	p := e.c.nodes[country].proxy
	p.SetUpstream(e.fake.addr)
	p.Cut()
	p.Heal()
	ctx, cancel := context.WithTimeout(e.ctx, relWait())
	defer cancel()
	for {
		select {
		case got := <-e.fake.attached:
			if got == country {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s did not attach to the compromised hub", country)
		}
	}
}

// relMonth is a query over one or more whole months of 2025.
func relMonth(measure string, from, to string, groupBy []string, filters ...*queryv1.Filter) *queryv1.AggregateQuery {
	last := map[string]string{"01": "31", "02": "28", "03": "31"}[to[5:]]
	return &queryv1.AggregateQuery{Measure: measure, GroupBy: groupBy, Filters: filters, PeriodFrom: from + "-01", PeriodTo: to + "-" + last}
}

// relCell returns the cell with key in body, or nil.
func relCell(body *federationv1.AnswerBody, key ...string) *queryv1.Cell {
	for _, c := range body.GetAggregate().GetCells() {
		if slices.Equal(c.GetKey(), key) {
			return c
		}
	}
	return nil
}

// TestRelAttacks attacks a live federation of a hub and three nodes the
// way a curious hub, a lying node and a partner would (issue 12, attack
// suite). Every attack that reaches a node must leave a trace in its audit
// log, and no differencing strategy may recover a suppressed value: under
// exact agreements the nodes' differencing guard withholds the deciding
// cell, under RR3 the noise leaves an interval.
func TestRelAttacks(t *testing.T) {
	c := relNewCluster(t)
	c.addNodes(
		relNodeSpec{"THA", relAgreement("none"), enginetest.AttackQ1("THA", 1)},
		relNodeSpec{"MYS", relAgreement("rr3"), enginetest.AttackQ1("MYS", 1)},
		relNodeSpec{"IDN", relAgreement("none"), enginetest.AttackQ1("IDN", 2)},
	)
	env := &relAttackEnv{c: c, ctx: t.Context()}
	ctx := env.ctx
	c.waitConnected(ctx, true, "THA", "MYS", "IDN")

	// Against the real hub first, while every node is attached to it.
	t.Run("partner subtracts published cells from regional totals", func(t *testing.T) {
		relPartnerView(t, env)
	})
	t.Run("node certificate claiming another country in hello", func(t *testing.T) {
		relLyingHello(t, env)
	})

	// Then THA (exact) and MYS (rr3) are moved to a compromised hub.
	env.fake = relStartFakeHub(t, c.pki)
	for _, country := range []string{"THA", "MYS"} {
		t.Run(country, func(t *testing.T) {
			env.moveToFakeHub(t, country)
			t.Run("tasks outside the agreement", func(t *testing.T) { relOutsideAgreement(t, env, country) })
			t.Run("replayed task id", func(t *testing.T) { relReplay(t, env, country) })
			t.Run("repeated query to average rounding away", func(t *testing.T) { relRepeat(t, env, country) })
			t.Run("differencing", func(t *testing.T) { relDifferencing(t, env, country) })
		})
	}
	for _, country := range []string{"THA", "MYS", "IDN"} {
		c.verifyAudit(ctx, country)
	}
}

// relOutsideAgreement sends tasks the agreement does not allow: each is
// refused with a reason and audited as a refusal.
func relOutsideAgreement(t *testing.T, env *relAttackEnv, country string) {
	q1 := func(q *queryv1.AggregateQuery) *queryv1.AggregateQuery {
		if q.PeriodFrom == "" {
			q.PeriodFrom, q.PeriodTo = "2025-01-01", "2025-03-31"
		}
		return q
	}
	cases := []struct {
		name string
		task *federationv1.Task
		want string // in the reason
	}{
		{"measure not shared", &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: q1(&queryv1.AggregateQuery{Measure: "suspects"})}}, "suspects"},
		{"dimension not shared", &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: q1(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"subdivision"}})}}, "subdivision"},
		{"filter on a dimension not shared", &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: q1(&queryv1.AggregateQuery{Measure: "migrants", Filters: []*queryv1.Filter{{Dimension: "sex", Values: []string{"FEMALE"}}}})}}, "sex"},
		{"too many dimensions", &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: q1(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month", "transport_mode", "citizenship"}})}}, ""},
		{"day-level period", &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: &queryv1.AggregateQuery{Measure: "incidents", PeriodFrom: "2025-03-02", PeriodTo: "2025-03-31"}}}, "period_from"},
		{"extract not in the agreement", &federationv1.Task{Query: &federationv1.Task_Extract{Extract: &queryv1.ExtractQuery{Extract: "sea-routes", PeriodFrom: "2025-01-01", PeriodTo: "2025-03-31"}}}, "sea-routes"},
		{"never-shared field as a dimension", &federationv1.Task{Query: &federationv1.Task_Aggregate{Aggregate: q1(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"conveyance"}})}}, ""},
	}
	var ids []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.task.TaskId = env.taskID()
			tc.task.RunId = "rel-attack-run"
			ids = append(ids, tc.task.TaskId)
			_, body := env.fake.ask(t, env.ctx, country, tc.task)
			ref := body.GetRefusal()
			if ref == nil {
				t.Fatalf("answered: %v", body)
			}
			if ref.GetReason() == "" || !strings.Contains(ref.GetReason(), tc.want) {
				t.Errorf("refusal reason %q, want it to name %q", ref.GetReason(), tc.want)
			}
			t.Logf("refused: %s", ref.GetReason())
		})
	}
	byTask := relAuditByTask(env.c.audit(env.ctx, country))
	for _, id := range ids {
		es := byTask[id]
		if len(es) != 1 || es[0].GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_REFUSED || es[0].GetReason() == "" {
			t.Errorf("audit for refused task %s: %v, want one REFUSED entry with its reason", id, es)
			continue
		}
		// The entry names the verified identity that asked: the hub
		// certificate the compromised server holds.
		if got, want := es[0].GetRequester(), env.c.pki.Hub().String(); got != want {
			t.Errorf("audit for refused task %s names requester %q, want %q", id, got, want)
		}
	}
}

// relAuditByTask indexes audit entries by task id.
func relAuditByTask(es []*nodev1.AuditEntry) map[string][]*nodev1.AuditEntry {
	out := map[string][]*nodev1.AuditEntry{}
	for _, e := range es {
		if e.GetTaskId() != "" {
			out[e.GetTaskId()] = append(out[e.GetTaskId()], e)
		}
	}
	return out
}

// relReplay re-sends an answered task id, unchanged and with a different
// query: the node returns the audited answer byte for byte and discloses
// nothing new.
func relReplay(t *testing.T, env *relAttackEnv, country string) {
	q := relMonth("incidents", "2025-01", "2025-03", []string{"transport_mode"})
	id, first := env.aggregate(t, country, q)
	firstBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(first)
	if err != nil {
		t.Fatal(err)
	}
	before := len(env.c.audit(env.ctx, country))
	other := relMonth("incidents", "2025-03", "2025-03", []string{"transport_mode"})
	for i, replay := range []*queryv1.AggregateQuery{q, other, q} {
		raw, body := env.fake.ask(t, env.ctx, country, &federationv1.Task{TaskId: id, RunId: "rel-attack-replay", Query: &federationv1.Task_Aggregate{Aggregate: replay}})
		got, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(firstBytes) {
			t.Errorf("replay %d of %s: a different answer\nfirst %v\nnow   %v", i, id, first, body)
		}
		if audit := relAuditByTask(env.c.audit(env.ctx, country))[id]; len(audit) != 1 || string(audit[0].GetAnswer()) != string(raw.GetBody()) {
			t.Errorf("replay %d: the audit log holds %d entries for %s, or not the bytes sent", i, len(audit), id)
		}
	}
	if after := len(env.c.audit(env.ctx, country)); after != before {
		t.Errorf("replays added %d audit entries; a replay discloses nothing new", after-before)
	}
	// The replays' trace is the node's log: each replay, and a warning for
	// the one that carried a different query.
	l := env.c.nodes[country].log.String()
	if !strings.Contains(l, "answered again") || !strings.Contains(l, id) {
		t.Errorf("the node's log does not record the replays of %s", id)
	}
	if !strings.Contains(l, "came back with a different query") {
		t.Errorf("the node's log does not warn that a replay of %s carried a different query", id)
	}
}

// relRepeat asks the same cells many times, under new task ids and in
// another group_by order: every repeat returns identical values, so
// averaging cannot remove the rounding. Each repeat is audited.
func relRepeat(t *testing.T, env *relAttackEnv, country string) {
	repeats := 20
	if relLong() {
		repeats = 200
	}
	q := relMonth("incidents", "2025-01", "2025-03", []string{"period.month", "transport_mode"})
	_, first := env.aggregate(t, country, q)
	want := map[string]*queryv1.Cell{}
	for _, c := range first.GetAggregate().GetCells() {
		want[strings.Join(c.GetKey(), "|")] = c
	}
	var ids []string
	for i := range repeats {
		qq := proto.Clone(q).(*queryv1.AggregateQuery)
		swapped := i%2 == 1
		if swapped {
			qq.GroupBy = []string{"transport_mode", "period.month"}
		}
		id, body := env.aggregate(t, country, qq)
		ids = append(ids, id)
		cells := body.GetAggregate().GetCells()
		if len(cells) != len(want) {
			t.Fatalf("repeat %d: %d cells, want %d", i, len(cells), len(want))
		}
		for _, c := range cells {
			key := c.GetKey()
			if swapped {
				key = []string{key[1], key[0]}
			}
			w := want[strings.Join(key, "|")]
			if w == nil || w.GetValue() != c.GetValue() || w.GetStatus() != c.GetStatus() {
				t.Errorf("repeat %d, cell %v: %d %v, first time %d %v", i, key, c.GetValue(), c.GetStatus(), w.GetValue(), w.GetStatus())
			}
		}
	}
	byTask := relAuditByTask(env.c.audit(env.ctx, country))
	for _, id := range ids {
		if es := byTask[id]; len(es) != 1 || es[0].GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED {
			t.Errorf("repeat %s not audited once as a disclosure: %v", id, es)
		}
	}
}

// relTerm is one published cell an attacker adds or subtracts.
type relTerm struct {
	sign int64
	q    *queryv1.AggregateQuery
	key  []string
}

// relStrategy is a differencing attack on the target cell.
type relStrategy struct {
	name  string
	terms []relTerm
}

// relInterval is what an attacker knows about the target: every value in
// [lo, hi] is consistent with what was published.
type relInterval struct{ lo, hi int64 }

func (r relInterval) String() string {
	if r.lo == r.hi {
		return fmt.Sprint(r.lo)
	}
	return fmt.Sprintf("[%d, %d]", r.lo, r.hi)
}

// relDifferencing tries to recover the target cell (March 2025 LAND, 3,
// suppressed) by combining published cells of overlapping periods,
// filters and margins. A strategy that pins the exact value fails.
func relDifferencing(t *testing.T, env *relAttackEnv, country string) {
	mode := []string{"transport_mode"}
	land := &queryv1.Filter{Dimension: "transport_mode", Values: []string{"LAND"}}
	seaLand := &queryv1.Filter{Dimension: "transport_mode", Values: []string{"LAND", "SEA"}}

	// The target really is suppressed.
	_, direct := env.aggregate(t, country, relMonth("incidents", "2025-03", "2025-03", mode))
	if c := relCell(direct, "LAND"); c == nil || c.GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED || c.GetValue() != 0 {
		t.Fatalf("March LAND is not suppressed: %v", c)
	}

	strategies := []relStrategy{
		{"overlapping periods: Q1 minus Jan-Feb", []relTerm{
			{1, relMonth("incidents", "2025-01", "2025-03", mode), []string{"LAND"}},
			{-1, relMonth("incidents", "2025-01", "2025-02", mode), []string{"LAND"}},
		}},
		{"overlapping filters: SEA or LAND total minus SEA", []relTerm{
			{1, relMonth("incidents", "2025-03", "2025-03", nil, seaLand), []string{}},
			{-1, relMonth("incidents", "2025-03", "2025-03", mode), []string{"SEA"}},
		}},
		{"margin: Q1 LAND total minus the published months", []relTerm{
			{1, relMonth("incidents", "2025-01", "2025-03", nil, land), []string{}},
			{-1, relMonth("incidents", "2025-01", "2025-03", []string{"period.month"}, land), []string{"2025-01"}},
			{-1, relMonth("incidents", "2025-01", "2025-03", []string{"period.month"}, land), []string{"2025-02"}},
		}},
		{"other measure: migrants (one per incident) Q1 minus Jan-Feb", []relTerm{
			{1, relMonth("migrants", "2025-01", "2025-03", mode), []string{"LAND"}},
			{-1, relMonth("migrants", "2025-01", "2025-02", mode), []string{"LAND"}},
		}},
	}
	// What suppression alone says: a withheld cell is 1..min_cell-1.
	all := relInterval{1, relAttackMinCell - 1}
	for _, s := range strategies {
		t.Run(s.name, func(t *testing.T) {
			var (
				est, noise int64
				ids        []string
			)
			for _, term := range s.terms {
				id, body := env.aggregate(t, country, term.q)
				ids = append(ids, id)
				c := relCell(body, term.key...)
				if c == nil {
					t.Fatalf("no cell %v in %v", term.key, body.GetAggregate())
				}
				switch c.GetStatus() {
				case queryv1.CellStatus_CELL_STATUS_SUPPRESSED, queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
					t.Logf("blocked: cell %v of %v is %v", term.key, term.q, c.GetStatus())
					relAudited(t, env, country, ids)
					return
				case queryv1.CellStatus_CELL_STATUS_ROUNDED:
					// RR3 moves a value by at most 2.
					noise += 2
				}
				est += term.sign * c.GetValue()
			}
			relAudited(t, env, country, ids)
			got := relInterval{max(est-noise, 1), min(est+noise, relAttackMinCell-1)}
			all = relInterval{max(all.lo, got.lo), min(all.hi, got.hi)}
			relJudge(t, country, s.name, got)
		})
	}
	t.Run("every strategy combined", func(t *testing.T) {
		relJudge(t, country, "the intersection of every strategy above", all)
	})
}

// relJudge reports what a strategy learnt about the target: exact
// recovery fails the test.
func relJudge(t *testing.T, country, strategy string, got relInterval) {
	t.Helper()
	switch {
	case got.lo > got.hi:
		t.Errorf("%s: inconsistent interval %s: the published cells contradict the data", strategy, got)
	case got.lo == got.hi && got.lo == relAttackTarget:
		t.Errorf("%s: %s recovers the suppressed cell exactly (%d)", country, strategy, got.lo)
	case got.lo == got.hi:
		t.Errorf("%s pins the target to %d, but it is %d", strategy, got.lo, relAttackTarget)
	default:
		t.Logf("%s: the target is only known to lie in %s (true value %d)", strategy, got, relAttackTarget)
	}
}

// relAudited checks that every task id has its audit entry.
func relAudited(t *testing.T, env *relAttackEnv, country string, ids []string) {
	t.Helper()
	byTask := relAuditByTask(env.c.audit(env.ctx, country))
	for _, id := range ids {
		if len(byTask[id]) != 1 {
			t.Errorf("%s: task %s has %d audit entries, want 1", country, id, len(byTask[id]))
		}
	}
}

// relRegionalTerm is one regional cell a partner adds or subtracts: the
// cell key of a run of query over states (nil: all).
type relRegionalTerm struct {
	sign   int64
	q      *queryv1.AggregateQuery
	states []string
	key    []string
	// target marks the cell holding the suppressed contributions sought:
	// suppressed there, it adds 0 and the estimate is of what it hides.
	// Any other term suppressed blocks the strategy.
	target bool
}

// relPartnerStrategy is a partner's differencing attack on the hub's
// regional tables. want is the true sum of the suppressed contributions
// it goes after, from n suppressed cells.
type relPartnerStrategy struct {
	name  string
	terms []relRegionalTerm
	want  int64
	n     int64
}

// relPartnerView is the partner's attack at the hub: subtract published
// regional cells from published regional totals, within a run and across
// runs the operator scheduled over different sets of states, to recover
// suppressed March LAND contributions (THA 3, MYS 3). The partner reads
// only regional tables; the operator only chooses which states a run asks.
func relPartnerView(t *testing.T, env *relAttackEnv) {
	mode := []string{"transport_mode"}
	seaLand := &queryv1.Filter{Dimension: "transport_mode", Values: []string{"LAND", "SEA"}}
	byMode := relMonth("incidents", "2025-03", "2025-03", mode)
	total := relMonth("incidents", "2025-03", "2025-03", nil, seaLand)
	landTotal := relMonth("incidents", "2025-03", "2025-03", nil, &queryv1.Filter{Dimension: "transport_mode", Values: []string{"LAND"}})
	it := []string{"IDN", "THA"}
	strategies := []relPartnerStrategy{
		{"all states: SEA or LAND total minus SEA minus LAND", []relRegionalTerm{
			{1, total, nil, []string{}, false}, {-1, byMode, nil, []string{"SEA"}, false}, {-1, byMode, nil, []string{"LAND"}, true},
		}, 2 * relAttackTarget, 2},
		{"IDN and THA: SEA or LAND total minus SEA minus LAND", []relRegionalTerm{
			{1, total, it, []string{}, false}, {-1, byMode, it, []string{"SEA"}, false}, {-1, byMode, it, []string{"LAND"}, true},
		}, relAttackTarget, 1},
		{"IDN and THA minus a run over IDN alone", []relRegionalTerm{
			{1, total, it, []string{}, false}, {-1, byMode, it, []string{"SEA"}, false}, {-1, byMode, []string{"IDN"}, []string{"LAND"}, false},
		}, relAttackTarget, 1},
		{"IDN and THA minus IDN's LAND total from a LAND-only run", []relRegionalTerm{
			{1, total, it, []string{}, false}, {-1, byMode, it, []string{"SEA"}, false}, {-1, landTotal, []string{"IDN"}, []string{}, false},
		}, relAttackTarget, 1},
		{"a run over THA alone: SEA or LAND total minus SEA", []relRegionalTerm{
			{1, total, []string{"THA"}, []string{}, false}, {-1, byMode, []string{"THA"}, []string{"SEA"}, false},
		}, relAttackTarget, 1},
	}
	runs := map[string]*hubv1.Run{}
	for _, s := range strategies {
		t.Run(s.name, func(t *testing.T) {
			var est, noise int64
			blocked := ""
			for _, term := range s.terms {
				r := relPartnerRun(t, env, runs, term.q, term.states)
				var rc *hubv1.RegionalCell
				for _, cell := range r.GetCells() {
					if slices.Equal(cell.GetKey(), term.key) {
						rc = cell
					}
				}
				switch {
				case rc == nil:
					t.Fatalf("run %s has no regional cell %v: %v", r.GetId(), term.key, r.GetCells())
				case rc.GetStatus() == queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
					// The hub withheld what the partner would subtract.
					blocked = fmt.Sprintf("regional cell %v over %v is secondarily suppressed", term.key, term.states)
				case !term.target && len(rc.GetSuppressedBy()) > 0:
					// A state withheld its part (primary suppression, or
					// its differencing guard): the sum does not hold it.
					blocked = fmt.Sprintf("regional cell %v over %v lacks the part of %v", term.key, term.states, rc.GetSuppressedBy())
				case rc.GetStatus() == queryv1.CellStatus_CELL_STATUS_ROUNDED:
					// The partner cannot tell which contributor rounded;
					// each may have moved its value by 2.
					noise += 2 * int64(len(rc.GetContributors()))
				}
				// A primary-suppressed regional cell (every state
				// suppressed) adds 0: what it hides is the unknown.
				est += term.sign * rc.GetValue()
			}
			if blocked != "" {
				t.Logf("blocked: %s", blocked)
				return
			}
			got := relInterval{max(est-noise, s.n), min(est+noise, s.n*(relAttackMinCell-1))}
			switch {
			case got.lo == got.hi && got.lo == s.want:
				t.Errorf("a partner recovers a suppressed national contribution exactly (%d) from regional tables: %s", s.want, s.name)
			case got.lo > got.hi || (got.lo == got.hi && got.lo != s.want):
				t.Errorf("partner estimate %s inconsistent with the true %d", got, s.want)
			default:
				t.Logf("the partner only learns that the suppressed contributions lie in %s (true %d)", got, s.want)
			}
		})
	}
}

// relPartnerRun returns the completed run of q over states as the partner
// reads it (submitted by the operator once per query and states), after
// checking the partner sees no state's own cells and that every node asked
// audited the task.
func relPartnerRun(t *testing.T, env *relAttackEnv, runs map[string]*hubv1.Run, q *queryv1.AggregateQuery, states []string) *hubv1.Run {
	t.Helper()
	c, ctx := env.c, env.ctx
	key := fmt.Sprint(q, states)
	if r := runs[key]; r != nil {
		return r
	}
	id := c.submit(ctx, q, time.Minute, states...)
	c.waitComplete(ctx, id)
	res, err := c.partnerQueries().GetRun(ctx, connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
	if err != nil {
		t.Fatalf("partner GetRun: %v", err)
	}
	r := res.Msg.GetRun()
	for _, s := range r.GetStates() {
		if len(s.GetCells()) != 0 {
			t.Errorf("the partner sees %s's own cells", s.GetCountry())
		}
	}
	asked := states
	if asked == nil {
		asked = []string{"THA", "MYS", "IDN"}
	}
	for _, country := range asked {
		if n := len(relEntriesFor(c.audit(ctx, country), id)); n != 1 {
			t.Errorf("%s: run %s audited %d times, want 1", country, id, n)
		}
	}
	runs[key] = r
	return r
}

// relLyingHello attaches to the real hub with THA's node certificate and
// claims to be MYS: the hub refuses, logs the refusal with the claimed
// country, and the real MYS stays attached and unchanged.
func relLyingHello(t *testing.T, env *relAttackEnv) {
	c, ctx := env.c, env.ctx
	before, err := c.nodeStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src := identitytest.StartSource(t, c.pki.Files(t, c.pki.Node("THA")))
	cc, err := grpc.NewClient("passthrough:///"+c.fedAddr, grpc.WithTransportCredentials(credentials.NewTLS(
		src.ClientTLSFor(func(id identity.ID) bool { return id.Role == identity.RoleHub }))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := federationv1.NewFederationClient(cc).Attach(actx)
	if err != nil {
		t.Fatal(err)
	}
	// A send error hides the status; Recv returns it.
	_ = stream.Send(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: &federationv1.Hello{SoftwareVersion: "evil", Country: "MYS"}}})
	m, err := stream.Recv()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("attach as THA claiming MYS: %v %v, want PermissionDenied", m, err)
	}
	relWaitFor(t, ctx, "the refusal in the hub log", func() error {
		if l := c.hubLog.String(); !strings.Contains(l, "attach refused") || !strings.Contains(l, "claimed_country=MYS") {
			return errors.New("not logged")
		}
		return nil
	})
	after, err := c.nodeStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, country := range []string{"MYS", "THA"} {
		if !after[country].GetConnected() || after[country].GetSoftwareVersion() != before[country].GetSoftwareVersion() {
			t.Errorf("%s after the lying hello: %v, before %v", country, after[country], before[country])
		}
	}
}
