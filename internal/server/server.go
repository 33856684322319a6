// Package server runs the HTTP servers of VRS processes: the connect-go APIs
// (gRPC, gRPC-Web and Connect/JSON on one port, HTTP/2 over TLS) with gRPC
// health and server reflection, and the loopback web UIs. It owns timeouts,
// size limits and graceful shutdown so every server gets them the same way.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"
)

// MaxMessageBytes bounds every request message a connect handler reads.
const MaxMessageBytes = 16 << 20

// CompressMinBytes is the smallest response a handler compresses when the
// caller accepts it: below it compression costs more than it saves (the
// gzip writer's set-up alone is a large part of a small call), above it
// (exports, long run lists) it pays on a slow line.
const CompressMinBytes = 64 << 10

// HandlerOptions are the connect options every API handler is built with,
// followed by extra: requests are bounded by MaxMessageBytes and only
// responses of CompressMinBytes or more are compressed.
func HandlerOptions(extra ...connect.HandlerOption) []connect.HandlerOption {
	return append([]connect.HandlerOption{
		connect.WithReadMaxBytes(MaxMessageBytes),
		connect.WithCompressMinBytes(CompressMinBytes),
	}, extra...)
}

// Service is one connect service to mount.
type Service struct {
	// Name is the fully qualified service name, e.g. "vrs.hub.v1.QueryService".
	Name string
	// Path and Handler are what the generated New<Service>Handler returns.
	Path    string
	Handler http.Handler
}

// Mux mounts the services and adds gRPC health (every service reported
// SERVING) and server reflection (v1 and v1alpha), so grpcurl and buf curl
// work against the port.
func Mux(svcs ...Service) *http.ServeMux {
	mux := http.NewServeMux()
	names := make([]string, 0, len(svcs))
	for _, s := range svcs {
		mux.Handle(s.Path, s.Handler)
		names = append(names, s.Name)
	}
	mux.Handle(grpchealth.NewHandler(grpchealth.NewStaticChecker(names...)))
	reflector := grpcreflect.NewStaticReflector(names...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
	return mux
}

// HealthProcedures and ReflectionProcedures are the procedures Mux adds, for
// authorization tables.
var (
	HealthProcedures = []string{
		"/grpc.health.v1.Health/Check",
		"/grpc.health.v1.Health/Watch",
	}
	ReflectionProcedures = []string{
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
	}
)

// Config configures an HTTP server.
type Config struct {
	// Name appears in logs, e.g. "api" or "ui".
	Name string
	// Addr to listen on, e.g. "127.0.0.1:0".
	Addr string
	// TLS, when set, serves HTTPS with HTTP/2. Without it the server speaks
	// plain HTTP/1.1 and HTTP/2 cleartext and must only listen on loopback.
	TLS *tls.Config
	// Handler serves requests.
	Handler http.Handler
	// Log receives lifecycle lines.
	Log hclog.Logger
	// ShutdownTimeout bounds the graceful drain; default 10 s.
	ShutdownTimeout time.Duration
	// MaxConcurrentStreams per HTTP/2 connection; default 250.
	MaxConcurrentStreams int
}

// HTTP is a bound, not yet serving, HTTP server.
type HTTP struct {
	cfg Config
	ln  net.Listener
	srv *http.Server
}

// Listen binds the address now, so Addr is known before Run (tests listen on
// port 0).
func Listen(cfg Config) (*HTTP, error) {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.MaxConcurrentStreams <= 0 {
		cfg.MaxConcurrentStreams = 250
	}
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	if cfg.TLS == nil {
		if err := requireLoopback(cfg.Addr); err != nil {
			return nil, fmt.Errorf("%s listener: %w", cfg.Name, err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", cfg.Name, err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if cfg.TLS != nil {
		protocols.SetHTTP2(true)
		ln = tls.NewListener(ln, withALPN(cfg.TLS))
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           cfg.Handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      cfg.MaxConcurrentStreams,
			MaxReceiveBufferPerStream: 1 << 20,
		},
		ErrorLog: cfg.Log.Named(cfg.Name).StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	return &HTTP{cfg: cfg, ln: ln, srv: srv}, nil
}

// Addr is the bound address, e.g. "127.0.0.1:43127".
func (h *HTTP) Addr() string { return h.ln.Addr().String() }

// Run serves until ctx ends, then drains gracefully.
func (h *HTTP) Run(ctx context.Context) error {
	log := h.cfg.Log.Named(h.cfg.Name)
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(h.ln) }()
	log.Info("listening", "addr", h.Addr(), "tls", h.cfg.TLS != nil)
	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", h.cfg.Name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
	defer cancel()
	err := h.srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = h.srv.Close()
	}
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	log.Info("stopped")
	return err
}

// withALPN makes sure the TLS config offers h2, including configs that a
// reloading identity source returns per connection.
func withALPN(c *tls.Config) *tls.Config {
	c = c.Clone()
	protos := []string{"h2", "http/1.1"}
	if len(c.NextProtos) == 0 {
		c.NextProtos = protos
	}
	if get := c.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(hello)
			if err != nil || cc == nil {
				return cc, err
			}
			if len(cc.NextProtos) == 0 {
				cc = cc.Clone()
				cc.NextProtos = protos
			}
			return cc, nil
		}
	}
	return c
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: a server without TLS listens on loopback only", addr)
	}
	return nil
}

// RunAll runs tasks until the first fails or ctx ends; the first error
// cancels the rest, and RunAll waits for every task to return.
func RunAll(ctx context.Context, tasks ...func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, t := range tasks {
		g.Go(func() error { return t(gctx) })
	}
	return g.Wait()
}
