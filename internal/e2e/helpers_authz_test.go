package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vrs-federation/vrs/hub"
	hubapi "github.com/vrs-federation/vrs/hub/api"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/pki"
	"github.com/vrs-federation/vrs/node"
	nodeapi "github.com/vrs-federation/vrs/node/api"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
)

// azCountry is the state of the node under test; azOther is a second state
// whose certificates must not reach it.
const (
	azCountry = "THA"
	azOther   = "MYS"
)

// azPort is one of the three mTLS listeners of a federation.
type azPort string

const (
	azHubAPI     azPort = "hub-api"
	azNodeAPI    azPort = "node-api"
	azFederation azPort = "federation"
)

// azPorts is the column order of the ports in tables.
var azPorts = []azPort{azHubAPI, azNodeAPI, azFederation}

// azProcedure is one RPC served on one port.
type azProcedure struct {
	port         azPort
	name         string // full name, "/pkg.Service/Method"
	clientStream bool
	serverStream bool
}

// azProtoFiles are the descriptors of everything each port serves: every
// method of every service in these files is a row of the matrix, so a new
// RPC cannot be added to a .proto without being checked here. grpc-go's
// health file also declares Health/List, which no policy admits.
func azProtoFiles(p azPort) []protoreflect.FileDescriptor {
	common := []protoreflect.FileDescriptor{
		healthpb.File_grpc_health_v1_health_proto,
		reflectionv1.File_grpc_reflection_v1_reflection_proto,
		reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto,
	}
	switch p {
	case azHubAPI:
		return append([]protoreflect.FileDescriptor{hubv1.File_vrs_hub_v1_hub_proto}, common...)
	case azNodeAPI:
		return append([]protoreflect.FileDescriptor{nodev1.File_vrs_node_v1_node_proto}, common...)
	default:
		return append([]protoreflect.FileDescriptor{federationv1.File_vrs_federation_v1_federation_proto}, common...)
	}
}

// azProcedures lists every RPC of every port, in table order.
func azProcedures() []azProcedure {
	var out []azProcedure
	for _, p := range azPorts {
		for _, f := range azProtoFiles(p) {
			svcs := f.Services()
			for i := range svcs.Len() {
				s := svcs.Get(i)
				ms := s.Methods()
				for j := range ms.Len() {
					m := ms.Get(j)
					out = append(out, azProcedure{
						port:         p,
						name:         "/" + string(s.FullName()) + "/" + string(m.Name()),
						clientStream: m.IsStreamingClient(),
						serverStream: m.IsStreamingServer(),
					})
				}
			}
		}
	}
	return out
}

// azPolicies is the authorization table of each port.
func azPolicies() map[azPort]*identity.Policy {
	return map[azPort]*identity.Policy{
		azHubAPI:     hubapi.Policy(),
		azNodeAPI:    nodeapi.Policy(azCountry),
		azFederation: hub.FederationPolicy(),
	}
}

// azCaller is one column of the matrix: a client identity with one
// connection setup per port.
type azCaller struct {
	name string
	// id is the verified identity the servers will see; nil for callers
	// that must be refused during the TLS handshake.
	id   *identity.ID
	tls  map[azPort]*tls.Config
	http map[azPort]*http.Client
	grpc *grpc.ClientConn
}

// azFederationEnv is a running hub and node and the callers of the matrix.
type azFederationEnv struct {
	pki     *identitytest.PKI
	hub     *hub.Hub
	node    *node.Node
	addr    map[azPort]string
	roots   *x509.CertPool
	callers []*azCaller
}

// azAgreement is a minimal valid agreement for the node under test.
const azAgreement = `
agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 10
  rounding     = "rr3"
  max_group_by = 3
  period_floor = "month"

  measure "incidents" { dimensions = ["period.year", "period.quarter", "transport_mode"] }
}
`

