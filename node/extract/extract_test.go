package extract

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/engine/enginetest"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// fieldGens lists every extractable field with its generalisations, as
// the agreement accepts them.
var fieldGens = []agreement.ExtractField{
	{Field: "period", Generalisation: "month"}, {Field: "period", Generalisation: "quarter"}, {Field: "period", Generalisation: "year"},
	{Field: "route.origin", Generalisation: "country"}, {Field: "route.transit", Generalisation: "country"},
	{Field: "route.destination", Generalisation: "country"}, {Field: "transport_mode", Generalisation: "as_is"},
	{Field: "location_type", Generalisation: "as_is"}, {Field: "subdivision", Generalisation: "as_is"},
	{Field: "iccs", Generalisation: "as_is"}, {Field: "methods", Generalisation: "as_is"},
	{Field: "document_fraud", Generalisation: "as_is"}, {Field: "migrants", Generalisation: "band"},
	{Field: "suspects", Generalisation: "band"}, {Field: "deaths", Generalisation: "band"},
	{Field: "missing", Generalisation: "band"}, {Field: "injured", Generalisation: "band"},
}

func orUnknown(s string) string {
	if s == "" {
		return registry.Unknown
	}
	return s
}

func distinctSorted(vals []string, none string) []string {
	var out []string
	for _, v := range vals {
		if v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return []string{none}
	}
	return out
}

// refValues generalises a field straight from the record, independently
// of the engine and of Build.
func refValues(inc *recordv1.Incident, f agreement.ExtractField) []string {
	switch f.Field {
	case "period":
		t, _ := registry.ParseDate(inc.GetDetectedOn())
		return []string{registry.PeriodKey(f.Granularity(), t.Year(), int(t.Month()))}
	case "route.origin":
		return []string{orUnknown(inc.GetRoute().GetOrigin())}
	case "route.destination":
		return []string{orUnknown(inc.GetRoute().GetDestination())}
	case "route.transit":
		return distinctSorted(inc.GetRoute().GetTransit(), registry.None)
	case "transport_mode":
		return []string{registry.EnumKey(inc.GetTransportMode())}
	case "location_type":
		return []string{registry.EnumKey(inc.GetDetectedAt().GetType())}
	case "subdivision":
		return []string{orUnknown(inc.GetDetectedAt().GetSubdivision())}
	case "iccs":
		return distinctSorted(inc.GetIccsCodes(), registry.None)
	case "methods":
		var vs []string
		for _, m := range inc.GetMethods() {
			vs = append(vs, registry.EnumKey(m))
		}
		return distinctSorted(vs, registry.None)
	case "document_fraud":
		var vs []string
		for _, d := range inc.GetDocuments() {
			vs = append(vs, registry.EnumKey(d.GetFraud()))
		}
		return distinctSorted(vs, registry.None)
	case "migrants":
		return []string{agreement.CountBand(int64(len(inc.GetMigrants())))}
	case "suspects":
		return []string{agreement.CountBand(int64(len(inc.GetSuspects())))}
	case "deaths":
		return []string{agreement.CountBand(int64(inc.GetHarm().GetDeaths()))}
	case "missing":
		return []string{agreement.CountBand(int64(inc.GetHarm().GetMissing()))}
	case "injured":
		return []string{agreement.CountBand(int64(inc.GetHarm().GetInjured()))}
	}
	panic("unknown field " + f.Field)
}

func genExtract(t *rapid.T) agreement.Extract {
	x := agreement.Extract{Name: "gen", K: rapid.IntRange(1, 4).Draw(t, "k")}
	for _, i := range rapid.Permutation(slices.Collect(func(yield func(int) bool) {
		for i := range fieldGens {
			if !yield(i) {
				return
			}
		}
	})).Draw(t, "order") {
		f := fieldGens[i]
		if slices.ContainsFunc(x.Fields, func(g agreement.ExtractField) bool { return g.Field == f.Field }) {
			continue
		}
		if len(x.Fields) == 0 || rapid.IntRange(0, 3).Draw(t, "take-"+f.Field+f.Generalisation) == 0 {
			x.Fields = append(x.Fields, f)
		}
	}
	for _, f := range x.Fields {
		if rapid.Bool().Draw(t, "qi-"+f.Field) {
			x.QuasiIdentifiers = append(x.QuasiIdentifiers, f.Field)
		}
	}
	x.SmallGroups = rapid.SampledFrom([]string{agreement.SmallGroupsWithhold, agreement.SmallGroupsGeneralise}).Draw(t, "small")
	return x
}

