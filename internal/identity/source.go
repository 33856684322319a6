package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// Files names the PEM files a process presents and trusts.
type Files struct {
	// Cert is this process's certificate (with any intermediates after it).
	Cert string
	// Key is its private key (PKCS#8 or SEC 1 ECDSA).
	Key string
	// CA is the federation root (one or more certificates, e.g. the old and
	// the new root during a CA rollover).
	CA string
	// CRL is the federation's revocation list; optional. When set, the file
	// must exist and be signed by a CA in CA.
	CRL string
}

// Reload timing. The poll is a fallback for file systems where fsnotify is
// blind (network mounts, some container volume swaps); the settle delay
// lets a writer finish replacing several files before they are read.
const (
	pollInterval = 30 * time.Second
	settleDelay  = 200 * time.Millisecond
)

// material is one consistent snapshot of the files; handshakes read the
// current snapshot and never see half a rotation.
type material struct {
	cert     *tls.Certificate
	leaf     *x509.Certificate
	id       ID
	roots    *x509.CertPool
	cas      []*x509.Certificate
	revoked  map[string]struct{} // serial numbers (decimal) revoked by the CRL
	crlNext  time.Time
	digest   [sha256.Size]byte
	replaced chan struct{} // closed when a newer snapshot takes over
}

// Source holds a process's TLS identity and the federation trust anchors,
// read from Files and re-read when they change. Its TLS configurations
// consult the current snapshot on every handshake, so a rotated certificate,
// a new CA bundle or a new CRL applies to new connections without a
// restart.
type Source struct {
	files Files
	log   hclog.Logger
	cur   atomic.Pointer[material]
	mu    sync.Mutex // serializes reloads
}

// NewSource reads f once and fails if the files are unusable: a missing
// file, a key that does not match the certificate, a certificate not
// issued by the CA, a certificate without exactly one SPIFFE ID, or a CRL
// not signed by the CA. An expired or not-yet-valid certificate of our own
// is only logged, so a process can still start and be fixed by rotation.
func NewSource(f Files, log hclog.Logger) (*Source, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, errors.New("identity: cert, key and ca files are required")
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Source{files: f, log: log}
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	s.warn(m)
	s.cur.Store(m)
	return s, nil
}

// Run watches the files until ctx ends, reloading them when they change:
// fsnotify on their directories (so an atomic rename or a symlink swap is
// seen), plus a periodic check as a fallback. A new file that cannot be used
// is logged and the previous material stays in force.
func (s *Source) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("file watcher unavailable, polling only", "error", err)
		w = nil
	}
	var events chan fsnotify.Event
	var errs chan error
	if w != nil {
		defer w.Close()
		dirs := map[string]bool{}
		for _, p := range []string{s.files.Cert, s.files.Key, s.files.CA, s.files.CRL} {
			if p != "" {
				dirs[filepath.Dir(p)] = true
			}
		}
		for d := range dirs {
			if err := w.Add(d); err != nil {
				s.log.Warn("cannot watch directory, polling only", "dir", d, "error", err)
			}
		}
		events, errs = w.Events, w.Errors
	}
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if s.watched(ev.Name) {
				settle.Reset(settleDelay)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.log.Warn("file watcher error", "error", err)
		case <-settle.C:
			s.reloadLogged()
		case <-poll.C:
			s.reloadLogged()
		}
	}
}

// watched reports whether an event on name may concern our files. Any
// change in a watched directory counts when the name is not ours but looks
// like a Kubernetes-style ..data swap, so symlinked files are covered too.
func (s *Source) watched(name string) bool {
	base := filepath.Base(name)
	for _, p := range []string{s.files.Cert, s.files.Key, s.files.CA, s.files.CRL} {
		if p != "" && (filepath.Clean(name) == filepath.Clean(p) || filepath.Base(p) == base) {
			return true
		}
	}
	return len(base) > 2 && base[:2] == ".."
}

func (s *Source) reloadLogged() {
	if err := s.Reload(); err != nil {
		s.log.Error("certificate reload failed, keeping the previous certificates", "error", err)
	}
}

// Reload re-reads the files now. If they are unchanged nothing happens; if
// they are unusable the previous material stays and the error is returned.
func (s *Source) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return err
	}
	old := s.cur.Load()
	if old != nil && old.digest == m.digest {
		return nil
	}
	s.cur.Store(m)
	if old != nil {
		close(old.replaced)
	}
	s.log.Info("certificates reloaded", "id", m.id.String(), "serial", m.leaf.SerialNumber.Text(16),
		"not_after", m.leaf.NotAfter.UTC().Format(time.RFC3339), "revoked", len(m.revoked))
	s.warn(m)
	return nil
}

