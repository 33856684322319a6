package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/pki"
)

// runPKI runs `vrs-hub pki ARGS...` and returns its output.
func runPKI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newPKICmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	err := cmd.Execute()
	return out.String(), err
}

func pkiCertID(t *testing.T, path string) identity.ID {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.URIs) != 1 {
		t.Fatalf("%s: URIs %v", path, c.URIs)
	}
	id, err := identity.Parse(c.URIs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPKICommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	out, err := runPKI(t, "init", "--dir", dir, "--trust-domain", "fed.example", "--dns", "hub.fed.example", "--ip", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "hub.pem", "hub-key.pem", "crl.pem"} {
		if !strings.Contains(out, filepath.Join(dir, f)) {
			t.Errorf("init output does not mention %s:\n%s", f, out)
		}
	}
	if id := pkiCertID(t, filepath.Join(dir, "hub.pem")); id.String() != "spiffe://fed.example/hub" {
		t.Errorf("hub id %v", id)
	}
	if _, err := runPKI(t, "init", "--dir", dir); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("second init: %v", err)
	}

	issues := []struct {
		flags []string
		file  string
		id    string
	}{
		{[]string{"--node", "THA"}, "node-THA.pem", "spiffe://fed.example/node/THA"},
		{[]string{"--partner", "unodc-research"}, "partner-unodc-research.pem", "spiffe://fed.example/partner/unodc-research"},
		{[]string{"--operator", "alice"}, "operator-alice.pem", "spiffe://fed.example/operator/alice"},
		{[]string{"--agency", "IDN/polri", "--dns", "polri.example", "--days", "30"}, "agency-IDN-polri.pem", "spiffe://fed.example/agency/IDN/polri"},
	}
	for _, c := range issues {
		out, err := runPKI(t, append([]string{"issue", "--dir", dir}, c.flags...)...)
		if err != nil {
			t.Fatalf("issue %v: %v", c.flags, err)
		}
		cert := filepath.Join(dir, c.file)
		if !strings.Contains(out, cert) || !strings.Contains(out, pki.KeyPath(cert)) || !strings.Contains(out, c.id) {
			t.Errorf("issue %v output:\n%s", c.flags, out)
		}
		if got := pkiCertID(t, cert).String(); got != c.id {
			t.Errorf("issue %v: id %s, want %s", c.flags, got, c.id)
		}
	}

	bad := [][]string{
		{"issue", "--dir", dir},
		{"issue", "--dir", dir, "--node", "THA", "--partner", "x"},
		{"issue", "--dir", dir, "--agency", "THA"},
		{"issue", "--dir", dir, "--node", "tha"},
		{"issue", "--dir", dir, "--partner", "p", "--ip", "not-an-ip"},
		{"issue", "--node", "MYS"},
		{"sign", "--dir", dir, "--node", "MYS"},
		{"revoke", "--dir", dir},
	}
	for _, args := range bad {
		if _, err := runPKI(t, args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}

	out, err = runPKI(t, "revoke", "--dir", dir, "--cert", filepath.Join(dir, "operator-alice.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, filepath.Join(dir, "crl.pem")) {
		t.Errorf("revoke output:\n%s", out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := pki.ParseCRLPEM(raw)
	if err != nil || len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("crl: %v, %v", crl, err)
	}
}

// TestPKISignCSR is the state-joining round trip: the node makes its key
// and request, the CAU signs it with the identity from its own flags.
func TestPKISignCSR(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := runPKI(t, "init", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	nodeDir := t.TempDir()
	csr, key, err := pki.CreateCSR("THA", nodeDir, "vrs.local")
	if err != nil {
		t.Fatal(err)
	}
	// The CA refuses to sign THA's request as MYS.
	if _, err := runPKI(t, "sign", "--dir", dir, "--csr", csr, "--node", "MYS"); err == nil {
		t.Fatal("signed a request for another identity")
	}
	out := filepath.Join(t.TempDir(), "node-THA.pem")
	stdout, err := runPKI(t, "sign", "--dir", dir, "--csr", csr, "--node", "THA", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, out) {
		t.Errorf("sign output:\n%s", stdout)
	}
	if id := pkiCertID(t, out); id.String() != "spiffe://vrs.local/node/THA" {
		t.Errorf("id %v", id)
	}
	// The node can use the signed certificate with its own key.
	src, err := identity.NewSource(identity.Files{Cert: out, Key: key, CA: filepath.Join(dir, "ca.pem"), CRL: filepath.Join(dir, "crl.pem")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.ID().String() != "spiffe://vrs.local/node/THA" {
		t.Errorf("source id %v", src.ID())
	}
}
