package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMuxServesHealthOverGRPCAndConnect(t *testing.T) {
	mux := Mux(Service{Name: "vrs.hub.v1.QueryService", Path: "/vrs.hub.v1.QueryService/", Handler: http.NotFoundHandler()})
	h, err := Listen(Config{Name: "api", Addr: "127.0.0.1:0", Handler: mux})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()

	url := "http://" + h.Addr() + "/grpc.health.v1.Health/Check"
	for _, opts := range [][]connect.ClientOption{nil, {connect.WithGRPC()}} {
		c := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](
			&http.Client{Transport: h2cTransport()}, url, opts...)
		res, err := c.CallUnary(t.Context(), connect.NewRequest(&healthpb.HealthCheckRequest{Service: "vrs.hub.v1.QueryService"}))
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		if res.Msg.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("status %v", res.Msg.GetStatus())
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

func h2cTransport() *http.Transport {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: &p}
}

func TestPlainServerOnlyOnLoopback(t *testing.T) {
	_, err := Listen(Config{Name: "ui", Addr: "0.0.0.0:0", Handler: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("want loopback-only error, got %v", err)
	}
}

func TestRunAllStopsOnFirstError(t *testing.T) {
	boom := context.Canceled
	err := RunAll(t.Context(),
		func(ctx context.Context) error { <-ctx.Done(); return nil },
		func(context.Context) error { return boom },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}
