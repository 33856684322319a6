// Package federation is the hub's end of the federation link (DESIGN §7):
// the grpc-go Federation service. Each node keeps one long-lived Attach
// stream open; the hub takes the node's country from its verified
// certificate, pushes tasks down the stream, verifies every answer's
// signature against the certificate presented on that stream, and hands the
// verified answers to the run manager.
package federation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/internal/answer"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
)

// DefaultHeartbeatInterval is how often the hub sends a heartbeat and
// expects one; a stream silent for three intervals is considered dead.
const DefaultHeartbeatInterval = 15 * time.Second

// missedHeartbeats is how many silent intervals end a stream.
const missedHeartbeats = 3

// sendQueue bounds the tasks waiting to be written to one stream; a task
// that does not fit stays undelivered and is sent on the next attach.
const sendQueue = 1024

// Runs is what the server needs from the run manager (*runs.Manager).
type Runs interface {
	// Attach registers country's stream; send queues a task without
	// blocking. The returned func unregisters this stream only.
	Attach(country string, send func(*federationv1.Task) error) (detach func())
	// Answer settles a task with a verified answer.
	Answer(ctx context.Context, country string, raw *federationv1.Answer, body *federationv1.AnswerBody) error
	// Fail settles a task as failed (e.g. its answer did not verify).
	Fail(ctx context.Context, country, taskID, reason string) error
}

// Config holds the server's dependencies.
type Config struct {
	// Registry records attach, detach and heartbeats (required).
	Registry *registry.Registry
	// Runs receives answers and queues tasks (required).
	Runs Runs
	// HeartbeatInterval defaults to DefaultHeartbeatInterval; at least 1 s,
	// since Welcome carries whole seconds.
	HeartbeatInterval time.Duration
	// HelloTimeout bounds the wait for the first message; default three
	// heartbeat intervals.
	HelloTimeout time.Duration
	// HubVersion is reported in Welcome.
	HubVersion string
	// Log defaults to a discarding logger.
	Log hclog.Logger
}

// Server implements federationv1.FederationServer.
type Server struct {
	federationv1.UnimplementedFederationServer

	cfg Config
	log hclog.Logger

	mu       sync.Mutex
	sessions map[string]*session   // current stream per country
	open     map[*session]struct{} // every stream, Hello or not, for Drain
	draining bool
}

var _ federationv1.FederationServer = (*Server)(nil)

type session struct {
	country string
	cancel  context.CancelCauseFunc
}

var (
	errReplaced = errors.New("replaced by a newer stream from the same state")
	errDraining = errors.New("hub shutting down")
)

// New returns a Server; register it with federationv1.RegisterFederationServer.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Runs == nil {
		return nil, errors.New("federation: registry and runs are required")
	}
	switch {
	case cfg.HeartbeatInterval <= 0:
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	case cfg.HeartbeatInterval < time.Second:
		// Welcome carries whole seconds; both sides must agree.
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = missedHeartbeats * cfg.HeartbeatInterval
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	return &Server{cfg: cfg, log: cfg.Log, sessions: map[string]*session{}, open: map[*session]struct{}{}}, nil
}

// AttachProcedure is the full gRPC method name of Attach.
const AttachProcedure = "/vrs.federation.v1.Federation/Attach"

// Policy is the federation listener's authorization table for
// identity.GRPCServerOptions: only node certificates may attach.
func Policy() *identity.Policy {
	return &identity.Policy{
		Server: "federation",
		Rules:  map[string]identity.Rule{AttachProcedure: {Roles: []identity.Role{identity.RoleNode}}},
	}
}

// Drain ends every open stream (the nodes reconnect with backoff) and
// refuses new ones, so that grpc's GracefulStop returns promptly instead of
// waiting for long-lived streams the nodes would never close.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for sess := range s.open {
		sess.cancel(errDraining)
	}
}

// Connected reports whether country has a stream attached to this server.
func (s *Server) Connected(country string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[country]
	return ok
}

