// Package answer signs and verifies the answers nodes send over the
// federation link. The signature covers the exact serialized AnswerBody
// bytes that travel, prefixed with a domain-separation string, so the hub
// verifies before it parses and the node's audit log can keep the very bytes
// that were sent.
package answer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
)

// Context is the domain-separation prefix of every signed digest.
const Context = "vrs.federation.v1.AnswerBody\x00"

// ErrBadSignature is returned when an answer's signature does not verify.
var ErrBadSignature = errors.New("answer signature does not verify")

// Digest returns SHA-256(Context || body).
func Digest(body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(Context))
	h.Write(body)
	return h.Sum(nil)
}

// Sign serializes body deterministically and signs it with the node's key.
func Sign(key crypto.Signer, body *federationv1.AnswerBody) (*federationv1.Answer, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("marshal answer: %w", err)
	}
	sig, err := key.Sign(rand.Reader, Digest(b), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign answer: %w", err)
	}
	return &federationv1.Answer{TaskId: body.GetTaskId(), Body: b, Signature: sig}, nil
}

// Verify checks the answer's signature against the node's certificate, then
// parses the body and checks that it answers the task it claims to.
func Verify(cert *x509.Certificate, a *federationv1.Answer) (*federationv1.AnswerBody, error) {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("verify answer: certificate key is %T, want ECDSA", cert.PublicKey)
	}
	if !ecdsa.VerifyASN1(pub, Digest(a.GetBody()), a.GetSignature()) {
		return nil, ErrBadSignature
	}
	body := &federationv1.AnswerBody{}
	if err := proto.Unmarshal(a.GetBody(), body); err != nil {
		return nil, fmt.Errorf("verify answer: body: %w", err)
	}
	if body.GetTaskId() != a.GetTaskId() {
		return nil, fmt.Errorf("verify answer: body answers task %q, envelope says %q", body.GetTaskId(), a.GetTaskId())
	}
	return body, nil
}
