package federation_test

import (
	"context"
	"crypto"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/federation"
	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	nodefed "github.com/vrs-federation/vrs/node/federation"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// testHub is a hub's federation side on 127.0.0.1 with real mTLS and a
// Badger store on disk.
type testHub struct {
	addr string
	db   *kv.DB
	reg  *registry.Registry
	mgr  *runs.Manager
	srv  *federation.Server
	gs   *grpc.Server

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startHub starts a hub on addr ("127.0.0.1:0" for a fresh port) over the
// store in dir; stop is registered as a cleanup and may be called earlier.
func startHub(t *testing.T, p *identitytest.PKI, src *identity.Source, dir, addr string) *testHub {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db)
	log := logging.Discard()
	reg, err := registry.New(registry.Config{Store: st, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := runs.New(runs.Config{Store: st, States: reg.Countries, Requester: p.Hub().String(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := federation.New(federation.Config{Registry: reg, Runs: mgr, HeartbeatInterval: time.Second, HubVersion: "test", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	opts := append(identity.GRPCServerOptions(src, federation.Policy(), log), grpc.WaitForHandlers(true))
	gs := grpc.NewServer(opts...)
	federationv1.RegisterFederationServer(gs, srv)
	var lis net.Listener
	// A restarted hub takes its old port back; the old listener may need a
	// moment to let go of it.
	for i := 0; ; i++ {
		lis, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &testHub{addr: lis.Addr().String(), db: db, reg: reg, mgr: mgr, srv: srv, gs: gs, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = gs.Serve(lis) }()
	go func() { defer wg.Done(); _ = mgr.Run(ctx) }()
	go func() { wg.Wait(); close(h.done) }()
	t.Cleanup(h.stop)
	return h
}

func (h *testHub) stop() {
	h.once.Do(func() {
		// As the hub does: drain the long-lived streams, then stop.
		h.srv.Drain()
		h.gs.GracefulStop()
		h.cancel()
		<-h.done
		_ = h.db.Close()
	})
}

// fakeNode answers migrants-by-citizenship from a fixed table, refuses the
// measures in refuse, and signs with signer (the node's own key, or a
// stranger's to forge).
type fakeNode struct {
	country string
	signer  crypto.Signer
	table   map[string]int64
	refuse  []string
	hash    atomic.Value // string

	// hold, when set, blocks answers until closed.
	hold chan struct{}

	mu       sync.Mutex
	answered map[string]*federationv1.Answer
	calls    atomic.Int32
}

func newFakeNode(country string, signer crypto.Signer, table map[string]int64) *fakeNode {
	f := &fakeNode{country: country, signer: signer, table: table, answered: map[string]*federationv1.Answer{}}
	f.hash.Store("hash-" + country + "-1")
	return f
}

func (f *fakeNode) Hello() *federationv1.Hello {
	h := f.hash.Load().(string)
	return &federationv1.Hello{
		SoftwareVersion: "0.0.1-test",
		Country:         f.country,
		Agreement:       &queryv1.AgreementSummary{Name: "cau-regional", Version: 1, Hash: h, MinCell: 5},
		Capabilities:    []string{"aggregate"},
	}
}

func (f *fakeNode) Answer(ctx context.Context, requester string, task *federationv1.Task) (*federationv1.Answer, error) {
	f.calls.Add(1)
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.answered[task.GetTaskId()]; ok {
		return a, nil
	}
	body := &federationv1.AnswerBody{
		TaskId:           task.GetTaskId(),
		RunId:            task.GetRunId(),
		Country:          f.country,
		AgreementName:    "cau-regional",
		AgreementVersion: 1,
		AgreementHash:    f.hash.Load().(string),
		AnsweredAt:       timestamppb.Now(),
	}
	q := task.GetAggregate()
	switch {
	case requester != "spiffe://"+identitytest.TrustDomain+"/hub":
		body.Outcome = &federationv1.AnswerBody_Refusal{Refusal: &queryv1.Refusal{
			Code: queryv1.RefusalCode_REFUSAL_CODE_RECIPIENT_NOT_ALLOWED, Reason: "requester " + requester + " is not a recipient"}}
	case slices.Contains(f.refuse, q.GetMeasure()):
		body.Outcome = &federationv1.AnswerBody_Refusal{Refusal: &queryv1.Refusal{
			Code: queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED, Reason: fmt.Sprintf("measure %s is not shared by %s", q.GetMeasure(), f.country)}}
	default:
		res := &queryv1.AggregateResult{Measure: q.GetMeasure(), GroupBy: q.GetGroupBy(), Rounding: "none", MinCell: 5}
		keys := make([]string, 0, len(f.table))
		for k := range f.table {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			res.Cells = append(res.Cells, &queryv1.Cell{Key: []string{k}, Value: f.table[k], Status: queryv1.CellStatus_CELL_STATUS_EXACT})
		}
		body.Outcome = &federationv1.AnswerBody_Aggregate{Aggregate: res}
	}
	a, err := answer.Sign(f.signer, body)
	if err != nil {
		return nil, err
	}
	f.answered[task.GetTaskId()] = a
	return a, nil
}

// startNode runs a federation client for f with the node certificate of
// country; it stops at the end of the test or when stop is called.
func startNode(t *testing.T, src *identity.Source, addr string, f nodefed.Answerer) (c *nodefed.Client, stop func()) {
	t.Helper()
	c, err := nodefed.New(nodefed.Config{
		HubAddr:     addr,
		DialOptions: identity.GRPCDialOptions(src, func(id identity.ID) bool { return id.Role == identity.RoleHub }),
		Answerer:    f,
		Log:         logging.Discard(),
		BackoffBase: 20 * time.Millisecond,
		BackoffMax:  200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node client: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitComplete follows the run until it is complete.
func waitComplete(t *testing.T, m *runs.Manager, id string) *hubv1.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ch, err := m.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var last *hubv1.Run
	for r := range ch {
		last = r
	}
	if last.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		t.Fatalf("run %s did not complete: %v", id, last)
	}
	return last
}

func stateOf(r *hubv1.Run, country string) *hubv1.StateResult {
	for _, s := range r.GetStates() {
		if s.GetCountry() == country {
			return s
		}
	}
	return nil
}

func cellValues(r *hubv1.Run) map[string]int64 {
	out := map[string]int64{}
	for _, c := range r.GetCells() {
		out[c.GetKey()[0]] = c.GetValue()
	}
	return out
}

// leakCheck returns a func that waits until the goroutine count is back to
// what it was, with a small tolerance for runtime helpers.
func leakCheck(t *testing.T) func() {
	t.Helper()
	before := runtimeGoroutines()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtimeGoroutines()
			if n <= before+2 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines: %d before, %d after\n%s", before, n, goroutineDump())
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
