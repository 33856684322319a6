package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/pki"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// TestAuthorization starts a real hub and a real THA node and calls every
// RPC of every port as every kind of caller (DESIGN §9): the outcome of each
// cell must be what the port's Policy says, and a caller without a valid
// federation certificate must be refused during the TLS handshake on every
// port. The acceptance checks of issue 3 follow as named subtests.
func TestAuthorization(t *testing.T) {
	env := startAuthzEnv(t)
	policies := azPolicies()
	procs := azProcedures()
	byName := map[string]int{}
	for j, c := range env.callers {
		byName[c.name] = j
	}

	t.Run("policies cover the served procedures", func(t *testing.T) {
		// Every procedure a policy admits must exist on its port; a typo in
		// a policy would otherwise deny silently.
		served := map[azPort]map[string]bool{}
		for _, p := range procs {
			if served[p.port] == nil {
				served[p.port] = map[string]bool{}
			}
			served[p.port][p.name] = true
		}
		for port, pol := range policies {
			for _, name := range pol.Procedures() {
				if !served[port][name] {
					t.Errorf("%s policy lists %s, which the port does not serve", port, name)
				}
			}
		}
	})

	t.Run("node attaches", func(t *testing.T) {
		// The control for the refusals below: a good node certificate does
		// get through the federation port and stays attached.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for !env.node.Connected() {
			select {
			case <-ctx.Done():
				t.Fatal("node did not attach to the hub")
			case <-time.After(50 * time.Millisecond):
			}
		}
	})

	var res [][]azResult
	t.Run("matrix", func(t *testing.T) {
		res = azMatrix(t.Context(), env, procs, 8)
		t.Logf("authorization matrix (ok = allowed, ok* = allowed but no handler mounted, DENY = PermissionDenied, "+
			"tls = connection refused before any request was served, ! = differs from the policy):\n%s",
			azFormat(env, procs, res, policies))
		for i, proc := range procs {
			for j, c := range env.callers {
				want := azExpected(policies, c, proc)
				got := res[i][j]
				if got.outcome != want {
					t.Errorf("%s %s as %s: got %s, want %s (%s)", proc.port, proc.name, c.name, got.outcome, want, got.detail)
				}
				if got.timedOut {
					t.Errorf("%s %s as %s: no answer in %s (%s)", proc.port, proc.name, c.name, azCallTimeout, got.detail)
				}
			}
		}
	})
	if res == nil {
		t.Fatal("matrix did not run")
	}

	// column returns the matrix results of one caller with their procedures.
	column := func(caller string, keep func(azProcedure) bool) map[azProcedure]azResult {
		j, ok := byName[caller]
		if !ok {
			t.Fatalf("no caller %q", caller)
		}
		out := map[azProcedure]azResult{}
		for i, p := range procs {
			if keep(p) {
				out[p] = res[i][j]
			}
		}
		return out
	}
	anyProc := func(azProcedure) bool { return true }

	refusedEverywhere := func(t *testing.T, caller string) {
		t.Helper()
		c := env.callers[byName[caller]]
		for _, port := range azPorts {
			refused, detail := azHandshakeRefused(t.Context(), env.addr[port], c.tls[port])
			if !refused {
				t.Errorf("%s: handshake of %s not refused: %s", port, caller, detail)
			}
		}
		for p, r := range column(caller, anyProc) {
			if r.outcome != azRefusedTLS {
				t.Errorf("%s %s as %s: got %s, want tls (%s)", p.port, p.name, caller, r.outcome, r.detail)
			}
		}
	}

	t.Run("acceptance", func(t *testing.T) {
		t.Run("handshake probe accepts a good certificate", func(t *testing.T) {
			// Without this control, the refusal checks below could pass on
			// a probe that refuses everything.
			for port, caller := range map[azPort]string{
				azHubAPI: "operator", azNodeAPI: "agency/" + azCountry, azFederation: "node/" + azCountry,
			} {
				if refused, detail := azHandshakeRefused(t.Context(), env.addr[port], env.callers[byName[caller]].tls[port]); refused {
					t.Errorf("%s: %s refused: %s", port, caller, detail)
				}
			}
		})
		t.Run("no certificate is refused on every port", func(t *testing.T) {
			refusedEverywhere(t, "none")
		})
		t.Run("a certificate from a CA outside the federation is refused on every port", func(t *testing.T) {
			refusedEverywhere(t, "foreign")
		})
		t.Run("expired and revoked certificates are refused on every port", func(t *testing.T) {
			refusedEverywhere(t, "expired")
			refusedEverywhere(t, "revoked")
		})
		t.Run("a node certificate cannot call the partner API", func(t *testing.T) {
			partnerAPI := func(p azProcedure) bool {
				// The products partners read, not the health and
				// reflection every member may use.
				return p.port == azHubAPI && !azCommon(p.name) &&
					policies[azHubAPI].Authorize(env.pki.Partner("unodc"), p.name) == nil
			}
			if len(column("partner", partnerAPI)) == 0 {
				t.Fatal("the hub API admits partners to nothing")
			}
			for _, caller := range []string{"node/" + azCountry, "node/" + azOther} {
				for p, r := range column(caller, partnerAPI) {
					if r.outcome != azDenied {
						t.Errorf("%s as %s: got %s, want DENY (%s)", p.name, caller, r.outcome, r.detail)
					}
				}
				// And once more with the typed client, as a partner would
				// call it.
				c := env.callers[byName[caller]]
				rc := hubv1connect.NewReportServiceClient(c.http[azHubAPI], "https://"+env.addr[azHubAPI], connect.WithGRPC())
				_, err := rc.GetRegionalPicture(t.Context(), connect.NewRequest(&hubv1.GetRegionalPictureRequest{}))
				if connect.CodeOf(err) != connect.CodePermissionDenied {
					t.Errorf("GetRegionalPicture as %s: got %v, want permission denied", caller, err)
				}
			}
		})
		t.Run("a partner certificate cannot attach as a node", func(t *testing.T) {
			for _, caller := range []string{"partner", "partner/tha"} {
				attachAs(t, env.callers[byName[caller]], azCountry, codes.PermissionDenied)
			}
		})
		t.Run("a node certificate attaches only as its own state", func(t *testing.T) {
			// MYS rather than THA for the accepted attach: a second THA
			// stream would replace the running node's.
			mys := env.callers[byName["node/"+azOther]]
			attachAs(t, mys, azCountry, codes.PermissionDenied)
			attachAs(t, mys, azOther, codes.OK)
		})
		t.Run("agency, operator and hub certificates cannot attach either", func(t *testing.T) {
			for _, caller := range []string{"agency/" + azCountry, "operator", "hub"} {
				attachAs(t, env.callers[byName[caller]], azCountry, codes.PermissionDenied)
			}
		})
		t.Run("the node API serves only its own state's agencies", func(t *testing.T) {
			records := func(p azProcedure) bool {
				return p.port == azNodeAPI && policies[azNodeAPI].Rules[p.name].SameCountry
			}
			for p, r := range column("agency/"+azCountry, records) {
				if r.outcome != azAllowed {
					t.Errorf("%s as own agency: got %s (%s)", p.name, r.outcome, r.detail)
				}
			}
			for _, caller := range []string{"agency/" + azOther, "partner/tha", "hub", "operator", "node/" + azCountry} {
				for p, r := range column(caller, records) {
					if r.outcome != azDenied {
						t.Errorf("%s as %s: got %s, want DENY (%s)", p.name, caller, r.outcome, r.detail)
					}
				}
			}
		})
		t.Run("revocation takes effect without a restart", func(t *testing.T) {
			revocationWithoutRestart(t, env)
		})
	})
}

