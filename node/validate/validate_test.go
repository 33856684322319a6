package validate

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func validIncident() *recordv1.Incident {
	return &recordv1.Incident{
		NationalRef:     "THA-2026-0001",
		ReportingAgency: "Royal Thai Police",
		DetectedOn:      "2026-03-14",
		DetectedAt:      &recordv1.Place{Country: "THA", Subdivision: "TH-90", Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA, Name: "Koh Lipe"},
		IccsCodes:       []string{"08051"},
		Route:           &recordv1.Route{Origin: "MMR", Transit: []string{"THA"}, Destination: "MYS", Embarkation: "a beach"},
		TransportMode:   recordv1.TransportMode_TRANSPORT_MODE_SEA,
		Methods:         []recordv1.Method{recordv1.Method_METHOD_CONCEALMENT},
		Documents:       []*recordv1.Document{{Type: recordv1.DocumentType_DOCUMENT_TYPE_PASSPORT, IssuingCountry: "MYS", Fraud: recordv1.FraudType_FRAUD_TYPE_FORGED}},
		Fee:             &recordv1.Fee{AmountPerPerson: 1500, Currency: "USD", Method: recordv1.PaymentMethod_PAYMENT_METHOD_CASH},
		Migrants: []*recordv1.Person{
			{Citizenship: "MMR", Sex: recordv1.Sex_SEX_FEMALE, Age: proto.Int32(16), UnaccompaniedMinor: true, FullName: "Canary Name", DateOfBirth: "2010-01-02"},
			{Citizenship: "XXA", Sex: recordv1.Sex_SEX_MALE},
		},
		Suspects: []*recordv1.Person{{Citizenship: "THA", Role: recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, LegalStatus: recordv1.LegalStatus_LEGAL_STATUS_ARRESTED}},
		Harm:     &recordv1.Harm{Deaths: 1},
		Notes:    "free text",
	}
}

func TestValidIncident(t *testing.T) {
	v := Validator{Now: func() time.Time { return fixedNow }}
	if errs := v.Incident(validIncident()); len(errs) != 0 {
		t.Fatalf("valid incident rejected: %v", errs)
	}
	minimal := &recordv1.Incident{NationalRef: "x", DetectedOn: "2026-01-01"}
	if errs := v.Incident(minimal); len(errs) != 0 {
		t.Fatalf("minimal incident rejected: %v", errs)
	}
}

func TestFieldErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*recordv1.Incident)
		want   string // the one expected error, rendered
	}{
		{"missing ref", func(i *recordv1.Incident) { i.NationalRef = "" }, "national_ref: required"},
		{"long ref", func(i *recordv1.Incident) { i.NationalRef = strings.Repeat("a", 129) }, "national_ref: longer than 128 characters"},
		{"control in ref", func(i *recordv1.Incident) { i.NationalRef = "a\tb" }, "national_ref: contains a control character"},
		{"spaces around ref", func(i *recordv1.Incident) { i.NationalRef = " a" }, "national_ref: has leading or trailing spaces"},
		{"missing date", func(i *recordv1.Incident) { i.DetectedOn = "" }, "detected_on: required"},
		{"bad date", func(i *recordv1.Incident) { i.DetectedOn = "2026-02-30" }, `detected_on: "2026-02-30" is not a YYYY-MM-DD date`},
		{"date with time", func(i *recordv1.Incident) { i.DetectedOn = "2026-02-03T00:00:00Z" }, `detected_on: "2026-02-03T00:00:00Z" is not a YYYY-MM-DD date`},
		{"future date", func(i *recordv1.Incident) { i.DetectedOn = "2026-12-01" }, `detected_on: "2026-12-01" is in the future`},
		{"old date", func(i *recordv1.Incident) { i.DetectedOn = "1899-12-31" }, `detected_on: "1899-12-31" is before 1900`},
		{"bad country", func(i *recordv1.Incident) { i.DetectedAt.Country = "ZZZ"; i.DetectedAt.Subdivision = "" }, `detected_at.country: "ZZZ" is not an ISO 3166-1 alpha-3 code`},
		{"subdivision of other country", func(i *recordv1.Incident) { i.DetectedAt.Subdivision = "ID-RI" }, `detected_at.subdivision: "ID-RI" is not a subdivision of THA`},
		{"subdivision without country", func(i *recordv1.Incident) { i.DetectedAt.Country = "" }, `detected_at.subdivision: set without detected_at.country`},
		{"location enum", func(i *recordv1.Incident) { i.DetectedAt.Type = 99 }, "detected_at.type: 99 is not a LocationType value"},
		{"iccs", func(i *recordv1.Incident) { i.IccsCodes = append(i.IccsCodes, "99999") }, `iccs_codes[1]: "99999" is not an ICCS code`},
		{"transit", func(i *recordv1.Incident) { i.Route.Transit = []string{"THA", "XX"} }, `route.transit[1]: "XX" is not an ISO 3166-1 alpha-3 code`},
		{"stateless is no route", func(i *recordv1.Incident) { i.Route.Destination = "XXA" }, `route.destination: "XXA" is not an ISO 3166-1 alpha-3 code`},
		{"transport enum", func(i *recordv1.Incident) { i.TransportMode = -1 }, "transport_mode: -1 is not a TransportMode value"},
		{"method enum", func(i *recordv1.Incident) { i.Methods = []recordv1.Method{1, 42} }, "methods[1]: 42 is not a Method value"},
		{"document country", func(i *recordv1.Incident) { i.Documents[0].IssuingCountry = "abc" }, `documents[0].issuing_country: "abc" is not an ISO 3166-1 alpha-3 code`},
		{"negative fee", func(i *recordv1.Incident) { i.Fee.AmountPerPerson = -3 }, "fee.amount_per_person: -3 is negative"},
		{"nan fee", func(i *recordv1.Incident) { i.Fee.AmountPerPerson = math.NaN() }, "fee.amount_per_person: not a finite number"},
		{"inf fee", func(i *recordv1.Incident) { i.Fee.AmountPerPerson = math.Inf(1) }, "fee.amount_per_person: not a finite number"},
		{"fee without currency", func(i *recordv1.Incident) { i.Fee.Currency = "" }, "fee.currency: required when amount_per_person is above 0"},
		{"bad currency", func(i *recordv1.Incident) { i.Fee.Currency = "XYZ" }, `fee.currency: "XYZ" is not an ISO 4217 currency code`},
		{"citizenship", func(i *recordv1.Incident) { i.Migrants[1].Citizenship = "ZZZ" }, `migrants[1].citizenship: "ZZZ" is not an ISO 3166-1 alpha-3 or ICAO 9303 (XXA, XXB, XXC, XXX) code`},
		{"age", func(i *recordv1.Incident) { i.Migrants[0].Age = proto.Int32(130) }, "migrants[0].age: 130 is not between 0 and 120"},
		{"negative age", func(i *recordv1.Incident) { i.Suspects[0].Age = proto.Int32(-1) }, "suspects[0].age: -1 is not between 0 and 120"},
		{"adult minor", func(i *recordv1.Incident) { i.Migrants[0].Age = proto.Int32(30) }, "migrants[0].unaccompanied_minor: set for a person aged 30"},
		{"sex enum", func(i *recordv1.Incident) { i.Migrants[0].Sex = 9 }, "migrants[0].sex: 9 is not a Sex value"},
		{"role enum", func(i *recordv1.Incident) { i.Suspects[0].Role = 8 }, "suspects[0].role: 8 is not a SuspectRole value"},
		{"status enum", func(i *recordv1.Incident) { i.Suspects[0].LegalStatus = 6 }, "suspects[0].legal_status: 6 is not a LegalStatus value"},
		{"dob", func(i *recordv1.Incident) { i.Migrants[0].DateOfBirth = "02/01/2010" }, "migrants[0].date_of_birth: not a YYYY-MM-DD date"},
		{"dob future", func(i *recordv1.Incident) { i.Migrants[0].DateOfBirth = "2027-01-01" }, "migrants[0].date_of_birth: in the future"},
		{"deaths", func(i *recordv1.Incident) { i.Harm.Deaths = -2 }, "harm.deaths: -2 is negative"},
		{"injured", func(i *recordv1.Incident) { i.Harm.Injured = -1 }, "harm.injured: -1 is negative"},
		{"long notes", func(i *recordv1.Incident) { i.Notes = strings.Repeat("n", MaxNotes+1) }, "notes: longer than 10000 characters"},
		{"bad utf8 name", func(i *recordv1.Incident) { i.Suspects[0].FullName = "\xff" }, "suspects[0].full_name: not valid UTF-8 (save the file as UTF-8)"},
	}
	v := Validator{Now: func() time.Time { return fixedNow }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inc := validIncident()
			tt.mutate(inc)
			errs := v.Incident(inc)
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want exactly %q", len(errs), errs, tt.want)
			}
			if got := errs[0].Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if errs[0].Index != -1 {
				t.Errorf("index %d, want -1", errs[0].Index)
			}
		})
	}
}

