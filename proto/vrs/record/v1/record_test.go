package recordv1_test

import (
	"bufio"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// TestJSONLinesRoundTrip reads the canonical import format (one protojson
// Incident per line, DESIGN §4), in both the proto field names and the
// lowerCamelCase JSON names, with full enum names (protojson takes nothing else), and writes it
// back without loss.
func TestJSONLinesRoundTrip(t *testing.T) {
	f, err := os.Open("testdata/incidents.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var n int
	for sc.Scan() {
		n++
		var inc recordv1.Incident
		if err := protojson.Unmarshal(sc.Bytes(), &inc); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&inc)
		if err != nil {
			t.Fatalf("line %d: marshal: %v", n, err)
		}
		var back recordv1.Incident
		if err := protojson.Unmarshal(out, &back); err != nil {
			t.Fatalf("line %d: re-read: %v", n, err)
		}
		if !proto.Equal(&inc, &back) {
			t.Fatalf("line %d: round trip changed the incident:\n%v\n%v", n, &inc, &back)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("read %d lines, want 2", n)
	}
}

func TestDesignFieldNames(t *testing.T) {
	var inc recordv1.Incident
	line := `{"national_ref":"X-1","detected_on":"2026-01-31","transport_mode":"TRANSPORT_MODE_SEA",` +
		`"migrants":[{"citizenship":"LKA","sex":"SEX_MALE","age":30}],"harm":{"deaths":1}}`
	if err := protojson.Unmarshal([]byte(line), &inc); err != nil {
		t.Fatal(err)
	}
	if inc.GetNationalRef() != "X-1" || inc.GetTransportMode() != recordv1.TransportMode_TRANSPORT_MODE_SEA ||
		inc.GetMigrants()[0].GetAge() != 30 || inc.GetMigrants()[0].Age == nil || inc.GetHarm().GetDeaths() != 1 {
		t.Fatalf("unexpected incident: %v", &inc)
	}
	// Unknown fields are an error, so a typo in an import file is caught.
	if err := protojson.Unmarshal([]byte(`{"national_reff":"X"}`), &inc); err == nil {
		t.Fatal("unknown field accepted")
	}
}