type fixture struct {
	incs []*recordv1.Incident
	x    agreement.Extract
	q    *queryv1.ExtractQuery
	e    *engine.Engine
}

func genFixture(t *rapid.T) fixture {
	var fx fixture
	for i := range rapid.IntRange(0, 80).Draw(t, "n") {
		fx.incs = append(fx.incs, enginetest.GenIncident(t, fmt.Sprintf("CANARY-REF-%d", i)))
	}
	fx.e = engine.New()
	for _, inc := range fx.incs {
		if err := fx.e.Add(inc); err != nil {
			t.Fatalf("add: %v", err)
		}
	}
	fx.x = genExtract(t)
	fx.q = &queryv1.ExtractQuery{Extract: fx.x.Name}
	if rapid.Bool().Draw(t, "period") {
		y := rapid.IntRange(2024, 2026).Draw(t, "year")
		fx.q.PeriodFrom = fmt.Sprintf("%d-%02d-01", y, rapid.IntRange(1, 6).Draw(t, "from"))
		fx.q.PeriodTo = fmt.Sprintf("%d-%02d-28", y, rapid.IntRange(6, 12).Draw(t, "to"))
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "nfilters") {
		f := rapid.SampledFrom(fx.x.Fields).Draw(t, fmt.Sprint("filter", i))
		var pool []string
		for _, inc := range fx.incs {
			pool = append(pool, refValues(inc, f)...)
		}
		if len(pool) == 0 {
			continue
		}
		vals := rapid.SliceOfN(rapid.SampledFrom(pool), 1, 3).Draw(t, fmt.Sprint("values", i))
		fx.q.Filters = append(fx.q.Filters, &queryv1.Filter{Dimension: f.Field, Values: vals})
	}
	return fx
}

// expected returns the reference rows (values joined) the query matches.
func (fx fixture) expected() [][]string {
	var out [][]string
next:
	for _, inc := range fx.incs {
		d := inc.GetDetectedOn()
		if (fx.q.GetPeriodFrom() != "" && d < fx.q.GetPeriodFrom()) || (fx.q.GetPeriodTo() != "" && d > fx.q.GetPeriodTo()) {
			continue
		}
		for _, fl := range fx.q.GetFilters() {
			i := slices.IndexFunc(fx.x.Fields, func(f agreement.ExtractField) bool { return f.Field == fl.GetDimension() })
			if !slices.ContainsFunc(refValues(inc, fx.x.Fields[i]), func(v string) bool { return slices.Contains(fl.GetValues(), v) }) {
				continue next
			}
		}
		row := make([]string, len(fx.x.Fields))
		for i, f := range fx.x.Fields {
			row[i] = strings.Join(refValues(inc, f), agreement.MultiSep)
		}
		out = append(out, row)
	}
	return out
}

func (fx fixture) groupKey(values []string) string {
	var parts []string
	for _, q := range fx.x.QuasiIdentifiers {
		i := slices.IndexFunc(fx.x.Fields, func(f agreement.ExtractField) bool { return f.Field == q })
		parts = append(parts, values[i])
	}
	return strings.Join(parts, "\x00")
}

func TestExtractProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fx := genFixture(t)
		res, sum, err := Run(fx.e, fx.x, fx.q, rand.Reader)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		// Only the extract's fields, in its order.
		want := make([]string, len(fx.x.Fields))
		for i, f := range fx.x.Fields {
			want[i] = f.Field
		}
		if !slices.Equal(res.GetColumns(), want) || res.GetK() != int32(fx.x.K) || res.GetExtract() != fx.x.Name {
			t.Fatalf("header %v %d %q, want columns %v k %d", res.GetColumns(), res.GetK(), res.GetExtract(), want, fx.x.K)
		}
		// No never-shared value anywhere in what would be sent.
		raw, err := proto.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(enginetest.Canary)) {
			t.Fatalf("a never-shared value leaked into the extract")
		}
		published := map[string]int{}
		pseudonyms := map[string]bool{}
		for _, r := range res.GetRows() {
			if len(r.GetValues()) != len(want) {
				t.Fatalf("row %v has %d values, want %d", r.GetValues(), len(r.GetValues()), len(want))
			}
			for i, v := range r.GetValues() {
				// A count band ("50+") is one value; only multi-valued
				// fields are joined with MultiSep.
				if fx.generalisedFurther(i, v) || fx.x.Fields[i].ValidValue(v) {
					continue
				}
				for _, one := range strings.Split(v, agreement.MultiSep) {
					if !fx.x.Fields[i].ValidValue(one) {
						t.Fatalf("value %q is not a generalised %s", v, want[i])
					}
				}
			}
			if r.GetPseudonym() == "" || pseudonyms[r.GetPseudonym()] {
				t.Fatalf("pseudonym %q empty or repeated", r.GetPseudonym())
			}
			pseudonyms[r.GetPseudonym()] = true
			published[fx.groupKey(r.GetValues())]++
		}
		// Every published quasi-identifier group has at least k rows.
		for g, n := range published {
			if n < fx.x.K {
				t.Fatalf("group %q published with %d rows, k = %d", g, n, fx.x.K)
			}
		}
		exp := fx.expected()
		if fx.x.SmallGroups == agreement.SmallGroupsGeneralise {
			fx.checkGeneralised(t, res, exp, sum)
			return
		}
		// The rows are exactly the reference rows of the groups of ≥ k.
		groups := map[string]int{}
		for _, r := range exp {
			groups[fx.groupKey(r)]++
		}
		var wantRows, gotRows []string
		withheld := 0
		for _, r := range exp {
			if groups[fx.groupKey(r)] < fx.x.K {
				withheld++
				continue
			}
			wantRows = append(wantRows, strings.Join(r, "\x00"))
		}
		for _, r := range res.GetRows() {
			gotRows = append(gotRows, strings.Join(r.GetValues(), "\x00"))
		}
		slices.Sort(wantRows)
		if !slices.Equal(gotRows, wantRows) {
			t.Fatalf("rows\n got %q\nwant %q", gotRows, wantRows)
		}
		if res.GetWithheldRows() != int64(withheld) || sum.Withheld != withheld || sum.Matched != len(exp) || sum.Sent != len(wantRows) {
			t.Fatalf("withheld %d, summary %+v; want withheld %d of %d", res.GetWithheldRows(), sum, withheld, len(exp))
		}
		// A second answer to the same query: the same rows, none of the
		// same pseudonyms, so the two cannot be joined.
		again, _, err := Run(fx.e, fx.x, fx.q, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.GetRows()) != len(res.GetRows()) {
			t.Fatalf("second answer has %d rows, first %d", len(again.GetRows()), len(res.GetRows()))
		}
		for _, r := range again.GetRows() {
			if pseudonyms[r.GetPseudonym()] {
				t.Fatalf("pseudonym %s appears in two answers", r.GetPseudonym())
			}
		}
	})
}

// generalisedFurther reports whether v in column i is a quasi-identifier
// generalised beyond the extract's own generalisation.
func (fx fixture) generalisedFurther(i int, v string) bool {
	f := fx.x.Fields[i]
	if fx.x.SmallGroups != agreement.SmallGroupsGeneralise || !slices.Contains(fx.x.QuasiIdentifiers, f.Field) {
		return false
	}
	if v == Wildcard {
		return true
	}
	_, _, ok := registry.PeriodMonths(registry.GranularityYear, v)
	return f.Field == "period" && ok
}

