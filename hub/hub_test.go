package hub_test

import (
	"context"
	"net"
	"testing"

	"github.com/vrs-federation/vrs/hub"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
)

// TestNewFailsCleanly: when a late step of New fails (here the API
// address is taken), New returns the error, not a panic, and has closed
// the store, so the same data directory opens again at once.
func TestNewFailsCleanly(t *testing.T) {
	p := identitytest.New(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := hub.Config{
		DataDir: t.TempDir(), FederationListen: "127.0.0.1:0", APIListen: taken.Addr().String(),
		TLS: p.Files(t, p.Hub()),
	}
	if _, err := hub.New(cfg); err == nil {
		t.Fatal("New on a taken address: no error")
	}
	cfg.APIListen = "127.0.0.1:0"
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatalf("New on the same data directory after a failed New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
