package identity

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Limits of the gRPC federation server and client (DESIGN §9).
const (
	// MaxRecvMsgSize bounds one message (a task or an answer).
	MaxRecvMsgSize = 16 << 20
	// MaxConcurrentStreams bounds the streams of one connection; a node
	// needs one Attach stream plus a few health checks.
	MaxConcurrentStreams = 64
	// DefaultCallTimeout is the deadline of a unary call made without one.
	DefaultCallTimeout = 30 * time.Second
)

// GRPCServerOptions returns the options of the grpc-go federation server:
// mTLS from src.ServerTLS, interceptors that put the caller's verified ID in
// the context and authorize the full method against p (denials logged and
// answered PermissionDenied), message and stream limits, and keepalive
// enforcement matching GRPCDialOptions.
//
// Certificates are checked at the handshake and again on every unary call
// and stream start against the CRL and dates in force now (CheckPeer), so a
// connection opened before a revocation is refused on its next call
// (Unauthenticated). A stream already running is ended with Unauthenticated
// once its caller's certificate is revoked by a reloaded CRL or expires
// (WatchPeer): its handler's context is cancelled, and whatever the handler
// returns then is replaced by that status.
func GRPCServerOptions(src *Source, p *Policy, log hclog.Logger) []grpc.ServerOption {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	server := "grpc"
	if p != nil && p.Server != "" {
		server = p.Server
	}
	authorize := func(ctx context.Context, method string) (context.Context, ID, []*x509.Certificate, error) {
		cs, err := grpcTLSState(ctx)
		var id ID
		if err == nil {
			id, _, err = PeerID(cs)
		}
		if err != nil {
			log.Warn("request refused", "server", server, "caller", "(unverified)", "procedure", method, "reason", err.Error())
			return nil, ID{}, nil, status.Error(codes.Unauthenticated, "client certificate required")
		}
		if err := src.CheckPeer(cs.PeerCertificates); err != nil {
			log.Warn("request refused", "server", server, "caller", id.String(), "procedure", method, "reason", err.Error())
			return nil, ID{}, nil, status.Error(codes.Unauthenticated, "client certificate revoked or expired")
		}
		if err := p.Authorize(id, method); err != nil {
			reason := err.Error()
			var d *DeniedError
			if errors.As(err, &d) {
				reason = d.Reason
			}
			log.Warn("request denied", "server", server, "caller", id.String(), "procedure", method, "reason", reason)
			return nil, ID{}, nil, status.Errorf(codes.PermissionDenied, "%s may not call %s", id, method)
		}
		return NewContext(ctx, id), id, cs.PeerCertificates, nil
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, _, _, err := authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, id, certs, err := authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancelCause(ctx)
		watched := src.WatchPeer(ctx, certs, func(err error) {
			log.Warn("stream ended", "server", server, "caller", id.String(), "procedure", info.FullMethod, "reason", err.Error())
			cancel(err)
		})
		// Waiting for the watcher keeps it from outliving the stream.
		defer func() { cancel(nil); <-watched }()
		err = h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		if errors.Is(context.Cause(ctx), ErrPeerInvalid) {
			return status.Error(codes.Unauthenticated, "client certificate revoked or expired")
		}
		return err
	}
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(src.ServerTLS())),
		grpc.ChainUnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(stream),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			// Probe idle links so a vanished node is noticed within a
			// minute; never cut a healthy long-lived Attach stream.
			Time:    30 * time.Second,
			Timeout: 10 * time.Second,
		}),
	}
}

// GRPCDialOptions returns the options for dialing a federation server:
// mTLS from src.ClientTLSFor(expect), keepalive pings every 20 s (10 s to
// answer) also without active streams, and a default 30 s deadline on unary
// calls made without one.
func GRPCDialOptions(src *Source, expect func(ID) bool) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(src.ClientTLSFor(expect))),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                20 * time.Second,
			Timeout:             10 * time.Second,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxRecvMsgSize)),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
				defer cancel()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
	}
}

// GRPCPeer returns the verified SPIFFE ID and certificate of the peer of a
// gRPC call on a server built with GRPCServerOptions, e.g. for checking a
// node's answer signatures against the certificate it connected with.
func GRPCPeer(ctx context.Context) (ID, *x509.Certificate, error) {
	cs, err := grpcTLSState(ctx)
	if err != nil {
		return ID{}, nil, err
	}
	return PeerID(cs)
}

// grpcTLSState returns the TLS state of the connection of a gRPC call.
func grpcTLSState(ctx context.Context) (tls.ConnectionState, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return tls.ConnectionState{}, errors.New("no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return tls.ConnectionState{}, errors.New("connection is not tls")
	}
	return info.State, nil
}

// ctxStream is a server stream whose context carries the caller's ID.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }
