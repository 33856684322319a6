package registry

import (
	"testing"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

func TestIDsAreUniqueAndFound(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Measures() {
		if seen[m.ID] || m.Title == "" || m.Definition == "" {
			t.Errorf("measure %q duplicated or undocumented", m.ID)
		}
		seen[m.ID] = true
		if got, ok := MeasureByID(m.ID); !ok || got.ID != m.ID {
			t.Errorf("MeasureByID(%q) = %v, %v", m.ID, got, ok)
		}
		if (m.Level == LevelPerson) != (m.Persons != PersonsNone) {
			t.Errorf("measure %s: level and person set disagree", m.ID)
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d measures, want the 10 of DESIGN §5", len(seen))
	}
	for _, d := range Dimensions() {
		if seen[d.ID] || d.Title == "" {
			t.Errorf("dimension %q duplicated or untitled", d.ID)
		}
		seen[d.ID] = true
		if _, ok := DimensionByID(d.ID); !ok {
			t.Errorf("DimensionByID(%q) not found", d.ID)
		}
	}
	if len(Dimensions()) != 16 {
		t.Errorf("%d dimensions, want the 16 of DESIGN §5", len(Dimensions()))
	}
	if _, ok := MeasureByID("nope"); ok {
		t.Error("MeasureByID(nope) found")
	}
}

func TestValidValue(t *testing.T) {
	tests := []struct {
		dim, value string
		ok         bool
	}{
		{"transport_mode", "SEA", true},
		{"transport_mode", "TRANSPORT_MODE_SEA", false},
		{"transport_mode", "sea", false},
		{"transport_mode", "unknown", true},
		{"citizenship", "MMR", true},
		{"citizenship", "XXA", true},
		{"citizenship", "unknown", true},
		{"citizenship", "mm", false},
		{"citizenship", "ZZZ", false},
		{"route.origin", "XXA", false},
		{"route.origin", "AFG", true},
		{"route.transit", "none", true},
		{"route.transit", "unknown", false},
		{"route.origin", "none", false},
		{"period.month", "2026-03", true},
		{"period.month", "2026-13", false},
		{"period.month", "2026-3", false},
		{"period.quarter", "2026-Q1", true},
		{"period.quarter", "2026-Q5", false},
		{"period.year", "2026", true},
		{"period.year", "26", false},
		{"age_band", "18-29", true},
		{"age_band", "45+", true},
		{"age_band", "18-30", false},
		{"sex", "FEMALE", true},
		{"sex", "UNKNOWN", true},
		{"sex", "unknown", false},
		{"iccs", "08051", true},
		{"iccs", "none", true},
		{"iccs", "8051x", false},
		{"iccs", "99999", false},
		{"subdivision", "TH-90", true},
		{"subdivision", "TH90", false},
		{"document_fraud", "COUNTERFEIT", true},
		{"document_fraud", "none", true},
		{"legal_status", "CONVICTED", true},
		{"suspect_role", "ORGANISER", true},
		{"location_type", "AT_SEA", true},
	}
	for _, tt := range tests {
		d, ok := DimensionByID(tt.dim)
		if !ok {
			t.Fatalf("no dimension %s", tt.dim)
		}
		if got := d.ValidValue(tt.value); got != tt.ok {
			t.Errorf("%s.ValidValue(%q) = %v, want %v", tt.dim, tt.value, got, tt.ok)
		}
	}
}

func TestSpellings(t *testing.T) {
	age := func(a int32) *int32 { return &a }
	for _, tt := range []struct {
		age  *int32
		want string
	}{{nil, "unknown"}, {age(0), "0-17"}, {age(17), "0-17"}, {age(18), "18-29"}, {age(30), "30-44"}, {age(44), "30-44"}, {age(45), "45+"}} {
		if got := AgeBand(tt.age); got != tt.want {
			t.Errorf("AgeBand(%v) = %q, want %q", tt.age, got, tt.want)
		}
	}
	if EnumKey(recordv1.TransportMode_TRANSPORT_MODE_SEA) != "SEA" || EnumKey(recordv1.TransportMode_TRANSPORT_MODE_UNSPECIFIED) != "unknown" ||
		EnumKey(recordv1.TransportMode(99)) != "unknown" || EnumKey(recordv1.FraudType_FRAUD_TYPE_STOLEN_BLANK) != "STOLEN_BLANK" {
		t.Error("EnumKey")
	}
	if SexKey(recordv1.Sex_SEX_UNSPECIFIED) != "UNKNOWN" || SexKey(recordv1.Sex_SEX_FEMALE) != "FEMALE" {
		t.Error("SexKey")
	}
	if PeriodKey(GranularityQuarter, 2026, 5) != "2026-Q2" || PeriodKey(GranularityMonth, 2026, 5) != "2026-05" || PeriodKey(GranularityYear, 2026, 5) != "2026" {
		t.Error("PeriodKey")
	}
	if f, l, ok := PeriodMonths(GranularityQuarter, "2026-Q2"); !ok || f != 2026*12+3 || l != 2026*12+5 {
		t.Errorf("PeriodMonths = %d %d %v", f, l, ok)
	}
}

func TestApplies(t *testing.T) {
	m := func(id string) Measure { x, _ := MeasureByID(id); return x }
	d := func(id string) Dimension { x, _ := DimensionByID(id); return x }
	for _, tt := range []struct {
		m, d string
		ok   bool
	}{
		{"incidents", "transport_mode", true},
		{"incidents", "sex", false},
		{"deaths", "citizenship", false},
		{"migrants", "sex", true},
		{"migrants", "legal_status", false},
		{"suspects", "legal_status", true},
		{"convictions", "suspect_role", true},
		{"minors_unaccompanied", "age_band", true},
		{"fees_paid", "route.origin", true},
	} {
		if got := Applies(m(tt.m), d(tt.d)); got != tt.ok {
			t.Errorf("Applies(%s, %s) = %v, want %v", tt.m, tt.d, got, tt.ok)
		}
	}
}