// revocationWithoutRestart revokes a working certificate on each port while
// the hub and node run: once the servers have re-read the CRL, new
// connections with it are refused during the handshake, a connection opened
// before the revocation is refused on its next request (Unauthenticated),
// and a node's running Attach stream is ended.
func revocationWithoutRestart(t *testing.T, env *azFederationEnv) {
	cases := []struct {
		port azPort
		id   identity.ID
		proc azProcedure
		// recheck says the port's server re-checks certificates per
		// request ((*identity.Source).HTTPMiddleware); false would log the
		// open connection's outcome instead of asserting it.
		recheck bool
	}{
		{azHubAPI, env.pki.Partner("revoke-me"), azProcedure{port: azHubAPI, name: hubv1connect.NodeServiceListNodesProcedure}, true},
		{azNodeAPI, env.pki.Agency(azCountry, "revoke-me"), azProcedure{port: azNodeAPI, name: nodev1connect.AgreementServiceGetAgreementProcedure}, true},
	}
	for _, tc := range cases {
		cfg := azClientTLS(t, env.pki.Files(t, tc.id), env.roots)
		base := "https://" + env.addr[tc.port]
		call := func(hc *http.Client) azResult {
			ctx, cancel := context.WithTimeout(t.Context(), azCallTimeout)
			defer cancel()
			return azClassifyConnect(azCallConnect(ctx, hc, base, tc.proc))
		}
		open := azHTTPClient(t, cfg)
		if r := call(open); r.outcome != azAllowed {
			t.Fatalf("%s as %s before revocation: %s (%s)", tc.proc.name, tc.id, r.outcome, r.detail)
		}
		env.pki.Revoke(t, tc.id)
		azWaitRefused(t, tc.port, tc.id, func() azResult {
			// A fresh client each time: a new connection, a new handshake.
			return call(azHTTPClient(t, cfg))
		})
		r := call(open)
		switch {
		case !tc.recheck:
			t.Logf("%s: after revocation, a connection %s opened before it: %s (%s)", tc.port, tc.id, r.outcome, r.detail)
		case r.outcome != azUnauthenticated:
			t.Errorf("%s: a connection %s opened before the revocation: got %s, want UNAUTH (%s)", tc.port, tc.id, r.outcome, r.detail)
		}
	}
	revokedNodeIsCut(t, env)
}

