package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/pki"
)

// TestCSRSignRoundTrip runs `vrs-node csr`, has the CA sign the request,
// and checks the certificate carries the node's SPIFFE ID and the node's
// own key.
func TestCSRSignRoundTrip(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "pki")
	if err := pki.Init(caDir, "vrs.local", 1, 30); err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(t.TempDir(), "certs")

	run := func(args ...string) (string, error) {
		cmd := newCSRCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		cmd.SilenceUsage = true
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--country", "THA", "--out", nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	csr := filepath.Join(nodeDir, "node-THA.csr")
	key := filepath.Join(nodeDir, "node-THA-key.pem")
	if !strings.Contains(out, csr) || !strings.Contains(out, key) {
		t.Errorf("output:\n%s", out)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v", st, err)
	}
	if _, err := run("--country", "THA", "--out", nodeDir); err == nil {
		t.Error("second csr overwrote the key")
	}
	if _, err := run("--country", "tha", "--out", t.TempDir()); err == nil {
		t.Error("accepted a lowercase country")
	}
	if _, err := run("--out", t.TempDir()); err == nil {
		t.Error("accepted a missing --country")
	}

	cert, err := pki.Sign(caDir, csr, identity.ID{Role: identity.RoleNode, Country: "THA"}, pki.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://vrs.local/node/THA" {
		t.Errorf("URIs %v", c.URIs)
	}
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pki.ParseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, c.RawSubjectPublicKeyInfo) {
		t.Error("certificate does not carry the node's key")
	}
}
