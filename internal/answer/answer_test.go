package answer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func TestSignVerify(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := &x509.Certificate{PublicKey: &key.PublicKey}
	body := &federationv1.AnswerBody{
		TaskId: "t1", RunId: "r1", Country: "THA",
		Outcome: &federationv1.AnswerBody_Aggregate{Aggregate: &queryv1.AggregateResult{
			Measure: "migrants",
			Cells:   []*queryv1.Cell{{Value: 12, Status: queryv1.CellStatus_CELL_STATUS_ROUNDED}},
		}},
	}
	a, err := Sign(key, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(cert, a)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, body) {
		t.Fatalf("got %v", got)
	}

	tampered := proto.Clone(a).(*federationv1.Answer)
	tampered.Body[len(tampered.Body)-1] ^= 1
	if _, err := Verify(cert, tampered); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered body: %v", err)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := Verify(&x509.Certificate{PublicKey: &other.PublicKey}, a); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}

	moved := proto.Clone(a).(*federationv1.Answer)
	moved.TaskId = "t2"
	if _, err := Verify(cert, moved); err == nil {
		t.Fatal("envelope task id mismatch accepted")
	}
}

// FuzzVerify feeds the hub's answer check arbitrary bodies and signatures
// (what a hostile or broken node could send): it must never panic, and
// nothing but the genuine signed bytes may verify.
func FuzzVerify(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	cert := &x509.Certificate{PublicKey: &key.PublicKey}
	good, err := Sign(key, &federationv1.AnswerBody{TaskId: "t1", RunId: "r1", Country: "THA"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("t1", good.GetBody(), good.GetSignature())
	f.Add("t1", []byte{0x0a, 0x02, 't', '1'}, []byte{0x30, 0x00})
	f.Add("", []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, taskID string, body, sig []byte) {
		a := &federationv1.Answer{TaskId: taskID, Body: body, Signature: sig}
		got, err := Verify(cert, a)
		if err != nil {
			return
		}
		if !bytes.Equal(body, good.GetBody()) {
			t.Fatalf("forged body verified: %x", body)
		}
		if got.GetTaskId() != taskID {
			t.Fatalf("verified answer for task %q under envelope %q", got.GetTaskId(), taskID)
		}
	})
}
