// Package pki is the federation's certificate authority: the files under a
// PKI directory kept by the CAU (DESIGN §9, §10). It creates the root CA and
// the hub certificate, issues certificates for nodes, partners, operators and
// agencies, signs certificate requests made by states (whose private keys
// never leave them), and keeps the certificate revocation list.
//
// Every key is ECDSA P-256. Every leaf carries exactly one SPIFFE ID in its
// URI SAN, chosen by the CA from its own flags, never from what a request
// asks for. The trust domain is recorded in the CA certificate itself (as the
// SPIFFE ID spiffe://<td> in its URI SAN), so later commands read it back
// from ca.pem.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // G505: key identifiers only (RFC 5280)
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vrs-federation/vrs/internal/identity"
)

// File names inside a PKI directory.
const (
	CAFile     = "ca.pem"
	CAKeyFile  = "ca-key.pem"
	HubFile    = "hub.pem"
	HubKeyFile = "hub-key.pem"
	CRLFile    = "crl.pem"
)

// Defaults for Init and Issue.
const (
	DefaultTrustDomain = "vrs.local"
	DefaultCAYears     = 10
	// DefaultLeafDays is the longest validity public CAs may use; it keeps
	// renewal a yearly habit rather than a once-a-decade surprise.
	DefaultLeafDays = 397
	// CRLValidity is how far ahead each CRL's NextUpdate lies.
	CRLValidity = 30 * 24 * time.Hour
	// clockSkew backdates NotBefore so a peer whose clock runs a little
	// behind still accepts a certificate issued a moment ago.
	clockSkew = 5 * time.Minute
)

// ErrExists is returned when a file to be written already exists: the PKI
// never overwrites a key or a certificate.
var ErrExists = errors.New("file exists")

// IssueOptions are the optional parts of a leaf certificate.
type IssueOptions struct {
	// DNS are extra DNS names in the SAN (server names).
	DNS []string
	// IPs are extra IP addresses in the SAN.
	IPs []net.IP
	// Days is the validity; zero means DefaultLeafDays.
	Days int
	// NotBefore is the start of validity; zero means now (less a few
	// minutes for clock skew). Tests use it for expired and not-yet-valid
	// certificates.
	NotBefore time.Time
	// Out is where the certificate is written; the key (Issue only) goes
	// next to it as <Out without .pem>-key.pem. Empty means the standard
	// name in the PKI directory, e.g. node-THA.pem.
	Out string
}

// CA is a loaded certificate authority.
type CA struct {
	Cert        *x509.Certificate
	Key         crypto.Signer
	TrustDomain string
}

// BaseName returns the file name stem for an identity's certificate:
// hub, node-THA, partner-NAME, operator-NAME, agency-THA-NAME.
func BaseName(id identity.ID) string {
	switch id.Role {
	case identity.RoleHub:
		return "hub"
	case identity.RoleNode:
		return "node-" + id.Country
	case identity.RoleAgency:
		return "agency-" + id.Country + "-" + id.Name
	default:
		return string(id.Role) + "-" + id.Name
	}
}

// KeyPath returns the key file that goes with a certificate file.
func KeyPath(certPath string) string {
	return strings.TrimSuffix(certPath, ".pem") + "-key.pem"
}

// Init creates a new CA in dir (created if missing): ca.pem, ca-key.pem,
// hub.pem, hub-key.pem and an empty crl.pem. The hub certificate carries
// spiffe://<td>/hub, localhost and 127.0.0.1, plus hosts (each a DNS name or
// an IP address). It refuses to overwrite any existing file.
func Init(dir, trustDomain string, caYears, leafDays int, hosts ...string) error {
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	if !identity.ValidTrustDomain(trustDomain) {
		return fmt.Errorf("pki init: trust domain %q: want lowercase letters, digits, '.' and '-'", trustDomain)
	}
	if caYears <= 0 {
		caYears = DefaultCAYears
	}
	if leafDays <= 0 {
		leafDays = DefaultLeafDays
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	paths := []string{
		filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile),
		filepath.Join(dir, HubFile), filepath.Join(dir, HubKeyFile),
		filepath.Join(dir, CRLFile),
	}
	if err := refuseExisting(paths...); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	now := time.Now()
	ski, err := keyID(key.Public())
	if err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"VRS Federation"},
			CommonName:   "VRS Federation CA " + trustDomain,
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.AddDate(caYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: trustDomain}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("pki init: create ca: %w", err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	if err := writeKey(paths[1], key); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	if err := writeNew(paths[0], pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	ca := &CA{Cert: caCert, Key: key, TrustDomain: trustDomain}
	var opts IssueOptions
	opts.Days = leafDays
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			opts.IPs = append(opts.IPs, ip)
		} else {
			opts.DNS = append(opts.DNS, h)
		}
	}
	if _, _, err := ca.issue(dir, identity.ID{TrustDomain: trustDomain, Role: identity.RoleHub}, opts); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	crl, err := ca.createCRL(nil, big.NewInt(1))
	if err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	if err := writeNew(paths[4], crl, 0o644); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	return nil
}

