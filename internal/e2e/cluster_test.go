package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrs-federation/vrs/hub"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node"
	"github.com/vrs-federation/vrs/node/store"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// relWait is how long a reliability test waits for any one thing (a
// reconnect, a run to settle) before it gives up; generous because the
// suite runs with -race on loaded machines, and longer for the long
// variants and hand-sized loads (VRS_LOAD), whose runs queue behind
// thousands of others.
func relWait() time.Duration {
	if relLong() || os.Getenv("VRS_LOAD") != "" {
		return 15 * time.Minute
	}
	return time.Minute
}

// relLongEnv names the environment variable that turns on the long
// variants (documented in docs/testing.md).
const relLongEnv = "VRS_LONG"

// relLong reports whether the long variants run.
func relLong() bool { return os.Getenv(relLongEnv) != "" }

// relLogBuf is a goroutine-safe log sink whose text a test can search.
type relLogBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *relLogBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *relLogBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// relPart is one running Run(ctx) of a hub or a node.
type relPart struct {
	cancel context.CancelFunc
	done   chan error
}

func relRun(run func(context.Context) error) *relPart {
	ctx, cancel := context.WithCancel(context.Background())
	p := &relPart{cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- run(ctx) }()
	return p
}

// stop cancels the part and waits for Run to return (a clean stop: the
// store is closed when it does).
func (p *relPart) stop(t testing.TB, what string) {
	t.Helper()
	if p == nil {
		return
	}
	p.cancel()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("%s: run: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop within 30 s", what)
	}
}

// relNode is one state's node in a relCluster; it dials the hub through
// its own proxy.
type relNode struct {
	country   string
	dataDir   string
	agreement string
	proxy     *relProxy
	node      *node.Node
	part      *relPart
	log       *relLogBuf
}

// relCluster is an in-process federation: a hub and real nodes with test
// certificates, real TLS on loopback ports and Badger in temporary
// directories. Parts can be stopped and started again on the same data.
type relCluster struct {
	t        *testing.T
	pki      *identitytest.PKI
	hubDir   string
	fedAddr  string
	apiAddr  string
	hub      *hub.Hub
	hubPart  *relPart
	hubLog   *relLogBuf
	nodes    map[string]*relNode
	order    []string
	operator *http.Client
	partner  *http.Client
	agencies map[string]*http.Client
}

// relNewCluster starts a hub; add nodes with addNodes.
func relNewCluster(t *testing.T) *relCluster {
	t.Helper()
	c := &relCluster{
		t:        t,
		pki:      identitytest.New(t),
		hubDir:   t.TempDir(),
		fedAddr:  "127.0.0.1:0",
		apiAddr:  "127.0.0.1:0",
		hubLog:   &relLogBuf{},
		nodes:    map[string]*relNode{},
		agencies: map[string]*http.Client{},
	}
	// Stop everything even when the test fails half-way; nodes first, as
	// an operator would.
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() {
			t.Logf("hub log (tail):\n%s", relTail(c.hubLog.String()))
			for _, cc := range c.order {
				t.Logf("node %s log (tail):\n%s", cc, relTail(c.nodes[cc].log.String()))
			}
		}
	})
	c.startHub()
	c.operator = c.client(c.pki.Operator("rel"), func(id identity.ID) bool { return id.Role == identity.RoleHub })
	c.partner = c.client(c.pki.Partner("rel-research"), func(id identity.ID) bool { return id.Role == identity.RoleHub })
	return c
}

func relTail(s string) string {
	if len(s) > 6000 {
		return s[len(s)-6000:]
	}
	return s
}

// stopAll stops every running node (in parallel) and then the hub.
func (c *relCluster) stopAll() {
	var wg sync.WaitGroup
	for _, cc := range c.order {
		n := c.nodes[cc]
		wg.Go(func() { n.part.stop(c.t, "node "+cc) })
	}
	wg.Wait()
	for _, n := range c.nodes {
		n.part = nil
	}
	c.stopHub()
}

