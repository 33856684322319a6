package pki

import (
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrs-federation/vrs/internal/identity"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readCRL(t *testing.T, dir string) *x509.RevocationList {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := ParseCRLPEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func initDir(t *testing.T, hosts ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := Init(dir, "example.org", 2, 30, hosts...); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInit(t *testing.T) {
	dir := initDir(t, "hub.example.org", "10.1.2.3")
	for _, f := range []struct {
		name string
		perm os.FileMode
	}{{CAFile, 0o644}, {CAKeyFile, 0o600}, {HubFile, 0o644}, {HubKeyFile, 0o600}, {CRLFile, 0o644}} {
		st, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.perm {
			t.Errorf("%s: mode %v, want %v", f.name, st.Mode().Perm(), f.perm)
		}
	}
	td, err := TrustDomain(dir)
	if err != nil || td != "example.org" {
		t.Fatalf("TrustDomain = %q, %v", td, err)
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	if !ca.IsCA || ca.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("ca: IsCA %v, alg %v", ca.IsCA, ca.PublicKeyAlgorithm)
	}
	hub := readCert(t, filepath.Join(dir, HubFile))
	if err := hub.CheckSignatureFrom(ca); err != nil {
		t.Fatal(err)
	}
	if len(hub.URIs) != 1 || hub.URIs[0].String() != "spiffe://example.org/hub" {
		t.Errorf("hub URIs %v", hub.URIs)
	}
	if !slices.Equal(hub.DNSNames, []string{"localhost", "hub.example.org"}) {
		t.Errorf("hub DNS %v", hub.DNSNames)
	}
	if len(hub.IPAddresses) != 2 || !hub.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !hub.IPAddresses[1].Equal(net.ParseIP("10.1.2.3")) {
		t.Errorf("hub IPs %v", hub.IPAddresses)
	}
	if d := hub.NotAfter.Sub(hub.NotBefore); d != 30*24*time.Hour {
		t.Errorf("hub validity %v, want 30 days", d)
	}
	crl := readCRL(t, dir)
	if crl.Number.Cmp(big.NewInt(1)) != 0 || len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("initial crl number %v entries %d", crl.Number, len(crl.RevokedCertificateEntries))
	}

	err = Init(dir, "example.org", 2, 30)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	if err := Init(t.TempDir(), "Bad Domain", 1, 1); err == nil {
		t.Fatal("Init accepted a bad trust domain")
	}
}

func TestIssue(t *testing.T) {
	dir := initDir(t)
	ca := readCert(t, filepath.Join(dir, CAFile))
	cases := []struct {
		name      string
		id        identity.ID
		file      string
		localhost bool
	}{
		{"node", identity.ID{Role: identity.RoleNode, Country: "THA"}, "node-THA.pem", true},
		{"partner", identity.ID{Role: identity.RolePartner, Name: "unodc-research"}, "partner-unodc-research.pem", false},
		{"operator", identity.ID{Role: identity.RoleOperator, Name: "alice"}, "operator-alice.pem", false},
		{"agency", identity.ID{Role: identity.RoleAgency, Country: "IDN", Name: "polri"}, "agency-IDN-polri.pem", false},
	}
	serials := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cert, key, err := Issue(dir, c.id, IssueOptions{DNS: []string{"x.example.org"}, Days: 10})
			if err != nil {
				t.Fatal(err)
			}
			if cert != filepath.Join(dir, c.file) || key != filepath.Join(dir, strings.TrimSuffix(c.file, ".pem")+"-key.pem") {
				t.Errorf("paths %s %s", cert, key)
			}
			if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key mode: %v %v", st, err)
			}
			x := readCert(t, cert)
			if err := x.CheckSignatureFrom(ca); err != nil {
				t.Fatal(err)
			}
			want := c.id
			want.TrustDomain = "example.org"
			if len(x.URIs) != 1 || x.URIs[0].String() != want.String() {
				t.Errorf("URIs %v, want %s", x.URIs, want)
			}
			if x.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage %v", x.KeyUsage)
			}
			if !slices.Equal(x.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("ext key usage %v", x.ExtKeyUsage)
			}
			if x.IsCA {
				t.Error("leaf is a CA")
			}
			if x.SerialNumber.Sign() <= 0 || x.SerialNumber.BitLen() > 128 || serials[x.SerialNumber.String()] {
				t.Errorf("serial %v", x.SerialNumber)
			}
			serials[x.SerialNumber.String()] = true
			if got := slices.Contains(x.DNSNames, "localhost"); got != c.localhost {
				t.Errorf("localhost in SAN: %v, want %v", got, c.localhost)
			}
			if !slices.Contains(x.DNSNames, "x.example.org") {
				t.Errorf("DNS %v", x.DNSNames)
			}
			if _, _, err := Issue(dir, c.id, IssueOptions{}); !errors.Is(err, ErrExists) {
				t.Errorf("second Issue: %v, want ErrExists", err)
			}
		})
	}

	bad := []identity.ID{
		{Role: identity.RoleNode, Country: "tha"},
		{Role: identity.RoleAgency, Country: "THA"},
		{TrustDomain: "other.org", Role: identity.RoleNode, Country: "MYS"},
		{Role: "admin", Name: "root"},
	}
	for _, id := range bad {
		if _, _, err := Issue(dir, id, IssueOptions{}); err == nil {
			t.Errorf("Issue(%+v) succeeded", id)
		}
	}
}

