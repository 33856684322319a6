package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/store"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// startRecords serves a RecordService over a real connect server on
// 127.0.0.1 and returns a client for it.
func startRecords(t *testing.T) (nodev1connect.RecordServiceClient, *store.Store) {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: t.TempDir(), Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := store.Open(db, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(nodev1connect.NewRecordServiceHandler(NewRecordService(s, logging.Discard())))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return nodev1connect.NewRecordServiceClient(srv.Client(), srv.URL), s
}

func inc(ref, date string) *recordv1.Incident {
	return &recordv1.Incident{
		NationalRef: ref, DetectedOn: date, TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
		Migrants: []*recordv1.Person{{Citizenship: "MMR", Age: proto.Int32(20)}},
	}
}

func TestRecordServiceCRUD(t *testing.T) {
	ctx := t.Context()
	c, _ := startRecords(t)
	up, err := c.UpsertIncidents(ctx, connect.NewRequest(&nodev1.UpsertIncidentsRequest{Incidents: []*recordv1.Incident{inc("A", "2026-01-01"), inc("B", "2026-02-01")}}))
	if err != nil {
		t.Fatal(err)
	}
	if up.Msg.GetCreated() != 2 {
		t.Fatalf("upsert: %v", up.Msg)
	}
	up, err = c.UpsertIncidents(ctx, connect.NewRequest(&nodev1.UpsertIncidentsRequest{Incidents: []*recordv1.Incident{inc("A", "2026-01-01")}}))
	if err != nil || up.Msg.GetUnchanged() != 1 {
		t.Fatalf("repeat upsert: %v %v", up, err)
	}
	got, err := c.GetIncident(ctx, connect.NewRequest(&nodev1.GetIncidentRequest{NationalRef: "A"}))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Msg.GetIncident().GetIncident(), inc("A", "2026-01-01")) || got.Msg.GetIncident().GetVersion() != 1 {
		t.Fatalf("get: %v", got.Msg)
	}
	list, err := c.ListIncidents(ctx, connect.NewRequest(&nodev1.ListIncidentsRequest{PageSize: 1, DetectedFrom: "2026-01-15"}))
	if err != nil || len(list.Msg.GetIncidents()) != 1 || list.Msg.GetIncidents()[0].GetIncident().GetNationalRef() != "B" || list.Msg.GetNextPageToken() != "" {
		t.Fatalf("list: %v %v", list, err)
	}
	list, err = c.ListIncidents(ctx, connect.NewRequest(&nodev1.ListIncidentsRequest{PageSize: 1}))
	if err != nil || list.Msg.GetNextPageToken() == "" {
		t.Fatalf("list page 1: %v %v", list, err)
	}
	list, err = c.ListIncidents(ctx, connect.NewRequest(&nodev1.ListIncidentsRequest{PageSize: 1, PageToken: list.Msg.GetNextPageToken()}))
	if err != nil || list.Msg.GetIncidents()[0].GetIncident().GetNationalRef() != "B" {
		t.Fatalf("list page 2: %v %v", list, err)
	}
	del, err := c.DeleteIncident(ctx, connect.NewRequest(&nodev1.DeleteIncidentRequest{NationalRef: "A"}))
	if err != nil || !del.Msg.GetDeleted() {
		t.Fatalf("delete: %v %v", del, err)
	}
	del, err = c.DeleteIncident(ctx, connect.NewRequest(&nodev1.DeleteIncidentRequest{NationalRef: "A"}))
	if err != nil || del.Msg.GetDeleted() {
		t.Fatalf("second delete: %v %v", del, err)
	}
}

func TestRecordServiceErrors(t *testing.T) {
	ctx := t.Context()
	c, s := startRecords(t)

	bad := inc("B", "2026-01-01")
	bad.Migrants[0].Age = proto.Int32(130)
	bad.Migrants[0].FullName = "CANARY"
	bad.Harm = &recordv1.Harm{Deaths: -1}
	_, err := c.UpsertIncidents(ctx, connect.NewRequest(&nodev1.UpsertIncidentsRequest{Incidents: []*recordv1.Incident{inc("A", "2026-01-01"), bad}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("invalid batch: %v", err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	for _, want := range []string{"incidents[1].migrants[0].age: 130 is not between 0 and 120", "incidents[1].harm.deaths: -1 is negative"} {
		if !strings.Contains(ce.Message(), want) {
			t.Errorf("message %q lacks %q", ce.Message(), want)
		}
	}
	if strings.Contains(ce.Message(), "CANARY") {
		t.Error("error echoes a never-shared value")
	}
	var fields []string
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields = append(fields, fv.GetField())
			}
		}
	}
	if strings.Join(fields, " ") != "incidents[1].migrants[0].age incidents[1].harm.deaths" {
		t.Errorf("field violations %v", fields)
	}
	if s.Count() != 0 {
		t.Fatal("an invalid batch wrote something")
	}

	tooMany := make([]*recordv1.Incident, store.MaxBatch+1)
	for i := range tooMany {
		tooMany[i] = inc(fmt.Sprintf("R%d", i), "2026-01-01")
	}
	_, err = c.UpsertIncidents(ctx, connect.NewRequest(&nodev1.UpsertIncidentsRequest{Incidents: tooMany}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("too many: %v", err)
	}

	tests := []struct {
		name string
		call func() error
		want connect.Code
	}{
		{"get missing", func() error {
			_, err := c.GetIncident(ctx, connect.NewRequest(&nodev1.GetIncidentRequest{NationalRef: "nope"}))
			return err
		}, connect.CodeNotFound},
		{"get empty ref", func() error {
			_, err := c.GetIncident(ctx, connect.NewRequest(&nodev1.GetIncidentRequest{}))
			return err
		}, connect.CodeInvalidArgument},
		{"bad token", func() error {
			_, err := c.ListIncidents(ctx, connect.NewRequest(&nodev1.ListIncidentsRequest{PageToken: "%%%"}))
			return err
		}, connect.CodeInvalidArgument},
		{"bad date", func() error {
			_, err := c.ListIncidents(ctx, connect.NewRequest(&nodev1.ListIncidentsRequest{DetectedTo: "2026-1-1"}))
			return err
		}, connect.CodeInvalidArgument},
		{"delete empty ref", func() error {
			_, err := c.DeleteIncident(ctx, connect.NewRequest(&nodev1.DeleteIncidentRequest{}))
			return err
		}, connect.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connect.CodeOf(tt.call()); got != tt.want {
				t.Fatalf("code %v, want %v", got, tt.want)
			}
		})
	}
}