// client is an HTTP/2 mTLS client holding id's certificate that accepts
// servers matching expect.
func (c *relCluster) client(id identity.ID, expect func(identity.ID) bool) *http.Client {
	c.t.Helper()
	src, err := identity.NewSource(c.pki.Files(c.t, id), logging.Discard())
	if err != nil {
		c.t.Fatal(err)
	}
	hc := src.HTTPClient(expect)
	c.t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// startHub starts the hub on its data directory; after the first start it
// binds the same addresses again, so nodes and clients find it where they
// left it.
func (c *relCluster) startHub() {
	c.t.Helper()
	var (
		h   *hub.Hub
		err error
	)
	// The old listeners were just closed; the ports are free but give the
	// kernel a moment if it disagrees.
	for range 50 {
		h, err = hub.New(hub.Config{
			DataDir:           c.hubDir,
			FederationListen:  c.fedAddr,
			APIListen:         c.apiAddr,
			TLS:               c.pki.Files(c.t, c.pki.Hub()),
			HeartbeatInterval: time.Second,
			Version:           "rel",
			Log:               hclog.New(&hclog.LoggerOptions{Name: "hub", Output: c.hubLog, Level: hclog.Debug}),
		})
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("hub: %v", err)
	}
	c.hub = h
	c.fedAddr, c.apiAddr = h.FederationAddr(), h.APIAddr()
	c.hubPart = relRun(h.Run)
}

// stopHub stops the hub cleanly (its store is closed when this returns).
func (c *relCluster) stopHub() {
	c.t.Helper()
	c.hubPart.stop(c.t, "hub")
	c.hubPart = nil
}

// relNodeSpec describes a node to add: its state, agreement text and the
// records it holds.
type relNodeSpec struct {
	country   string
	agreement string
	incs      []*recordv1.Incident
}

// addNodes adds several nodes, loading their stores and opening them in
// parallel (opening Badger dominates a node's start under -race).
func (c *relCluster) addNodes(specs ...relNodeSpec) {
	c.t.Helper()
	for _, sp := range specs {
		n := &relNode{country: sp.country, dataDir: c.t.TempDir(), log: &relLogBuf{}}
		n.agreement = filepath.Join(c.t.TempDir(), sp.country+".hcl")
		if err := os.WriteFile(n.agreement, []byte(sp.agreement), 0o600); err != nil {
			c.t.Fatal(err)
		}
		n.proxy = relStartProxy(c.t, c.fedAddr)
		c.nodes[sp.country] = n
		c.order = append(c.order, sp.country)
		c.agencies[sp.country] = c.client(c.pki.Agency(sp.country, "rel"), func(id identity.ID) bool {
			return id.Role == identity.RoleNode && id.Country == sp.country
		})
		// Issue the certificate here: the PKI is not for concurrent use.
		c.pki.Files(c.t, c.pki.Node(sp.country))
	}
	made := make([]*node.Node, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, sp := range specs {
		wg.Go(func() {
			if errs[i] = relSeed(c.nodes[sp.country].dataDir, sp.incs); errs[i] == nil {
				made[i], errs[i] = c.newNode(sp.country)
			}
		})
	}
	wg.Wait()
	for i, sp := range specs {
		if errs[i] != nil {
			c.t.Fatalf("node %s: %v", sp.country, errs[i])
		}
		n := c.nodes[sp.country]
		n.node = made[i]
		n.part = relRun(made[i].Run)
	}
}

// relSeed writes incidents straight into a node's store while the node is
// stopped (what `vrs-node import` does).
func relSeed(dataDir string, incs []*recordv1.Incident) error {
	db, err := store.OpenDataDir(dataDir, logging.Discard())
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := store.Open(db, logging.Discard())
	if err != nil {
		return err
	}
	for len(incs) > 0 {
		batch := incs[:min(len(incs), store.MaxBatch)]
		incs = incs[len(batch):]
		if _, err := s.Upsert(context.Background(), batch); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return db.Close()
}

// newNode assembles country's node on its data directory; it does not
// start it.
func (c *relCluster) newNode(country string) (*node.Node, error) {
	n := c.nodes[country]
	return node.New(context.Background(), node.Config{
		DataDir:       n.dataDir,
		Country:       country,
		HubAddr:       n.proxy.Addr(),
		APIListen:     "127.0.0.1:0",
		TLS:           c.pki.Files(c.t, c.pki.Node(country)),
		AgreementPath: n.agreement,
		Version:       "rel",
		Log:           hclog.New(&hclog.LoggerOptions{Name: "node-" + country, Output: n.log, Level: hclog.Debug}),
	})
}

// startNode starts (or restarts) country's node on its data directory.
func (c *relCluster) startNode(country string) {
	c.t.Helper()
	nd, err := c.newNode(country)
	if err != nil {
		c.t.Fatalf("node %s: %v", country, err)
	}
	n := c.nodes[country]
	n.node = nd
	n.part = relRun(nd.Run)
}

// stopNode stops country's node cleanly.
func (c *relCluster) stopNode(country string) {
	c.t.Helper()
	n := c.nodes[country]
	n.part.stop(c.t, "node "+country)
	n.part = nil
}

// queries is the operator's QueryService client.
func (c *relCluster) queries() hubv1connect.QueryServiceClient {
	return hubv1connect.NewQueryServiceClient(c.operator, "https://"+c.apiAddr, connect.WithGRPC())
}

// partnerQueries is a partner's QueryService client (read-only).
func (c *relCluster) partnerQueries() hubv1connect.QueryServiceClient {
	return hubv1connect.NewQueryServiceClient(c.partner, "https://"+c.apiAddr, connect.WithGRPC())
}

// nodeStatus returns what the operator's ListNodes says, by country.
func (c *relCluster) nodeStatus(ctx context.Context) (map[string]*hubv1.Node, error) {
	cl := hubv1connect.NewNodeServiceClient(c.operator, "https://"+c.apiAddr, connect.WithGRPC())
	res, err := cl.ListNodes(ctx, connect.NewRequest(&hubv1.ListNodesRequest{}))
	if err != nil {
		return nil, err
	}
	out := map[string]*hubv1.Node{}
	for _, n := range res.Msg.GetNodes() {
		out[n.GetCountry()] = n
	}
	return out, nil
}

// waitConnected waits until ListNodes shows each country with connected
// equal to want.
func (c *relCluster) waitConnected(ctx context.Context, want bool, countries ...string) {
	c.t.Helper()
	relWaitFor(c.t, ctx, fmt.Sprintf("%v connected=%v", countries, want), func() error {
		st, err := c.nodeStatus(ctx)
		if err != nil {
			return err
		}
		for _, cc := range countries {
			if st[cc].GetConnected() != want {
				return fmt.Errorf("%s connected=%v", cc, st[cc].GetConnected())
			}
		}
		return nil
	})
}

// submit starts a run and returns its id.
func (c *relCluster) submit(ctx context.Context, q *queryv1.AggregateQuery, timeout time.Duration, states ...string) string {
	c.t.Helper()
	id, err := c.trySubmit(ctx, q, timeout, states...)
	if err != nil {
		c.t.Fatalf("submit: %v", err)
	}
	return id
}

// trySubmit starts a run, waiting and retrying while the hub's per-caller
// rate limit turns it away (as a well-behaved client would); safe to call
// from any goroutine.
func (c *relCluster) trySubmit(ctx context.Context, q *queryv1.AggregateQuery, timeout time.Duration, states ...string) (string, error) {
	for {
		res, err := c.queries().SubmitQuery(ctx, connect.NewRequest(&hubv1.SubmitQueryRequest{
			Query: q, States: states, Timeout: durationpb.New(timeout),
		}))
		if connect.CodeOf(err) == connect.CodeResourceExhausted {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(200 * time.Millisecond):
				continue
			}
		}
		if err != nil {
			return "", err
		}
		return res.Msg.GetRunId(), nil
	}
}

// run returns the run as the operator sees it.
func (c *relCluster) run(ctx context.Context, id string) (*hubv1.Run, error) {
	res, err := c.queries().GetRun(ctx, connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetRun(), nil
}

// waitRun waits until the run satisfies cond and returns it.
func (c *relCluster) waitRun(ctx context.Context, id, what string, cond func(*hubv1.Run) bool) *hubv1.Run {
	c.t.Helper()
	var run *hubv1.Run
	relWaitFor(c.t, ctx, "run "+id+": "+what, func() error {
		r, err := c.run(ctx, id)
		if err != nil {
			return err
		}
		run = r
		if !cond(r) {
			return fmt.Errorf("state %v, states %s", r.GetState(), relStates(r))
		}
		return nil
	})
	return run
}

// waitComplete waits for the run to be COMPLETE.
func (c *relCluster) waitComplete(ctx context.Context, id string) *hubv1.Run {
	c.t.Helper()
	return c.waitRun(ctx, id, "complete", func(r *hubv1.Run) bool { return r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE })
}

// audit returns country's whole audit log through its node API, as an
// officer of that state reads it.
func (c *relCluster) audit(ctx context.Context, country string) []*nodev1.AuditEntry {
	c.t.Helper()
	n := c.nodes[country]
	cl := nodev1connect.NewAuditServiceClient(c.agencies[country], "https://"+n.node.APIAddr(), connect.WithGRPC())
	var out []*nodev1.AuditEntry
	from := uint64(0)
	for {
		res, err := cl.ListEntries(ctx, connect.NewRequest(&nodev1.ListEntriesRequest{FromSequence: from, PageSize: 1000}))
		if err != nil {
			c.t.Fatalf("audit %s: %v", country, err)
		}
		es := res.Msg.GetEntries()
		out = append(out, es...)
		if len(es) == 0 {
			return out
		}
		from = es[len(es)-1].GetSequence() + 1
	}
}

// verifyAudit asks country's node to verify its hash chain.
func (c *relCluster) verifyAudit(ctx context.Context, country string) {
	c.t.Helper()
	n := c.nodes[country]
	cl := nodev1connect.NewAuditServiceClient(c.agencies[country], "https://"+n.node.APIAddr(), connect.WithGRPC())
	res, err := cl.Verify(ctx, connect.NewRequest(&nodev1.VerifyRequest{}))
	if err != nil {
		c.t.Fatalf("audit verify %s: %v", country, err)
	}
	if !res.Msg.GetOk() {
		c.t.Errorf("audit verify %s: %v", country, res.Msg)
	}
}

// relEntriesFor returns the audit entries recording task ids of run runID.
func relEntriesFor(es []*nodev1.AuditEntry, runID string) []*nodev1.AuditEntry {
	var out []*nodev1.AuditEntry
	for _, e := range es {
		if e.GetRunId() == runID && e.GetTaskId() != "" {
			out = append(out, e)
		}
	}
	return out
}

// relStates formats each state's status for messages.
func relStates(r *hubv1.Run) string {
	var b strings.Builder
	for _, s := range r.GetStates() {
		fmt.Fprintf(&b, "%s=%s", s.GetCountry(), strings.TrimPrefix(s.GetStatus().String(), "STATE_STATUS_"))
		if s.GetReason() != "" {
			fmt.Fprintf(&b, "(%s)", s.GetReason())
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// relState returns country's result in a run, failing the test when the
// run does not list that state exactly once.
func relState(t testing.TB, r *hubv1.Run, country string) *hubv1.StateResult {
	t.Helper()
	var found *hubv1.StateResult
	for _, s := range r.GetStates() {
		if s.GetCountry() != country {
			continue
		}
		if found != nil {
			t.Fatalf("run %s lists %s twice", r.GetId(), country)
		}
		found = s
	}
	if found == nil {
		t.Fatalf("run %s does not list %s: %s", r.GetId(), country, relStates(r))
	}
	return found
}

// relWaitFor polls cond until it returns nil or ctx (capped at relWait)
// ends; the last error says what was still wrong.
func relWaitFor(t testing.TB, ctx context.Context, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, relWait())
	defer cancel()
	var last error
	for {
		if last = cond(); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %v", what, errors.Join(last, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// relListen listens on a free loopback port until the test ends.
func relListen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}
