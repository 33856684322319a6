package ui

import (
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/node/agreement"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func TestAgreementInWords(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		sentence  string
		rules     []string
	}{
		{
			name: "exact values, zeros withheld",
			src: `agreement "x" {
  version = 1
  recipients = ["spiffe://vrs.local/hub", "spiffe://vrs.local/partner/unodc"]
  min_cell = 10
  rounding = "none"
  max_group_by = 1
  period_floor = "quarter"
  suppress_zeros = true
  measure "deaths" { dimensions = ["period.year"] }
}`,
			sentence: "Thailand shares with spiffe://vrs.local/hub and spiffe://vrs.local/partner/unodc: deaths by year. Counts below 10 are withheld; other values are exact.",
			rules: []string{"Counts below 10 are withheld", "Zero counts are withheld", "sent exactly", "at most 1 dimension.",
				"shorter than a quarter"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := agreement.Parse("x.hcl", []byte(tc.src), "THA")
			if err != nil {
				t.Fatal(err)
			}
			v := agreementViewOf("THA", a)
			if v.Sentence != tc.sentence {
				t.Errorf("sentence\n%q, want\n%q", v.Sentence, tc.sentence)
			}
			rules := strings.Join(v.Rules, "\n")
			for _, r := range tc.rules {
				if !strings.Contains(rules, r) {
					t.Errorf("rules do not say %q:\n%s", r, rules)
				}
			}
		})
	}
}

func TestQueryWords(t *testing.T) {
	for _, tc := range []struct {
		q    *queryv1.AggregateQuery
		want string
	}{
		{&queryv1.AggregateQuery{Measure: "incidents"}, "Incidents, all dates"},
		{&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"route.origin", "iccs"}, PeriodFrom: "2026-01-01"},
			"Migrants by country of origin × offence (ICCS), from 2026-01-01"},
		{&queryv1.AggregateQuery{Measure: "migrants", Filters: []*queryv1.Filter{
			{Dimension: "transport_mode", Values: []string{"SEA", "AIR"}}, {Dimension: "citizenship", Values: []string{"MMR"}}},
			PeriodTo: "2026-12-31"},
			"Migrants, where transport mode is Sea or Air and citizenship is Myanmar (MMR), up to 2026-12-31"},
		{&queryv1.AggregateQuery{Measure: "made_up"}, "made_up, all dates"},
	} {
		if got := queryWords(tc.q); got != tc.want {
			t.Errorf("queryWords = %q, want %q", got, tc.want)
		}
	}
}
