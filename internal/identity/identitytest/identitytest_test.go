package identitytest

import (
	"os"
	"testing"
	"time"

	"github.com/vrs-federation/vrs/internal/pki"
)

func leafOf(t *testing.T, path string) (notBefore, notAfter time.Time) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCertificatePEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotBefore, c.NotAfter
}

func TestPKI(t *testing.T) {
	p := New(t)
	if p.TrustDomain() != TrustDomain || p.Dir() == "" {
		t.Fatal("accessors")
	}
	tha := p.Node("THA")
	f1, f2 := p.Files(t, tha), p.Files(t, tha)
	if f1 != f2 || f1.CA != p.CAFile() || f1.CRL != p.CRLFile() {
		t.Errorf("Files not stable: %+v %+v", f1, f2)
	}
	src := p.Source(t, tha)
	if src.ID() != tha {
		t.Errorf("source id %v", src.ID())
	}
	if hub := p.Source(t, p.Hub()); hub.ID() != p.Hub() {
		t.Errorf("hub id %v", hub.ID())
	}

	now := time.Now()
	if _, na := leafOf(t, p.Expired(t, tha).Cert); !na.Before(now) {
		t.Errorf("expired certificate valid until %v", na)
	}
	if nb, _ := leafOf(t, p.NotYetValid(t, tha).Cert); !nb.After(now) {
		t.Errorf("not-yet-valid certificate valid from %v", nb)
	}

	p.Revoke(t, tha)
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if p.ForeignCA(t).CAFile() == p.CAFile() {
		t.Error("foreign CA shares the CA file")
	}
}
