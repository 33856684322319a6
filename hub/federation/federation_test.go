package federation_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrs-federation/vrs/hub/api"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

var tables = map[string]map[string]int64{
	"IDN": {"AFG": 15, "MMR": 6},
	"MYS": {"BGD": 8, "IDN": 11, "MMR": 25},
	"THA": {"KHM": 12, "LAO": 9, "MMR": 40},
}

func migrantsQuery() *queryv1.AggregateQuery {
	return &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
}

type fixture struct {
	pki    *identitytest.PKI
	hubSrc *identity.Source
	dir    string
	hub    *testHub
	nodes  map[string]*fakeNode
	srcs   map[string]*identity.Source
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := identitytest.New(t)
	f := &fixture{pki: p, hubSrc: p.Source(t, p.Hub()), dir: t.TempDir(), nodes: map[string]*fakeNode{}, srcs: map[string]*identity.Source{}}
	for cc, table := range tables {
		src := p.Source(t, p.Node(cc))
		f.srcs[cc] = src
		f.nodes[cc] = newFakeNode(cc, src.Signer(), table)
	}
	return f
}

func (f *fixture) start(t *testing.T, addr string) *testHub {
	t.Helper()
	f.hub = startHub(t, f.pki, f.hubSrc, f.dir, addr)
	return f.hub
}

func (f *fixture) attach(t *testing.T, cc string) (stop func()) {
	t.Helper()
	c, stop := startNode(t, f.srcs[cc], f.hub.addr, f.nodes[cc])
	eventually(t, cc+" attached", func() bool { return c.Connected() && f.hub.reg.Connected(cc) })
	return stop
}