// Load reads the CA of dir: its certificate, its key and the trust domain
// recorded in the certificate.
func Load(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %s: %w", CAFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load ca: %s is not a CA certificate", CAFile)
	}
	var td string
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" && (u.Path == "" || u.Path == "/") && identity.ValidTrustDomain(u.Host) {
			td = u.Host
		}
	}
	if td == "" {
		return nil, fmt.Errorf("load ca: %s records no trust domain (want URI SAN spiffe://<td>)", CAFile)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("load ca: %w", err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load ca: %s: %w", CAKeyFile, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("load ca: %s does not match %s", CAKeyFile, CAFile)
	}
	return &CA{Cert: cert, Key: key, TrustDomain: td}, nil
}

// TrustDomain returns the trust domain recorded in dir's CA certificate.
func TrustDomain(dir string) (string, error) {
	ca, err := Load(dir)
	if err != nil {
		return "", err
	}
	return ca.TrustDomain, nil
}

// Issue makes a key and a certificate for id, signed by dir's CA, and
// writes them as <name>.pem and <name>-key.pem (see BaseName), or at
// opts.Out. An empty id.TrustDomain means the CA's. Hub and node
// certificates also carry localhost and 127.0.0.1. Existing files are never
// overwritten.
func Issue(dir string, id identity.ID, opts IssueOptions) (certPath, keyPath string, err error) {
	ca, err := Load(dir)
	if err != nil {
		return "", "", fmt.Errorf("issue: %w", err)
	}
	certPath, keyPath, err = ca.issue(dir, id, opts)
	if err != nil {
		return "", "", fmt.Errorf("issue: %w", err)
	}
	return certPath, keyPath, nil
}

func (ca *CA) issue(dir string, id identity.ID, opts IssueOptions) (string, string, error) {
	id, err := ca.checkID(id)
	if err != nil {
		return "", "", err
	}
	certPath := opts.Out
	if certPath == "" {
		certPath = filepath.Join(dir, BaseName(id)+".pem")
	}
	keyPath := KeyPath(certPath)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return "", "", err
	}
	key, err := newKey()
	if err != nil {
		return "", "", err
	}
	der, err := ca.sign(id, key.Public(), opts)
	if err != nil {
		return "", "", err
	}
	if err := writeKey(keyPath, key); err != nil {
		return "", "", err
	}
	if err := writeNew(certPath, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

func (ca *CA) checkID(id identity.ID) (identity.ID, error) {
	if id.TrustDomain == "" {
		id.TrustDomain = ca.TrustDomain
	}
	if id.TrustDomain != ca.TrustDomain {
		return id, fmt.Errorf("trust domain %q: this CA serves %q", id.TrustDomain, ca.TrustDomain)
	}
	if err := id.Validate(); err != nil {
		return id, err
	}
	return id, nil
}

// sign creates the DER certificate for id and pub.
func (ca *CA) sign(id identity.ID, pub crypto.PublicKey, opts IssueOptions) ([]byte, error) {
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok || ecPub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key is %T, want ECDSA P-256", pub)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	days := opts.Days
	if days <= 0 {
		days = DefaultLeafDays
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-clockSkew)
	}
	notAfter := notBefore.AddDate(0, 0, days)
	if notAfter.After(ca.Cert.NotAfter) {
		// A leaf outliving its CA would be rejected anyway; cap it so the
		// date a registry shows is the real one.
		notAfter = ca.Cert.NotAfter
	}
	dns := slices.Clone(opts.DNS)
	ips := slices.Clone(opts.IPs)
	if id.Role == identity.RoleHub || id.Role == identity.RoleNode {
		dns = append([]string{"localhost"}, dns...)
		ips = append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...)
	}
	ski, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization:       []string{"VRS Federation"},
			OrganizationalUnit: []string{string(id.Role)},
			CommonName:         commonName(id),
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		URIs:                  []*url.URL{id.URL()},
		DNSNames:              dedupe(dns),
		IPAddresses:           dedupeIPs(ips),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return der, nil
}