// peerNode returns the verified node identity and certificate of the stream.
func peerNode(ctx context.Context) (identity.ID, *x509.Certificate, error) {
	id, cert, err := identity.GRPCPeer(ctx)
	if err != nil {
		return identity.ID{}, nil, err
	}
	// The interceptor's verified identity, when present, must agree.
	if ctxID, ok := identity.FromContext(ctx); ok && ctxID != id {
		return identity.ID{}, nil, fmt.Errorf("peer %s does not match caller %s", id, ctxID)
	}
	if id.Role != identity.RoleNode {
		return identity.ID{}, nil, fmt.Errorf("%s is not a node", id)
	}
	return id, cert, nil
}

// Attach serves one node's stream until it ends, is replaced or goes silent.
func (s *Server) Attach(stream federationv1.Federation_AttachServer) error {
	id, cert, err := peerNode(stream.Context())
	if err != nil {
		s.log.Warn("attach refused", "error", err)
		return status.Error(codes.PermissionDenied, "only node certificates may attach")
	}
	country := id.Country
	log := s.log.With("country", country)

	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	sess := &session{country: country, cancel: cancel}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, errDraining.Error())
	}
	s.open[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.open, sess)
		s.mu.Unlock()
	}()

	// Recv runs in its own goroutine so this one can write, tick and watch
	// for replacement; grpc allows one reader and one writer at a time. It
	// ends when the handler returns, since grpc then ends the stream.
	in := make(chan *federationv1.NodeMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case in <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	var hello *federationv1.Hello
	helloTimer := time.NewTimer(s.cfg.HelloTimeout)
	select {
	case m := <-in:
		helloTimer.Stop()
		hello = m.GetHello()
		if hello == nil {
			log.Warn("attach refused: first message is not a hello")
			return status.Error(codes.InvalidArgument, "the first message must be a hello")
		}
	case err := <-recvErr:
		helloTimer.Stop()
		return recvStatus(err)
	case <-helloTimer.C:
		log.Warn("attach refused: no hello in time")
		return status.Error(codes.DeadlineExceeded, "no hello in time")
	case <-ctx.Done():
		helloTimer.Stop()
		if errors.Is(context.Cause(ctx), errDraining) {
			return status.Error(codes.Unavailable, errDraining.Error())
		}
		return status.FromContextError(ctx.Err()).Err()
	}
	if err := checkHello(country, hello); err != nil {
		log.Warn("attach refused", "claimed_country", hello.GetCountry(), "error", err)
		return err
	}

	out := make(chan *federationv1.Task, sendQueue)
	send := func(t *federationv1.Task) error {
		select {
		case <-ctx.Done():
			return errors.New("stream closed")
		default:
		}
		select {
		case out <- t:
			return nil
		default:
			return errors.New("send queue full")
		}
	}
	// Swapping the session, registering with the run manager and the
	// registry happen under one lock, so a stream being replaced (or ending)
	// at the same moment can never leave its stale state behind the new one.
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return status.Error(codes.Unavailable, errDraining.Error())
	}
	old := s.sessions[country]
	s.sessions[country] = sess
	if old != nil {
		old.cancel(errReplaced)
		log.Info("stream replaced")
	}
	if err := s.cfg.Registry.Attached(country, hello, cert.NotAfter); err != nil {
		log.Error("registry attach", "error", err)
	}
	// Tasks queued now are written after the Welcome below.
	detach := s.cfg.Runs.Attach(country, send)
	s.mu.Unlock()
	defer func() {
		detach()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sessions[country] == sess {
			delete(s.sessions, country)
			if err := s.cfg.Registry.Detached(country); err != nil {
				log.Error("registry detach", "error", err)
			}
			log.Info("node detached")
		}
	}()

	welcome := &federationv1.HubMessage{Msg: &federationv1.HubMessage_Welcome{Welcome: &federationv1.Welcome{
		Country:                  country,
		HeartbeatIntervalSeconds: int32(s.cfg.HeartbeatInterval / time.Second),
		HubVersion:               s.cfg.HubVersion,
	}}}
	if err := stream.Send(welcome); err != nil {
		return err
	}
	log.Info("node attached", "version", hello.GetSoftwareVersion(), "agreement_hash", hello.GetAgreement().GetHash())

	ticker := time.NewTicker(s.cfg.HeartbeatInterval)
	defer ticker.Stop()
	lastHeard := time.Now()
	for {
		select {
		case <-ctx.Done():
			switch cause := context.Cause(ctx); {
			case errors.Is(cause, errReplaced):
				return status.Error(codes.Aborted, cause.Error())
			case errors.Is(cause, errDraining):
				return status.Error(codes.Unavailable, cause.Error())
			}
			return status.FromContextError(ctx.Err()).Err()
		case err := <-recvErr:
			return recvStatus(err)
		case t := <-out:
			if err := stream.Send(&federationv1.HubMessage{Msg: &federationv1.HubMessage_Task{Task: t}}); err != nil {
				return err
			}
		case now := <-ticker.C:
			if now.Sub(lastHeard) > missedHeartbeats*s.cfg.HeartbeatInterval {
				log.Warn("node silent, ending stream", "last_heard", lastHeard)
				return status.Error(codes.Unavailable, "missed heartbeats")
			}
			hb := &federationv1.HubMessage{Msg: &federationv1.HubMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.New(now)}}}
			if err := stream.Send(hb); err != nil {
				return err
			}
		case m := <-in:
			lastHeard = time.Now()
			if err := s.handle(ctx, log, country, cert, m); err != nil {
				return err
			}
		}
	}
}

