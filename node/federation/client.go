// Package federation is the node's end of the federation link (DESIGN §7).
// The node dials out to the hub (states open no inbound port), introduces
// itself with a Hello, answers the tasks the hub pushes (concurrently, with a
// bound), exchanges heartbeats, and reconnects forever with capped
// exponential backoff and full jitter, so a hub outage never stops a node and
// a hub restart does not bring every node back at the same instant.
package federation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
)

// Answerer answers tasks under the node's agreement (node/answerer).
type Answerer interface {
	// Hello describes the node and its agreement as published.
	Hello() *federationv1.Hello
	// Answer returns the signed answer to task, asked by requester (the
	// hub's verified SPIFFE ID). A repeated task id gets the same answer.
	Answer(ctx context.Context, requester string, task *federationv1.Task) (*federationv1.Answer, error)
}

// Defaults for Config.
const (
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultMaxConcurrent     = 4
	DefaultBackoffBase       = 500 * time.Millisecond
	DefaultBackoffMax        = 5 * time.Second
	DefaultHealthyAfter      = time.Minute
	DefaultAnswerTimeout     = 5 * time.Minute
)

// errHubUnreachable ends a wait for the hub's channel that went on too long.
var errHubUnreachable = errors.New("hub not reachable: connection or TLS handshake failing")

// Config holds the client's settings and dependencies.
type Config struct {
	// HubAddr is the hub's federation address, host:port (required).
	HubAddr string
	// DialOptions carry the transport credentials (identity.GRPCDialOptions);
	// required, since the link is mutual TLS.
	DialOptions []grpc.DialOption
	// Answerer answers tasks (required).
	Answerer Answerer
	// Log defaults to a discarding logger.
	Log hclog.Logger
	// HeartbeatInterval is used until the hub's Welcome names its own;
	// default DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// MaxConcurrent bounds the tasks answered at once; default
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// AnswerTimeout bounds one answer; default DefaultAnswerTimeout.
	AnswerTimeout time.Duration
	// BackoffBase and BackoffMax shape the reconnect delay: a uniform random
	// wait in [0, min(BackoffMax, BackoffBase·2^attempt)) ("full jitter")
	// after a stream ends, and the gRPC channel's own redial delay while
	// the hub cannot be reached. BackoffMax bounds how long a node stays
	// away once the hub is back: the default 5 s brings every node back
	// within seconds of a hub restart, while the jitter spreads 200 nodes
	// over those seconds (40 attaches a second, nothing for the hub).
	BackoffBase, BackoffMax time.Duration
	// HealthyAfter is how long a stream must stay up before the backoff
	// starts again from BackoffBase; default DefaultHealthyAfter.
	HealthyAfter time.Duration
}

// Client keeps the node attached to the hub.
type Client struct {
	cfg       Config
	log       hclog.Logger
	connected atomic.Bool
	rehello   chan struct{}
}

// New checks cfg and returns a Client; Run starts it.
func New(cfg Config) (*Client, error) {
	if cfg.HubAddr == "" {
		return nil, errors.New("federation client: hub address is required")
	}
	if cfg.Answerer == nil {
		return nil, errors.New("federation client: answerer is required")
	}
	if len(cfg.DialOptions) == 0 {
		return nil, errors.New("federation client: dial options (transport credentials) are required")
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&cfg.AnswerTimeout, DefaultAnswerTimeout)
	def(&cfg.BackoffBase, DefaultBackoffBase)
	def(&cfg.BackoffMax, DefaultBackoffMax)
	def(&cfg.HealthyAfter, DefaultHealthyAfter)
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	return &Client{cfg: cfg, log: cfg.Log, rehello: make(chan struct{}, 1)}, nil
}

// Connected reports whether the hub has welcomed the current stream.
func (c *Client) Connected() bool { return c.connected.Load() }

// Rehello sends a fresh Hello on the open stream (e.g. after the agreement
// was reloaded); a later connection sends it anyway.
func (c *Client) Rehello() {
	select {
	case c.rehello <- struct{}{}:
	default:
	}
}

// Run keeps a stream to the hub open until ctx ends; it returns only then
// (nil) or on a configuration error. A hub outage is logged and retried.
func (c *Client) Run(ctx context.Context) error {
	// The channel redials on its own while the hub is unreachable; its
	// backoff is bounded like ours, so a returning hub is found within
	// about BackoffMax, not the gRPC default of up to two minutes.
	opts := append(slices.Clip(c.cfg.DialOptions), grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  c.cfg.BackoffBase,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   c.cfg.BackoffMax,
		},
		MinConnectTimeout: 10 * time.Second,
	}))
	conn, err := grpc.NewClient(c.cfg.HubAddr, opts...)
	if err != nil {
		return fmt.Errorf("federation client: %w", err)
	}
	defer conn.Close()
	client := federationv1.NewFederationClient(conn)
	attempt := 0
	for {
		start := time.Now()
		err := c.session(ctx, client)
		c.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) >= c.cfg.HealthyAfter {
			attempt = 0
		}
		wait := c.backoff(attempt)
		attempt++
		c.log.Warn("hub link down, reconnecting", "error", err, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff returns the full-jitter wait before reconnect attempt n.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.cfg.BackoffBase
	for i := 0; i < n && ceil < c.cfg.BackoffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.cfg.BackoffMax)
	// Jitter needs no cryptographic randomness, only spread.
	return rand.N(ceil) + time.Millisecond //nolint:gosec // not a secret
}