// checkGeneralised checks an answer under small_groups = "generalise":
// rows of groups of ≥ k are sent as they are; every other sent row is a
// reference row with only its quasi-identifiers coarsened; sent plus
// withheld is every matching incident.
func (fx fixture) checkGeneralised(t *rapid.T, res *queryv1.ExtractResult, exp [][]string, sum Summary) {
	groups := map[string]int{}
	for _, r := range exp {
		groups[fx.groupKey(r)]++
	}
	left := map[string]int{} // reference rows not yet matched
	for _, r := range exp {
		left[strings.Join(r, "\x00")]++
	}
	var coarse []*queryv1.ExtractRow
	for _, r := range res.GetRows() {
		k := strings.Join(r.GetValues(), "\x00")
		if left[k] > 0 && groups[fx.groupKey(r.GetValues())] >= fx.x.K {
			left[k]--
			continue
		}
		coarse = append(coarse, r)
	}
	for _, r := range exp {
		if groups[fx.groupKey(r)] >= fx.x.K && left[strings.Join(r, "\x00")] > 0 {
			t.Fatalf("row %v of a group of ≥ k was not sent as it is", r)
		}
	}
	// Rows coarsened to a year first: each matches only incidents that
	// any row coarsened to "*" would match too, so greedy matching works.
	slices.SortStableFunc(coarse, func(a, b *queryv1.ExtractRow) int {
		return strings.Count(strings.Join(a.GetValues(), ""), Wildcard) - strings.Count(strings.Join(b.GetValues(), ""), Wildcard)
	})
	for _, r := range coarse {
		found := false
		for k, n := range left {
			if n == 0 {
				continue
			}
			ref := strings.Split(k, "\x00")
			match := true
			for i, v := range r.GetValues() {
				switch {
				case v == ref[i]:
				case fx.generalisedFurther(i, v) && (v == Wildcard || strings.HasPrefix(ref[i], v)):
				default:
					match = false
				}
			}
			if match {
				left[k]--
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("sent row %v is no coarsening of a matching incident", r.GetValues())
		}
	}
	if len(coarse) != sum.Generalised || int(res.GetWithheldRows()) != sum.Withheld || sum.Sent+sum.Withheld != len(exp) || sum.Matched != len(exp) {
		t.Fatalf("summary %+v, %d coarsened rows, %d withheld, %d matching", sum, len(coarse), res.GetWithheldRows(), len(exp))
	}
}

// fixedKey is a reader that always yields the same key, standing for
// "the same answer".
type fixedKey byte

func (k fixedKey) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(k)
	}
	return len(p), nil
}

func TestPseudonymsStableWithinAnAnswerAndOrderFree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fx := genFixture(t)
		recs, err := fx.e.Records(fx.q.GetPeriodFrom(), fx.q.GetPeriodTo())
		if err != nil {
			t.Fatal(err)
		}
		all := slices.Collect(recs)
		a, _, err := Build(fx.x, fx.q, slices.Values(all), fixedKey(7))
		if err != nil {
			t.Fatal(err)
		}
		// The same key over the records in another order: the identical
		// answer, so the row order says nothing about the record order.
		shuffled := rapid.Permutation(all).Draw(t, "shuffle")
		b, _, err := Build(fx.x, fx.q, slices.Values(shuffled), fixedKey(7))
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(a, b) {
			t.Fatalf("answer depends on record order")
		}
		// Within one answer (one key) an incident keeps its pseudonym
		// whatever else is selected: the same build without filters gives
		// the filtered rows the same pseudonyms.
		unfiltered := proto.CloneOf(fx.q)
		unfiltered.Filters = nil
		c, _, err := Build(fx.x, unfiltered, slices.Values(all), fixedKey(7))
		if err != nil {
			t.Fatal(err)
		}
		byPseudonym := map[string][]string{}
		for _, r := range c.GetRows() {
			byPseudonym[r.GetPseudonym()] = r.GetValues()
		}
		// Suppression may differ (groups shrink under filters), so only
		// rows published in both are compared; under small_groups =
		// "generalise" only the fields that are not quasi-identifiers,
		// which it never coarsens.
		for _, r := range a.GetRows() {
			v, ok := byPseudonym[r.GetPseudonym()]
			if !ok {
				// Without further generalisation, groups only grow
				// without the filters: every row is published there too.
				if fx.x.SmallGroups == agreement.SmallGroupsWithhold {
					t.Fatalf("row %v of the filtered answer is not in the unfiltered one under its pseudonym", r.GetValues())
				}
				continue
			}
			for i, f := range fx.x.Fields {
				if fx.x.SmallGroups == agreement.SmallGroupsGeneralise && slices.Contains(fx.x.QuasiIdentifiers, f.Field) {
					continue
				}
				if v[i] != r.GetValues()[i] {
					t.Fatalf("pseudonym %s names rows %v and %v", r.GetPseudonym(), v, r.GetValues())
				}
			}
		}
		for _, r := range a.GetRows() {
			if strings.Contains(r.GetPseudonym(), "REF") {
				t.Fatalf("pseudonym %q shows the reference", r.GetPseudonym())
			}
		}
		// Rows are sorted by values, ties by pseudonym.
		if !slices.IsSortedFunc(a.GetRows(), func(x, y *queryv1.ExtractRow) int {
			if c := slices.Compare(x.GetValues(), y.GetValues()); c != 0 {
				return c
			}
			return strings.Compare(x.GetPseudonym(), y.GetPseudonym())
		}) {
			t.Fatalf("rows not in value order")
		}
	})
}

