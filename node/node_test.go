package node_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/node"
)

const testAgreement = `agreement "node-test" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 10
  rounding     = "rr3"
  max_group_by = 3
  period_floor = "month"

  measure "incidents" { dimensions = ["period.year"] }
}
`

// TestNewFailsCleanly: when a late step of New fails (here the API
// address is taken), New returns the error, not a panic, and has closed
// the store, so the same data directory opens again at once.
func TestNewFailsCleanly(t *testing.T) {
	p := identitytest.New(t)
	agreementPath := filepath.Join(t.TempDir(), "THA.hcl")
	if err := os.WriteFile(agreementPath, []byte(testAgreement), 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := node.Config{
		DataDir: t.TempDir(), Country: "THA", APIListen: taken.Addr().String(),
		TLS: p.Files(t, p.Node("THA")), AgreementPath: agreementPath,
	}
	if _, err := node.New(t.Context(), cfg); err == nil {
		t.Fatal("New on a taken address: no error")
	}
	cfg.APIListen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(t.Context())
	n, err := node.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("New on the same data directory after a failed New: %v", err)
	}
	cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
