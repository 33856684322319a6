// Package identitytest gives other packages' tests a throw-away federation
// PKI built with internal/pki: certificates for any identity, started
// identity Sources, revocation, a second untrusted CA, and expired or
// not-yet-valid certificates.
package identitytest

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/pki"
)

// TrustDomain is the trust domain of every test PKI.
const TrustDomain = "vrs.local"

// PKI is a test certificate authority in a temporary directory.
type PKI struct {
	dir    string
	mu     sync.Mutex
	issued map[identity.ID]identity.Files
	extra  int
}

// New creates a test PKI (CA, hub certificate, empty CRL) in t.TempDir().
func New(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	if err := pki.Init(dir, TrustDomain, 1, 30); err != nil {
		t.Fatalf("identitytest: %v", err)
	}
	p := &PKI{dir: dir, issued: map[identity.ID]identity.Files{}}
	hub := p.Hub()
	p.issued[hub] = p.files(filepath.Join(dir, pki.HubFile))
	return p
}

// Dir returns the PKI directory (ca.pem, crl.pem, ...).
func (p *PKI) Dir() string { return p.dir }

// TrustDomain returns the PKI's trust domain.
func (p *PKI) TrustDomain() string { return TrustDomain }

// CAFile returns the path of the CA certificate.
func (p *PKI) CAFile() string { return filepath.Join(p.dir, pki.CAFile) }

// CRLFile returns the path of the revocation list.
func (p *PKI) CRLFile() string { return filepath.Join(p.dir, pki.CRLFile) }

// Hub returns the hub's ID.
func (p *PKI) Hub() identity.ID { return identity.ID{TrustDomain: TrustDomain, Role: identity.RoleHub} }

// Node returns the ID of the node of country.
func (p *PKI) Node(country string) identity.ID {
	return identity.ID{TrustDomain: TrustDomain, Role: identity.RoleNode, Country: country}
}

// Agency returns the ID of an agency of country.
func (p *PKI) Agency(country, name string) identity.ID {
	return identity.ID{TrustDomain: TrustDomain, Role: identity.RoleAgency, Country: country, Name: name}
}

// Partner returns a partner's ID.
func (p *PKI) Partner(name string) identity.ID {
	return identity.ID{TrustDomain: TrustDomain, Role: identity.RolePartner, Name: name}
}

// Operator returns a hub operator's ID.
func (p *PKI) Operator(name string) identity.ID {
	return identity.ID{TrustDomain: TrustDomain, Role: identity.RoleOperator, Name: name}
}

func (p *PKI) files(cert string) identity.Files {
	return identity.Files{Cert: cert, Key: pki.KeyPath(cert), CA: p.CAFile(), CRL: p.CRLFile()}
}

func (p *PKI) normalize(id identity.ID) identity.ID {
	if id.TrustDomain == "" {
		id.TrustDomain = TrustDomain
	}
	return id
}

// Files returns the files of id's certificate, issuing it on first use.
// The same ID always gets the same files.
func (p *PKI) Files(t testing.TB, id identity.ID) identity.Files {
	t.Helper()
	id = p.normalize(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.issued[id]; ok {
		return f
	}
	cert, _, err := pki.Issue(p.dir, id, pki.IssueOptions{})
	if err != nil {
		t.Fatalf("identitytest: %v", err)
	}
	f := p.files(cert)
	p.issued[id] = f
	return f
}

// Source returns a started Source for id's certificate. It watches its files
// until the test ends.
func (p *PKI) Source(t testing.TB, id identity.ID) *identity.Source {
	t.Helper()
	return StartSource(t, p.Files(t, id))
}

// StartSource makes a Source from f and runs it until the test ends.
func StartSource(t testing.TB, f identity.Files) *identity.Source {
	t.Helper()
	src, err := identity.NewSource(f, hclog.NewNullLogger())
	if err != nil {
		t.Fatalf("identitytest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return src
}

// Revoke revokes id's certificate (issuing it first if needed) and writes
// the new CRL. Sources watching the CRL pick it up on their own; a test that
// must not wait calls Reload on them.
func (p *PKI) Revoke(t testing.TB, id identity.ID) {
	t.Helper()
	f := p.Files(t, id)
	if err := pki.Revoke(p.dir, f.Cert); err != nil {
		t.Fatalf("identitytest: %v", err)
	}
}

// RevokeFile revokes the certificate in certFile.
func (p *PKI) RevokeFile(t testing.TB, certFile string) {
	t.Helper()
	if err := pki.Revoke(p.dir, certFile); err != nil {
		t.Fatalf("identitytest: %v", err)
	}
}

// ForeignCA returns a second, independent test PKI of the same trust
// domain, which p's certificates do not trust.
func (p *PKI) ForeignCA(t testing.TB) *PKI {
	t.Helper()
	return New(t)
}

// Expired returns files for a certificate of id that expired yesterday.
func (p *PKI) Expired(t testing.TB, id identity.ID) identity.Files {
	t.Helper()
	return p.IssueExtra(t, id, pki.IssueOptions{NotBefore: time.Now().Add(-72 * time.Hour), Days: 2})
}

// NotYetValid returns files for a certificate of id valid only from
// tomorrow.
func (p *PKI) NotYetValid(t testing.TB, id identity.ID) identity.Files {
	t.Helper()
	return p.IssueExtra(t, id, pki.IssueOptions{NotBefore: time.Now().Add(24 * time.Hour), Days: 30})
}

// IssueExtra issues another certificate and key for id under a fresh file
// name (opts.Out is ignored), e.g. for rotation tests.
func (p *PKI) IssueExtra(t testing.TB, id identity.ID, opts pki.IssueOptions) identity.Files {
	t.Helper()
	id = p.normalize(id)
	p.mu.Lock()
	p.extra++
	n := p.extra
	p.mu.Unlock()
	opts.Out = filepath.Join(p.dir, "extra-"+strconv.Itoa(n)+"-"+pki.BaseName(id)+".pem")
	cert, _, err := pki.Issue(p.dir, id, opts)
	if err != nil {
		t.Fatalf("identitytest: %v", err)
	}
	return p.files(cert)
}
