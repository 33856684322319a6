package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ErrPeerInvalid marks a peer certificate that was accepted at the TLS
// handshake but is no longer valid: revoked by a CRL loaded since, or
// expired since. Connections outlive handshakes, so without this re-check a
// revoked partner could keep using a connection it opened before the
// revocation.
var ErrPeerInvalid = errors.New("peer certificate no longer valid")

// CheckPeer re-checks a peer's certificate chain, already verified at the
// handshake (ServerTLS, ClientTLS), against the material in force now: no
// certificate of it may be revoked by the current CRL, and the leaf may be
// neither expired nor not yet valid. It is cheap (serial look-ups and date
// comparisons, no signature checks), so servers call it on every request.
// The error wraps ErrPeerInvalid and names the serial, never a payload.
func (s *Source) CheckPeer(certs []*x509.Certificate) error {
	return s.cur.Load().recheck(certs, time.Now())
}

func (m *material) recheck(certs []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: no certificate", ErrPeerInvalid)
	}
	// Every certificate the peer presented is looked up in the CRL; the
	// dates are the leaf's, since an intermediate the peer merely sent
	// along may be stale without the chain the handshake built being so
	// (and the federation's CA caps every leaf at its own expiry).
	for _, c := range certs {
		if m.isRevoked(c.SerialNumber) {
			return fmt.Errorf("%w: serial %s is revoked", ErrPeerInvalid, c.SerialNumber.Text(16))
		}
	}
	leaf := certs[0]
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%w: serial %s expired at %s", ErrPeerInvalid, leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%w: serial %s is not valid before %s", ErrPeerInvalid, leaf.SerialNumber.Text(16), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// WatchPeer calls cut once, from its own goroutine, as soon as certs stop
// passing CheckPeer: it re-checks whenever the Source's material changes
// (a new CRL) and when the leaf expires. It
// returns when ctx ends or after cut; the returned channel is closed then.
// Long-lived streams use it to end a stream whose caller was revoked while
// it was open.
func (s *Source) WatchPeer(ctx context.Context, certs []*x509.Certificate, cut func(error)) <-chan struct{} {
	done := make(chan struct{})
	expiry := time.Now() // no certificate: the first check cuts at once
	if len(certs) > 0 {
		expiry = certs[0].NotAfter
	}
	go func() {
		defer close(done)
		// A second after expiry, so the check after the timer surely sees
		// the certificate as expired.
		timer := time.NewTimer(time.Until(expiry) + time.Second)
		defer timer.Stop()
		for {
			// Take the channel before checking, so a reload between the
			// check and the wait is not missed.
			changed := s.Changed()
			if err := s.CheckPeer(certs); err != nil {
				cut(err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-timer.C:
				// Clocks may disagree by a little; look again soon.
				timer.Reset(time.Second)
			}
		}
	}()
	return done
}
