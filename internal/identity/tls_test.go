package identity_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/pki"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf *syncBuffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Debug})
}

// newSource makes a Source with a log the test can read.
func newSource(t *testing.T, f identity.Files) (*identity.Source, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	src, err := identity.NewSource(f, testLogger(buf))
	if err != nil {
		t.Fatal(err)
	}
	return src, buf
}

// serve runs an HTTPS server on 127.0.0.1:0 with cfg and returns its URL.
func serve(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

// whoami answers with the caller's SPIFFE ID as the middleware-free server
// sees it in the TLS state.
func whoami() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _, err := identity.PeerID(*r.TLS)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, id.String())
	})
}

// client makes an HTTP/2 client that opens a new connection per request.
func client(cfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, DisableKeepAlives: true},
	}
}

// rawClientTLS presents the certificate in f and does not check the server,
// so that only the server's verdict is tested.
func rawClientTLS(t *testing.T, f identity.Files) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true} // a test of the server's checks only
}

// get fetches url and returns the body and the connection's TLS state.
func get(c *http.Client, url string) (string, *tls.ConnectionState, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp.TLS, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp.TLS, errors.New(resp.Status + ": " + string(b))
	}
	return string(b), resp.TLS, nil
}

func TestServerHandshakeMatrix(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, serverLog := newSource(t, p.Files(t, p.Hub()))
	url := serve(t, server.ServerTLS(), whoami())

	police := p.Agency("THA", "police")
	revoked := p.Agency("THA", "revoked")
	p.Revoke(t, revoked)
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	foreign := p.ForeignCA(t)

	t.Run("valid", func(t *testing.T) {
		c := p.Source(t, police)
		got, cs, err := get(client(c.ClientTLS()), url)
		if err != nil {
			t.Fatal(err)
		}
		if got != police.String() {
			t.Errorf("server saw %q, want %q", got, police)
		}
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("TLS version %x", cs.Version)
		}
	})

	refused := []struct {
		name string
		cfg  func(t *testing.T) *tls.Config
	}{
		{"no client certificate", func(t *testing.T) *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true} // the server's verdict is tested
		}},
		{"foreign CA", func(t *testing.T) *tls.Config { return rawClientTLS(t, foreign.Files(t, police)) }},
		{"expired", func(t *testing.T) *tls.Config { return rawClientTLS(t, p.Expired(t, police)) }},
		{"not yet valid", func(t *testing.T) *tls.Config { return rawClientTLS(t, p.NotYetValid(t, police)) }},
		{"revoked", func(t *testing.T) *tls.Config { return rawClientTLS(t, p.Files(t, revoked)) }},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := strings.Count(serverLog.String(), "client certificate refused")
			_, _, err := get(client(c.cfg(t)), url)
			if err == nil {
				t.Fatal("request succeeded")
			}
			if c.name == "no client certificate" {
				return // refused by crypto/tls before our checks run
			}
			if after := strings.Count(serverLog.String(), "client certificate refused"); after == before {
				t.Errorf("server did not log a refusal; client saw %v", err)
			}
		})
	}
}