// warn logs what is wrong with our own certificate without refusing it.
func (s *Source) warn(m *material) {
	now := time.Now()
	switch {
	case now.After(m.leaf.NotAfter):
		s.log.Error("own certificate has expired", "id", m.id.String(), "not_after", m.leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(m.leaf.NotBefore):
		s.log.Error("own certificate is not yet valid", "id", m.id.String(), "not_before", m.leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if _, ok := m.revoked[m.leaf.SerialNumber.String()]; ok {
		s.log.Error("own certificate is revoked", "id", m.id.String())
	}
	if !m.crlNext.IsZero() && now.After(m.crlNext) {
		// A stale CRL still applies: failing closed would cut the whole
		// federation off because nobody re-published the list in time.
		s.log.Warn("revocation list is past its next update; still applying it", "next_update", m.crlNext.UTC().Format(time.RFC3339))
	}
}

func (s *Source) load() (*material, error) {
	read := func(what, p string) ([]byte, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("identity: %s: %w", what, err)
		}
		return b, nil
	}
	certPEM, err := read("cert", s.files.Cert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("key", s.files.Key)
	if err != nil {
		return nil, err
	}
	caPEM, err := read("ca", s.files.CA)
	if err != nil {
		return nil, err
	}
	var crlPEM []byte
	if s.files.CRL != "" {
		if crlPEM, err = read("crl", s.files.CRL); err != nil {
			return nil, err
		}
	}
	h := sha256.New()
	for _, b := range [][]byte{certPEM, keyPEM, caPEM, crlPEM} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	m := &material{revoked: map[string]struct{}{}, replaced: make(chan struct{})}
	copy(m.digest[:], h.Sum(nil))

	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("identity: %s with %s: %w", s.files.Cert, s.files.Key, err)
	}
	if _, ok := pair.PrivateKey.(crypto.Signer); !ok {
		return nil, fmt.Errorf("identity: %s: key is not a signer", s.files.Key)
	}
	m.cert = &pair
	m.leaf = pair.Leaf
	if m.leaf == nil {
		if m.leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("identity: %s: %w", s.files.Cert, err)
		}
	}
	if m.id, err = certID(m.leaf); err != nil {
		return nil, fmt.Errorf("identity: %s: %w", s.files.Cert, err)
	}

	m.roots = x509.NewCertPool()
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: %s: %w", s.files.CA, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("identity: %s: %q is not a CA certificate", s.files.CA, c.Subject.CommonName)
		}
		m.cas = append(m.cas, c)
		m.roots.AddCert(c)
	}
	if len(m.cas) == 0 {
		return nil, fmt.Errorf("identity: %s: no certificates", s.files.CA)
	}
	// Our own chain must lead to a trusted root; otherwise peers would
	// refuse us and we would only learn it from their logs. Signatures
	// only: validity dates are reported by warn, not refused, so an expired
	// certificate can still be loaded and then rotated.
	if err := chainsTo(pair.Certificate, m.cas); err != nil {
		return nil, fmt.Errorf("identity: %s is not issued by %s: %w", s.files.Cert, s.files.CA, err)
	}

	if crlPEM != nil {
		var der []byte
		for rest := crlPEM; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type == "X509 CRL" {
				der = b.Bytes
				break
			}
		}
		if der == nil {
			return nil, fmt.Errorf("identity: %s: no X509 CRL block", s.files.CRL)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("identity: %s: %w", s.files.CRL, err)
		}
		signed := false
		for _, ca := range m.cas {
			if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("identity: %s is not signed by a CA in %s", s.files.CRL, s.files.CA)
		}
		for _, e := range crl.RevokedCertificateEntries {
			m.revoked[e.SerialNumber.String()] = struct{}{}
		}
		m.crlNext = crl.NextUpdate
	}
	return m, nil
}

// chainsTo checks that each certificate of chain (DER, leaf first) is
// signed by the next and the last by one of roots.
func chainsTo(chain [][]byte, roots []*x509.Certificate) error {
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return err
		}
	}
	last := certs[len(certs)-1]
	for _, r := range roots {
		if bytes.Equal(last.RawIssuer, r.RawSubject) && last.CheckSignatureFrom(r) == nil {
			return nil
		}
	}
	return errors.New("no trusted root signed it")
}

// ID returns this process's own SPIFFE ID (from its current certificate).
func (s *Source) ID() ID { return s.cur.Load().id }

// Signer returns the private key of the current certificate, e.g. for
// signing federation answers. After a rotation it returns the new key; a
// peer that verifies signatures against the certificate of an older
// connection needs that connection re-established (see Changed).
func (s *Source) Signer() crypto.Signer {
	return s.cur.Load().cert.PrivateKey.(crypto.Signer)
}

// Leaf returns the current certificate.
func (s *Source) Leaf() *x509.Certificate { return s.cur.Load().leaf }

// NotAfter returns when the current certificate expires.
func (s *Source) NotAfter() time.Time { return s.cur.Load().leaf.NotAfter }

// Changed returns a channel that is closed when the material in force now
// is replaced by a reload. Long-lived clients use it to redial with the new
// certificate.
func (s *Source) Changed() <-chan struct{} { return s.cur.Load().replaced }

// certID returns the one SPIFFE ID in a certificate's URI SAN.
func certID(c *x509.Certificate) (ID, error) {
	if len(c.URIs) != 1 {
		return ID{}, fmt.Errorf("certificate has %d URI SANs, want exactly one SPIFFE ID", len(c.URIs))
	}
	return Parse(c.URIs[0].String())
}

// verifyPeer checks a peer's certificate chain against m: issued by a
// trusted CA for usage, valid now, not revoked, and carrying exactly one
// SPIFFE ID of our trust domain.
func (m *material) verifyPeer(certs []*x509.Certificate, usage x509.ExtKeyUsage) (ID, error) {
	if len(certs) == 0 {
		return ID{}, errors.New("no certificate presented")
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: m.roots, Intermediates: inter, CurrentTime: time.Now(),
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return ID{}, fmt.Errorf("certificate not trusted: %w", err)
	}
	for _, chain := range chains {
		for _, c := range chain {
			if m.isRevoked(c.SerialNumber) {
				return ID{}, fmt.Errorf("certificate serial %s is revoked", c.SerialNumber.Text(16))
			}
		}
	}
	id, err := certID(leaf)
	if err != nil {
		return ID{}, err
	}
	if id.TrustDomain != m.id.TrustDomain {
		return ID{}, fmt.Errorf("%s is not of trust domain %s", id, m.id.TrustDomain)
	}
	return id, nil
}

func (m *material) isRevoked(serial *big.Int) bool {
	_, ok := m.revoked[serial.String()]
	return ok
}
