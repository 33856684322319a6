package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// binaries are built once per test binary run.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (hubBin, nodeBin string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vrs-e2e-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/",
			"github.com/vrs-federation/vrs/hub/cmd/vrs-hub", "github.com/vrs-federation/vrs/node/cmd/vrs-node",
			"github.com/vrs-federation/vrs/examples/partner")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "vrs-hub"), filepath.Join(binDir, "vrs-node")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// runCmd runs a command to completion and returns its combined output.
func runCmd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// proc is a started long-running process whose log goes to a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startProc(t *testing.T, dir, name, bin string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("%s exited with %v; log %s:\n%s", p.name, err, p.log, tail(p.log))
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("%s did not stop within 20 s of SIGTERM", p.name)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// hubClient is a connect client for the hub API as the holder of a
// certificate issued by `vrs-hub pki issue`.
func hubClient(t *testing.T, pkiDir, base, api string) (hubv1connect.QueryServiceClient, hubv1connect.NodeServiceClient) {
	t.Helper()
	src, err := identity.NewSource(identity.Files{
		Cert: filepath.Join(pkiDir, base+".pem"), Key: filepath.Join(pkiDir, base+"-key.pem"), CA: filepath.Join(pkiDir, "ca.pem"),
	}, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	hc := src.HTTPClient(func(id identity.ID) bool { return id.Role == identity.RoleHub })
	t.Cleanup(hc.CloseIdleConnections)
	url := "https://" + api
	return hubv1connect.NewQueryServiceClient(hc, url, connect.WithGRPC()),
		hubv1connect.NewNodeServiceClient(hc, url, connect.WithGRPC())
}

// Canary values planted in node records: none may ever reach the hub.
var canaries = []string{
	"CANARY-REF-0xA1", "Canary Fullname Zq", "CANARY-DOC-77Q", "1911-11-11",
	"CANARY-NOTES-9", "CANARY-VESSEL-3", "CANARY-BEACH-5", "CANARY-EMBARK-8",
}

func canaryIncident(country string, i int) *recordv1.Incident {
	age := int32(30)
	return &recordv1.Incident{
		NationalRef:   fmt.Sprintf("%s-%d", canaries[0], i),
		DetectedOn:    "2025-06-15",
		DetectedAt:    &recordv1.Place{Country: country, Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA, Name: canaries[6]},
		IccsCodes:     []string{"08051"},
		Route:         &recordv1.Route{Origin: "LKA", Destination: "AUS", Embarkation: canaries[7]},
		TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
		Conveyance:    canaries[5],
		Notes:         canaries[4],
		Migrants:      []*recordv1.Person{{Citizenship: "LKA", Sex: recordv1.Sex_SEX_MALE, Age: &age, FullName: canaries[1], DocumentNumber: canaries[2], DateOfBirth: canaries[3]}},
		Suspects:      []*recordv1.Person{{Citizenship: "LKA", Sex: recordv1.Sex_SEX_MALE, Role: recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, LegalStatus: recordv1.LegalStatus_LEGAL_STATUS_ARRESTED, FullName: canaries[1]}},
	}
}

const agreementTHA = `
agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = "none"
  max_group_by = 3
  measure "migrants"  { dimensions = ["period.year", "period.month", "transport_mode", "citizenship"] }
  measure "incidents" { dimensions = ["period.year", "transport_mode"] }
}
`

const agreementMYS = `
agreement "cau-regional" {
  version      = 2
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 10
  rounding     = "rr3"
  max_group_by = 2
  measure "migrants"  { dimensions = ["period.year", "transport_mode", "citizenship"] }
  measure "suspects"  { dimensions = ["period.year", "legal_status"] }
}
`

// TestFederationAcrossProcesses runs DESIGN §10's commands as real
// processes: a PKI made with vrs-hub pki, three nodes loaded with
// vrs-node synth and import, a hub, and federated runs submitted by an
// operator and read by a partner over mTLS.
func TestFederationAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	hubBin, nodeBin := binaries(t)
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	states := []string{"IDN", "MYS", "THA"}

	runCmd(t, hubBin, "pki", "init", "--dir", pki)
	for _, c := range states {
		runCmd(t, hubBin, "pki", "issue", "--dir", pki, "--node", c)
	}
	runCmd(t, hubBin, "pki", "issue", "--dir", pki, "--operator", "e2e")
	runCmd(t, hubBin, "pki", "issue", "--dir", pki, "--partner", "unodc-research")

	agreements := map[string]string{"IDN": agreementTHA, "MYS": agreementMYS, "THA": agreementTHA}
	for i, c := range states {
		cdir := filepath.Join(dir, c)
		if err := os.MkdirAll(cdir, 0o700); err != nil {
			t.Fatal(err)
		}
		data := filepath.Join(cdir, "incidents.jsonl")
		runCmd(t, nodeBin, "synth", "--country", c, "--records", "3000", "--seed", fmt.Sprint(i+1),
			"--from", "2024-01-01", "--to", "2025-12-31", "--out", data)
		var canaryFile bytes.Buffer
		for j := range 3 {
			b, err := protojson.Marshal(canaryIncident(c, j))
			if err != nil {
				t.Fatal(err)
			}
			canaryFile.Write(b)
			canaryFile.WriteByte('\n')
		}
		canaryPath := filepath.Join(cdir, "canary.jsonl")
		if err := os.WriteFile(canaryPath, canaryFile.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		runCmd(t, nodeBin, "import", "--data-dir", filepath.Join(cdir, "data"), data, canaryPath)
		if err := os.WriteFile(filepath.Join(cdir, "agreement.hcl"), []byte(agreements[c]), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	fed, api := freeAddr(t), freeAddr(t)
	hubData := filepath.Join(dir, "hub")
	hubProc := startProc(t, dir, "hub", hubBin, "serve", "--data-dir", hubData,
		"--federation-listen", fed, "--api-listen", api, "--ui-listen", "",
		"--cert", filepath.Join(pki, "hub.pem"), "--key", filepath.Join(pki, "hub-key.pem"), "--ca", filepath.Join(pki, "ca.pem"),
		"--heartbeat", "1s", "--log-format", "json", "--log-level", "debug")
	var nodeProcs []*proc
	for _, c := range states {
		cdir := filepath.Join(dir, c)
		nodeProcs = append(nodeProcs, startProc(t, dir, "node-"+c, nodeBin, "serve", "--data-dir", filepath.Join(cdir, "data"),
			"--country", c, "--hub", fed, "--api-listen", freeAddr(t),
			"--cert", filepath.Join(pki, "node-"+c+".pem"), "--key", filepath.Join(pki, "node-"+c+"-key.pem"),
			"--ca", filepath.Join(pki, "ca.pem"), "--agreement", filepath.Join(cdir, "agreement.hcl"),
			"--log-format", "json", "--log-level", "debug"))
	}

	queries, nodes := hubClient(t, pki, "operator-e2e", api)
	partnerQueries, _ := hubClient(t, pki, "partner-unodc-research", api)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	waitFor(t, ctx, "three nodes connected", func() bool {
		res, err := nodes.ListNodes(ctx, connect.NewRequest(&hubv1.ListNodesRequest{}))
		if err != nil {
			return false
		}
		n := 0
		for _, node := range res.Msg.GetNodes() {
			if node.GetConnected() {
				n++
			}
		}
		return n == len(states)
	})

	// Migrants by transport mode: every state shares it.
	q := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"transport_mode"}, PeriodFrom: "2024-01-01", PeriodTo: "2025-12-31"}
	run := submitAndWait(t, ctx, queries, q)
	for _, s := range run.GetStates() {
		if s.GetStatus() != hubv1.StateStatus_STATE_STATUS_ANSWERED {
			t.Errorf("%s: %v %s", s.GetCountry(), s.GetStatus(), s.GetReason())
		}
	}
	checkSums(t, run)

	// Suspects: only MYS shares them; the others refuse with a reason.
	run = submitAndWait(t, ctx, queries, &queryv1.AggregateQuery{Measure: "suspects", GroupBy: []string{"legal_status"}, PeriodFrom: "2024-01-01", PeriodTo: "2025-12-31"})
	for _, s := range run.GetStates() {
		want := hubv1.StateStatus_STATE_STATUS_REFUSED
		if s.GetCountry() == "MYS" {
			want = hubv1.StateStatus_STATE_STATUS_ANSWERED
		}
		if s.GetStatus() != want {
			t.Errorf("suspects, %s: %v %q, want %v", s.GetCountry(), s.GetStatus(), s.GetReason(), want)
		}
		if want == hubv1.StateStatus_STATE_STATUS_REFUSED && !strings.Contains(s.GetReason(), "suspects") {
			t.Errorf("suspects, %s: refusal reason %q does not name the measure", s.GetCountry(), s.GetReason())
		}
	}

	// A partner reads the run; a partner cannot submit.
	res, err := partnerQueries.GetRun(ctx, connect.NewRequest(&hubv1.GetRunRequest{RunId: run.GetId()}))
	if err != nil {
		t.Fatalf("partner GetRun: %v", err)
	}
	everything, _ := protojson.Marshal(res.Msg)
	for _, s := range res.Msg.GetRun().GetStates() {
		if len(s.GetCells()) != 0 {
			t.Errorf("a partner sees %s's own cells", s.GetCountry())
		}
	}

	// The partner example program of docs/partner.md, compiled and run.
	out := runCmd(t, filepath.Join(binDir, "partner"), "--api", api,
		"--cert", filepath.Join(pki, "partner-unodc-research.pem"), "--key", filepath.Join(pki, "partner-unodc-research-key.pem"),
		"--ca", filepath.Join(pki, "ca.pem"))
	for _, c := range states {
		if !strings.Contains(out, "node "+c+" connected=true") {
			t.Errorf("partner example output lacks node %s:\n%s", c, out)
		}
	}
	if !strings.Contains(out, "figure migrants-by-month") {
		t.Errorf("partner example output lacks the picture:\n%s", out)
	}
	if _, err := partnerQueries.SubmitQuery(ctx, connect.NewRequest(&hubv1.SubmitQueryRequest{Query: q})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("partner SubmitQuery: %v, want permission denied", err)
	}

	// Stop everything cleanly, then look for the canaries everywhere the hub
	// keeps or says anything.
	for _, p := range nodeProcs {
		p.stop(t)
	}
	hubProc.stop(t)
	haystacks := map[string][]byte{"GetRun response": everything}
	for _, name := range []string{"hub.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		haystacks[name] = b
	}
	haystacks["hub store"] = dumpStore(t, filepath.Join(hubData, "db"))
	for where, hay := range haystacks {
		for _, c := range canaries {
			if bytes.Contains(hay, []byte(c)) {
				t.Errorf("canary %q found in %s", c, where)
			}
		}
	}
	// The node logs must not carry them either.
	for _, c := range states {
		b, _ := os.ReadFile(filepath.Join(dir, "node-"+c+".log"))
		for _, cn := range canaries[1:] {
			if bytes.Contains(b, []byte(cn)) {
				t.Errorf("canary %q found in node-%s.log", cn, c)
			}
		}
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func submitAndWait(t *testing.T, ctx context.Context, c hubv1connect.QueryServiceClient, q *queryv1.AggregateQuery) *hubv1.Run {
	t.Helper()
	sub, err := c.SubmitQuery(ctx, connect.NewRequest(&hubv1.SubmitQueryRequest{Query: q, Timeout: durationpb.New(time.Minute)}))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	var run *hubv1.Run
	waitFor(t, ctx, "run "+sub.Msg.GetRunId()+" to complete", func() bool {
		res, err := c.GetRun(ctx, connect.NewRequest(&hubv1.GetRunRequest{RunId: sub.Msg.GetRunId()}))
		if err != nil {
			t.Fatalf("get run: %v", err)
		}
		run = res.Msg.GetRun()
		return run.GetState() == hubv1.RunState_RUN_STATE_COMPLETE
	})
	return run
}

// checkSums checks every published regional cell against the states'
// disclosed cells: the sum of the contributors' values.
func checkSums(t *testing.T, run *hubv1.Run) {
	t.Helper()
	byKey := map[string]int64{}
	for _, s := range run.GetStates() {
		for _, c := range s.GetCells() {
			if c.GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED {
				byKey[strings.Join(c.GetKey(), "|")] += c.GetValue()
			}
		}
	}
	if len(run.GetCells()) == 0 {
		t.Fatal("no regional cells")
	}
	for _, c := range run.GetCells() {
		switch c.GetStatus() {
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED, queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
			if c.GetValue() != 0 {
				t.Errorf("suppressed regional cell %v carries value %d", c.GetKey(), c.GetValue())
			}
			continue
		}
		if want := byKey[strings.Join(c.GetKey(), "|")]; c.GetValue() != want {
			t.Errorf("regional cell %v = %d, want the sum of the states' cells %d", c.GetKey(), c.GetValue(), want)
		}
	}
}

// dumpStore returns every key and value of a stopped process's Badger store
// (values are compressed on disk, so the files cannot simply be grepped).
func dumpStore(t *testing.T, dir string) []byte {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	err = db.View(func(tx kv.Txn) error {
		return tx.Scan(nil, nil, func(k, v []byte) (bool, error) {
			w.Write(k)
			w.Write(v)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if buf.Len() == 0 {
		t.Fatal("hub store is empty")
	}
	return buf.Bytes()
}
