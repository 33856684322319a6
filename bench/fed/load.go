package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
)

// loadResult is one throughput measurement.
type loadResult struct {
	calls, errs int64
	elapsed     time.Duration
	lat         []time.Duration
}

func (r loadResult) perSecond() float64 { return float64(r.calls) / r.elapsed.Seconds() }

// hammer calls call from workers goroutines for d and counts the successes.
// Each worker keeps a sample of its latencies.
func hammer(ctx context.Context, workers int, d time.Duration, call func(context.Context) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var calls, errs atomic.Int64
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t := time.Now()
				if err := call(ctx); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				calls.Add(1)
				lats[w] = append(lats[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	r := loadResult{calls: calls.Load(), errs: errs.Load(), elapsed: time.Since(start)}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	return r
}

// helloServer is the baseline: a minimal grpc-go server whose only service
// is grpc's standard health check, with the hub's own certificate and the
// federation's mTLS server configuration.
type helloServer struct {
	srv  *grpc.Server
	addr string
	done chan error
}

func startHello(pki string) (*helloServer, error) {
	src, err := identity.NewSource(identity.Files{
		Cert: filepath.Join(pki, "hub.pem"), Key: filepath.Join(pki, "hub-key.pem"), CA: filepath.Join(pki, "ca.pem"),
	}, logging.Discard())
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(src.ServerTLS())))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	h := &helloServer{srv: srv, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ln) }()
	return h, nil
}

func (h *helloServer) stop() {
	h.srv.Stop()
	<-h.done
}

// helloClient calls the baseline's Check with the same connect client stack
// (gRPC protocol, HTTP/2, mTLS) the hub is measured with.
func helloClient(hc *http.Client, addr string) func(context.Context) error {
	c := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](
		hc, "https://"+addr+"/grpc.health.v1.Health/Check", connect.WithGRPC())
	return func(ctx context.Context) error {
		_, err := c.CallUnary(ctx, connect.NewRequest(&healthpb.HealthCheckRequest{}))
		return err
	}
}