// session runs one stream until it fails or ctx ends.
func (c *Client) session(ctx context.Context, client federationv1.FederationClient) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Waiting for the channel to be ready, rather than failing at once
	// while it redials, attaches as soon as the hub answers again; the
	// timer still ends the wait now and then so that an unreachable hub
	// is logged.
	dialTimer := time.AfterFunc(2*c.cfg.BackoffMax+10*time.Second, func() { cancel(errHubUnreachable) })
	stream, err := client.Attach(ctx, grpc.WaitForReady(true))
	dialTimer.Stop()
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errHubUnreachable) {
			return cause
		}
		return fmt.Errorf("attach: %w", err)
	}
	if err := stream.Send(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: c.cfg.Answerer.Hello()}}); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	// A hub that accepts the stream but never welcomes it must not hold the
	// node forever.
	welcomeTimer := time.AfterFunc(3*c.cfg.HeartbeatInterval, func() { cancel(errors.New("no welcome from the hub in time")) })
	first, err := stream.Recv()
	welcomeTimer.Stop()
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		return fmt.Errorf("await welcome: %w", err)
	}
	welcome := first.GetWelcome()
	if welcome == nil {
		return errors.New("hub did not welcome")
	}
	interval := c.cfg.HeartbeatInterval
	if s := welcome.GetHeartbeatIntervalSeconds(); s > 0 {
		interval = time.Duration(s) * time.Second
	}
	requester := hubID(stream)
	c.connected.Store(true)
	c.log.Info("attached to hub", "hub_version", welcome.GetHubVersion(), "hub", requester)

	// Workers answer concurrently; the answers go back through this
	// goroutine, the stream's only writer.
	answers := make(chan *federationv1.Answer)
	var wg sync.WaitGroup
	// Cancel first: the receiver and the workers end on ctx.
	defer func() { cancel(nil); wg.Wait() }()
	sem := make(chan struct{}, c.cfg.MaxConcurrent)

	var lastHeard atomic.Int64
	lastHeard.Store(time.Now().UnixNano())
	tasks := make(chan *federationv1.Task)
	recvErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			lastHeard.Store(time.Now().UnixNano())
			if t := m.GetTask(); t != nil {
				select {
				case tasks <- t:
				case <-ctx.Done():
					return
				}
			}
		}
	}()

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case err := <-recvErr:
			return fmt.Errorf("receive: %w", err)
		case t := <-tasks:
			// The worker waits for its slot itself: this loop must keep
			// forwarding answers and heartbeats while every slot is busy.
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-sem }()
				actx, acancel := context.WithTimeout(ctx, c.cfg.AnswerTimeout)
				defer acancel()
				a, err := c.cfg.Answerer.Answer(actx, requesterOr(requester, t), t)
				if err != nil {
					if ctx.Err() == nil {
						// The hub sees TIMED_OUT; the answerer's own audit
						// and logs hold the detail.
						c.log.Error("task not answered", "task", t.GetTaskId(), "error", err)
					}
					return
				}
				select {
				case answers <- a:
				case <-ctx.Done():
				}
			}()
		case a := <-answers:
			if err := stream.Send(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Answer{Answer: a}}); err != nil {
				return fmt.Errorf("send answer: %w", err)
			}
		case <-c.rehello:
			if err := stream.Send(&federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Hello{Hello: c.cfg.Answerer.Hello()}}); err != nil {
				return fmt.Errorf("send hello: %w", err)
			}
		case now := <-ticker.C:
			if now.Sub(time.Unix(0, lastHeard.Load())) > 3*interval {
				return errors.New("hub silent for three heartbeat intervals")
			}
			hb := &federationv1.NodeMessage{Msg: &federationv1.NodeMessage_Heartbeat{Heartbeat: &federationv1.Heartbeat{SentAt: timestamppb.New(now)}}}
			if err := stream.Send(hb); err != nil {
				return fmt.Errorf("send heartbeat: %w", err)
			}
		}
	}
}

// hubID returns the SPIFFE ID of the hub's verified certificate, or "" when
// the transport does not say.
func hubID(stream grpc.ClientStream) string {
	p, ok := peer.FromContext(stream.Context())
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ""
	}
	id, _, err := identity.PeerID(info.State)
	if err != nil {
		return ""
	}
	return id.String()
}

// requesterOr prefers the verified hub identity to the task's own claim.
func requesterOr(verified string, t *federationv1.Task) string {
	if verified != "" {
		return verified
	}
	return t.GetRequester()
}