// azWaitRefused polls call until the port refuses id during the handshake,
// which shows the server has re-read the CRL.
func azWaitRefused(t *testing.T, port azPort, id identity.ID, call func() azResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		if r := call(); r.outcome == azRefusedTLS {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s still accepted on new connections after revocation", port, id)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// revokedNodeIsCut attaches as node/MYS with a certificate of its own,
// revokes that certificate and checks that the hub, once its CRL reloads,
// ends the running Attach stream with Unauthenticated and refuses the next
// call on the connection that carried it.
func revokedNodeIsCut(t *testing.T, env *azFederationEnv) {
	id := env.pki.Node(azOther)
	f := env.pki.IssueExtra(t, id, pki.IssueOptions{})
	cfg := azClientTLS(t, f, env.roots)
	dial := func() *grpc.ClientConn {
		cc, err := grpc.NewClient("passthrough:///"+env.addr[azFederation], grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	check := azProcedure{port: azFederation, name: "/grpc.health.v1.Health/Check"}
	call := func(cc *grpc.ClientConn) azResult {
		ctx, cancel := context.WithTimeout(t.Context(), azCallTimeout)
		defer cancel()
		return azClassifyGRPC(azCallGRPC(ctx, cc, check))
	}
	open := dial()
	defer open.Close()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	stream, err := federationv1.NewFederationClient(open).Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := &federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: &federationv1.Hello{SoftwareVersion: "e2e", Country: azOther}}}
	if err := stream.Send(hello); err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.GetWelcome() == nil {
		t.Fatalf("attach as %s before revocation: %v %v", id, m, err)
	}
	// Heartbeats keep the hub from ending the stream as silent, so only
	// the revocation can end it; Recv runs alongside (grpc allows one
	// sender and one receiver).
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			hb := &federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.Now()}}}
			if stream.Send(hb) != nil {
				return
			}
		}
	})
	ended := make(chan error, 1)
	wg.Go(func() {
		for {
			if _, err := stream.Recv(); err != nil {
				ended <- err
				return
			}
		}
	})
	if r := call(open); r.outcome != azAllowed {
		t.Fatalf("%s as %s before revocation: %s (%s)", check.name, id, r.outcome, r.detail)
	}

	env.pki.RevokeFile(t, f.Cert)
	azWaitRefused(t, azFederation, id, func() azResult {
		cc := dial()
		defer cc.Close()
		return call(cc)
	})
	select {
	case err := <-ended:
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("attach stream of revoked %s ended with %v, want Unauthenticated", id, err)
		}
	case <-ctx.Done():
		t.Fatalf("attach stream of revoked %s still open after the hub reloaded its CRL", id)
	}
	if r := call(open); r.outcome != azUnauthenticated {
		t.Errorf("federation: the connection %s opened before the revocation: got %s, want UNAUTH (%s)", id, r.outcome, r.detail)
	}
}

// attachAs opens an Attach stream as c with a Hello claiming country and
// checks the outcome: want OK means the hub answered with a Welcome.
func attachAs(t *testing.T, c *azCaller, country string, want codes.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), azCallTimeout)
	defer cancel()
	stream, err := federationv1.NewFederationClient(c.grpc).Attach(ctx)
	var m *federationv1.HubMessage
	if err == nil {
		// A send error hides the status; Recv returns it.
		_ = stream.Send(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: &federationv1.Hello{
			SoftwareVersion: "e2e", Country: country,
		}}})
		m, err = stream.Recv()
	}
	if status.Code(err) != want {
		t.Errorf("attach as %s claiming %s: got %v, want %s", c.name, country, err, want)
	}
	if want == codes.OK && m.GetWelcome().GetCountry() != country {
		t.Errorf("attach as %s claiming %s: first message %v, want a welcome for %s", c.name, country, m, country)
	}
}
