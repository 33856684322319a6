package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/synth"
	"github.com/vrs-federation/vrs/internal/testfs"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// relAgreement is the agreement of the reliability tests' nodes: rounding
// is "none" or "rr3".
func relAgreement(rounding string) string {
	return fmt.Sprintf(`
agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = %q
  max_group_by = 2
  period_floor = "month"
  measure "migrants"  { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode", "citizenship"] }
  measure "incidents" { dimensions = ["period.year", "period.quarter", "period.month", "transport_mode"] }
}
`, rounding)
}

// relSynth returns n synthetic incidents of country in 2025.
func relSynth(t testing.TB, country string, n int, seed int64) []*recordv1.Incident {
	t.Helper()
	g, err := synth.New(synth.Options{
		Country: country, Seed: seed,
		From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*recordv1.Incident, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// relQuery is the query most fault tests ask: migrants by transport mode
// in 2025.
func relQuery() *queryv1.AggregateQuery {
	return &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"transport_mode"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
}

// relFaultCluster is a hub with two nodes, THA (exact) and MYS (rr3), both
// attached.
func relFaultCluster(t *testing.T) (*relCluster, context.Context) {
	t.Helper()
	c := relNewCluster(t)
	c.addNodes(
		relNodeSpec{"THA", relAgreement("none"), relSynth(t, "THA", 300, 1)},
		relNodeSpec{"MYS", relAgreement("rr3"), relSynth(t, "MYS", 300, 2)},
	)
	ctx := t.Context()
	c.waitConnected(ctx, true, "THA", "MYS")
	return c, ctx
}

// relStatusIs is a run condition: country has status want.
func relStatusIs(country string, want hubv1.StateStatus) func(*hubv1.Run) bool {
	return func(r *hubv1.Run) bool {
		for _, s := range r.GetStates() {
			if s.GetCountry() == country {
				return s.GetStatus() == want
			}
		}
		return false
	}
}

// relCheckSettled checks a complete run as the operator sees it: every
// state listed once with the wanted status, the regional cells the sum of
// the answered states' cells (so nothing was merged twice), and the
// states that did not answer listed as missing, never as contributors.
func relCheckSettled(t *testing.T, run *hubv1.Run, want map[string]hubv1.StateStatus) {
	t.Helper()
	if run.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		t.Fatalf("run %s is %v, want complete", run.GetId(), run.GetState())
	}
	if len(run.GetStates()) != len(want) {
		t.Errorf("run %s lists %d states, want %d: %s", run.GetId(), len(run.GetStates()), len(want), relStates(run))
	}
	for country, st := range want {
		if s := relState(t, run, country); s.GetStatus() != st {
			t.Errorf("run %s: %s is %v (%s), want %v", run.GetId(), country, s.GetStatus(), s.GetReason(), st)
		}
	}
	checkSums(t, run)
	for _, cell := range run.GetCells() {
		for country, st := range want {
			if st == hubv1.StateStatus_STATE_STATUS_ANSWERED {
				continue
			}
			if slices.Contains(cell.GetContributors(), country) {
				t.Errorf("cell %v counts %s, which is %v", cell.GetKey(), country, st)
			}
			if !slices.Contains(cell.GetMissing(), country) {
				t.Errorf("cell %v does not list %s (%v) as missing", cell.GetKey(), country, st)
			}
		}
	}
}

// relDisclosedOnce checks that country's audit log records the run's task
// exactly once, as a disclosure: a re-delivered task was answered from the
// log, not decided again.
func relDisclosedOnce(t *testing.T, c *relCluster, ctx context.Context, country, runID string) {
	t.Helper()
	es := relEntriesFor(c.audit(ctx, country), runID)
	if len(es) != 1 {
		t.Fatalf("%s audit has %d entries for run %s, want 1", country, len(es), runID)
	}
	if es[0].GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED {
		t.Errorf("%s audit entry for run %s is %v", country, runID, es[0].GetDecision())
	}
	c.verifyAudit(ctx, country)
}

// TestRelFaults stops, restarts, partitions and cuts parts of a running
// federation and checks what the operator sees and that nothing is lost or
// counted twice (issue 12, faults).
func TestRelFaults(t *testing.T) {
	answered := hubv1.StateStatus_STATE_STATUS_ANSWERED
	both := map[string]hubv1.StateStatus{"THA": answered, "MYS": answered}

	t.Run("node restarted mid-run", func(t *testing.T) {
		t.Parallel()
		c, ctx := relFaultCluster(t)
		// Hold THA's link so the task is delivered but not yet answered
		// when the node goes down.
		c.nodes["THA"].proxy.Drop()
		id := c.submit(ctx, relQuery(), time.Minute)
		c.waitRun(ctx, id, "MYS answered, THA pending", func(r *hubv1.Run) bool {
			return relStatusIs("MYS", answered)(r) && relStatusIs("THA", hubv1.StateStatus_STATE_STATUS_PENDING)(r)
		})
		c.stopNode("THA")
		c.nodes["THA"].proxy.Heal()
		c.waitConnected(ctx, false, "THA")
		if r, err := c.run(ctx, id); err != nil || r.GetState() != hubv1.RunState_RUN_STATE_RUNNING {
			t.Fatalf("run with THA down: %v %v", r.GetState(), err)
		}
		c.startNode("THA")
		run := c.waitComplete(ctx, id)
		relCheckSettled(t, run, both)
		relDisclosedOnce(t, c, ctx, "THA", id)
		relDisclosedOnce(t, c, ctx, "MYS", id)
	})

	t.Run("node offline at submit", func(t *testing.T) {
		t.Parallel()
		c, ctx := relFaultCluster(t)
		c.stopNode("THA")
		c.waitConnected(ctx, false, "THA")
		id := c.submit(ctx, relQuery(), time.Minute)
		run := c.waitRun(ctx, id, "MYS answered", relStatusIs("MYS", answered))
		if run.GetState() != hubv1.RunState_RUN_STATE_RUNNING {
			t.Fatalf("run is %v with THA offline before its deadline", run.GetState())
		}
		if s := relState(t, run, "THA"); s.GetStatus() == answered {
			t.Fatalf("THA answered while offline")
		} else {
			t.Logf("operator sees the offline THA as %v before the deadline", s.GetStatus())
		}
		c.startNode("THA")
		run = c.waitComplete(ctx, id)
		relCheckSettled(t, run, both)
		relDisclosedOnce(t, c, ctx, "THA", id)
	})

	t.Run("hub restarted mid-run", func(t *testing.T) {
		t.Parallel()
		c, ctx := relFaultCluster(t)
		c.nodes["THA"].proxy.Drop()
		id := c.submit(ctx, relQuery(), time.Minute)
		c.waitRun(ctx, id, "MYS answered", relStatusIs("MYS", answered))
		c.stopHub()
		c.nodes["THA"].proxy.Heal()
		c.startHub()
		c.waitConnected(ctx, true, "THA", "MYS")
		run := c.waitComplete(ctx, id)
		relCheckSettled(t, run, both)
		relDisclosedOnce(t, c, ctx, "THA", id)
		relDisclosedOnce(t, c, ctx, "MYS", id)
	})

	t.Run("node partitioned", func(t *testing.T) {
		t.Parallel()
		partition := 5 * time.Second
		if relLong() {
			partition = 30 * time.Second
		}
		c, ctx := relFaultCluster(t)
		start := time.Now()
		c.nodes["THA"].proxy.Drop()
		id := c.submit(ctx, relQuery(), 2*time.Minute+partition)
		// The hub notices the silence by itself (missed heartbeats).
		c.waitConnected(ctx, false, "THA")
		run, err := c.run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s := relState(t, run, "THA"); s.GetStatus() == answered || run.GetState() != hubv1.RunState_RUN_STATE_RUNNING {
			t.Fatalf("during the partition: run %v, THA %v", run.GetState(), s.GetStatus())
		}
		time.Sleep(time.Until(start.Add(partition)))
		c.nodes["THA"].proxy.Heal()
		c.waitConnected(ctx, true, "THA")
		run = c.waitComplete(ctx, id)
		relCheckSettled(t, run, both)
		relDisclosedOnce(t, c, ctx, "THA", id)
		t.Logf("partitioned %s, run settled %s after the partition began", partition, time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("slow link", func(t *testing.T) {
		t.Parallel()
		c, ctx := relFaultCluster(t)
		c.nodes["THA"].proxy.Delay(200 * time.Millisecond)
		id := c.submit(ctx, relQuery(), time.Minute)
		relCheckSettled(t, c.waitComplete(ctx, id), both)
		relDisclosedOnce(t, c, ctx, "THA", id)
	})

	t.Run("link cut past the deadline", func(t *testing.T) {
		t.Parallel()
		c, ctx := relFaultCluster(t)
		tha := c.nodes["THA"].proxy
		// The task is sent into the held link, then the link is cut and
		// stays cut until after the deadline (long enough for MYS to
		// answer on a loaded machine).
		tha.Drop()
		id := c.submit(ctx, relQuery(), 6*time.Second)
		c.waitRun(ctx, id, "MYS answered", relStatusIs("MYS", answered))
		tha.Cut()
		run := c.waitComplete(ctx, id)
		relCheckSettled(t, run, map[string]hubv1.StateStatus{"THA": hubv1.StateStatus_STATE_STATUS_TIMED_OUT, "MYS": answered})
		if len(relState(t, run, "THA").GetCells()) != 0 {
			t.Errorf("timed-out THA has cells in the run")
		}
		// THA comes back: its late answer (if it ever makes one) must not
		// change the settled run.
		tha.Heal()
		c.waitConnected(ctx, true, "THA")
		time.Sleep(2 * time.Second)
		after, err := c.run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(run, after) {
			t.Errorf("the settled run changed after THA reconnected:\nbefore %s\nafter  %s", relStates(run), relStates(after))
		}
		if es := relEntriesFor(c.audit(ctx, "THA"), id); len(es) > 1 {
			t.Errorf("THA audit has %d entries for the timed-out task", len(es))
		}
	})

	t.Run("SIGKILL during online import", func(t *testing.T) {
		t.Parallel()
		relKillDuringImport(t)
	})

	t.Run("disk full during online import", func(t *testing.T) {
		t.Parallel()
		relDiskFull(t)
	})
}

// relNodeProc is THA's node as a process of the built binary, with the
// agency client the tests import through and read back with.
type relNodeProc struct {
	bin, dir, dataDir, api string
	node, agency           identity.Files
	agreement              string
	records                nodev1connect.RecordServiceClient
}

// relNewNodeProc prepares (but does not start) THA's node process over
// dataDir, under an exact agreement.
func relNewNodeProc(t *testing.T, dataDir string) *relNodeProc {
	t.Helper()
	_, bin := binaries(t)
	n := &relNodeProc{bin: bin, dir: t.TempDir(), dataDir: dataDir, api: freeAddr(t)}
	p := identitytest.New(t)
	n.node = p.Files(t, p.Node("THA"))
	n.agency = p.Files(t, p.Agency("THA", "rel"))
	n.agreement = filepath.Join(n.dir, "THA.hcl")
	if err := os.WriteFile(n.agreement, []byte(relAgreement("none")), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := identity.NewSource(n.agency, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	hc := src.HTTPClient(func(id identity.ID) bool {
		return id.Role == identity.RoleNode && id.Country == "THA"
	})
	t.Cleanup(hc.CloseIdleConnections)
	n.records = nodev1connect.NewRecordServiceClient(hc, "https://"+n.api, connect.WithGRPC())
	return n
}

// serve starts `vrs-node serve`.
func (n *relNodeProc) serve(t *testing.T, name string) *proc {
	t.Helper()
	return startProc(t, n.dir, name, n.bin, "serve", "--data-dir", n.dataDir, "--country", "THA",
		"--api-listen", n.api, "--cert", n.node.Cert, "--key", n.node.Key, "--ca", n.node.CA,
		"--agreement", n.agreement, "--log-format", "json")
}

// synthFile writes total synthetic incidents of 2025 as JSON Lines and
// returns the file's path.
func (n *relNodeProc) synthFile(t *testing.T, total int, seed int64) string {
	t.Helper()
	path := filepath.Join(n.dir, "incidents.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Write(f, synth.Options{
		Country: "THA", Records: total, Seed: seed,
		From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// importArgs are the arguments of `vrs-node import --api addr` of file.
func (n *relNodeProc) importArgs(addr, file string, batch int) []string {
	return []string{"import", "--api", addr, "--cert", n.agency.Cert, "--key", n.agency.Key, "--ca", n.agency.CA,
		"--batch", fmt.Sprint(batch), "--log-format", "json", file}
}

// count returns the number of incidents the node holds, read page by page.
func (n *relNodeProc) count(ctx context.Context) (int, error) {
	total, token := 0, ""
	for {
		res, err := n.records.ListIncidents(ctx, connect.NewRequest(&nodev1.ListIncidentsRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return 0, err
		}
		total += len(res.Msg.GetIncidents())
		if token = res.Msg.GetNextPageToken(); token == "" {
			return total, nil
		}
	}
}

// verifyAudit runs `vrs-node audit verify` on the stopped node's data.
func (n *relNodeProc) verifyAudit(t *testing.T, after string) {
	t.Helper()
	if out := runCmd(t, n.bin, "audit", "verify", "--data-dir", n.dataDir); !strings.Contains(strings.ToLower(out), "ok") {
		t.Errorf("audit verify after %s: %s", after, out)
	}
}

// relKillDuringImport SIGKILLs a node process while `vrs-node import --api`
// streams records into it: the restarted node holds only whole
// acknowledged batches, sending the file again completes it with every
// incident exactly once, and the audit log verifies.
func relKillDuringImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	const (
		total = 6000
		batch = 50
	)
	n := relNewNodeProc(t, filepath.Join(t.TempDir(), "data"))
	dataPath := n.synthFile(t, total, 7)
	ctx := t.Context()

	node := n.serve(t, "node-1")
	relWaitFor(t, ctx, "the node API", func() error { _, err := n.count(ctx); return err })
	// The first import goes through a slow link, so that the kill lands
	// while batches are still arriving.
	slow := relStartProxy(t, n.api)
	slow.Delay(10 * time.Millisecond)
	imp := startProc(t, n.dir, "import-1", n.bin, n.importArgs(slow.Addr(), dataPath, batch)...)
	var before int
	relWaitFor(t, ctx, "the first batches to land", func() error {
		c, err := n.count(ctx)
		if err != nil {
			return err
		}
		if before = c; c < 5*batch {
			return fmt.Errorf("%d incidents", c)
		}
		return nil
	})
	if err := node.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killErr := <-node.done
	node.done <- killErr
	// The import notices the dead node and stops with an error.
	impErr := <-imp.done
	imp.done <- impErr
	if impErr == nil {
		t.Skipf("the import of %d incidents finished before the kill; nothing to check", total)
	}
	t.Logf("killed the node with %d+ incidents stored; the import said: %s", before, relLastLine(tail(imp.log)))

	node = n.serve(t, "node-2")
	relWaitFor(t, ctx, "the restarted node API", func() error { _, err := n.count(ctx); return err })
	after, err := n.count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after < before || after%batch != 0 || after > total {
		t.Fatalf("after the crash the node holds %d incidents: want whole batches of %d, at least the %d seen before", after, batch, before)
	}
	t.Logf("the restarted node holds %d incidents, all in whole batches", after)
	runCmd(t, n.bin, n.importArgs(n.api, dataPath, batch)...)
	if c, err := n.count(ctx); err != nil || c != total {
		t.Fatalf("after sending the file again the node holds %d incidents (%v), want %d", c, err, total)
	}
	node.stop(t)
	n.verifyAudit(t, "the crash")
}

// relDiskFull runs a node process whose data directory is a small
// filesystem and streams records into it until the disk is full: the
// import stops with an error that says so, the node keeps running and
// answering with only whole acknowledged batches stored and its log says
// why, and once the filesystem grows, sending the file again completes
// it with every incident exactly once and an audit log that verifies.
func relDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	const (
		sizeMB = 150
		total  = 60000
		batch  = 500
	)
	small := testfs.Small(t, sizeMB)
	n := relNewNodeProc(t, filepath.Join(small, "data"))
	dataPath := n.synthFile(t, total, 11)
	ctx := t.Context()
	node := n.serve(t, "node")
	relWaitFor(t, ctx, "the node API", func() error { _, err := n.count(ctx); return err })

	imp := startProc(t, n.dir, "import-1", n.bin, n.importArgs(n.api, dataPath, batch)...)
	impErr := <-imp.done
	imp.done <- impErr
	if impErr == nil {
		t.Fatalf("the import of %d incidents into a %d MB filesystem succeeded; the test needs it to fill the disk", total, sizeMB)
	}
	said := tail(imp.log)
	if !strings.Contains(said, "disk is full") {
		t.Errorf("the import failed without saying the node's disk is full:\n%s", said)
	}
	t.Logf("the import stopped: %s", relLastLine(said))
	select {
	case err := <-node.done:
		node.done <- err
		t.Fatalf("the node exited on a full disk (%v):\n%s", err, tail(node.log))
	default:
	}
	stored, err := n.count(ctx)
	if err != nil {
		t.Fatalf("the node does not answer on a full disk: %v", err)
	}
	if stored == 0 || stored%batch != 0 || stored >= total {
		t.Fatalf("on a full disk the node holds %d incidents: want whole batches of %d, fewer than %d", stored, batch, total)
	}
	if l := tail(node.log); !strings.Contains(l, "disk full") {
		t.Errorf("the node's log does not say why it refuses writes:\n%s", l)
	}
	t.Logf("the node kept %d incidents in whole batches and stayed up", stored)

	// The operator makes room; the agency sends the file again.
	testfs.Grow(t, small, 2048)
	runCmd(t, n.bin, n.importArgs(n.api, dataPath, batch)...)
	if c, err := n.count(ctx); err != nil || c != total {
		t.Fatalf("after the disk grew and the file was sent again the node holds %d incidents (%v), want %d", c, err, total)
	}
	node.stop(t)
	n.verifyAudit(t, "the full disk")
}

// relLastLine returns the last non-empty line of s.
func relLastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// relLoadCountries are the states of the load tests, Bali Process members
// and observers; the short variant uses the first eight.
var relLoadCountries = []string{
	"THA", "MYS", "IDN", "AUS", "PHL", "VNM", "KHM", "MMR",
	"LAO", "BGD", "LKA", "IND", "PAK", "AFG", "IRN", "IRQ", "JOR", "SYR", "TUR",
	"CHN", "HKG", "MAC", "JPN", "KOR", "PRK", "MNG", "NPL", "BTN", "MDV",
	"SGP", "BRN", "TLS", "PNG", "SLB", "VUT", "FJI", "NZL", "WSM", "TON",
	"KIR", "NRU", "USA", "ARE", "FRA", "CAN",
}

// TestRelLoad runs concurrent federated queries over several nodes: no
// run lost, each state's status settled exactly once, regional sums equal
// to the sum of the states' cells, every node's audit log holding exactly
// one entry per task, and no goroutine left behind after shutdown. The
// short variant is 8 nodes × 5 concurrent submitters × 10 queries; under
// VRS_LONG it is 45 × 20 × 100.
func TestRelLoad(t *testing.T) {
	nodes, workers, perWorker, records := 8, 5, 10, 200
	if relLong() {
		nodes, workers, perWorker, records = 45, 20, 100, 1000
	}
	// VRS_LOAD=NODESxWORKERSxQUERIES sizes a run by hand (docs/testing.md).
	if v := os.Getenv("VRS_LOAD"); v != "" {
		if _, err := fmt.Sscanf(v, "%dx%dx%d", &nodes, &workers, &perWorker); err != nil || nodes < 1 || nodes > len(relLoadCountries) {
			t.Fatalf("VRS_LOAD=%q: want NODESxWORKERSxQUERIES with at most %d nodes", v, len(relLoadCountries))
		}
	}
	runtime.GC()
	baseline := runtime.NumGoroutine()

	setup := time.Now()
	c := relNewCluster(t)
	countries := relLoadCountries[:nodes]
	var specs []relNodeSpec
	for i, cc := range countries {
		rounding := "none"
		if i%2 == 1 {
			rounding = "rr3"
		}
		specs = append(specs, relNodeSpec{cc, relAgreement(rounding), relSynth(t, cc, records, int64(i+1))})
	}
	c.addNodes(specs...)
	ctx := t.Context()
	c.waitConnected(ctx, true, countries...)
	t.Logf("%d nodes loaded and attached in %s", nodes, time.Since(setup).Round(time.Millisecond))

	queries := []*queryv1.AggregateQuery{
		relQuery(),
		{Measure: "migrants", GroupBy: []string{"period.quarter"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"},
		{Measure: "incidents", GroupBy: []string{"transport_mode"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-06-30"},
		{Measure: "migrants", GroupBy: []string{"citizenship"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"},
		{Measure: "incidents", PeriodFrom: "2025-03-01", PeriodTo: "2025-03-31"},
	}
	// Every run is submitted at once and queues behind the others, so its
	// deadline grows with the load: 20 ms a task on top of the usual wait
	// (90,000 tasks at full width: 45 minutes).
	deadline := max(relWait(), time.Duration(nodes*workers*perWorker)*20*time.Millisecond)
	start := time.Now()
	var (
		mu   sync.Mutex
		ids  []string
		errs []error
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id, err := c.trySubmit(ctx, queries[(w+i)%len(queries)], deadline)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids = append(ids, id)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("submit: %v", err)
	}
	want := map[string]hubv1.StateStatus{}
	for _, cc := range countries {
		want[cc] = hubv1.StateStatus_STATE_STATUS_ANSWERED
	}
	if len(ids) != workers*perWorker {
		t.Fatalf("%d runs submitted, want %d", len(ids), workers*perWorker)
	}
	// The last runs may complete near the deadline; wait for them here so
	// that waitComplete below (bounded by relWait) finds them settled.
	allBy := start.Add(deadline + time.Minute)
	for _, id := range ids {
		for {
			r, err := c.run(ctx, id)
			if err == nil && r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE {
				break
			}
			if time.Now().After(allBy) {
				t.Fatalf("run %s not complete %s after its deadline: %v %v", id, time.Minute, r.GetState(), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, id := range ids {
		relCheckSettled(t, c.waitComplete(ctx, id), want)
	}
	t.Logf("%d nodes × %d runs settled in %s", nodes, len(ids), time.Since(start).Round(time.Millisecond))

	// Every node answered every task once: one audit entry per task, none
	// twice, none missing.
	runSet := map[string]bool{}
	for _, id := range ids {
		runSet[id] = true
	}
	for _, cc := range countries {
		seen := map[string]int{}
		for _, e := range c.audit(ctx, cc) {
			if runSet[e.GetRunId()] {
				seen[e.GetTaskId()]++
				if e.GetDecision() != nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED {
					t.Errorf("%s: task %s %v", cc, e.GetTaskId(), e.GetDecision())
				}
			}
		}
		if len(seen) != len(ids) {
			t.Errorf("%s audited %d tasks, want %d", cc, len(seen), len(ids))
		}
		for task, n := range seen {
			if n != 1 {
				t.Errorf("%s audited task %s %d times", cc, task, n)
			}
		}
	}

	// Shut everything down and check that the goroutines went with it.
	stop := time.Now()
	c.stopAll()
	for _, n := range c.nodes {
		n.proxy.Close()
	}
	c.operator.CloseIdleConnections()
	c.partner.CloseIdleConnections()
	for _, hc := range c.agencies {
		hc.CloseIdleConnections()
	}
	const slack = 5
	leakBy := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= baseline+slack {
			t.Logf("shut down in %s: %d goroutines, %d before start", time.Since(stop).Round(time.Millisecond), n, baseline)
			break
		}
		if time.Now().After(leakBy) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutine leak: %d goroutines after shutdown, %d before start\n%s", n, baseline, relStacks(string(buf)))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// relStacks keeps the goroutine dump readable: the first lines of each
// goroutine.
func relStacks(dump string) string {
	var b strings.Builder
	for _, g := range strings.Split(dump, "\n\n") {
		lines := strings.SplitN(g, "\n", 6)
		b.WriteString(strings.Join(lines[:min(len(lines), 5)], "\n"))
		b.WriteString("\n\n")
	}
	return b.String()
}
