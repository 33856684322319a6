package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
)

const (
	procAllowed = "/test.v1.TestService/Allowed"
	procDenied  = "/test.v1.TestService/Denied"
	procStream  = "/test.v1.TestService/Stream"
)

// testAPI is a connect-go server with the middleware in front: Allowed is
// open to agencies of THA, Stream to operators, Denied to nobody.
type testAPI struct {
	url    string
	log    *syncBuffer
	mu     sync.Mutex
	seenID []identity.ID
}

func startTestAPI(t *testing.T, p *identitytest.PKI, limit identity.RateLimit) *testAPI {
	t.Helper()
	api := &testAPI{log: &syncBuffer{}}
	mux := http.NewServeMux()
	record := func(ctx context.Context) error {
		id, ok := identity.FromContext(ctx)
		if !ok {
			return connect.NewError(connect.CodeInternal, errors.New("no identity in context"))
		}
		api.mu.Lock()
		api.seenID = append(api.seenID, id)
		api.mu.Unlock()
		return nil
	}
	unary := func(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
		if err := record(ctx); err != nil {
			return nil, err
		}
		return connect.NewResponse(&emptypb.Empty{}), nil
	}
	mux.Handle(procAllowed, connect.NewUnaryHandler(procAllowed, unary))
	mux.Handle(procDenied, connect.NewUnaryHandler(procDenied, unary))
	mux.Handle(procStream, connect.NewServerStreamHandler(procStream,
		func(ctx context.Context, _ *connect.Request[emptypb.Empty], s *connect.ServerStream[emptypb.Empty]) error {
			if err := record(ctx); err != nil {
				return err
			}
			return s.Send(&emptypb.Empty{})
		}))
	policy := &identity.Policy{
		Server:  "test-api",
		Country: "THA",
		Rules: map[string]identity.Rule{
			procAllowed: {Roles: []identity.Role{identity.RoleAgency}, SameCountry: true},
			procStream:  {Roles: []identity.Role{identity.RoleOperator}},
		},
	}
	src := p.Source(t, p.Node("THA"))
	h := src.HTTPMiddleware(mux, policy, testLogger(api.log), limit)
	api.url = serve(t, src.ServerTLS(), h)
	return api
}

func apiClient(t *testing.T, p *identitytest.PKI, id identity.ID) *http.Client {
	t.Helper()
	return &http.Client{Transport: &http.Transport{TLSClientConfig: p.Source(t, id).ClientTLS(), ForceAttemptHTTP2: true}}
}

func TestHTTPMiddlewareProtocols(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	api := startTestAPI(t, p, identity.RateLimit{})
	police := p.Agency("THA", "police")
	polri := p.Agency("IDN", "polri")
	alice := p.Operator("alice")

	protocols := []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"connect+json", []connect.ClientOption{connect.WithProtoJSON()}},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	calls := []struct {
		name   string
		caller identity.ID
		proc   string
		stream bool
		want   connect.Code // 0: success
	}{
		{"allowed", police, procAllowed, false, 0},
		{"other country", polri, procAllowed, false, connect.CodePermissionDenied},
		{"not in policy", police, procDenied, false, connect.CodePermissionDenied},
		{"stream allowed", alice, procStream, true, 0},
		{"stream denied", police, procStream, true, connect.CodePermissionDenied},
	}
	for _, proto := range protocols {
		for _, c := range calls {
			t.Run(proto.name+"/"+c.name, func(t *testing.T) {
				hc := apiClient(t, p, c.caller)
				cl := connect.NewClient[emptypb.Empty, emptypb.Empty](hc, api.url+c.proc, proto.opts...)
				var err error
				if c.stream {
					s, serr := cl.CallServerStream(t.Context(), connect.NewRequest(&emptypb.Empty{}))
					if serr != nil {
						err = serr
					} else {
						for s.Receive() {
						}
						err = s.Err()
						_ = s.Close()
					}
				} else {
					_, err = cl.CallUnary(t.Context(), connect.NewRequest(&emptypb.Empty{}))
				}
				if got := connect.CodeOf(err); err != nil && got != c.want || err == nil && c.want != 0 {
					t.Fatalf("err %v (code %v), want code %v", err, got, c.want)
				}
				if err != nil && !strings.Contains(err.Error(), c.caller.String()) {
					t.Errorf("message %q does not name the caller", err)
				}
			})
		}
	}
	api.mu.Lock()
	for _, id := range api.seenID {
		if id != police && id != alice {
			t.Errorf("handler ran for %v", id)
		}
	}
	api.mu.Unlock()
	logs := api.log.String()
	for _, want := range []string{"request denied", polri.String(), procDenied, "caller=", "procedure="} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestHTTPMiddlewareRawResponses(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	api := startTestAPI(t, p, identity.RateLimit{})
	hc := apiClient(t, p, p.Agency("IDN", "polri"))

	// Connect unary: 403 and a JSON error body.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, api.url+procAllowed, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Code, Message string }
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal(body, &e) != nil || e.Code != "permission_denied" || e.Message == "" {
		t.Errorf("connect: %d %s", resp.StatusCode, body)
	}

	// gRPC: 200 with grpc-status 7 and no message body.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, api.url+procAllowed, strings.NewReader(""))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	st := resp.Trailer.Get("Grpc-Status")
	if st == "" {
		st = resp.Header.Get("Grpc-Status")
	}
	if resp.StatusCode != http.StatusOK || st != "7" || len(body) != 0 || resp.ProtoMajor != 2 {
		t.Errorf("grpc: %s %d grpc-status %q body %q", resp.Proto, resp.StatusCode, st, body)
	}
}

