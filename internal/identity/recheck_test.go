package identity_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/pki"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckPeer(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, _ := newSource(t, p.Files(t, p.Hub()))
	police := p.Agency("THA", "police")
	revoked := p.IssueExtra(t, police, pki.IssueOptions{})
	p.RevokeFile(t, revoked.Cert)
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		want  string // "" for valid, else part of the error
	}{
		{"valid", []*x509.Certificate{readCert(t, p.Files(t, police).Cert)}, ""},
		{"revoked since the handshake", []*x509.Certificate{readCert(t, revoked.Cert)}, "is revoked"},
		{"expired", []*x509.Certificate{readCert(t, p.Expired(t, police).Cert)}, "expired at"},
		{"not yet valid", []*x509.Certificate{readCert(t, p.NotYetValid(t, police).Cert)}, "not valid before"},
		{"no certificate", nil, "no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := server.CheckPeer(tc.certs)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
			case err == nil:
				t.Fatal("accepted")
			case !errors.Is(err, identity.ErrPeerInvalid) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("%v, want ErrPeerInvalid with %q", err, tc.want)
			}
		})
	}
}

// TestHTTPMiddlewareRechecksOpenConnections revokes a caller whose
// connection is open: its next request on that same connection is refused
// as unauthenticated and logged, while the deprecated handshake-only
// middleware would have let it through.
func TestHTTPMiddlewareRechecksOpenConnections(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, _ := newSource(t, p.Files(t, p.Node("THA")))
	log := &syncBuffer{}
	policy := &identity.Policy{Server: "test-api", Rules: map[string]identity.Rule{
		procAllowed: {Roles: []identity.Role{identity.RoleAgency}},
	}}
	mux := http.NewServeMux()
	mux.Handle(procAllowed, connect.NewUnaryHandler(procAllowed,
		func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			return connect.NewResponse(&emptypb.Empty{}), nil
		}))
	url := serve(t, server.ServerTLS(), server.HTTPMiddleware(mux, policy, testLogger(log), identity.RateLimit{}))

	police := p.Agency("THA", "police")
	tr := &http.Transport{TLSClientConfig: p.Source(t, police).ClientTLS(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	// Counting dials shows the refused request used the old connection.
	var dials atomic.Int32
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c := connect.NewClient[emptypb.Empty, emptypb.Empty](&http.Client{Transport: tr}, url+procAllowed, connect.WithGRPC())
	call := func() error {
		_, err := c.CallUnary(t.Context(), connect.NewRequest(&emptypb.Empty{}))
		return err
	}
	if err := call(); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	p.Revoke(t, police)
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	err := call()
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("after revocation: %v, want unauthenticated", err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections dialed, want the one opened before the revocation", n)
	}
	for _, want := range []string{"request refused", police.String(), "is revoked"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// grpcHealthServer serves gRPC health with GRPCServerOptions of src, open
// to nodes, and returns its address.
func grpcHealthServer(t *testing.T, src *identity.Source, log *syncBuffer) string {
	t.Helper()
	policy := &identity.Policy{Server: "federation", Rules: map[string]identity.Rule{
		"/grpc.health.v1.Health/Check": {Roles: []identity.Role{identity.RoleNode}},
		"/grpc.health.v1.Health/Watch": {Roles: []identity.Role{identity.RoleNode}},
	}}
	srv := grpc.NewServer(identity.GRPCServerOptions(src, policy, testLogger(log))...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// watchUntilEnd opens a health Watch stream and returns a channel with the
// error that ends it.
func watchUntilEnd(t *testing.T, hc healthpb.HealthClient) <-chan error {
	t.Helper()
	s, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	return ended
}

func waitEnded(t *testing.T, ended <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: stream ended with %v, want Unauthenticated", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: stream still open", what)
	}
}

// TestGRPCRechecksOpenConnections revokes a node whose connection carries
// a running stream: the stream is ended once the server reloads its CRL,
// and the next call on the same connection is refused.
func TestGRPCRechecksOpenConnections(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, _ := newSource(t, p.Files(t, p.Hub()))
	log := &syncBuffer{}
	addr := grpcHealthServer(t, server, log)
	node := p.Node("THA")
	conn, err := grpc.NewClient(addr, identity.GRPCDialOptions(p.Source(t, node), nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	if _, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	ended := watchUntilEnd(t, hc)

	// A reload that does not concern the node leaves its stream alone.
	p.Revoke(t, p.Agency("THA", "police"))
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("after an unrelated revocation: %v", err)
	}
	select {
	case err := <-ended:
		t.Fatalf("stream ended by an unrelated revocation: %v", err)
	default:
	}

	p.Revoke(t, node)
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, ended, "revoked node")
	if _, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("call on the open connection after revocation: %v, want Unauthenticated", err)
	}
	for _, want := range []string{"stream ended", "request refused", node.String(), "is revoked"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// TestGRPCStreamEndsAtExpiry holds a stream open with a certificate that
// expires a few seconds later: the server ends it without any reload.
func TestGRPCStreamEndsAtExpiry(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	server, _ := newSource(t, p.Files(t, p.Hub()))
	log := &syncBuffer{}
	addr := grpcHealthServer(t, server, log)
	// Valid for one day from a day ago less five seconds: it expires in
	// five seconds, enough for the handshake.
	short := p.IssueExtra(t, p.Node("THA"), pki.IssueOptions{Days: 1, NotBefore: time.Now().Add(-24*time.Hour + 5*time.Second)})
	conn, err := grpc.NewClient(addr, identity.GRPCDialOptions(identitytest.StartSource(t, short), nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	waitEnded(t, watchUntilEnd(t, healthpb.NewHealthClient(conn)), "expired node")
	if !strings.Contains(log.String(), "expired at") {
		t.Errorf("log lacks the expiry:\n%s", log.String())
	}
}