func (f *fixture) submit(t *testing.T, q *queryv1.AggregateQuery, states []string, timeout time.Duration) string {
	t.Helper()
	id, err := f.hub.mgr.Submit(t.Context(), &hubv1.SubmitQueryRequest{Query: q, States: states, Timeout: durationpb.New(timeout)}, "spiffe://vrs.test/operator/tester", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestExactSumsAndNoLeak(t *testing.T) {
	f := newFixture(t)
	check := leakCheck(t)
	f.start(t, "127.0.0.1:0")
	var stops []func()
	for _, cc := range []string{"IDN", "MYS", "THA"} {
		stops = append(stops, f.attach(t, cc))
	}
	// Registry: what the Hellos and certificates said.
	n, err := f.hub.reg.Get("THA")
	if err != nil {
		t.Fatal(err)
	}
	if !n.GetConnected() || n.GetSoftwareVersion() != "0.0.1-test" || n.GetAgreementHash() != "hash-THA-1" ||
		n.GetCertificateNotAfter() == nil || n.GetName() != "Thailand" {
		t.Errorf("registry node: %v", n)
	}

	id := f.submit(t, migrantsQuery(), nil, time.Minute)
	r := waitComplete(t, f.hub.mgr, id)
	want := map[string]int64{"AFG": 15, "BGD": 8, "IDN": 11, "KHM": 12, "LAO": 9, "MMR": 71}
	got := cellValues(r)
	if len(got) != len(want) {
		t.Errorf("cells: got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cell %s: got %d, want %d", k, got[k], v)
		}
	}
	for _, c := range r.GetCells() {
		if c.GetStatus() != queryv1.CellStatus_CELL_STATUS_EXACT || len(c.GetContributors()) != 3 || len(c.GetMissing()) != 0 {
			t.Errorf("cell %v: want exact with three contributors", c)
		}
	}
	for _, s := range r.GetStates() {
		if s.GetStatus() != hubv1.StateStatus_STATE_STATUS_ANSWERED || s.GetAgreementHash() == "" {
			t.Errorf("state %v: want answered", s)
		}
	}

	for _, stop := range stops {
		stop()
	}
	eventually(t, "nodes detached", func() bool { return len(f.hub.reg.List()) == 3 && !f.hub.reg.Connected("THA") })
	f.hub.stop()
	check()
}

func TestRehelloUpdatesRegistry(t *testing.T) {
	f := newFixture(t)
	f.start(t, "127.0.0.1:0")
	c, _ := startNode(t, f.srcs["THA"], f.hub.addr, f.nodes["THA"])
	eventually(t, "attached", c.Connected)
	f.nodes["THA"].hash.Store("hash-THA-2")
	c.Rehello()
	eventually(t, "new agreement hash", func() bool {
		n, err := f.hub.reg.Get("THA")
		return err == nil && n.GetAgreementHash() == "hash-THA-2"
	})
}

func TestRefusalVisibleInGetRun(t *testing.T) {
	f := newFixture(t)
	f.nodes["IDN"].refuse = []string{"suspects"}
	f.start(t, "127.0.0.1:0")
	for _, cc := range []string{"IDN", "MYS", "THA"} {
		f.attach(t, cc)
	}
	q := migrantsQuery()
	q.Measure = "suspects"
	id := f.submit(t, q, nil, time.Minute)
	waitComplete(t, f.hub.mgr, id)

	qs := api.NewQueryService(f.hub.mgr)
	resp, err := qs.GetRun(t.Context(), connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Msg.GetRun()
	idn := stateOf(r, "IDN")
	if idn.GetStatus() != hubv1.StateStatus_STATE_STATUS_REFUSED ||
		idn.GetReason() != "measure suspects is not shared by IDN" ||
		idn.GetRefusalCode() != queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED {
		t.Errorf("IDN: %v", idn)
	}
	if got := cellValues(r)["MMR"]; got != 65 {
		t.Errorf("MMR without IDN: got %d, want 65", got)
	}
	for _, c := range r.GetCells() {
		if len(c.GetMissing()) != 1 || c.GetMissing()[0] != "IDN" {
			t.Errorf("cell %v: want IDN missing", c)
		}
	}
}

func TestOfflineNodeAttachesBeforeDeadline(t *testing.T) {
	f := newFixture(t)
	f.start(t, "127.0.0.1:0")
	f.attach(t, "MYS")
	f.attach(t, "THA")
	id := f.submit(t, migrantsQuery(), []string{"IDN", "MYS", "THA"}, time.Minute)

	eventually(t, "MYS and THA answered", func() bool {
		r, err := f.hub.mgr.Get(t.Context(), id)
		return err == nil && stateOf(r, "MYS").GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED &&
			stateOf(r, "THA").GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED
	})
	r, _ := f.hub.mgr.Get(t.Context(), id)
	if s := stateOf(r, "IDN"); s.GetStatus() != hubv1.StateStatus_STATE_STATUS_OFFLINE {
		t.Fatalf("IDN before attaching: %v", s)
	}
	// The regional table is merged when the run completes, not before.
	if r.GetState() != hubv1.RunState_RUN_STATE_RUNNING || len(r.GetCells()) != 0 {
		t.Fatalf("partial run: %v", r)
	}

	f.attach(t, "IDN")
	r = waitComplete(t, f.hub.mgr, id)
	if s := stateOf(r, "IDN"); s.GetStatus() != hubv1.StateStatus_STATE_STATUS_ANSWERED {
		t.Errorf("IDN after attaching: %v", s)
	}
	if got := cellValues(r); got["MMR"] != 71 || got["AFG"] != 15 {
		t.Errorf("merged late answer: %v", got)
	}
}

func TestHubRestartMidRun(t *testing.T) {
	f := newFixture(t)
	f.nodes["IDN"].hold = make(chan struct{})
	h := f.start(t, "127.0.0.1:0")
	addr := h.addr
	clients := map[string]interface{ Connected() bool }{}
	for _, cc := range []string{"IDN", "MYS", "THA"} {
		c, _ := startNode(t, f.srcs[cc], addr, f.nodes[cc])
		clients[cc] = c
		eventually(t, cc+" attached", c.Connected)
	}
	id := f.submit(t, migrantsQuery(), nil, time.Minute)
	eventually(t, "two answers and IDN's task delivered", func() bool {
		r, err := h.mgr.Get(t.Context(), id)
		return err == nil && stateOf(r, "MYS").GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED &&
			stateOf(r, "THA").GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED &&
			stateOf(r, "IDN").GetStatus() == hubv1.StateStatus_STATE_STATUS_PENDING && f.nodes["IDN"].calls.Load() > 0
	})
	before, _ := h.mgr.Get(t.Context(), id)

	h.stop()
	eventually(t, "nodes notice the outage", func() bool {
		return !clients["IDN"].Connected() && !clients["MYS"].Connected() && !clients["THA"].Connected()
	})
	close(f.nodes["IDN"].hold)

	h2 := f.start(t, addr)
	r, err := h2.mgr.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetState() != hubv1.RunState_RUN_STATE_RUNNING || !r.GetDeadline().AsTime().Equal(before.GetDeadline().AsTime()) {
		t.Fatalf("resumed run: %v (deadline was %v)", r, before.GetDeadline().AsTime())
	}
	for cc, c := range clients {
		eventually(t, cc+" reconnected", func() bool { return c.Connected() && h2.reg.Connected(cc) })
	}
	r = waitComplete(t, h2.mgr, id)
	for _, s := range r.GetStates() {
		if s.GetStatus() != hubv1.StateStatus_STATE_STATUS_ANSWERED {
			t.Errorf("state %v: want answered", s)
		}
	}
	if got := cellValues(r)["MMR"]; got != 71 {
		t.Errorf("MMR: got %d, want 71", got)
	}
}

func TestForgedSignatureFails(t *testing.T) {
	f := newFixture(t)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.nodes["MYS"].signer = stranger
	f.start(t, "127.0.0.1:0")
	f.attach(t, "MYS")
	f.attach(t, "THA")
	id := f.submit(t, migrantsQuery(), []string{"MYS", "THA"}, time.Minute)
	r := waitComplete(t, f.hub.mgr, id)
	if s := stateOf(r, "MYS"); s.GetStatus() != hubv1.StateStatus_STATE_STATUS_FAILED || s.GetReason() != "answer signature does not verify" {
		t.Errorf("MYS: %v", s)
	}
	if got := cellValues(r)["MMR"]; got != 40 {
		t.Errorf("MMR: got %d, want THA's 40 only", got)
	}
}

// rawStream attaches with cc's node certificate without the client, to send
// what a well-behaved client never would.
func rawStream(t *testing.T, f *fixture, cc string) federationv1.Federation_AttachClient {
	t.Helper()
	conn, err := grpc.NewClient(f.hub.addr, identity.GRPCDialOptions(f.srcs[cc], nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := federationv1.NewFederationClient(conn).Attach(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func send(t *testing.T, s federationv1.Federation_AttachClient, m *federationv1.NodeMessage) {
	t.Helper()
	if err := s.Send(m); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

func hello(h *federationv1.Hello) *federationv1.NodeMessage {
	return &federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: h}}
}

func TestHelloClaimingAnotherCountryIsRefused(t *testing.T) {
	f := newFixture(t)
	f.start(t, "127.0.0.1:0")
	s := rawStream(t, f, "THA")
	h := f.nodes["THA"].Hello()
	h.Country = "MYS"
	send(t, s, hello(h))
	_, err := s.Recv()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("got %v, want PermissionDenied", err)
	}
	if f.hub.reg.Connected("MYS") || f.hub.reg.Connected("THA") {
		t.Error("a refused stream is in the registry")
	}
	if _, err := f.hub.reg.Get("MYS"); err == nil {
		t.Error("the claimed country was registered")
	}
}

func TestSecondAttachReplacesFirst(t *testing.T) {
	f := newFixture(t)
	f.start(t, "127.0.0.1:0")
	first := rawStream(t, f, "THA")
	send(t, first, hello(f.nodes["THA"].Hello()))
	if m, err := first.Recv(); err != nil || m.GetWelcome().GetCountry() != "THA" {
		t.Fatalf("welcome: %v %v", m, err)
	}
	second := rawStream(t, f, "THA")
	send(t, second, hello(f.nodes["THA"].Hello()))
	if m, err := second.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("second welcome: %v %v", m, err)
	}
	for {
		_, err := first.Recv()
		if err == nil {
			continue // a heartbeat sent before the replacement
		}
		if status.Code(err) != codes.Aborted {
			t.Fatalf("first stream: got %v, want Aborted", err)
		}
		break
	}
	if !f.hub.reg.Connected("THA") || !f.hub.srv.Connected("THA") {
		t.Error("the replacing stream is not registered")
	}
	// Tasks now go to the second stream.
	id := f.submit(t, migrantsQuery(), []string{"THA"}, time.Minute)
	for {
		m, err := second.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetTask().GetRunId() == id {
			break
		}
	}
}

func TestDuplicateAnswerNotDoubleCounted(t *testing.T) {
	f := newFixture(t)
	f.start(t, "127.0.0.1:0")
	s := rawStream(t, f, "THA")
	send(t, s, hello(f.nodes["THA"].Hello()))
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	id := f.submit(t, migrantsQuery(), []string{"MYS", "THA"}, time.Minute)
	var task *federationv1.Task
	for task == nil {
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		task = m.GetTask()
	}
	a, err := f.nodes["THA"].Answer(t.Context(), "spiffe://"+identitytest.TrustDomain+"/hub", task)
	if err != nil {
		t.Fatal(err)
	}
	answerMsg := &federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Answer{Answer: a}}
	send(t, s, answerMsg)
	send(t, s, answerMsg)
	// A re-Hello after the answers: once the registry shows it, the hub has
	// processed both answers (one stream is handled in order).
	f.nodes["THA"].hash.Store("hash-THA-2")
	send(t, s, hello(f.nodes["THA"].Hello()))
	eventually(t, "both answers processed", func() bool {
		n, err := f.hub.reg.Get("THA")
		return err == nil && n.GetAgreementHash() == "hash-THA-2"
	})
	f.attach(t, "MYS")
	r := waitComplete(t, f.hub.mgr, id)
	if got := cellValues(r); got["MMR"] != 65 || got["KHM"] != 12 {
		t.Errorf("cells: %v, want THA counted once (MMR 65, KHM 12)", got)
	}
}

func TestSilentNodeIsDropped(t *testing.T) {
	f := newFixture(t)
	f.start(t, "127.0.0.1:0")
	s := rawStream(t, f, "THA")
	send(t, s, hello(f.nodes["THA"].Hello()))
	// Never send a heartbeat: after three missed intervals the hub ends the
	// stream and marks the node disconnected.
	for {
		_, err := s.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("got %v, want Unavailable", err)
		}
		break
	}
	eventually(t, "THA disconnected", func() bool { return !f.hub.reg.Connected("THA") })
	n, err := f.hub.reg.Get("THA")
	if err != nil || n.GetConnected() || n.GetLastSeen() == nil {
		t.Errorf("registry after drop: %v %v", n, err)
	}
}
