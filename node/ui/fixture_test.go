package ui

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/answerer"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/store"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

const hubID = "spiffe://vrs.local/hub"

// canary marks every never-shared field of the test records; no page may
// ever show it.
const canary = "CANARY"

const testAgreement = `# The demo agreement.
agreement "cau-regional" {
  version        = 3
  recipients     = ["spiffe://vrs.local/hub"]
  min_cell       = 5
  rounding       = "rr3"
  max_group_by   = 2
  period_floor   = "month"
  fees_currency  = "USD"

  measure "migrants" {
    dimensions = ["period.month", "citizenship", "sex", "transport_mode"]
  }
  measure "incidents" {
    dimensions = ["period.month", "transport_mode", "iccs"]
  }

  extract "sea-routes" {
    fields = {
      "period"            = "month"
      "route.origin"      = "country"
      "route.destination" = "country"
      "transport_mode"    = "as_is"
    }
    quasi_identifiers = ["period", "route.origin", "route.destination"]
    k = 3
  }
}
`

// fixture is a node's real parts on disk: store, engine, audit log,
// agreement file and answerer, with a few answers already given.
type fixture struct {
	db        *kv.DB
	store     *store.Store
	engine    *engine.Engine
	audit     *audit.Log
	agreement *agreement.Holder
	answerer  *answerer.Answerer
	connected atomic.Bool
	bodies    map[string][]byte // task id → signed body sent
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{bodies: map[string][]byte{}}
	var err error
	if f.db, err = kv.Open(kv.Options{Dir: filepath.Join(dir, "db")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if f.store, err = store.Open(f.db, nil); err != nil {
		t.Fatal(err)
	}
	f.engine = engine.New()
	f.store.AddObserver(f.engine)
	if _, err := f.store.Upsert(t.Context(), testIncidents(60)); err != nil {
		t.Fatal(err)
	}
	if f.audit, err = audit.Open(f.db); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agreement.hcl")
	if err := os.WriteFile(path, []byte(testAgreement), 0o600); err != nil {
		t.Fatal(err)
	}
	if f.agreement, err = agreement.NewHolder(t.Context(), agreement.HolderConfig{Path: path, Country: "THA", Audit: f.audit}); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if f.answerer, err = answerer.New(answerer.Config{
		Country: "THA", Agreement: f.agreement, Engine: f.engine, Audit: f.audit,
		Signer: func() crypto.Signer { return key }, Secret: bytes.Repeat([]byte{7}, 32),
		Clock: func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) },
	}); err != nil {
		t.Fatal(err)
	}
	f.connected.Store(true)
	// Entry 1 is the agreement load; 2 to 4 are these answers.
	f.answer(t, "task-a", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"transport_mode"}})
	f.answer(t, "task-b", &queryv1.AggregateQuery{Measure: "suspects"})
	f.answer(t, "task-c", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship", "period.month"},
		PeriodFrom: "2026-01-01", PeriodTo: "2026-03-31"})
	return f
}

func (f *fixture) answer(t *testing.T, id string, q *queryv1.AggregateQuery) {
	t.Helper()
	ans, err := f.answerer.Answer(t.Context(), hubID, &federationv1.Task{
		TaskId: id, RunId: "run-" + id, Requester: hubID, Query: &federationv1.Task_Aggregate{Aggregate: q}})
	if err != nil {
		t.Fatal(err)
	}
	f.bodies[id] = ans.GetBody()
}

func (f *fixture) config() Config {
	return Config{
		Country: "THA", Records: f.store, Counter: f.engine, Agreement: f.agreement,
		Preview: f.answerer, Audit: f.audit, Connected: f.connected.Load,
	}
}

// tamper rewrites one stored audit entry's reason behind the log's back.
func (f *fixture) tamper(t *testing.T, seq uint64) {
	t.Helper()
	e, err := f.audit.Get(seq)
	if err != nil {
		t.Fatal(err)
	}
	e.Reason = "edited"
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.Put(binary.BigEndian.AppendUint64([]byte("aud/e/"), seq), b); err != nil {
		t.Fatal(err)
	}
}

var modes = []recordv1.TransportMode{
	recordv1.TransportMode_TRANSPORT_MODE_SEA, recordv1.TransportMode_TRANSPORT_MODE_LAND, recordv1.TransportMode_TRANSPORT_MODE_AIR,
}

// testIncidents spreads n incidents over 2025 and 2026 and three modes,
// with canaries in every never-shared field.
func testIncidents(n int) []*recordv1.Incident {
	var out []*recordv1.Incident
	for i := range n {
		year := 2025 + i%2
		cit := "MMR"
		if i%4 == 0 {
			cit = "BGD"
		}
		second := cit
		if i == 1 {
			// One Afghan migrant: a cell of 1, always withheld.
			second = "AFG"
		}
		out = append(out, &recordv1.Incident{
			NationalRef:   fmt.Sprintf("CANARY-REF-%03d", i),
			DetectedOn:    fmt.Sprintf("%d-0%d-1%d", year, 1+i%3, i%10),
			DetectedAt:    &recordv1.Place{Country: "THA", Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA, Name: "CANARY-PLACE"},
			IccsCodes:     []string{"08051"},
			TransportMode: modes[i%3],
			Route:         &recordv1.Route{Origin: "MMR", Destination: "MYS"},
			Notes:         "CANARY-NOTES",
			Migrants: []*recordv1.Person{
				{Citizenship: cit, Sex: recordv1.Sex_SEX_FEMALE, FullName: "CANARY-NAME", DocumentNumber: "CANARY-DOC"},
				{Citizenship: second, Sex: recordv1.Sex_SEX_MALE, FullName: "CANARY-NAME2"},
			},
		})
	}
	return out
}

func newHandler(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get fetches path from h and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1"+path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	// protojson varies its spacing on purpose: compare words, not spaces.
	body = strings.Join(strings.Fields(body), " ")
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}