// commonName is informational only (identity comes from the URI SAN); it
// stays within the 64 characters RFC 5280 allows.
func commonName(id identity.ID) string {
	var s string
	switch id.Role {
	case identity.RoleHub:
		s = "hub"
	case identity.RoleNode:
		s = "node " + id.Country
	case identity.RoleAgency:
		s = "agency " + id.Country + "/" + id.Name
	default:
		s = string(id.Role) + " " + id.Name
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// Sign signs a certificate request made elsewhere (vrs-node csr) for id.
// The SPIFFE ID comes from id, never from the request: a request that asks
// for a different URI SAN, or for more than one, is rejected. DNS names and
// IP addresses come from opts only. It returns the certificate path
// (opts.Out, or the standard name in dir).
func Sign(dir, csrPath string, id identity.ID, opts IssueOptions) (certPath string, err error) {
	ca, err := Load(dir)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	id, err = ca.checkID(id)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	raw, err := os.ReadFile(csrPath)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	csr, err := ParseCSRPEM(raw)
	if err != nil {
		return "", fmt.Errorf("sign: %s: %w", csrPath, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", fmt.Errorf("sign: %s: request signature: %w", csrPath, err)
	}
	want := id.String()
	switch {
	case len(csr.URIs) > 1:
		return "", fmt.Errorf("sign: %s asks for %d URI SANs, want at most one", csrPath, len(csr.URIs))
	case len(csr.URIs) == 1 && csr.URIs[0].String() != want:
		return "", fmt.Errorf("sign: %s asks for %s but the flags say %s", csrPath, csr.URIs[0], want)
	}
	certPath = opts.Out
	if certPath == "" {
		certPath = filepath.Join(dir, BaseName(id)+".pem")
	}
	if err := refuseExisting(certPath); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	der, err := ca.sign(id, csr.PublicKey, opts)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	if err := writeNew(certPath, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return certPath, nil
}

// CreateCSR makes a state node's private key and certificate request in
// outDir: node-ISO3-key.pem (0600; it never leaves the state) and
// node-ISO3.csr, which asks for spiffe://<td>/node/ISO3. An empty
// trustDomain means DefaultTrustDomain.
func CreateCSR(country, outDir, trustDomain string) (csrPath, keyPath string, err error) {
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	id := identity.ID{TrustDomain: trustDomain, Role: identity.RoleNode, Country: country}
	if err := id.Validate(); err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	base := filepath.Join(outDir, BaseName(id))
	csrPath, keyPath = base+".csr", base+"-key.pem"
	if err := refuseExisting(csrPath, keyPath); err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{
			Organization:       []string{"VRS Federation"},
			OrganizationalUnit: []string{string(id.Role)},
			CommonName:         commonName(id),
		},
		URIs:     []*url.URL{id.URL()},
		DNSNames: []string{"localhost"},
	}, key)
	if err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	if err := writeNew(csrPath, pemBlock("CERTIFICATE REQUEST", der), 0o644); err != nil {
		return "", "", fmt.Errorf("csr: %w", err)
	}
	return csrPath, keyPath, nil
}

// newKey makes an ECDSA P-256 key.
func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// keyID is the RFC 5280 method 1 key identifier (SHA-1 of the public key
// bits), used only as an identifier.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	// RFC 5280 §4.2.1.2 method (1): the SHA-1 of the key; an identifier,
	// not a security function.
	sum := sha1.Sum(spki.PublicKey.Bytes) //nolint:gosec // G401: key identifier per RFC 5280
	return sum[:], nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func dedupeIPs(s []net.IP) []net.IP {
	var out []net.IP
	for _, v := range s {
		if v != nil && !slices.ContainsFunc(out, v.Equal) {
			out = append(out, v)
		}
	}
	return out
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%s: %w (refusing to overwrite; move it away first)", p, ErrExists)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeNew creates path exclusively, so a race with another writer cannot
// overwrite it either.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w (refusing to overwrite; move it away first)", path, ErrExists)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	return writeNew(path, pemBlock("PRIVATE KEY", der), 0o600)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ParseCertificatePEM parses the first CERTIFICATE block of data.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	der, err := firstBlock(data, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// ParseCSRPEM parses the first CERTIFICATE REQUEST block of data.
func ParseCSRPEM(data []byte) (*x509.CertificateRequest, error) {
	der, err := firstBlock(data, "CERTIFICATE REQUEST")
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificateRequest(der)
}

// ParseKeyPEM parses a PKCS#8 or SEC 1 ECDSA private key.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no private key in PEM data")
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("key is %T, not a signer", k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		}
	}
}

func firstBlock(data []byte, typ string) ([]byte, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("no %s in PEM data", typ)
		}
		if b.Type == typ {
			return b.Bytes, nil
		}
	}
}
