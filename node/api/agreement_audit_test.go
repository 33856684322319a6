package api

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/answerer"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/engine"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

const testAgreement = `agreement "cau-regional" {
  version      = 2
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 3
  rounding     = "none"
  max_group_by = 1
  measure "incidents" { dimensions = ["transport_mode"] }
}
`

func startAgreementAudit(t *testing.T) (nodev1connect.AgreementServiceClient, nodev1connect.AuditServiceClient, *audit.Log) {
	t.Helper()
	dir := t.TempDir()
	db, err := kv.Open(kv.Options{Dir: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log, err := audit.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agreement.hcl")
	if err := os.WriteFile(path, []byte(testAgreement), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := agreement.NewHolder(t.Context(), agreement.HolderConfig{Path: path, Country: "THA", Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New()
	for i, mode := range []recordv1.TransportMode{1, 1, 1, 2, 2} {
		e.Apply(nil, &recordv1.Incident{NationalRef: string(rune('a' + i)), DetectedOn: "2026-01-05", TransportMode: mode})
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a, err := answerer.New(answerer.Config{Country: "THA", Agreement: h, Engine: e, Audit: log,
		Signer: func() crypto.Signer { return key }, Secret: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(nodev1connect.NewAgreementServiceHandler(NewAgreementService(h, a)))
	mux.Handle(nodev1connect.NewAuditServiceHandler(NewAuditService(log)))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return nodev1connect.NewAgreementServiceClient(srv.Client(), srv.URL, connect.WithGRPC()),
		nodev1connect.NewAuditServiceClient(srv.Client(), srv.URL), log
}

func TestAgreementService(t *testing.T) {
	ac, _, log := startAgreementAudit(t)
	got, err := ac.GetAgreement(t.Context(), connect.NewRequest(&nodev1.GetAgreementRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Msg.GetAgreement().GetVersion() != 2 || got.Msg.GetSource() != testAgreement || got.Msg.GetLoadedAt() == nil {
		t.Fatalf("GetAgreement: %v", got.Msg)
	}
	before, _ := log.Head()
	p, err := ac.Preview(t.Context(), connect.NewRequest(&nodev1.PreviewRequest{
		Aggregate: &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"transport_mode"}}}))
	if err != nil {
		t.Fatal(err)
	}
	cells := p.Msg.GetAggregate().GetCells()
	if len(cells) != 2 || cells[0].GetKey()[0] != "LAND" || cells[0].GetValue() != 3 ||
		cells[1].GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED {
		t.Fatalf("Preview cells %v", cells)
	}
	if after, _ := log.Head(); after != before {
		t.Fatal("a preview was recorded in the audit log")
	}
	p, err = ac.Preview(t.Context(), connect.NewRequest(&nodev1.PreviewRequest{
		Aggregate: &queryv1.AggregateQuery{Measure: "migrants"}}))
	if err != nil || p.Msg.GetRefusal().GetReason() != "measure migrants is not shared by THA" {
		t.Fatalf("Preview refusal: %v, %v", p.Msg, err)
	}
	_, err = ac.Preview(t.Context(), connect.NewRequest(&nodev1.PreviewRequest{}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("empty preview: %v", err)
	}
}

func TestAuditService(t *testing.T) {
	_, uc, log := startAgreementAudit(t)
	for range 4 {
		if _, err := log.Append(t.Context(), &nodev1.AuditEntry{Decision: nodev1.AuditDecision_AUDIT_DECISION_REFUSED, Reason: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// 1 agreement load + 4 entries, in pages of 2.
	var seqs []uint64
	from := uint64(0)
	for {
		resp, err := uc.ListEntries(t.Context(), connect.NewRequest(&nodev1.ListEntriesRequest{FromSequence: from, PageSize: 2}))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.Msg.GetEntries() {
			seqs = append(seqs, e.GetSequence())
		}
		if from = resp.Msg.GetNextSequence(); from == 0 {
			break
		}
	}
	if len(seqs) != 5 || seqs[0] != 1 || seqs[4] != 5 {
		t.Fatalf("paged sequences %v", seqs)
	}
	v, err := uc.Verify(t.Context(), connect.NewRequest(&nodev1.VerifyRequest{}))
	if err != nil || !v.Msg.GetOk() || v.Msg.GetEntries() != 5 {
		t.Fatalf("Verify: %v, %v", v.Msg, err)
	}
}
