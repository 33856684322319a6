package differencing

import (
	"fmt"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/node/disclosure"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/engine/enginetest"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// attackEngine holds enginetest.AttackQ1's incidents (with min_cell 5,
// March LAND (3) and March AIR (2) are suppressed), changed by edit
// before they are added.
func attackEngine(t *testing.T, edit ...func(*recordv1.Incident)) *engine.Engine {
	t.Helper()
	e := engine.New()
	for _, inc := range enginetest.AttackQ1("THA", 1) {
		for _, f := range edit {
			f(inc)
		}
		if err := e.Add(inc); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// months is a query of incidents over whole months of 2025.
func months(from, to string, groupBy []string, filters ...*queryv1.Filter) *queryv1.AggregateQuery {
	last := map[string]string{"01": "31", "02": "28", "03": "31"}[to[5:]]
	return &queryv1.AggregateQuery{Measure: "incidents", GroupBy: groupBy, Filters: filters, PeriodFrom: from + "-01", PeriodTo: to + "-" + last}
}

// answer computes q's cells with min_cell 5 and no rounding, lets the
// guard withhold what it must, records the answer and returns its cells by
// key.
func answer(t *testing.T, e *engine.Engine, g *Guard, q *queryv1.AggregateQuery) map[string]*queryv1.Cell {
	t.Helper()
	raw, err := e.Aggregate(q)
	if err != nil {
		t.Fatal(err)
	}
	cells, _, err := disclosure.Apply(disclosure.Rule{MinCell: 5, Rounding: disclosure.RoundingNone}, q, raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Check(q, cells, Rule{MinCell: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range res.Withheld {
		cells[i].Value, cells[i].Status = 0, queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
	}
	g.Record(q, cells, "")
	out := map[string]*queryv1.Cell{}
	for _, c := range cells {
		out[fmt.Sprint(c.GetKey())] = c
	}
	return out
}

const (
	exact     = queryv1.CellStatus_CELL_STATUS_EXACT
	primary   = queryv1.CellStatus_CELL_STATUS_SUPPRESSED
	secondary = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
)

// TestGuardStopsDifferencing replays the attack suite's strategies
// against March LAND (3, suppressed): each time, the answer that would
// complete the subtraction has the deciding cell withheld, and cells that
// expose nothing are published as they are.
func TestGuardStopsDifferencing(t *testing.T) {
	mode := []string{"transport_mode"}
	land := &queryv1.Filter{Dimension: "transport_mode", Values: []string{"LAND"}}
	seaLand := &queryv1.Filter{Dimension: "transport_mode", Values: []string{"SEA", "LAND"}}
	type ask struct {
		q    *queryv1.AggregateQuery
		want map[string]queryv1.CellStatus // by fmt.Sprint(key)
	}
	cases := []struct {
		name string
		asks []ask
	}{
		{"overlapping periods", []ask{
			{months("2025-01", "2025-03", mode), map[string]queryv1.CellStatus{"[LAND]": exact, "[SEA]": exact, "[AIR]": primary}},
			{months("2025-03", "2025-03", mode), map[string]queryv1.CellStatus{"[LAND]": primary, "[SEA]": exact, "[AIR]": primary}},
			// Q1 LAND minus Jan-Feb LAND is March LAND: the smaller Jan-Feb
			// cell goes.
			{months("2025-01", "2025-02", mode), map[string]queryv1.CellStatus{"[LAND]": secondary, "[SEA]": exact}},
		}},
		{"overlapping filters", []ask{
			{months("2025-03", "2025-03", mode), map[string]queryv1.CellStatus{"[LAND]": primary, "[SEA]": exact, "[AIR]": primary}},
			// SEA or LAND minus SEA is LAND.
			{months("2025-03", "2025-03", nil, seaLand), map[string]queryv1.CellStatus{"[]": secondary}},
		}},
		{"margin", []ask{
			{months("2025-01", "2025-03", nil, land), map[string]queryv1.CellStatus{"[]": exact}},
			// The Q1 total minus January and February: February (5) goes,
			// January (6) stays.
			{months("2025-01", "2025-03", []string{"period.month"}, land), map[string]queryv1.CellStatus{"[2025-01]": exact, "[2025-02]": secondary, "[2025-03]": primary}},
			// Asked again, the same answer.
			{months("2025-01", "2025-03", []string{"period.month"}, land), map[string]queryv1.CellStatus{"[2025-01]": exact, "[2025-02]": secondary, "[2025-03]": primary}},
			// February on its own: still Q1 - Jan - Feb.
			{months("2025-02", "2025-02", mode), map[string]queryv1.CellStatus{"[LAND]": secondary, "[SEA]": exact}},
		}},
		{"a table on its own", []ask{
			{months("2025-01", "2025-03", []string{"period.month", "transport_mode"}), map[string]queryv1.CellStatus{
				"[2025-01 LAND]": exact, "[2025-01 SEA]": exact, "[2025-02 LAND]": exact, "[2025-02 SEA]": exact,
				"[2025-03 LAND]": primary, "[2025-03 SEA]": exact, "[2025-03 AIR]": primary,
			}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := attackEngine(t)
			g := New(e)
			for i, a := range tc.asks {
				got := answer(t, e, g, a.q)
				for k, want := range a.want {
					c := got[k]
					if c == nil || c.GetStatus() != want {
						t.Errorf("ask %d, cell %s: %v, want %v", i, k, c, want)
					}
				}
				if len(got) != len(a.want) {
					t.Errorf("ask %d: %d cells, want %d", i, len(got), len(a.want))
				}
			}
		})
	}
}

// TestGuardNothingNew checks the short cut: an answer holding only
// remembered cells is not checked again and withholds nothing.
func TestGuardNothingNew(t *testing.T) {
	e := attackEngine(t)
	g := New(e)
	q := months("2025-01", "2025-03", []string{"transport_mode"})
	answer(t, e, g, q)
	n := g.Len()
	// Grouped the other way round and with the filter spelt differently,
	// the same cells.
	q2 := months("2025-01", "2025-03", []string{"transport_mode"}, &queryv1.Filter{Dimension: "period.quarter", Values: []string{"2025-Q1"}})
	got := answer(t, e, g, q2)
	for k, c := range got {
		if c.GetStatus() == secondary {
			t.Errorf("cell %s withheld", k)
		}
	}
	if g.Len() != n {
		t.Errorf("remembered %d cells after asking the same again, want %d", g.Len(), n)
	}
}

// TestGuardNeverExposes runs random sequences of overlapping queries
// (filters on single-, multi-valued, period and person dimensions) over
// random data and checks the guard's promise at every answer, with exact
// rational arithmetic independent of the guard's own: the cells it
// publishes make no small set newly computable that was known at that
// moment (a suppressed cell of this or an earlier answer, or a class of
// units the cells asked so far single out), and no published cell differs
// by a small set from another nested in it.
func TestGuardNeverExposes(t *testing.T) {
	values := map[string][]string{
		"transport_mode": {"SEA", "LAND", "AIR", "unknown"},
		"route.transit":  {"THA", "MMR", "IDN", "none"},
		"iccs":           {"08051", "07023", "0204", "none"},
		"route.origin":   {"THA", "MMR", "IDN", "AFG", "unknown"},
		"period.quarter": {"2025-Q1", "2025-Q2"},
		"period.month":   {"2025-01", "2025-02", "2025-03", "2025-04"},
		"sex":            {"MALE", "FEMALE", "UNKNOWN"},
		"citizenship":    {"THA", "MMR", "XXA", "unknown"},
	}
	rapid.Check(t, func(t *rapid.T) {
		e := engine.New()
		for i := range rapid.IntRange(5, 60).Draw(t, "n") {
			inc := enginetest.GenIncident(t, fmt.Sprint("REF-", i))
			inc.DetectedOn = fmt.Sprintf("2025-%02d-%02d", rapid.IntRange(1, 4).Draw(t, "month"), rapid.IntRange(1, 28).Draw(t, "day"))
			if err := e.Add(inc); err != nil {
				t.Fatal(err)
			}
		}
		measure := rapid.SampledFrom([]string{"incidents", "migrants", "deaths"}).Draw(t, "measure")
		dims := []string{"transport_mode", "period.month", "period.quarter", "route.origin", "route.transit", "iccs"}
		if measure == "migrants" {
			dims = append(dims, "sex", "citizenship")
		}
		g := New(e)
		o := &oracle{e: e, published: map[string]bool{}}
		for i := range rapid.IntRange(1, 8).Draw(t, "queries") {
			q := &queryv1.AggregateQuery{Measure: measure}
			q.GroupBy = rapid.SliceOfNDistinct(rapid.SampledFrom(dims), 0, 2, func(s string) string { return s }).Draw(t, fmt.Sprint("group", i))
			from := rapid.IntRange(1, 4).Draw(t, fmt.Sprint("from", i))
			to := rapid.IntRange(from, 4).Draw(t, fmt.Sprint("to", i))
			q.PeriodFrom, q.PeriodTo = fmt.Sprintf("2025-%02d-01", from), fmt.Sprintf("2025-%02d-28", to)
			for k := range rapid.IntRange(0, 2).Draw(t, fmt.Sprint("nfilters", i)) {
				d := rapid.SampledFrom(dims).Draw(t, fmt.Sprint("fdim", i, k))
				vs := rapid.SliceOfNDistinct(rapid.SampledFrom(values[d]), 1, 3, func(s string) string { return s }).Draw(t, fmt.Sprint("fvals", i, k))
				q.Filters = append(q.Filters, &queryv1.Filter{Dimension: d, Values: vs})
			}
			raw, err := e.Aggregate(q)
			if err != nil {
				t.Fatalf("aggregate %v: %v", q, err)
			}
			cells, _, err := disclosure.Apply(disclosure.Rule{MinCell: 3, Rounding: disclosure.RoundingNone}, q, raw)
			if err != nil {
				t.Fatal(err)
			}
			res, err := g.Check(q, cells, Rule{MinCell: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range res.Withheld {
				cells[k].Value, cells[k].Status = 0, secondary
			}
			g.Record(q, cells, "")
			if err := o.answer(q, cells); err != nil {
				t.Fatalf("answer %d (%v): %v", i, q, err)
			}
		}
	})
}

// oracle replays answers and checks each against what came before.
type oracle struct {
	e         *engine.Engine
	scopes    []*queryv1.AggregateQuery
	status    []queryv1.CellStatus
	published map[string]bool // scope keys
}

func (o *oracle) answer(q *queryv1.AggregateQuery, cells []*queryv1.Cell) error {
	before := len(o.scopes)
	for _, c := range cells {
		// The engine's own spelling of the cell, not the guard's.
		o.scopes = append(o.scopes, engine.CellScope(q, c.GetKey()))
		o.status = append(o.status, c.GetStatus())
	}
	classes, err := o.e.Overlaps(o.scopes)
	if err != nil {
		return err
	}
	vector := func(in func(engine.Class) bool) []*big.Rat {
		v := make([]*big.Rat, len(classes))
		for c, cl := range classes {
			v[c] = new(big.Rat)
			if in(cl) {
				v[c].SetInt64(1)
			}
		}
		return v
	}
	ofScope := func(i int) []*big.Rat {
		return vector(func(cl engine.Class) bool { return slices.Contains(cl.Scopes, i) })
	}
	var old, all [][]*big.Rat
	for i, st := range o.status {
		if st != exact {
			continue
		}
		all = append(all, ofScope(i))
		if i < before {
			old = append(old, ofScope(i))
		}
	}
	rOld, rAll := rank(old), rank(all)
	newly := func(v []*big.Rat) bool {
		return !allZero(v) && rank(append(slices.Clone(all), v)) == rAll && rank(append(slices.Clone(old), v)) != rOld
	}
	for i, st := range o.status {
		key := cellScope(o.scopes[i], nil).key
		if st == exact {
			o.published[key] = true
		}
		if st == primary && !o.published[key] && newly(ofScope(i)) {
			return fmt.Errorf("suppressed cell %v is now a combination of published cells", o.scopes[i])
		}
	}
	for c, cl := range classes {
		if cl.Size > 0 && cl.Size < 3 && newly(vector(func(x engine.Class) bool { return slices.Equal(x.Scopes, classes[c].Scopes) })) {
			return fmt.Errorf("a class of size %d in %v is now a combination of published cells", cl.Size, cl.Scopes)
		}
	}
	for a := before; a < len(o.scopes); a++ {
		for b := range o.scopes {
			if a == b || o.status[a] != exact || o.status[b] != exact {
				continue
			}
			for _, pair := range [][2]int{{a, b}, {b, a}} {
				var extra int64
				nested := true
				for _, cl := range classes {
					in0, in1 := slices.Contains(cl.Scopes, pair[0]), slices.Contains(cl.Scopes, pair[1])
					if in1 && !in0 {
						nested = false
					}
					if in0 && !in1 {
						extra += cl.Size
					}
				}
				if nested && extra > 0 && extra < 3 {
					return fmt.Errorf("published %v holds published %v and %d more", o.scopes[pair[0]], o.scopes[pair[1]], extra)
				}
			}
		}
	}
	return nil
}

func allZero(v []*big.Rat) bool {
	for _, x := range v {
		if x.Sign() != 0 {
			return false
		}
	}
	return true
}

// rank is the rank of rows by Gaussian elimination over the rationals.
func rank(rows [][]*big.Rat) int {
	m := make([][]*big.Rat, len(rows))
	for i, r := range rows {
		m[i] = make([]*big.Rat, len(r))
		for j, x := range r {
			m[i][j] = new(big.Rat).Set(x)
		}
	}
	r := 0
	for col := 0; len(m) > 0 && col < len(m[0]) && r < len(m); col++ {
		p := -1
		for i := r; i < len(m); i++ {
			if m[i][col].Sign() != 0 {
				p = i
				break
			}
		}
		if p < 0 {
			continue
		}
		m[r], m[p] = m[p], m[r]
		for i := range m {
			if i == r || m[i][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Quo(m[i][col], m[r][col])
			for j := col; j < len(m[i]); j++ {
				m[i][j].Sub(m[i][j], new(big.Rat).Mul(f, m[r][j]))
			}
		}
		r++
	}
	return r
}

// TestGuardProtectsCellsNeverAsked: March LAND (3) is never asked, and its
// incidents come from three origins, which an earlier table by origin
// tells apart. Q1 LAND minus January LAND minus February LAND still gives
// it, so February LAND is withheld.
func TestGuardProtectsCellsNeverAsked(t *testing.T) {
	origins := []string{"AFG", "BGD", "MMR"}
	n := 0
	e := attackEngine(t, func(inc *recordv1.Incident) {
		if inc.GetDetectedOn() >= "2025-03" && inc.GetTransportMode() == recordv1.TransportMode_TRANSPORT_MODE_LAND {
			inc.Route.Origin = origins[n%len(origins)]
			n++
		}
	})
	land := &queryv1.Filter{Dimension: "transport_mode", Values: []string{"LAND"}}
	g := New(e)
	answer(t, e, g, months("2025-01", "2025-03", []string{"route.origin"}))
	for _, q := range []*queryv1.AggregateQuery{months("2025-01", "2025-03", nil, land), months("2025-01", "2025-01", nil, land)} {
		if c := answer(t, e, g, q)["[]"]; c.GetStatus() != exact {
			t.Fatalf("%v: %v, want EXACT", q, c)
		}
	}
	if c := answer(t, e, g, months("2025-02", "2025-02", nil, land))["[]"]; c.GetStatus() != secondary {
		t.Errorf("February LAND %v, want it withheld: Q1 - January - February is March LAND (3)", c)
	}
}