func checkHello(country string, h *federationv1.Hello) error {
	if h.GetCountry() != country {
		return status.Errorf(codes.PermissionDenied, "hello claims %q but the certificate is for %s", h.GetCountry(), country)
	}
	return nil
}

func recvStatus(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// handle processes one message after the Hello. Only a refused re-Hello
// ends the stream.
func (s *Server) handle(ctx context.Context, log hclog.Logger, country string, cert *x509.Certificate, m *federationv1.NodeMessage) error {
	switch msg := m.GetMsg().(type) {
	case *federationv1.NodeMessage_Heartbeat:
		if err := s.cfg.Registry.Seen(country); err != nil {
			log.Error("registry seen", "error", err)
		}
	case *federationv1.NodeMessage_Hello:
		// A node re-introduces itself when its agreement changes.
		if err := checkHello(country, msg.Hello); err != nil {
			log.Warn("hello refused", "claimed_country", msg.Hello.GetCountry(), "error", err)
			return err
		}
		if err := s.cfg.Registry.Updated(country, msg.Hello, cert.NotAfter); err != nil {
			log.Error("registry attach", "error", err)
		}
		log.Info("node updated", "version", msg.Hello.GetSoftwareVersion(), "agreement_hash", msg.Hello.GetAgreement().GetHash())
	case *federationv1.NodeMessage_Answer:
		if err := s.cfg.Registry.Seen(country); err != nil {
			log.Error("registry seen", "error", err)
		}
		a := msg.Answer
		body, err := answer.Verify(cert, a)
		if err != nil {
			log.Warn("answer refused", "task", a.GetTaskId(), "error", err)
			if err := s.cfg.Runs.Fail(ctx, country, a.GetTaskId(), "answer signature does not verify"); err != nil {
				log.Debug("failed answer not applied", "task", a.GetTaskId(), "error", err)
			}
			return nil
		}
		switch err := s.cfg.Runs.Answer(ctx, country, a, body); {
		case errors.Is(err, runs.ErrWrongState):
			log.Warn("answer for another state's task ignored", "task", a.GetTaskId())
		case err != nil:
			// Duplicates, late answers and unknown tasks are expected after
			// reconnects; they change nothing.
			log.Debug("answer not applied", "task", a.GetTaskId(), "error", err)
		}
	default:
		log.Warn("empty message from node")
	}
	return nil
}
