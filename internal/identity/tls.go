package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ServerTLS returns the configuration for every mTLS port: TLS 1.3 only, a
// client certificate required, and verified by our own code against the CA
// pool and CRL in force at handshake time (not at the time this function
// was called), so reloads apply to new connections. A client is refused if
// its certificate is expired, not yet valid, from another CA, revoked, or
// without exactly one SPIFFE ID of our trust domain.
//
// The checks are callbacks on this one configuration rather than a
// per-handshake configuration from GetConfigForClient: servers (net/http,
// grpc-go) clone the configuration and add their ALPN protocols to it, and
// a configuration returned by GetConfigForClient would lose those.
// VerifyConnection also runs on resumed sessions, so a revoked client
// cannot come back through a session ticket.
func (s *Source) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			m := s.cur.Load()
			if _, err := m.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageClientAuth); err != nil {
				s.log.Warn("client certificate refused", "peer", peerName(cs), "error", err)
				return err
			}
			return nil
		},
	}
}

// ClientTLS returns the configuration for dialing a federation server whose
// certificate carries any valid SPIFFE ID of our trust domain.
func (s *Source) ClientTLS() *tls.Config {
	return s.ClientTLSFor(nil)
}

// ClientTLSFor returns the configuration for dialing a federation server:
// TLS 1.3, our current certificate as the client certificate, and the
// server verified against the current CA pool and CRL. The server's
// identity is its SPIFFE ID, not its host name: expect decides which IDs
// are acceptable (nil accepts any valid ID of our trust domain), e.g.
// func(id ID) bool { return id.Role == RoleHub }.
func (s *Source) ClientTLSFor(expect func(ID) bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
		// Host names are not identities here; VerifyConnection checks the
		// chain and the SPIFFE ID instead, and it runs even when
		// InsecureSkipVerify is set.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			m := s.cur.Load()
			id, err := m.verifyPeer(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return fmt.Errorf("server certificate refused: %w", err)
			}
			if expect != nil && !expect(id) {
				return fmt.Errorf("server %s is not the expected peer", id)
			}
			return nil
		},
	}
}

// PeerID returns the SPIFFE ID and certificate of the peer of a connection
// whose handshake used ServerTLS or ClientTLS (which verified the chain).
// It fails if the handshake is incomplete or the peer sent no certificate.
func PeerID(cs tls.ConnectionState) (ID, *x509.Certificate, error) {
	if !cs.HandshakeComplete {
		return ID{}, nil, errors.New("tls handshake not complete")
	}
	if len(cs.PeerCertificates) == 0 {
		return ID{}, nil, errors.New("no client certificate")
	}
	leaf := cs.PeerCertificates[0]
	id, err := certID(leaf)
	if err != nil {
		return ID{}, nil, err
	}
	return id, leaf, nil
}

// peerName describes a refused peer for the log: its claimed URI SAN (not
// yet trusted) or its subject.
func peerName(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "(no certificate)"
	}
	c := cs.PeerCertificates[0]
	if len(c.URIs) > 0 {
		return c.URIs[0].String()
	}
	return c.Subject.String()
}
