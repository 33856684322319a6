package agreement

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

const hub = "spiffe://vrs.local/hub"

func demo(t testing.TB) *Agreement {
	t.Helper()
	src, err := os.ReadFile("testdata/cau-regional.hcl")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse("cau-regional.hcl", src, "THA")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseDemo(t *testing.T) {
	a := demo(t)
	if a.Name != "cau-regional" || a.Version != 3 || a.MinCell != 5 || a.Rounding != "rr3" || a.MaxGroupBy != 3 ||
		a.PeriodFloor != registry.GranularityMonth || a.FeesCurrency != "USD" || len(a.Measures) != 3 || len(a.Extracts) != 1 {
		t.Fatalf("parsed %+v", a)
	}
	if len(a.Hash) != 64 {
		t.Fatalf("hash %q", a.Hash)
	}
	s := a.Summary()
	if s.GetName() != "cau-regional" || s.GetPeriodFloor() != "month" || len(s.GetMeasures()) != 3 ||
		s.GetExtracts()[0].GetFields()[0] != "period=month" || s.GetRecipients()[0] != hub {
		t.Fatalf("summary %v", s)
	}
}

func base(body string) string {
	return `agreement "x" {
  version = 1
  recipients = ["spiffe://vrs.local/hub"]
  min_cell = 3
  rounding = "none"
  max_group_by = 2
` + body + "\n}\n"
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax", `agreement "x" {`, "f.hcl:1:"},
		{"no block", `version = 1`, "f.hcl:1:1:"},
		{"unknown measure", base(`measure "smugglers" { dimensions = [] }`), `f.hcl:7:9: unknown measure "smugglers"`},
		{"unknown dimension", base(`measure "migrants" { dimensions = ["sex", "colour"] }`), `f.hcl:7:43: unknown dimension "colour"`},
		{"person dim on incidents", base(`measure "incidents" { dimensions = ["sex"] }`), "dimension sex does not apply to measure incidents"},
		{"suspect dim on migrants", base(`measure "migrants" { dimensions = ["legal_status"] }`), "does not apply"},
		{"month below floor", base(`period_floor = "quarter"
measure "migrants" { dimensions = ["period.month"] }`), "finer than period_floor quarter"},
		{"fees without currency", base(`measure "fees_paid" { dimensions = [] }`), "needs fees_currency"},
		{"bad rounding", strings.Replace(base(""), `"none"`, `"rr5"`, 1), `f.hcl:5:14: rounding "rr5"`},
		{"min_cell zero", strings.Replace(base(""), "min_cell = 3", "min_cell = 0", 1), "min_cell must be at least 1"},
		{"max_group_by negative", strings.Replace(base(""), "max_group_by = 2", "max_group_by = -1", 1), "max_group_by"},
		{"recipient not spiffe", strings.Replace(base(""), "spiffe://vrs.local/hub", "https://hub", 1), "not a SPIFFE ID"},
		{"unknown attribute", base(`colour = "red"`), `Unsupported argument`},
		{"duplicate measure", base(`measure "migrants" { dimensions = [] }
measure "migrants" { dimensions = [] }`), "granted twice"},
		{"never-shared extract field", base(`extract "e" {
  fields = { "full_name" = "as_is" }
  quasi_identifiers = []
  k = 2
}`), `f.hcl:8:14: field full_name is never shared`},
		{"never-shared nested", base(`extract "e" {
  fields = { "route.embarkation" = "as_is" }
  quasi_identifiers = []
  k = 2
}`), "field route.embarkation is never shared"},
		{"never-shared notes", base(`extract "e" {
  fields = { notes = "as_is" }
  quasi_identifiers = []
  k = 2
}`), "field notes is never shared"},
		{"bad generalisation", base(`extract "e" {
  fields = { "migrants" = "as_is" }
  quasi_identifiers = []
  k = 2
}`), "generalisation"},
		{"qi not a field", base(`extract "e" {
  fields = { "period" = "month" }
  quasi_identifiers = ["route.origin"]
  k = 2
}`), "not a field"},
		{"fractional version", strings.Replace(base(""), "version = 1", "version = 1.5", 1), "whole number"},
		{"variables refused", strings.Replace(base(""), "min_cell = 3", "min_cell = var.x", 1), "f.hcl:4:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.hcl", []byte(tt.src), "THA")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	a := demo(t)
	f := func(dim string, vals ...string) []*queryv1.Filter {
		return []*queryv1.Filter{{Dimension: dim, Values: vals}}
	}
	tests := []struct {
		name      string
		q         *queryv1.AggregateQuery
		requester string
		code      queryv1.RefusalCode
		reason    string
	}{
		{"allowed", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month", "sex"}, PeriodFrom: "2026-01-01", PeriodTo: "2026-03-31"}, hub, 0, ""},
		{"coarser period allowed", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.year"}}, hub, 0, ""},
		{"filters allowed", &queryv1.AggregateQuery{Measure: "migrants", Filters: f("transport_mode", "SEA", "unknown")}, hub, 0, ""},
		{"not a recipient", &queryv1.AggregateQuery{Measure: "migrants"}, "spiffe://vrs.local/partner/x", queryv1.RefusalCode_REFUSAL_CODE_RECIPIENT_NOT_ALLOWED, "not a recipient"},
		{"no measure", &queryv1.AggregateQuery{}, hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "names no measure"},
		{"unknown measure", &queryv1.AggregateQuery{Measure: "smugglers"}, hub, queryv1.RefusalCode_REFUSAL_CODE_UNKNOWN_MEASURE, "not in the registry"},
		{"measure not shared", &queryv1.AggregateQuery{Measure: "suspects"}, hub, queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED, "measure suspects is not shared by THA"},
		{"too many", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex", "age_band", "citizenship", "route.origin"}}, hub, queryv1.RefusalCode_REFUSAL_CODE_TOO_MANY_DIMENSIONS, "at most 3"},
		{"unknown dimension", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"colour"}}, hub, queryv1.RefusalCode_REFUSAL_CODE_UNKNOWN_DIMENSION, "not in the registry"},
		{"dimension not shared", &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"subdivision"}}, hub, queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED, "dimension subdivision is not shared by THA for measure migrants"},
		{"person dim on incidents", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"sex"}}, hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "does not apply"},
		{"filter dim not shared", &queryv1.AggregateQuery{Measure: "incidents", Filters: f("location_type", "AT_SEA")}, hub, queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED, "location_type"},
		{"bad filter value", &queryv1.AggregateQuery{Measure: "incidents", Filters: f("transport_mode", "BOAT")}, hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, `"BOAT" is not a value of transport_mode`},
		{"empty filter", &queryv1.AggregateQuery{Measure: "incidents", Filters: f("transport_mode")}, hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "no values"},
		{"grouped twice", &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"iccs", "iccs"}}, hub, queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "twice"},
		{"bad date", &queryv1.AggregateQuery{Measure: "incidents", PeriodFrom: "2026-02-30"}, hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "not a YYYY-MM-DD"},
		{"reversed", &queryv1.AggregateQuery{Measure: "incidents", PeriodFrom: "2026-03-01", PeriodTo: "2026-01-31"}, hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "before"},
		{"day range", &queryv1.AggregateQuery{Measure: "incidents", PeriodFrom: "2026-03-02", PeriodTo: "2026-03-31"}, hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "first day of a month"},
		{"day range end", &queryv1.AggregateQuery{Measure: "incidents", PeriodFrom: "2026-03-01", PeriodTo: "2026-03-30"}, hub, queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "last day of a month"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.Check(tt.q, tt.requester)
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

func TestCheckPeriodFloor(t *testing.T) {
	a, err := Parse("f.hcl", []byte(base(`period_floor = "quarter"
measure "migrants" { dimensions = ["period.quarter", "sex"] }`)), "IDN")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q  *queryv1.AggregateQuery
		ok bool
	}{
		{&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.quarter"}}, true},
		{&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.year"}}, true},
		{&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"period.month"}}, false},
		{&queryv1.AggregateQuery{Measure: "migrants", Filters: []*queryv1.Filter{{Dimension: "period.month", Values: []string{"2026-01"}}}}, false},
		{&queryv1.AggregateQuery{Measure: "migrants", PeriodFrom: "2026-04-01", PeriodTo: "2026-06-30"}, true},
		{&queryv1.AggregateQuery{Measure: "migrants", PeriodFrom: "2026-05-01", PeriodTo: "2026-06-30"}, false},
	} {
		if r := a.Check(tt.q, hub); (r == nil) != tt.ok {
			t.Errorf("Check(%v) = %v, want ok=%v", tt.q, r, tt.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	src, err := os.ReadFile("testdata/cau-regional.hcl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(src)
	f.Add([]byte(base("")))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse("f.hcl", b, "THA")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.hcl:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		if a.MinCell < 1 || (a.Rounding != "none" && a.Rounding != "rr3") || a.MaxGroupBy < 0 {
			t.Fatalf("invalid agreement accepted: %+v", a)
		}
		for _, x := range a.Extracts {
			for _, fl := range x.Fields {
				if isNeverShared(fl.Field) {
					t.Fatalf("never-shared field %s accepted", fl.Field)
				}
			}
		}
		_ = a.Summary()
	})
}

func FuzzCheck(f *testing.F) {
	a := demo(f)
	f.Add("migrants", "period.month", "sex", "transport_mode", "SEA", "2026-01-01", "2026-03-31")
	f.Add("incidents", "iccs", "iccs", "route.origin", "unknown", "2026-02-30", "")
	f.Add("suspects", "", "", "period.month", "2026-13", "", "2026-01-31")
	f.Fuzz(func(t *testing.T, measure, g1, g2, fdim, fval, from, to string) {
		q := &queryv1.AggregateQuery{Measure: measure, PeriodFrom: from, PeriodTo: to}
		for _, g := range []string{g1, g2} {
			if g != "" {
				q.GroupBy = append(q.GroupBy, g)
			}
		}
		if fdim != "" {
			q.Filters = []*queryv1.Filter{{Dimension: fdim, Values: []string{fval}}}
		}
		r := a.Check(q, hub)
		if r != nil {
			if r.GetCode() == queryv1.RefusalCode_REFUSAL_CODE_UNSPECIFIED || r.GetReason() == "" {
				t.Fatalf("refusal without code or reason: %v", r)
			}
			if len(r.GetReason()) > 400 {
				t.Fatalf("reason too long: %d bytes", len(r.GetReason()))
			}
			return
		}
		// Allowed: everything named must be in the agreement.
		g, ok := a.Grant(q.GetMeasure())
		if !ok {
			t.Fatalf("measure %q allowed but not granted", q.GetMeasure())
		}
		for _, id := range append(cloneStrings(q.GetGroupBy()), fdim) {
			if id == "" {
				continue
			}
			d, ok := registry.DimensionByID(id)
			if !ok || !g.Allows(d) {
				t.Fatalf("dimension %q allowed but not granted", id)
			}
		}
	})
}

func cloneStrings(s []string) []string { return append([]string(nil), s...) }

func TestHolderReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agreement.hcl")
	src, _ := os.ReadFile("testdata/cau-regional.hcl")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	l := openAudit(t)
	var changed []int64
	h, err := NewHolder(t.Context(), HolderConfig{Path: path, Country: "THA", Audit: l,
		OnChange: func(a *Agreement) { changed = append(changed, a.Version) }})
	if err != nil {
		t.Fatal(err)
	}
	if h.Current().Version != 3 {
		t.Fatalf("version %d", h.Current().Version)
	}
	// Unchanged: no new audit entry.
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	// Invalid: rejected, previous stays.
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), `"migrants"`, `"smugglers"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err == nil || !strings.Contains(err.Error(), "unknown measure") {
		t.Fatalf("Reload of an invalid file: %v", err)
	}
	if h.Current().Version != 3 {
		t.Fatal("invalid reload replaced the agreement")
	}
	// Valid change: swapped and audited.
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), "version        = 3", "version        = 4", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if h.Current().Version != 4 {
		t.Fatalf("version %d after reload", h.Current().Version)
	}
	// OnChange saw only the change in force: not the first load, not the
	// unchanged or rejected reloads.
	if len(changed) != 1 || changed[0] != 4 {
		t.Fatalf("OnChange calls %v, want [4]", changed)
	}
	es, err := l.List(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].GetAgreementVersion() != 3 || es[1].GetAgreementVersion() != 4 || es[1].GetAgreementHash() != h.Current().Hash {
		t.Fatalf("audit entries %v", es)
	}
}

func TestHolderRunPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agreement.hcl")
	src, _ := os.ReadFile("testdata/cau-regional.hcl")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := NewHolder(t.Context(), HolderConfig{Path: path, Country: "THA", Audit: openAudit(t), PollInterval: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(t.Context()) }()
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), "version        = 3", "version        = 5", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for h.Current().Version != 5 {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v", err)
		default:
		}
		// Polling every 10 ms; the test's own deadline bounds the wait.
		waitABit()
	}
}
