// Package differencing keeps a node from publishing a cell that, together
// with the cells it published before, would let a recipient compute a cell
// it suppressed.
//
// Primary suppression judges one answer at a time. Answers overlap: the
// first quarter's LAND incidents minus January's and February's is March's,
// whatever March's own cell says. So the guard remembers every cell the
// node has disclosed and every cell it suppressed (rebuilt from the audit
// log at start), and before an answer leaves it checks, for each suppressed
// cell, whether the cells published so far plus the new ones determine its
// value. It decides on the data, not on the queries' wording: engine.Overlaps
// groups the node's units (incidents, or persons) into classes by which
// cells contain them, each cell is a 0/1 vector over those classes, and a
// suppressed cell is exposed exactly when its vector is a linear
// combination of published ones. The new cells are then published from the
// largest value down, and one that would complete such a combination is
// withheld instead (SUPPRESSED_SECONDARY): secondary suppression across
// answers.
//
// The memory is per measure (and fees currency) and shared by all
// recipients, since recipients may pool what they receive. Cells published
// before the guard existed, or while the agreement rounded values, count
// as published exactly. Only exactly published agreements (rounding
// "none") need the guard; the answerer applies it there.
package differencing

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Guard remembers disclosed cells and checks new ones. It is safe for
// concurrent use, but a caller that must not let two answers pass the
// check against the same memory serializes Check and Record itself.
type Guard struct {
	engine *engine.Engine

	mu    sync.Mutex
	books map[string]*book // by measure and fees currency
}

// book is what was disclosed of one measure.
type book struct {
	published map[string]scope
	sensitive map[string]scope // suppressed and never published
}

// New returns a guard over the engine's data with an empty memory.
func New(e *engine.Engine) *Guard {
	return &Guard{engine: e, books: map[string]*book{}}
}

// Result is what Check decided.
type Result struct {
	// Withheld holds the indexes of the cells to withhold, in increasing
	// order.
	Withheld []int
	// Exposed counts suppressed cells that the cells published before
	// already determine (before the guard existed, or after the data
	// changed): nothing the new answer does can hide them again.
	Exposed int
}

// bookKey names the book of a measure (see measureOf); sums of money are
// kept per currency.
func bookKey(measure, feesCurrency string) string {
	measure = measureOf(measure)
	if m, _ := registry.MeasureByID(measure); m.Sum {
		return measure + "/" + feesCurrency
	}
	return measure
}

// Record adds an answer's cells to the memory: published and rounded cells
// as published, primary-suppressed cells as sensitive unless published
// before. Call it once the answer is durably recorded.
func (g *Guard) Record(q *queryv1.AggregateQuery, cells []*queryv1.Cell, feesCurrency string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.books[bookKey(q.GetMeasure(), feesCurrency)]
	if b == nil {
		b = &book{published: map[string]scope{}, sensitive: map[string]scope{}}
		g.books[bookKey(q.GetMeasure(), feesCurrency)] = b
	}
	for _, c := range cells {
		s := cellScope(q, c.GetKey())
		switch c.GetStatus() {
		case queryv1.CellStatus_CELL_STATUS_EXACT, queryv1.CellStatus_CELL_STATUS_ROUNDED:
			b.published[s.key] = s
			delete(b.sensitive, s.key)
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
			if _, ok := b.published[s.key]; !ok {
				b.sensitive[s.key] = s
			}
		}
	}
}

// Len returns the number of distinct cells remembered.
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, b := range g.books {
		n += len(b.published) + len(b.sensitive)
	}
	return n
}

// Rule is the primary suppression the answer was made under.
type Rule struct {
	// MinCell is the agreement's min_cell: sizes 1..MinCell-1 are small.
	MinCell int
	// SuppressZeros makes zero small too.
	SuppressZeros bool
	// FeesCurrency is the currency fees_paid is summed in.
	FeesCurrency string
}

// small reports whether a set of units of this size must not be computable.
func (r Rule) small(size int64) bool {
	return size < int64(r.MinCell) && (size > 0 || r.SuppressZeros)
}

