package engine

import (
	"slices"
	"testing"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

func TestRecords(t *testing.T) {
	e := New()
	a := &recordv1.Incident{NationalRef: "A", DetectedOn: "2026-03-31", TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
		Route:    &recordv1.Route{Origin: "MMR", Transit: []string{"THA", "MYS", "THA"}},
		Methods:  []recordv1.Method{recordv1.Method_METHOD_CONCEALMENT, recordv1.Method_METHOD_UNSPECIFIED},
		Migrants: []*recordv1.Person{{}, {}}, Harm: &recordv1.Harm{Deaths: 1}, Notes: "CANARY-NOTES"}
	b := &recordv1.Incident{NationalRef: "B", DetectedOn: "2026-04-01", Documents: []*recordv1.Document{{}}}
	for _, inc := range []*recordv1.Incident{a, b} {
		e.Apply(nil, inc)
	}
	collect := func(from, to string) []Record {
		t.Helper()
		seq, err := e.Records(from, to)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Collect(seq)
	}
	got := collect("2026-03-01", "2026-03-31")
	if len(got) != 1 {
		t.Fatalf("got %d records in March, want 1", len(got))
	}
	r := got[0]
	if r.Ref != "A" || r.Month != 2026*12+2 || r.Origin != "MMR" || r.Destination != "unknown" || r.TransportMode != "SEA" ||
		!slices.Equal(r.Transit, []string{"THA", "MYS"}) || !slices.Equal(r.ICCS, []string{"none"}) ||
		!slices.Equal(r.Methods, []string{"unknown", "CONCEALMENT"}) || !slices.Equal(r.DocumentFraud, []string{"none"}) ||
		r.Migrants != 2 || r.Deaths != 1 || r.LocationType != "unknown" || r.Subdivision != "unknown" {
		t.Fatalf("record %+v", r)
	}
	if got := collect("2026-04-01", ""); len(got) != 1 || !slices.Equal(got[0].DocumentFraud, []string{"unknown"}) || !slices.Equal(got[0].Methods, []string{"none"}) {
		t.Fatalf("April: %+v", got)
	}
	// Deletes and moves are seen.
	e.Apply(b, nil)
	moved := &recordv1.Incident{NationalRef: "A", DetectedOn: "2026-05-02"}
	e.Apply(a, moved)
	if got := collect("", ""); len(got) != 1 || got[0].Month != 2026*12+4 || !slices.Equal(got[0].Methods, []string{"none"}) {
		t.Fatalf("after changes: %+v", got)
	}
	// Stopping early is allowed.
	e.Apply(nil, b)
	seq, _ := e.Records("", "")
	for range seq {
		break
	}
	if _, err := e.Records("2026-13-01", ""); err == nil {
		t.Fatal("a bad date was accepted")
	}
}