func TestIssueValidityWindow(t *testing.T) {
	dir := initDir(t)
	nb := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	cert, _, err := Issue(dir, identity.ID{Role: identity.RolePartner, Name: "old"}, IssueOptions{NotBefore: nb, Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	x := readCert(t, cert)
	if !x.NotBefore.Equal(nb) || !x.NotAfter.Equal(nb.AddDate(0, 0, 1)) {
		t.Errorf("validity %v..%v", x.NotBefore, x.NotAfter)
	}
	// A leaf never outlives its CA (2 years here).
	cert, _, err = Issue(dir, identity.ID{Role: identity.RolePartner, Name: "long"}, IssueOptions{Days: 5000})
	if err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	if x := readCert(t, cert); x.NotAfter.After(ca.NotAfter) {
		t.Errorf("leaf NotAfter %v after CA %v", x.NotAfter, ca.NotAfter)
	}
}

func TestCSRSign(t *testing.T) {
	dir := initDir(t)
	nodeDir := filepath.Join(t.TempDir(), "tha")
	csr, key, err := CreateCSR("THA", nodeDir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode: %v %v", st, err)
	}
	if _, _, err := CreateCSR("THA", nodeDir, "example.org"); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateCSR: %v", err)
	}

	// The CA decides the identity: a request for THA signed as MYS is refused.
	if _, err := Sign(dir, csr, identity.ID{Role: identity.RoleNode, Country: "MYS"}, IssueOptions{}); err == nil {
		t.Fatal("Sign accepted a request for another identity")
	}
	// So is a request from another trust domain.
	other, _, err := CreateCSR("THA", t.TempDir(), "other.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(dir, other, identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{}); err == nil {
		t.Fatal("Sign accepted a request for another trust domain")
	}

	cert, err := Sign(dir, csr, identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{DNS: []string{"node.tha.example"}})
	if err != nil {
		t.Fatal(err)
	}
	x := readCert(t, cert)
	if x.URIs[0].String() != "spiffe://example.org/node/THA" {
		t.Errorf("URI %v", x.URIs)
	}
	if !slices.Equal(x.DNSNames, []string{"localhost", "node.tha.example"}) {
		t.Errorf("DNS %v", x.DNSNames)
	}
	raw, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeyPEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeysEqual(k.Public(), x.PublicKey) {
		t.Error("certificate does not carry the node's key")
	}
	if _, err := Sign(dir, csr, identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second Sign: %v, want ErrExists", err)
	}
	out := filepath.Join(t.TempDir(), "renewed.pem")
	if got, err := Sign(dir, csr, identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{Out: out}); err != nil || got != out {
		t.Errorf("Sign --out: %q %v", got, err)
	}
}

func TestSignRejectsBadRequests(t *testing.T) {
	dir := initDir(t)
	if _, err := Sign(dir, filepath.Join(dir, CAFile), identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{}); err == nil {
		t.Error("Sign accepted a certificate as a request")
	}
	if _, err := Sign(dir, filepath.Join(dir, "missing.csr"), identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{}); err == nil {
		t.Error("Sign accepted a missing file")
	}
}

func TestRevoke(t *testing.T) {
	dir := initDir(t)
	a, _, err := Issue(dir, identity.ID{Role: identity.RoleAgency, Country: "THA", Name: "police"}, IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := Issue(dir, identity.ID{Role: identity.RoleNode, Country: "THA"}, IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []string{a, b, a} {
		if err := Revoke(dir, c); err != nil {
			t.Fatal(err)
		}
		crl := readCRL(t, dir)
		wantN := int64(i + 2)
		if i == 2 {
			wantN = 3 // revoking again changes nothing
		}
		if crl.Number.Int64() != wantN {
			t.Errorf("after %d: crl number %v, want %d", i, crl.Number, wantN)
		}
		if !crl.NextUpdate.After(time.Now()) {
			t.Errorf("next update %v", crl.NextUpdate)
		}
	}
	crl := readCRL(t, dir)
	ca := readCert(t, filepath.Join(dir, CAFile))
	if err := crl.CheckSignatureFrom(ca); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range crl.RevokedCertificateEntries {
		got = append(got, e.SerialNumber.String())
	}
	want := []string{readCert(t, a).SerialNumber.String(), readCert(t, b).SerialNumber.String()}
	if !slices.Equal(got, want) {
		t.Errorf("revoked %v, want %v", got, want)
	}

	foreign := initDir(t)
	if err := Revoke(dir, filepath.Join(foreign, HubFile)); err == nil {
		t.Error("revoked a certificate of another CA")
	}
}

func TestLoadRejectsMismatchedKey(t *testing.T) {
	dir := initDir(t)
	other := initDir(t)
	raw, err := os.ReadFile(filepath.Join(other, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CAKeyFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("Load accepted a key of another CA")
	}
}