// Check decides which of an answer's cells (after primary suppression) to
// withhold so that no small set of units becomes computable from the
// published cells: no suppressed cell of this answer or an earlier one,
// no class of units that the cells asked so far single out, no
// difference between two nested published cells, and no part of a
// published cell cut to one stretch between the periods asked or to one
// value of a filter listing several. (Other unions of
// classes are not looked for: finding every small combination is a hard
// problem in general; these are the ones subtraction of overlapping
// tables yields.) It does not change the memory.
func (g *Guard) Check(q *queryv1.AggregateQuery, cells []*queryv1.Cell, rule Rule) (Result, error) {
	type cand struct {
		i int
		s scope
	}
	var pub, sens []cand
	for i, c := range cells {
		s := cellScope(q, c.GetKey())
		switch c.GetStatus() {
		case queryv1.CellStatus_CELL_STATUS_EXACT, queryv1.CellStatus_CELL_STATUS_ROUNDED:
			pub = append(pub, cand{i, s})
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
			sens = append(sens, cand{i, s})
		}
	}
	g.mu.Lock()
	old := g.books[bookKey(q.GetMeasure(), rule.FeesCurrency)]
	var hist []scope
	nHistPub := 0
	if old != nil {
		// Nothing new: every cell is already remembered as it is now.
		fresh := false
		for _, c := range pub {
			if _, ok := old.published[c.s.key]; !ok {
				fresh = true
			}
		}
		for _, c := range sens {
			_, p := old.published[c.s.key]
			_, s := old.sensitive[c.s.key]
			if !p && !s {
				fresh = true
			}
		}
		if !fresh {
			g.mu.Unlock()
			return Result{}, nil
		}
		for _, s := range old.published {
			hist = append(hist, s)
		}
		nHistPub = len(hist)
		for _, s := range old.sensitive {
			hist = append(hist, s)
		}
	}
	g.mu.Unlock()
	if len(pub) == 0 {
		// Publishing nothing cannot expose anything new.
		return Result{}, nil
	}

	// The remembered cells that can matter: those linked to a new cell by
	// a chain of possibly overlapping cells. Cells outside that chain share
	// no unit with it, so they cannot help compute anything in it.
	var newScopes []scope
	for _, c := range pub {
		newScopes = append(newScopes, c.s)
	}
	for _, c := range sens {
		newScopes = append(newScopes, c.s)
	}
	relevant := related(newScopes, hist)

	// Scopes passed to the engine: the relevant remembered ones, then the
	// new ones not remembered under the same key.
	index := map[string]int{}
	var scopes []*queryv1.AggregateQuery
	var histPub, histSens []int
	var published, suppressed []scope // what pieces cuts, and what else cuts time
	addScope := func(s scope) int {
		if i, ok := index[s.key]; ok {
			return i
		}
		index[s.key] = len(scopes)
		scopes = append(scopes, s.q)
		return len(scopes) - 1
	}
	for _, h := range relevant {
		i := addScope(hist[h])
		if h < nHistPub {
			histPub = append(histPub, i)
			published = append(published, hist[h])
		} else {
			histSens = append(histSens, i)
			suppressed = append(suppressed, hist[h])
		}
	}
	pubIdx := make([]int, len(pub))
	for k, c := range pub {
		pubIdx[k] = addScope(c.s)
		published = append(published, c.s)
	}
	sensIdx := make([]int, len(sens))
	for k, c := range sens {
		sensIdx[k] = addScope(c.s)
		suppressed = append(suppressed, c.s)
	}
	// Parts of published cells nobody asked for, which subtraction of
	// other cells could still isolate: each cell cut to one stretch of time
	// between the periods asked, or to one value of a filter listing several.
	var parts []int
	for _, s := range pieces(published, append(slices.Clone(published), suppressed...)) {
		if _, ok := index[s.key]; !ok {
			parts = append(parts, addScope(s))
		}
	}
	var opts []engine.Option
	if rule.FeesCurrency != "" {
		opts = append(opts, engine.WithFeesCurrency(rule.FeesCurrency))
	}
	classes, err := g.engine.Overlaps(scopes, opts...)
	if err != nil {
		return Result{}, fmt.Errorf("differencing: %w", err)
	}
	cols := make([][]int, len(scopes))
	for ci, c := range classes {
		for _, s := range c.Scopes {
			cols[s] = append(cols[s], ci)
		}
	}

	st := state{b: basis{}, classes: classes, rule: rule}
	isPub := map[int]bool{}
	for _, i := range histPub {
		isPub[i] = true
		st.publish(cols[i])
	}
	// What must stay uncomputable. A remembered suppressed cell published
	// now (its value grew past the threshold) is not protected any more.
	publishing := map[int]bool{}
	for _, i := range pubIdx {
		publishing[i] = true
	}
	var res Result
	protect := func(c []int) {
		if v := st.b.reduce(indicator(c)); len(v) > 0 {
			st.residuals = append(st.residuals, v)
		} else {
			res.Exposed++
		}
	}
	for _, i := range append(histSens, sensIdx...) {
		if !isPub[i] && !publishing[i] && len(cols[i]) > 0 {
			protect(cols[i])
		}
	}
	for ci, c := range classes {
		if rule.small(c.Size) {
			protect([]int{ci})
		}
	}
	// The parts split classes of the cells asked; the union of a class's
	// pieces is what those cells single out, so it is protected too.
	if len(parts) > 0 {
		byAsked := map[string][]int{}
		var order []string
		for ci, c := range classes {
			k := fmt.Sprint(c.Scopes[:sort.SearchInts(c.Scopes, parts[0])])
			if _, ok := byAsked[k]; !ok {
				order = append(order, k)
			}
			byAsked[k] = append(byAsked[k], ci)
		}
		for _, k := range order {
			group := byAsked[k]
			var size int64
			for _, ci := range group {
				size += classes[ci].Size
			}
			if len(group) > 1 && rule.small(size) {
				protect(group)
			}
		}
	}
	for _, i := range parts {
		var size int64
		for _, ci := range cols[i] {
			size += classes[ci].Size
		}
		if len(cols[i]) > 1 && rule.small(size) {
			protect(cols[i])
		}
	}

	// Publish from the largest value down, so that what is withheld is
	// small.
	order := make([]int, len(pub))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Compare(cells[pub[y].i].GetValue(), cells[pub[x].i].GetValue())
	})
	for _, k := range order {
		i := pubIdx[k]
		if isPub[i] {
			continue
		}
		if st.exposes(cols[i]) {
			res.Withheld = append(res.Withheld, pub[k].i)
			continue
		}
		st.publish(cols[i])
		isPub[i] = true
	}
	slices.Sort(res.Withheld)
	return res, nil
}