// startAuthzEnv starts a real hub and a real THA node attached to it, on
// loopback ports, and builds every caller.
func startAuthzEnv(t *testing.T) *azFederationEnv {
	t.Helper()
	p := identitytest.New(t)
	env := &azFederationEnv{pki: p, addr: map[azPort]string{}}

	// The identities whose certificates are broken are the ones each port
	// would otherwise admit, so a refusal can only come from the broken
	// certificate itself.
	privileged := map[azPort]identity.ID{
		azHubAPI:     p.Operator("alice"),
		azNodeAPI:    p.Agency(azCountry, "police"),
		azFederation: p.Node(azCountry),
	}
	foreignPKI := p.ForeignCA(t)
	foreign, expired, revoked := map[azPort]identity.Files{}, map[azPort]identity.Files{}, map[azPort]identity.Files{}
	for port, id := range privileged {
		foreign[port] = foreignPKI.IssueExtra(t, id, pki.IssueOptions{})
		expired[port] = p.Expired(t, id)
		// A second certificate of the same identity, revoked: the first
		// stays valid for the good callers.
		revoked[port] = p.IssueExtra(t, id, pki.IssueOptions{})
		p.RevokeFile(t, revoked[port].Cert)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	h, err := hub.New(hub.Config{
		DataDir:           t.TempDir(),
		FederationListen:  "127.0.0.1:0",
		APIListen:         "127.0.0.1:0",
		TLS:               p.Files(t, p.Hub()),
		HeartbeatInterval: time.Second,
		Version:           "e2e",
	})
	if err != nil {
		t.Fatalf("hub: %v", err)
	}
	env.hub = h
	wg.Go(func() {
		if err := h.Run(ctx); err != nil {
			t.Errorf("hub run: %v", err)
		}
	})

	agreementPath := filepath.Join(t.TempDir(), azCountry+".hcl")
	if err := os.WriteFile(agreementPath, []byte(azAgreement), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(ctx, node.Config{
		DataDir:       t.TempDir(),
		Country:       azCountry,
		HubAddr:       h.FederationAddr(),
		APIListen:     "127.0.0.1:0",
		TLS:           p.Files(t, p.Node(azCountry)),
		AgreementPath: agreementPath,
		Version:       "e2e",
	})
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	env.node = n
	wg.Go(func() {
		if err := n.Run(ctx); err != nil {
			t.Errorf("node run: %v", err)
		}
	})
	env.addr[azHubAPI] = h.APIAddr()
	env.addr[azNodeAPI] = n.APIAddr()
	env.addr[azFederation] = h.FederationAddr()

	caPool := azCAPool(t, p.CAFile())
	env.roots = caPool
	perPort := func(f func(azPort) identity.Files) map[azPort]*tls.Config {
		m := map[azPort]*tls.Config{}
		for _, port := range azPorts {
			m[port] = azClientTLS(t, f(port), caPool)
		}
		return m
	}
	same := func(f identity.Files) func(azPort) identity.Files {
		return func(azPort) identity.Files { return f }
	}
	good := func(name string, id identity.ID) *azCaller {
		return &azCaller{name: name, id: &id, tls: perPort(same(p.Files(t, id)))}
	}
	bad := func(name string, files map[azPort]identity.Files) *azCaller {
		return &azCaller{name: name, tls: perPort(func(port azPort) identity.Files { return files[port] })}
	}
	env.callers = []*azCaller{
		{name: "none", tls: perPort(same(identity.Files{}))},
		bad("foreign", foreign),
		bad("expired", expired),
		bad("revoked", revoked),
		good("hub", p.Hub()),
		good("node/"+azCountry, p.Node(azCountry)),
		good("node/"+azOther, p.Node(azOther)),
		good("agency/"+azCountry, p.Agency(azCountry, "police")),
		good("agency/"+azOther, p.Agency(azOther, "police")),
		good("partner", p.Partner("unodc")),
		// A partner bound to THA by its name: still not an agency, so the
		// THA node API must refuse it.
		good("partner/"+strings.ToLower(azCountry), p.Partner(strings.ToLower(azCountry)+"-immigration")),
		good("operator", p.Operator("alice")),
	}
	for _, c := range env.callers {
		c.http = map[azPort]*http.Client{}
		for _, port := range []azPort{azHubAPI, azNodeAPI} {
			c.http[port] = azHTTPClient(t, c.tls[port])
		}
		cc, err := grpc.NewClient("passthrough:///"+env.addr[azFederation],
			grpc.WithTransportCredentials(credentials.NewTLS(c.tls[azFederation])))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		c.grpc = cc
	}
	return env
}

// azHTTPClient is an HTTP/2-only client with its own connection pool.
func azHTTPClient(t *testing.T, cfg *tls.Config) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: cfg, Protocols: &p, TLSHandshakeTimeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func azCAPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s: no certificates", caFile)
	}
	return pool
}

// azClientTLS presents f's certificate (none if f is empty) and verifies
// the server against the federation CA. It is built by hand rather than
// from an identity.Source so that certificates the Source would not load
// (another CA) can be presented, and so that the servers, not the client,
// are what refuses a broken certificate.
func azClientTLS(t *testing.T, f identity.Files, roots *x509.CertPool) *tls.Config {
	t.Helper()
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Servers are identified by SPIFFE ID, not host name; the chain is
		// checked below.
		InsecureSkipVerify: true, // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// azOutcome is how a call ended, as far as authorization is concerned.
type azOutcome int

const (
	// azAllowed: authorization passed; the call succeeded or failed for
	// another reason (bad argument, not found, not implemented).
	azAllowed azOutcome = iota
	// azDenied: PermissionDenied from the policy.
	azDenied
	// azUnauthenticated: the server saw no verified identity.
	azUnauthenticated
	// azRefusedTLS: the TLS handshake was refused; no request was served.
	azRefusedTLS
)

func (o azOutcome) String() string {
	switch o {
	case azAllowed:
		return "ok"
	case azDenied:
		return "DENY"
	case azUnauthenticated:
		return "UNAUTH"
	default:
		return "tls"
	}
}

// azResult is one cell of the matrix.
type azResult struct {
	outcome azOutcome
	// unimplemented marks an allowed call the server has no handler for.
	unimplemented bool
	// timedOut marks an allowed call that got no answer in time: the
	// request was not refused, but no handler was seen to run either.
	timedOut bool
	detail   string
}

// azCallTimeout bounds one call, including reading the first message of a
// stream (which, once authorized, may legitimately wait for data).
const azCallTimeout = 10 * time.Second

// azCall makes one real call of proc as c with an empty request message.
// An empty message is a valid encoding of every request type, and the
// response is decoded as Empty, keeping its fields as unknown fields.
func azCall(ctx context.Context, env *azFederationEnv, c *azCaller, proc azProcedure) azResult {
	ctx, cancel := context.WithTimeout(ctx, azCallTimeout)
	defer cancel()
	if proc.port == azFederation {
		return azClassifyGRPC(azCallGRPC(ctx, c.grpc, proc))
	}
	return azClassifyConnect(azCallConnect(ctx, c.http[proc.port], "https://"+env.addr[proc.port], proc))
}

func azCallConnect(ctx context.Context, hc *http.Client, base string, proc azProcedure) error {
	client := connect.NewClient[emptypb.Empty, emptypb.Empty](hc, base+proc.name, connect.WithGRPC())
	switch {
	case !proc.clientStream && !proc.serverStream:
		_, err := client.CallUnary(ctx, connect.NewRequest(&emptypb.Empty{}))
		return err
	case !proc.clientStream:
		s, err := client.CallServerStream(ctx, connect.NewRequest(&emptypb.Empty{}))
		if err != nil {
			return err
		}
		defer s.Close()
		if s.Receive() {
			return nil
		}
		return s.Err()
	default:
		s := client.CallBidiStream(ctx)
		defer func() { _ = s.CloseResponse() }()
		if err := s.Send(&emptypb.Empty{}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := s.CloseRequest(); err != nil {
			return err
		}
		_, err := s.Receive()
		return err
	}
}

func azCallGRPC(ctx context.Context, cc *grpc.ClientConn, proc azProcedure) error {
	desc := &grpc.StreamDesc{ClientStreams: proc.clientStream, ServerStreams: proc.serverStream}
	s, err := cc.NewStream(ctx, desc, proc.name)
	if err != nil {
		return err
	}
	// A send error is io.EOF when the stream already ended; the status
	// comes from RecvMsg.
	if err := s.SendMsg(&emptypb.Empty{}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	return s.RecvMsg(&emptypb.Empty{})
}

// azTransportFailure reports whether err is a connection the server refused
// during or right after the TLS handshake. In TLS 1.3 the client finishes
// its handshake before the server has checked the client certificate, so
// the refusal arrives as an alert on the first read.
func azTransportFailure(err error) bool {
	msg := err.Error()
	for _, s := range []string{"remote error: tls", "tls:", "handshake", "EOF", "connection reset", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func azClassifyConnect(err error) azResult {
	if err == nil || errors.Is(err, io.EOF) {
		return azResult{outcome: azAllowed}
	}
	detail := err.Error()
	code := connect.CodeOf(err)
	switch {
	case code == connect.CodeUnimplemented:
		// Also what a 404 from the mux becomes: the request was
		// authorized, and no service is mounted at that path.
		return azResult{outcome: azAllowed, unimplemented: true, detail: detail}
	case !connect.IsWireError(err) && code != connect.CodeDeadlineExceeded:
		// No response at all. net/http hides the TLS alert behind "client
		// conn could not be established" or a write error, so the matrix
		// only knows the server served nothing; azHandshakeRefused shows
		// the alert itself. A stream that was accepted and then stayed
		// silent ends in DeadlineExceeded and counts as allowed, so a
		// hanging server can never pass for a refusal.
		return azResult{outcome: azRefusedTLS, detail: detail}
	case code == connect.CodeDeadlineExceeded:
		return azResult{outcome: azAllowed, timedOut: true, detail: detail}
	case code == connect.CodePermissionDenied:
		return azResult{outcome: azDenied, detail: detail}
	case code == connect.CodeUnauthenticated:
		return azResult{outcome: azUnauthenticated, detail: detail}
	}
	return azResult{outcome: azAllowed, detail: detail}
}

func azClassifyGRPC(err error) azResult {
	if err == nil || errors.Is(err, io.EOF) {
		return azResult{outcome: azAllowed}
	}
	detail := err.Error()
	switch status.Code(err) {
	case codes.PermissionDenied:
		return azResult{outcome: azDenied, detail: detail}
	case codes.Unauthenticated:
		return azResult{outcome: azUnauthenticated, detail: detail}
	case codes.Unavailable, codes.Unknown, codes.Internal:
		if azTransportFailure(err) {
			return azResult{outcome: azRefusedTLS, detail: detail}
		}
	case codes.Unimplemented:
		return azResult{outcome: azAllowed, unimplemented: true, detail: detail}
	case codes.DeadlineExceeded:
		return azResult{outcome: azAllowed, timedOut: true, detail: detail}
	}
	return azResult{outcome: azAllowed, detail: detail}
}

// azExpected is what the policies say a cell must be: a TLS refusal for a
// caller without a valid certificate, otherwise allowed exactly when the
// port's policy authorizes the caller's identity.
func azExpected(policies map[azPort]*identity.Policy, c *azCaller, proc azProcedure) azOutcome {
	if c.id == nil {
		return azRefusedTLS
	}
	if policies[proc.port].Authorize(*c.id, proc.name) == nil {
		return azAllowed
	}
	return azDenied
}

// azMatrix runs every cell with a bounded pool of workers and returns the
// results indexed [procedure][caller].
func azMatrix(ctx context.Context, env *azFederationEnv, procs []azProcedure, workers int) [][]azResult {
	out := make([][]azResult, len(procs))
	for i := range out {
		out[i] = make([]azResult, len(env.callers))
	}
	type cell struct{ i, j int }
	cells := make(chan cell)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range cells {
				out[c.i][c.j] = azCall(ctx, env, env.callers[c.j], procs[c.i])
			}
		})
	}
	for i := range procs {
		for j := range env.callers {
			cells <- cell{i, j}
		}
	}
	close(cells)
	wg.Wait()
	return out
}

// azFormat renders the matrix: rows RPCs, columns callers. A cell shows
// "ok" (allowed; "ok*" when the server has no handler behind the
// authorization), "DENY" (PermissionDenied), "UNAUTH" or "tls" (handshake
// refused); a leading "!" marks a cell that differs from the policy.
func azFormat(env *azFederationEnv, procs []azProcedure, res [][]azResult, policies map[azPort]*identity.Policy) string {
	header := []string{"port", "rpc"}
	for _, c := range env.callers {
		header = append(header, c.name)
	}
	rows := [][]string{header}
	for i, proc := range procs {
		row := []string{string(proc.port), proc.name}
		for j, c := range env.callers {
			r := res[i][j]
			s := r.outcome.String()
			if r.unimplemented {
				s += "*"
			}
			if r.outcome != azExpected(policies, c, proc) {
				s = "!" + s
			}
			row = append(row, s)
		}
		rows = append(rows, row)
	}
	width := make([]int, len(header))
	for _, row := range rows {
		for k, s := range row {
			width[k] = max(width[k], len(s))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for k, s := range row {
			fmt.Fprintf(&b, "%-*s ", width[k], s)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// azHandshakeRefused dials addr with cfg at the TLS level only and reports
// whether the server refused the client certificate: an accepted HTTP/2 or
// gRPC connection starts with the server's SETTINGS frame, a refused one
// with a TLS alert.
func azHandshakeRefused(ctx context.Context, addr string, cfg *tls.Config) (bool, string) {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return azTransportFailure(err), err.Error()
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if err != nil {
		return strings.Contains(err.Error(), "remote error: tls"), err.Error()
	}
	return false, fmt.Sprintf("server sent %d bytes", n)
}

// azCommon reports whether name is a health or reflection procedure, which
// every port serves.
func azCommon(name string) bool {
	return strings.HasPrefix(name, "/grpc.health.v1.") || strings.HasPrefix(name, "/grpc.reflection.")
}