// otherDomainFiles returns a certificate for another trust domain, from a CA
// the server trusts (its root is appended to p's CA bundle for this test).
func otherDomainFiles(t *testing.T, p *identitytest.PKI) identity.Files {
	t.Helper()
	dir := t.TempDir()
	if err := pki.Init(dir, "evil.example", 1, 30); err != nil {
		t.Fatal(err)
	}
	cert, key, err := pki.Issue(dir, identity.ID{Role: identity.RoleAgency, Country: "THA", Name: "police"}, pki.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Make the server trust the other CA too: only the trust domain check
	// is left to refuse the client.
	other, err := os.ReadFile(filepath.Join(dir, pki.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p.CAFile(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(other); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return identity.Files{Cert: cert, Key: key}
}

func TestOtherTrustDomainRefused(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	otherFiles := otherDomainFiles(t, p)
	server, serverLog := newSource(t, p.Files(t, p.Hub())) // loads the two-CA bundle
	url := serve(t, server.ServerTLS(), whoami())
	if _, _, err := get(client(rawClientTLS(t, otherFiles)), url); err == nil {
		t.Fatal("client of another trust domain accepted")
	}
	if !strings.Contains(serverLog.String(), "not of trust domain vrs.local") {
		t.Errorf("log: %s", serverLog.String())
	}
	// Our own clients still get in with the two-CA bundle.
	c := p.Source(t, p.Agency("THA", "police"))
	if _, _, err := get(client(c.ClientTLS()), url); err != nil {
		t.Fatal(err)
	}
}

func TestClientVerifiesServer(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	hub := p.Source(t, p.Hub())
	url := serve(t, hub.ServerTLS(), whoami())
	node := p.Source(t, p.Node("THA"))

	if _, _, err := get(client(node.ClientTLSFor(func(id identity.ID) bool { return id.Role == identity.RoleHub })), url); err != nil {
		t.Fatalf("expected hub refused: %v", err)
	}
	_, _, err := get(client(node.ClientTLSFor(func(id identity.ID) bool { return id.Role == identity.RoleNode })), url)
	if err == nil || !strings.Contains(err.Error(), "not the expected peer") {
		t.Fatalf("unexpected server accepted: %v", err)
	}

	// A server whose certificate comes from another CA is refused.
	foreign := p.ForeignCA(t)
	furl := serve(t, foreign.Source(t, foreign.Hub()).ServerTLS(), whoami())
	if _, _, err := get(client(node.ClientTLS()), furl); err == nil || !strings.Contains(err.Error(), "server certificate refused") {
		t.Fatalf("foreign server accepted: %v", err)
	}

	// A revoked server is refused once the client has the new CRL.
	p.Revoke(t, p.Hub())
	if err := node.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(client(node.ClientTLS()), url); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked server accepted: %v", err)
	}
}

func TestRevocationAppliesAfterReload(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, _ := newSource(t, p.Files(t, p.Hub()))
	url := serve(t, server.ServerTLS(), whoami())
	police := p.Source(t, p.Agency("THA", "police"))
	c := client(police.ClientTLS())
	if _, _, err := get(c, url); err != nil {
		t.Fatal(err)
	}
	p.Revoke(t, p.Agency("THA", "police"))
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(c, url); err == nil {
		t.Fatal("revoked client accepted after reload")
	}
}

func TestNewSourceRejectsBadFiles(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	good := p.Files(t, p.Node("THA"))
	other := p.Files(t, p.Node("MYS"))
	foreign := p.ForeignCA(t)
	cases := []struct {
		name string
		f    identity.Files
	}{
		{"missing cert", identity.Files{Cert: filepath.Join(t.TempDir(), "x.pem"), Key: good.Key, CA: good.CA}},
		{"key of another cert", identity.Files{Cert: good.Cert, Key: other.Key, CA: good.CA}},
		{"cert of another CA", identity.Files{Cert: good.Cert, Key: good.Key, CA: foreign.CAFile()}},
		{"crl of another CA", identity.Files{Cert: good.Cert, Key: good.Key, CA: good.CA, CRL: foreign.CRLFile()}},
		{"ca is a leaf", identity.Files{Cert: good.Cert, Key: good.Key, CA: good.Cert}},
		{"no files", identity.Files{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := identity.NewSource(c.f, nil); err == nil {
				t.Fatal("NewSource accepted bad files")
			}
		})
	}
	// Our own expired or not-yet-valid certificate is logged, not refused,
	// so a process can start and be fixed by rotation.
	for _, f := range []identity.Files{p.Expired(t, p.Node("THA")), p.NotYetValid(t, p.Node("THA"))} {
		buf := &syncBuffer{}
		if _, err := identity.NewSource(f, testLogger(buf)); err != nil {
			t.Errorf("NewSource(%s): %v", filepath.Base(f.Cert), err)
		}
		if !strings.Contains(buf.String(), "own certificate") {
			t.Errorf("no warning logged: %s", buf.String())
		}
	}
	src, err := identity.NewSource(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.ID() != p.Node("THA") {
		t.Errorf("ID %v", src.ID())
	}
	if src.Signer() == nil || src.NotAfter().Before(time.Now()) || src.Leaf() == nil {
		t.Error("accessors")
	}
}

// copyFile writes src's content to dst atomically (temp file + rename), as
// an operator's deployment tool would.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// rotatingServer copies the hub's files into a directory of its own so the
// test can replace them, and starts a Source on them.
func rotatingServer(t *testing.T, p *identitytest.PKI) (*identity.Source, identity.Files, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	hub := p.Files(t, p.Hub())
	f := identity.Files{Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem"), CA: hub.CA, CRL: hub.CRL}
	copyFile(t, hub.Cert, f.Cert)
	copyFile(t, hub.Key, f.Key)
	buf := &syncBuffer{}
	src, err := identity.NewSource(f, testLogger(buf))
	if err != nil {
		t.Fatal(err)
	}
	return src, f, buf
}

func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, f, _ := rotatingServer(t, p)
	oldSerial := server.Leaf().SerialNumber
	url := serve(t, server.ServerTLS(), whoami())
	clientTLS := p.Source(t, p.Agency("THA", "police")).ClientTLS()

	const total, workers = 200, 4
	var (
		next      atomic.Int64
		rotated   atomic.Bool
		newSerial atomic.Pointer[big.Int]
		sawOld    atomic.Int64
		sawNew    atomic.Int64
		halfway   = make(chan struct{})
		once      sync.Once
		wg        sync.WaitGroup
		errMu     sync.Mutex
		errs      []error
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > total {
					return
				}
				if n == total/4 {
					once.Do(func() { close(halfway) })
				}
				after := rotated.Load()
				// A client of its own for every request: one Transport
				// hands a connection dialed for an earlier request to
				// whichever request waits, so a shared client could get a
				// handshake made before the rotation.
				_, cs, err := get(client(clientTLS.Clone()), url)
				if err != nil {
					fail(err)
					continue
				}
				serial := cs.PeerCertificates[0].SerialNumber
				switch {
				case serial.Cmp(oldSerial) == 0:
					sawOld.Add(1)
					if after {
						fail(errors.New("connection opened after the rotation saw the old certificate"))
					}
				case newSerial.Load() != nil && serial.Cmp(newSerial.Load()) == 0:
					sawNew.Add(1)
				default:
					fail(errors.New("unknown server serial " + serial.String()))
				}
				if n == total/2 {
					// Keep the workers busy until the rotation is done
					// so some requests are surely made after it.
					for !rotated.Load() {
						time.Sleep(time.Millisecond)
					}
				}
			}
		}()
	}

	<-halfway
	defer rotated.Store(true) // never leave a worker waiting, even on failure
	fresh := p.IssueExtra(t, p.Hub(), pki.IssueOptions{})
	raw, err := os.ReadFile(fresh.Cert)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	newSerial.Store(cert.SerialNumber)
	copyFile(t, fresh.Cert, f.Cert)
	copyFile(t, fresh.Key, f.Key)
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	rotated.Store(true)
	wg.Wait()

	for _, err := range errs {
		t.Error(err)
	}
	if sawOld.Load() == 0 || sawNew.Load() == 0 {
		t.Errorf("old %d, new %d: want both", sawOld.Load(), sawNew.Load())
	}
	if server.Leaf().SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Error("source does not report the new certificate")
	}
}

func TestBadNewFilesKeepOldMaterial(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, f, log := rotatingServer(t, p)
	oldSerial := server.Leaf().SerialNumber
	url := serve(t, server.ServerTLS(), whoami())
	c := client(p.Source(t, p.Agency("THA", "police")).ClientTLS())

	// A key that does not match the certificate.
	other := p.Files(t, p.Node("THA"))
	copyFile(t, other.Key, f.Key)
	if err := server.Reload(); err == nil {
		t.Fatal("reload accepted a mismatched key")
	}
	// Garbage in the certificate file.
	if err := os.WriteFile(f.Cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := server.Reload(); err == nil {
		t.Fatal("reload accepted garbage")
	}
	_, cs, err := get(c, url)
	if err != nil {
		t.Fatal(err)
	}
	if cs.PeerCertificates[0].SerialNumber.Cmp(oldSerial) != 0 {
		t.Error("server changed its certificate after a bad reload")
	}
	_ = log
}

func TestWatcherReloads(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, f, _ := rotatingServer(t, p)
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx) }()
	changed := server.Changed()

	fresh := p.IssueExtra(t, p.Hub(), pki.IssueOptions{})
	// The watcher starts asynchronously, so the files are rewritten until
	// it has noticed them.
	waitChanged(t, changed, func() {
		copyFile(t, fresh.Key, f.Key)
		copyFile(t, fresh.Cert, f.Cert)
	})
	raw, err := os.ReadFile(fresh.Cert)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	if server.Leaf().SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Error("source reloaded to something else")
	}

	// A revocation is picked up the same way.
	changed = server.Changed()
	p.Revoke(t, p.Agency("THA", "police"))
	waitChanged(t, changed, func() {})
}

// waitChanged calls touch until changed is closed, for at most 20 s.
func waitChanged(t *testing.T, changed <-chan struct{}, touch func()) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	touch()
	for {
		select {
		case <-changed:
			return
		case <-tick.C:
			touch()
		case <-deadline:
			t.Fatal("the source did not notice the new files")
		}
	}
}