// state is the span of the published cells and what must stay outside it.
type state struct {
	b         basis
	residuals []vec   // protected sets, reduced as far as b goes
	published [][]int // the published cells' classes
	classes   []engine.Class
	rule      Rule
}

// publish adds a cell (its classes) to the published ones.
func (st *state) publish(cols []int) {
	st.published = append(st.published, cols)
	if v := st.b.reduce(indicator(cols)); len(v) > 0 {
		lead := v.lead()
		st.b.add(v)
		for r, rv := range st.residuals {
			if rv.lead() == lead {
				st.residuals[r] = st.b.reduce(rv)
			}
		}
	}
}

// exposes reports whether publishing a cell would make a protected set
// computable, or differ from a published cell nested in it (or it in one)
// by a small set.
func (st *state) exposes(cols []int) bool {
	for _, p := range st.published {
		if d, ok := st.nestedDifference(cols, p); ok && st.rule.small(d) {
			return true
		}
	}
	v := st.b.reduce(indicator(cols))
	if len(v) == 0 {
		return false // already computable: publishing it adds nothing
	}
	trial := basis{v.lead(): scale(v, inverse(v[0].val))}
	for _, rv := range st.residuals {
		// A residual leading elsewhere leads no row, old or new: it stays
		// outside the span.
		if rv.lead() == v.lead() && len(st.b.reduce(trial.reduce(rv))) == 0 {
			return true
		}
	}
	return false
}

// nestedDifference returns the size of the units in one of a and b (sorted
// class lists) but not the other, when one contains the other and they
// differ.
func (st *state) nestedDifference(a, b []int) (int64, bool) {
	if len(a) == len(b) {
		return 0, false
	}
	if len(a) < len(b) {
		a, b = b, a
	}
	var size int64
	j := 0
	for _, c := range a {
		if j < len(b) && b[j] == c {
			j++
			continue
		}
		size += st.classes[c].Size
	}
	return size, j == len(b)
}

// pieces returns the parts of the published scopes that the periods of
// all scopes cut out: each published scope restricted to one stretch
// between consecutive period bounds (when its period spans several), and
// to one value of each filter listing several values.
func pieces(published, all []scope) []scope {
	cuts := map[int64]bool{}
	for _, s := range all {
		cuts[s.from] = true
		cuts[s.to+1] = true
	}
	bounds := make([]int64, 0, len(cuts))
	for c := range cuts {
		bounds = append(bounds, c)
	}
	slices.Sort(bounds)
	var out []scope
	for _, s := range published {
		for k := 0; k+1 < len(bounds); k++ {
			from, to := bounds[k], bounds[k+1]-1
			if from < s.from || to > s.to || (from == s.from && to == s.to) || from <= -noBound || to >= noBound {
				continue
			}
			q := &queryv1.AggregateQuery{Measure: s.q.GetMeasure(), Filters: s.q.GetFilters(), PeriodFrom: date(from), PeriodTo: date(to)}
			out = append(out, cellScope(q, nil))
		}
		for fi, f := range s.q.GetFilters() {
			if len(f.GetValues()) < 2 {
				continue
			}
			for _, v := range f.GetValues() {
				filters := slices.Clone(s.q.GetFilters())
				filters[fi] = &queryv1.Filter{Dimension: f.GetDimension(), Values: []string{v}}
				q := &queryv1.AggregateQuery{Measure: s.q.GetMeasure(), Filters: filters, PeriodFrom: s.q.GetPeriodFrom(), PeriodTo: s.q.GetPeriodTo()}
				out = append(out, cellScope(q, nil))
			}
		}
	}
	return out
}

// related returns the indexes of the scopes in hist linked to one of
// start through a chain of scopes that may overlap.
func related(start, hist []scope) []int {
	seen := make([]bool, len(hist))
	var out []int
	frontier := start
	for len(frontier) > 0 {
		var next []scope
		for h, s := range hist {
			if seen[h] {
				continue
			}
			for _, f := range frontier {
				if s.mayOverlap(f) {
					seen[h] = true
					out = append(out, h)
					next = append(next, s)
					break
				}
			}
		}
		frontier = next
	}
	slices.Sort(out)
	return out
}