func TestEveryErrorReported(t *testing.T) {
	inc := validIncident()
	inc.NationalRef = ""
	inc.Migrants[0].Age = proto.Int32(200)
	inc.Migrants[1].Citizenship = "QQQ"
	inc.Harm.Missing = -1
	errs := Validator{Now: func() time.Time { return fixedNow }}.Incident(inc)
	if len(errs) != 4 {
		t.Fatalf("got %d errors, want 4: %v", len(errs), errs)
	}
}

func TestNeverSharedValuesNotEchoed(t *testing.T) {
	inc := validIncident()
	inc.Migrants[0].DateOfBirth = "CANARY-DOB"
	inc.Migrants[0].FullName = strings.Repeat("CANARY", 100)
	inc.Conveyance = strings.Repeat("CANARY", 100)
	inc.Notes = strings.Repeat("CANARY", 2000)
	inc.DetectedAt.Name = strings.Repeat("CANARY", 100)
	inc.Route.Embarkation = strings.Repeat("CANARY", 100)
	inc.Suspects[0].DocumentNumber = strings.Repeat("CANARY", 100)
	inc.NationalRef = "CANARY\x01"
	errs := Validator{Now: func() time.Time { return fixedNow }}.Incident(inc)
	if len(errs) != 8 {
		t.Fatalf("got %d errors, want 8: %v", len(errs), errs)
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), "CANARY") {
			t.Errorf("message echoes a never-shared value: %q", e.Error())
		}
	}
}

func TestBatch(t *testing.T) {
	a, b, c := validIncident(), validIncident(), validIncident()
	b.NationalRef = "other"
	c.Harm.Deaths = -1 // and a duplicate of a
	errs := Validator{Now: func() time.Time { return fixedNow }}.Batch([]*recordv1.Incident{a, b, c})
	want := []string{"incidents[2].harm.deaths: -1 is negative", "incidents[2].national_ref: duplicate of incidents[0]"}
	if len(errs) != len(want) {
		t.Fatalf("got %v, want %v", errs, want)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d: got %q, want %q", i, errs[i].Error(), want[i])
		}
	}
}

func TestFutureToleranceUsesClock(t *testing.T) {
	inc := &recordv1.Incident{NationalRef: "x", DetectedOn: "2026-11-28"}
	// Tomorrow in UTC is today in UTC+14: accepted.
	if errs := (Validator{Now: func() time.Time { return fixedNow }}).Incident(inc); len(errs) != 0 {
		t.Fatalf("tomorrow rejected: %v", errs)
	}
	if errs := (Validator{Now: func() time.Time { return fixedNow.AddDate(0, 0, -3) }}).Incident(inc); len(errs) != 1 {
		t.Fatalf("three days ahead accepted")
	}
}

// FuzzIncident feeds arbitrary protojson to the validator: it must never
// panic, and every error must name a path or a rule.
func FuzzIncident(f *testing.F) {
	seed, _ := protojson.Marshal(validIncident())
	f.Add(seed)
	f.Add([]byte(`{"nationalRef":"a","detectedOn":"2026-01-01"}`))
	f.Add([]byte(`{"national_ref":"a","detected_on":"2026-02-31","migrants":[{"age":-5,"citizenship":"XXB"}]}`))
	f.Add([]byte(`{"nationalRef":"a","detectedAt":{"subdivision":"TH-1"},"fee":{"amountPerPerson":"NaN"}}`))
	f.Add([]byte(`{"transportMode":77,"methods":[0,1,99],"documents":[{}]}`))
	f.Add([]byte(`{"transportMode":"TRANSPORT_MODE_AIR","harm":{"deaths":-1}}`))
	v := Validator{Now: func() time.Time { return fixedNow }}
	f.Fuzz(func(t *testing.T, data []byte) {
		var inc recordv1.Incident
		if err := protojson.Unmarshal(data, &inc); err != nil {
			return
		}
		for _, e := range v.Incident(&inc) {
			if e.Rule == "" || e.Index != -1 {
				t.Fatalf("malformed error %#v", e)
			}
		}
	})
}

func BenchmarkIncident(b *testing.B) {
	inc := validIncident()
	v := Validator{Now: func() time.Time { return fixedNow }}
	b.ReportAllocs()
	for b.Loop() {
		if errs := v.Incident(inc); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}
