package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Revoke adds the certificate at certPath to dir's CRL (crl.pem) and writes
// a new CRL with the next number. The certificate must have been issued by
// dir's CA. Revoking a certificate twice is not an error. The CRL is
// replaced atomically, so a server watching it never reads half a file.
func Revoke(dir, certPath string) error {
	ca, err := Load(dir)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	raw, err := os.ReadFile(certPath)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	cert, err := ParseCertificatePEM(raw)
	if err != nil {
		return fmt.Errorf("revoke: %s: %w", certPath, err)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return fmt.Errorf("revoke: %s was not issued by this CA: %w", certPath, err)
	}
	entries, number, err := ca.readCRL(dir)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	for _, e := range entries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return nil
		}
	}
	entries = append(entries, x509.RevocationListEntry{
		SerialNumber:   cert.SerialNumber,
		RevocationTime: time.Now().UTC(),
	})
	out, err := ca.createCRL(entries, number.Add(number, big.NewInt(1)))
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if err := replaceFile(filepath.Join(dir, CRLFile), out, 0o644); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

// readCRL returns the entries and number of dir's current CRL; a missing
// CRL (a PKI made before CRLs were kept) is empty with number 0.
func (ca *CA) readCRL(dir string) ([]x509.RevocationListEntry, *big.Int, error) {
	raw, err := os.ReadFile(filepath.Join(dir, CRLFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, big.NewInt(0), nil
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := firstBlock(raw, "X509 CRL")
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CRLFile, err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CRLFile, err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		return nil, nil, fmt.Errorf("%s: not signed by this CA: %w", CRLFile, err)
	}
	n := crl.Number
	if n == nil {
		n = big.NewInt(0)
	}
	return crl.RevokedCertificateEntries, new(big.Int).Set(n), nil
}

// createCRL signs a CRL with the given entries and number, as PEM.
func (ca *CA) createCRL(entries []x509.RevocationListEntry, number *big.Int) ([]byte, error) {
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-clockSkew),
		NextUpdate:                now.Add(CRLValidity),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("create crl: %w", err)
	}
	return pemBlock("X509 CRL", der), nil
}

// ParseCRLPEM parses the first X509 CRL block of data.
func ParseCRLPEM(data []byte) (*x509.RevocationList, error) {
	der, err := firstBlock(data, "X509 CRL")
	if err != nil {
		return nil, err
	}
	return x509.ParseRevocationList(der)
}

// replaceFile writes data to a temporary file next to path and renames it
// into place.
func replaceFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
