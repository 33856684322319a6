package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/connect"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// agreement lets the hub ask for everything the benchmark and the standard
// regional picture need, without rounding so the regional totals can be
// compared with the central database.
const agreement = `
agreement "bench" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = "none"
  max_group_by = 3
  measure "migrants"  { dimensions = ["period.year", "period.month", "citizenship", "transport_mode", "route.origin", "route.destination"] }
  measure "incidents" { dimensions = ["period.year", "period.month", "transport_mode"] }
}
`

// procs tracks every long-running process the benchmark starts, so that all
// of them are stopped on any exit path, Ctrl-C included.
type procs struct {
	mu   sync.Mutex
	live map[*proc]struct{}
}

// proc is one started process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (ps *procs) start(logDir, name, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// If the benchmark itself dies hard, the kernel takes its children along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: f.Name(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	ps.mu.Lock()
	ps.live[p] = struct{}{}
	ps.mu.Unlock()
	return p, nil
}

// stop sends SIGTERM, waits up to grace, then kills.
func (ps *procs) stop(p *proc, grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	ps.mu.Lock()
	delete(ps.live, p)
	ps.mu.Unlock()
}

// stopAll stops every process still running, in parallel.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	var all []*proc
	for p := range ps.live {
		all = append(all, p)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(func() { ps.stop(p, 10*time.Second) })
	}
	wg.Wait()
}

// run runs a short command to completion.
func run(ctx context.Context, bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// buildBinaries builds vrs-hub and vrs-node once into dir.
func buildBinaries(ctx context.Context, dir string) (hubBin, nodeBin string, err error) {
	// The binaries are built in the main module, with its own go.sum: the
	// bench module does not carry every dependency they have.
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/vrs-federation/vrs").Output()
	if err != nil {
		return "", "", fmt.Errorf("find the vrs module: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./hub/cmd/vrs-hub", "./node/cmd/vrs-node")
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build: %w: %s", err, out)
	}
	return filepath.Join(dir, "vrs-hub"), filepath.Join(dir, "vrs-node"), nil
}

// prepareNodes issues a certificate for every country and loads each node's
// store with synthetic incidents, two countries at a time (the machine the
// numbers are for has two cores). A node prepared by an earlier run in the
// same working directory with the same size (-work, -keep) is reused.
func prepareNodes(ctx context.Context, hubBin, nodeBin, work, pki string, countries []string, records int, from, to string) error {
	for _, c := range countries {
		if _, err := os.Stat(filepath.Join(pki, "node-"+c+".pem")); err == nil {
			continue
		}
		if err := run(ctx, hubBin, "pki", "issue", "--dir", pki, "--node", c); err != nil {
			return err
		}
	}
	sem := make(chan struct{}, 2)
	errs := make([]error, len(countries))
	var wg sync.WaitGroup
	for i, c := range countries {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cdir := filepath.Join(work, "nodes", c)
			ready := filepath.Join(cdir, "ready")
			want := fmt.Sprintf("%d %s %s seed %d\n", records, from, to, i+1)
			if got, err := os.ReadFile(ready); err == nil && string(got) == want {
				return
			}
			if err := os.RemoveAll(cdir); err != nil {
				errs[i] = err
				return
			}
			if err := os.MkdirAll(cdir, 0o700); err != nil {
				errs[i] = err
				return
			}
			data := filepath.Join(cdir, "incidents.jsonl")
			if err := run(ctx, nodeBin, "synth", "--country", c, "--records", fmt.Sprint(records), "--seed", fmt.Sprint(i+1),
				"--from", from, "--to", to, "--out", data); err != nil {
				errs[i] = err
				return
			}
			if err := run(ctx, nodeBin, "import", "--data-dir", filepath.Join(cdir, "data"), data); err != nil {
				errs[i] = err
				return
			}
			if err := os.WriteFile(filepath.Join(cdir, "agreement.hcl"), []byte(agreement), 0o600); err != nil {
				errs[i] = err
				return
			}
			errs[i] = os.WriteFile(ready, []byte(want), 0o600)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// clients are the hub API clients of one certificate holder.
type clients struct {
	hc      *http.Client
	queries hubv1connect.QueryServiceClient
	nodes   hubv1connect.NodeServiceClient
	reports hubv1connect.ReportServiceClient
}

// newHTTPClient is an HTTP/2 client with the mTLS configuration of a
// certificate issued by `vrs-hub pki issue`, expecting the hub's identity.
func newHTTPClient(pki, base string) (*http.Client, error) {
	src, err := identity.NewSource(identity.Files{
		Cert: filepath.Join(pki, base+".pem"), Key: filepath.Join(pki, base+"-key.pem"), CA: filepath.Join(pki, "ca.pem"),
	}, logging.Discard())
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	tc := src.ClientTLSFor(func(id identity.ID) bool { return id.Role == identity.RoleHub })
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Protocols: &p, MaxIdleConnsPerHost: 64}}, nil
}

func newClients(hc *http.Client, api string) *clients {
	url := "https://" + api
	return &clients{
		hc:      hc,
		queries: hubv1connect.NewQueryServiceClient(hc, url, connect.WithGRPC()),
		nodes:   hubv1connect.NewNodeServiceClient(hc, url, connect.WithGRPC()),
		reports: hubv1connect.NewReportServiceClient(hc, url, connect.WithGRPC()),
	}
}

// connected counts the nodes the hub reports as attached.
func (c *clients) connected(ctx context.Context) (int, error) {
	res, err := c.nodes.ListNodes(ctx, connect.NewRequest(&hubv1.ListNodesRequest{}))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, node := range res.Msg.GetNodes() {
		if node.GetConnected() {
			n++
		}
	}
	return n, nil
}

// waitConnected polls ListNodes every poll until want nodes are attached.
func (c *clients) waitConnected(ctx context.Context, want int, poll, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := 0
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := c.connected(rctx)
		rcancel()
		if err == nil {
			last = n
			if n >= want {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%d of %d nodes attached after %s", last, want, limit)
		case <-time.After(poll):
		}
	}
}