func TestHTTPMiddlewareUnauthenticated(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	h := p.Source(t, p.Node("THA")).HTTPMiddleware(http.NotFoundHandler(), &identity.Policy{}, nil, identity.RateLimit{})
	for _, c := range []struct {
		ctype  string
		status int
		grpc   string
	}{
		{"application/json", http.StatusUnauthorized, ""},
		{"application/grpc", http.StatusOK, "16"},
	} {
		req := httptest.NewRequest(http.MethodPost, procAllowed, strings.NewReader(""))
		req.Header.Set("Content-Type", c.ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req) // plain HTTP: no TLS, no identity
		res := w.Result()
		st := res.Trailer.Get("Grpc-Status")
		if st == "" {
			st = res.Header.Get("Grpc-Status")
		}
		if res.StatusCode != c.status || st != c.grpc {
			t.Errorf("%s: %d grpc-status %q", c.ctype, res.StatusCode, st)
		}
	}
}

func TestHTTPMiddlewareGRPCGoClient(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	api := startTestAPI(t, p, identity.RateLimit{})
	src := p.Source(t, p.Agency("IDN", "polri"))
	conn, err := grpc.NewClient(strings.TrimPrefix(api.url, "https://"), identity.GRPCDialOptions(src, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Invoke(t.Context(), procAllowed, &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("grpc-go client got %v, want PermissionDenied", err)
	}
}

func TestHTTPMiddlewareRateLimit(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	// A tiny refill rate: only the burst is available during the test.
	api := startTestAPI(t, p, identity.RateLimit{PerSecond: 0.001, Burst: 3})
	call := func(id identity.ID) error {
		cl := connect.NewClient[emptypb.Empty, emptypb.Empty](apiClient(t, p, id), api.url+procAllowed)
		_, err := cl.CallUnary(t.Context(), connect.NewRequest(&emptypb.Empty{}))
		return err
	}
	police := p.Agency("THA", "police")
	for i := range 3 {
		if err := call(police); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if err := call(police); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("4th call: %v, want resource exhausted", err)
	}
	// The limit is per identity: another caller is unaffected.
	if err := call(p.Agency("THA", "customs")); err != nil {
		t.Fatalf("other caller: %v", err)
	}
	if !strings.Contains(api.log.String(), "rate limited") {
		t.Error("rate limiting not logged")
	}
}

func TestGRPCServerOptions(t *testing.T) {
	t.Parallel()
	p := identitytest.New(t)
	hub := p.Source(t, p.Hub())
	log := &syncBuffer{}
	policy := &identity.Policy{
		Server: "federation",
		Rules: map[string]identity.Rule{
			"/grpc.health.v1.Health/Check": {Roles: []identity.Role{identity.RoleNode, identity.RoleOperator}},
			"/grpc.health.v1.Health/Watch": {Roles: []identity.Role{identity.RoleNode}},
		},
	}
	type seen struct {
		id          identity.ID
		hasDeadline bool
	}
	var (
		mu    sync.Mutex
		calls []seen
	)
	capture := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id, _ := identity.FromContext(ctx)
		_, dl := ctx.Deadline()
		mu.Lock()
		calls = append(calls, seen{id, dl})
		mu.Unlock()
		return h(ctx, req)
	}
	opts := append(identity.GRPCServerOptions(hub, policy, testLogger(log)), grpc.ChainUnaryInterceptor(capture))
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	dial := func(t *testing.T, id identity.ID, expect func(identity.ID) bool) healthpb.HealthClient {
		t.Helper()
		conn, err := grpc.NewClient(ln.Addr().String(), identity.GRPCDialOptions(p.Source(t, id), expect)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return healthpb.NewHealthClient(conn)
	}
	isHub := func(id identity.ID) bool { return id.Role == identity.RoleHub }
	isNode := func(id identity.ID) bool { return id.Role == identity.RoleNode }

	node := p.Node("THA")
	t.Run("node check", func(t *testing.T) {
		resp, err := dial(t, node, isHub).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%v %v", resp, err)
		}
	})
	t.Run("node watch", func(t *testing.T) {
		s, err := dial(t, node, isHub).Watch(t.Context(), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("agency denied", func(t *testing.T) {
		_, err := dial(t, p.Agency("THA", "police"), isHub).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%v, want PermissionDenied", err)
		}
	})
	t.Run("operator stream denied", func(t *testing.T) {
		s, err := dial(t, p.Operator("alice"), isHub).Watch(t.Context(), &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%v, want PermissionDenied", err)
		}
	})
	t.Run("client refuses unexpected server", func(t *testing.T) {
		_, err := dial(t, node, isNode).Check(t.Context(), &healthpb.HealthCheckRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("%v, want Unavailable", err)
		}
	})

	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || calls[0].id != node || !calls[0].hasDeadline {
		t.Errorf("handler calls %+v, want one by %v with the default deadline", calls, node)
	}
	for _, want := range []string{"request denied", p.Agency("THA", "police").String(), "/grpc.health.v1.Health/Check"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}