func TestCountBands(t *testing.T) {
	for n, want := range map[int64]string{-1: "0", 0: "0", 1: "1", 2: "2-4", 4: "2-4", 5: "5-9", 9: "5-9", 10: "10-49", 49: "10-49", 50: "50+", 5000: "50+"} {
		if got := agreement.CountBand(n); got != want {
			t.Errorf("CountBand(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTooLarge(t *testing.T) {
	x := agreement.Extract{Name: "big", K: 1, Fields: []agreement.ExtractField{{Field: "transport_mode", Generalisation: "as_is"}}}
	recs := func(yield func(engine.Record) bool) {
		for i := range MaxRows + 1 {
			if !yield(engine.Record{Ref: fmt.Sprint(i), TransportMode: "SEA"}) {
				return
			}
		}
	}
	if _, _, err := Build(x, &queryv1.ExtractQuery{Extract: "big"}, recs, rand.Reader); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v, want too large", err)
	}
}

func TestSmallGroupsGeneralise(t *testing.T) {
	x := agreement.Extract{Name: "routes", K: 3, SmallGroups: agreement.SmallGroupsGeneralise,
		Fields: []agreement.ExtractField{{Field: "period", Generalisation: "month"}, {Field: "transport_mode", Generalisation: "as_is"},
			{Field: "route.origin", Generalisation: "country"}},
		QuasiIdentifiers: []string{"period", "transport_mode"}}
	rec := func(ref string, month int, mode, origin string) engine.Record {
		return engine.Record{Ref: ref, Month: 2026*12 + month - 1, TransportMode: mode, Origin: origin}
	}
	recs := []engine.Record{
		rec("a", 1, "SEA", "MMR"), rec("b", 1, "SEA", "MMR"), rec("c", 1, "SEA", "IDN"), // a group of 3: sent as is
		rec("d", 2, "AIR", "AFG"), rec("e", 2, "AIR", "AFG"), rec("f", 3, "AIR", "MMR"), // 2 + 1: sent as 2026 AIR
		rec("g", 4, "LAND", "MMR"), rec("h", 5, "MIXED", "THA"), // 1 + 1, then (2026 LAND) and (2026 MIXED) are still small
		rec("i", 6, "SEA", "MMR"), // (2026 SEA) alone too: the January rows were never pending; all three go to * *, sent
	}
	res, sum, err := Build(x, &queryv1.ExtractQuery{Extract: "routes"}, slices.Values(recs), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.GetRows() {
		got = append(got, strings.Join(r.GetValues(), " "))
	}
	want := []string{
		"* * MMR", "* * MMR", "* * THA",
		"2026 AIR AFG", "2026 AIR AFG", "2026 AIR MMR",
		"2026-01 SEA IDN", "2026-01 SEA MMR", "2026-01 SEA MMR",
	}
	if !slices.Equal(got, want) || res.GetWithheldRows() != 0 || sum.Generalised != 6 || sum.SmallGroups != 5 {
		t.Fatalf("rows %q, withheld %d, summary %+v", got, res.GetWithheldRows(), sum)
	}
	// Withheld instead when the agreement says so (the default).
	x.SmallGroups = agreement.SmallGroupsWithhold
	res, _, err = Build(x, &queryv1.ExtractQuery{Extract: "routes"}, slices.Values(recs), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetRows()) != 3 || res.GetWithheldRows() != 6 {
		t.Fatalf("withhold: %d rows, %d withheld", len(res.GetRows()), res.GetWithheldRows())
	}
}
