package main

import (
	"slices"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{50, 5},
		{99, 10},
		{100, 10},
		{0, 1},
	}
	for _, tt := range tests {
		if got := pct(ds, tt.p); got != tt.want {
			t.Errorf("pct(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := pct(nil, 50); got != 0 {
		t.Errorf("pct(nil) = %v, want 0", got)
	}
}

func TestFederationStates(t *testing.T) {
	got, err := federationStates(200)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range got {
		if seen[c] {
			t.Errorf("%s twice", c)
		}
		seen[c] = true
	}
	for _, c := range []string{"AUS", "IDN"} {
		if !slices.Contains(got[:45], c) {
			t.Errorf("%s missing from the first 45", c)
		}
	}
	if slices.Contains(got[:45], "FRA") {
		t.Error("a European state among the first 45: the region comes first")
	}
	if _, err := federationStates(1000); err == nil {
		t.Error("1000 states: no error")
	}
}
