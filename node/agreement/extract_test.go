package agreement

import (
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func TestCheckExtract(t *testing.T) {
	a := demo(t)
	f := func(field string, vals ...string) []*queryv1.Filter {
		return []*queryv1.Filter{{Dimension: field, Values: vals}}
	}
	x := func(fs []*queryv1.Filter, from, to string) *queryv1.ExtractQuery {
		return &queryv1.ExtractQuery{Extract: "sea-routes", Filters: fs, PeriodFrom: from, PeriodTo: to}
	}
	tests := []struct {
		name      string
		q         *queryv1.ExtractQuery
		requester string
		code      queryv1.RefusalCode
		reason    string
	}{
		{"allowed", x(nil, "2026-01-01", "2026-03-31"), hub, 0, ""},
		{"open period", x(nil, "", ""), hub, 0, ""},
		{"filters on its fields", x(append(f("transport_mode", "SEA"), f("route.transit", "MYS", "none")[0], f("migrants", "2-4", "50+")[0], f("period", "2026-03")[0]), "", ""), hub, 0, ""},
		{"not a recipient", x(nil, "", ""), "spiffe://vrs.local/partner/x", queryv1.RefusalCode_REFUSAL_CODE_RECIPIENT_NOT_ALLOWED, "not a recipient under THA's agreement"},
		{"no extract", &queryv1.ExtractQuery{}, hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "names no extract"},
		{"unknown extract", &queryv1.ExtractQuery{Extract: "air-routes"}, hub, queryv1.RefusalCode_REFUSAL_CODE_EXTRACT_NOT_SHARED, `extract "air-routes" is not offered by THA`},
		{"filter off the extract", x(f("citizenship", "MMR"), "", ""), hub, queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED, `field "citizenship" is not in THA's extract sea-routes`},
		{"filter on never-shared", x(f("full_name", "x"), "", ""), hub, queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED, "full_name"},
		{"filter on ungeneralised count", x(f("migrants", "3"), "", ""), hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, `"3" is not a value of field migrants generalised to band`},
		{"filter finer than the period", x(f("period", "2026-03-14"), "", ""), hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "period generalised to month"},
		{"bad country", x(f("route.origin", "ZZZ"), "", ""), hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, `"ZZZ"`},
		{"empty filter", x(f("transport_mode"), "", ""), hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "no values"},
		{"day range", x(nil, "2026-03-02", "2026-03-31"), hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "first day of a month"},
		{"day range end", x(nil, "2026-03-01", "2026-03-30"), hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "last day of a month"},
		{"reversed", x(nil, "2026-03-01", "2026-01-31"), hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.CheckExtract(tt.q, tt.requester)
			if tt.code == 0 {
				if r != nil {
					t.Fatalf("refused: %v", r)
				}
				return
			}
			if r == nil || r.GetCode() != tt.code || !strings.Contains(r.GetReason(), tt.reason) {
				t.Fatalf("got %v, want %v containing %q", r, tt.code, tt.reason)
			}
		})
	}
}

func TestExtractPeriodAlignedOnItsGeneralisation(t *testing.T) {
	src := strings.Replace(string(demo(t).Source), `"period"            = "month"`, `"period"            = "quarter"`, 1)
	a, err := Parse("q.hcl", []byte(src), "THA")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := a.Extract("sea-routes")
	if g := a.PeriodGranularity(x); g != registry.GranularityQuarter {
		t.Fatalf("granularity %v, want quarter", g)
	}
	for _, tt := range []struct {
		from, to string
		ok       bool
	}{
		{"2026-01-01", "2026-06-30", true},
		{"2026-02-01", "2026-06-30", false},
		{"2026-01-01", "2026-05-31", false},
	} {
		r := a.CheckExtract(&queryv1.ExtractQuery{Extract: "sea-routes", PeriodFrom: tt.from, PeriodTo: tt.to}, hub)
		if (r == nil) != tt.ok {
			t.Errorf("%s..%s: refusal %v, want ok %v", tt.from, tt.to, r, tt.ok)
		}
	}
	if r := a.CheckExtract(&queryv1.ExtractQuery{Extract: "sea-routes", Filters: []*queryv1.Filter{{Dimension: "period", Values: []string{"2026-03"}}}}, hub); r == nil {
		t.Error("a month filter on a quarter extract was allowed")
	}
}

func TestExtractFieldValues(t *testing.T) {
	tests := []struct {
		f    ExtractField
		v    string
		want bool
	}{
		{ExtractField{"period", "year"}, "2026", true},
		{ExtractField{"period", "year"}, "2026-03", false},
		{ExtractField{"methods", "as_is"}, "CONCEALMENT", true},
		{ExtractField{"methods", "as_is"}, "none", true},
		{ExtractField{"methods", "as_is"}, "METHOD_CONCEALMENT", false},
		{ExtractField{"deaths", "band"}, "0", true},
		{ExtractField{"deaths", "band"}, "7", false},
		{ExtractField{"iccs", "as_is"}, "08051", true},
		{ExtractField{"subdivision", "as_is"}, "TH-90", true},
		{ExtractField{"document_fraud", "as_is"}, "FORGED", true},
	}
	for _, tt := range tests {
		if got := tt.f.ValidValue(tt.v); got != tt.want {
			t.Errorf("%s=%s ValidValue(%q) = %v, want %v", tt.f.Field, tt.f.Generalisation, tt.v, got, tt.want)
		}
	}
}

func TestParseSmallGroups(t *testing.T) {
	src := string(demo(t).Source)
	if x, _ := demo(t).Extract("sea-routes"); x.SmallGroups != SmallGroupsWithhold {
		t.Fatalf("default small_groups %q", x.SmallGroups)
	}
	gen := strings.Replace(src, "k = 3", "k = 3\n    small_groups = \"generalise\"", 1)
	a, err := Parse("g.hcl", []byte(gen), "THA")
	if err != nil {
		t.Fatal(err)
	}
	if x, _ := a.Extract("sea-routes"); x.SmallGroups != SmallGroupsGeneralise {
		t.Fatalf("small_groups %q", x.SmallGroups)
	}
	bad := strings.Replace(src, "k = 3", "k = 3\n    small_groups = \"drop\"", 1)
	if _, err := Parse("b.hcl", []byte(bad), "THA"); err == nil || !strings.Contains(err.Error(), `small_groups "drop"`) {
		t.Fatalf("err = %v", err)
	}
}
