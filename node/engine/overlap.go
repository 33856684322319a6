package engine

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Class is a set of units (incidents, or persons for a person-level
// measure) that lie in exactly the same scopes: no combination of those
// scopes' values can tell its units apart.
type Class struct {
	// Scopes holds the indexes of the scopes containing the class, in
	// increasing order.
	Scopes []int
	// Units is the number of units in the class.
	Units int64
	// Size is what primary suppression compares with min_cell: the
	// measure's value over the class (a count, or deaths, missing or
	// injured persons), or for fees_paid the number of migrants paying.
	Size int64
}

// Overlaps partitions the units the scopes' measure counts by which of the
// scopes contain them, and returns the non-empty classes (units in no
// scope are left out). Each scope is an aggregate query without group_by,
// all of the same measure: typically one cell's definition, its filters
// plus one filter per grouped dimension (the cell's key). A unit is in a
// scope exactly when Aggregate would count it in that cell.
//
// The classes are what a recipient who knows every scope's exact value is
// solving for: the value of any union of classes is a linear combination
// of the scopes' values only if its indicator over the classes is, which is
// how the node's differencing guard decides what it can still publish.
func (e *Engine) Overlaps(scopes []*queryv1.AggregateQuery, opts ...Option) ([]Class, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	cs := make([]*compiled, len(scopes))
	for i, q := range scopes {
		if len(q.GetGroupBy()) > 0 {
			return nil, fmt.Errorf("%w: scope %d groups by %v; a scope is one cell", ErrInvalid, i, q.GetGroupBy())
		}
		if q.GetMeasure() != scopes[0].GetMeasure() {
			return nil, fmt.Errorf("%w: scope %d counts %s, scope 0 %s", ErrInvalid, i, q.GetMeasure(), scopes[0].GetMeasure())
		}
		c, err := e.compile(q, o)
		if err != nil {
			return nil, fmt.Errorf("scope %d: %w", i, err)
		}
		cs[i] = c
	}
	if e.live == 0 {
		return nil, nil
	}
	o2 := overlapScan{e: e, cs: cs, words: (len(cs) + 63) / 64, classes: map[string]int{}}
	o2.run()
	return o2.out, nil
}

// overlapScan is one Overlaps pass: it builds each unit's signature, the
// bit set of the scopes containing it, and counts units per signature.
type overlapScan struct {
	e       *Engine
	cs      []*compiled
	words   int
	classes map[string]int // signature bytes → index in out
	out     []Class
}

func (s *overlapScan) run() {
	e, cs := s.e, s.cs
	c0 := cs[0]
	personal := c0.measure.Level == registry.LevelPerson
	var (
		p              *persons
		starts, counts []uint32
	)
	switch c0.measure.Persons {
	case registry.PersonsMigrants:
		p, starts, counts = &e.mig, e.migStart, e.migN
	case registry.PersonsSuspects:
		p, starts, counts = &e.sus, e.susStart, e.susN
	}
	pfs := make([][]pfilter, len(cs))
	dayFrom, dayTo := int32(math.MaxInt32), int32(math.MinInt32)
	perPerson := false // some scope tells persons of one incident apart
	for i, c := range cs {
		for _, f := range c.perFilters {
			pfs[i] = append(pfs[i], pfilter{field: personField(f.d), tab: f.tab})
			perPerson = true
		}
		dayFrom, dayTo = min(dayFrom, c.dayFrom), max(dayTo, c.dayTo)
	}
	idx := s.index()
	var (
		buf    = make([]uint32, 0, 64)
		inc    = make([]int, 0, len(cs)) // scopes whose incident part row r passes
		sig    = make([]uint64, s.words)
		sigBuf = make([]byte, 8*s.words)
		lists  [][]int
	)
	for r := range e.alive {
		if !e.alive[r] {
			continue
		}
		if d := e.day[r]; d < dayFrom || d > dayTo {
			continue
		}
		inc = inc[:0]
		lists = idx.candidates(e, r, lists)
		for _, l := range lists {
			for _, i := range l {
				if s.incidentIn(cs[i], r, buf) {
					inc = append(inc, i)
				}
			}
		}
		if len(inc) == 0 {
			continue
		}
		if !personal || !perPerson {
			// Every unit of the row lies in the same scopes.
			clear(sig)
			for _, i := range inc {
				sig[i>>6] |= 1 << (i & 63)
			}
			if !personal {
				s.add(sig, sigBuf, 1, s.size(c0, r))
				continue
			}
			n := int64(counts[r]) // every migrant or suspect counts
			if c0.kind != mPersons {
				n = 0
				for x := starts[r]; x < starts[r]+counts[r]; x++ {
					if personCounts(c0.kind, p.packed(x)) {
						n++
					}
				}
			}
			if n > 0 {
				s.add(sig, sigBuf, n, n)
			}
			continue
		}
		for x := starts[r]; x < starts[r]+counts[r]; x++ {
			packed := p.packed(x)
			if !personCounts(c0.kind, packed) {
				continue
			}
			clear(sig)
			any := false
		scopes:
			for _, i := range inc {
				for _, f := range pfs[i] {
					if !f.tab[f.field.of(packed)] {
						continue scopes
					}
				}
				sig[i>>6] |= 1 << (i & 63)
				any = true
			}
			if any {
				s.add(sig, sigBuf, 1, 1)
			}
		}
	}
}

// scopeIndex narrows the scopes a row is tested against: to those whose
// period holds the row's month and, for scopes that allow one value (or a
// few) of some single-valued incident dimension, as the cells of a table
// do, to those allowing the row's own value.
type scopeIndex struct {
	byMonth [][]int // scopes without such a dimension, by month
	by      []dimIndex
}

type dimIndex struct {
	d      dim
	card   int
	scopes [][]int // by month*card + the row's code of d
}

// candidates returns the lists of scopes row r may lie in.
func (ix *scopeIndex) candidates(e *Engine, r int, out [][]int) [][]int {
	m := int(e.month[r] - e.minMonth)
	out = append(out[:0], ix.byMonth[m])
	for _, x := range ix.by {
		out = append(out, x.scopes[m*x.card+int(e.incCode(x.d, r))])
	}
	return out
}

// index files each scope under the months its period covers and, when it
// has one, the single-valued incident filter allowing the fewest codes
// (fewer than half of them).
func (s *overlapScan) index() scopeIndex {
	e := s.e
	nMonths := e.card(dMonth)
	ix := scopeIndex{byMonth: make([][]int, nMonths)}
	pos := map[dim]int{}
	months := make([]bool, nMonths)
	for i, c := range s.cs {
		for m := range months {
			mo := e.minMonth + int32(m)
			first, last := monthDay(mo), monthDay(mo+1)-1
			months[m] = last >= c.dayFrom && first <= c.dayTo && (c.monthOK == nil || c.monthOK[m])
		}
		var best []bool
		bestDim, bestN := dim(-1), 0
		for _, f := range c.incFilters {
			if multiValued(f.d) {
				continue
			}
			n := 0
			for _, ok := range f.tab {
				if ok {
					n++
				}
			}
			if n*2 < len(f.tab) && (best == nil || n < bestN) {
				best, bestDim, bestN = f.tab, f.d, n
			}
		}
		if best == nil {
			for m, ok := range months {
				if ok {
					ix.byMonth[m] = append(ix.byMonth[m], i)
				}
			}
			continue
		}
		p, ok := pos[bestDim]
		if !ok {
			p = len(ix.by)
			pos[bestDim] = p
			card := e.card(bestDim)
			ix.by = append(ix.by, dimIndex{d: bestDim, card: card, scopes: make([][]int, nMonths*card)})
		}
		x := &ix.by[p]
		for m, inMonth := range months {
			if !inMonth {
				continue
			}
			for code, ok := range best {
				if ok {
					x.scopes[m*x.card+code] = append(x.scopes[m*x.card+code], i)
				}
			}
		}
	}
	return ix
}

// incidentIn reports whether row r passes scope c's period and incident
// filters and is counted by its measure at all (the conditions of
// scanRange before any person is looked at).
func (s *overlapScan) incidentIn(c *compiled, r int, buf []uint32) bool {
	e := s.e
	if d := e.day[r]; d < c.dayFrom || d > c.dayTo {
		return false
	}
	if c.monthOK != nil && !c.monthOK[e.month[r]-e.minMonth] {
		return false
	}
	if len(c.incFilters) > 0 && !e.incPass(c, r, buf) {
		return false
	}
	if c.kind == mFees {
		if e.feeCur[r] == 0 || !c.feeOK || e.feeCur[r] != c.feeCur || e.migN[r] == 0 {
			return false
		}
	}
	return true
}

// size returns an incident's Size for measure c.
func (s *overlapScan) size(c *compiled, r int) int64 {
	deaths, missing, injured := s.e.harm(r)
	switch c.kind {
	case mDeaths:
		return deaths
	case mMissing:
		return missing
	case mInjured:
		return injured
	case mFees:
		return int64(s.e.migN[r])
	}
	return 1
}

// add counts units of signature sig, of the given total size.
func (s *overlapScan) add(sig []uint64, b []byte, units, size int64) {
	for i, w := range sig {
		for k := range 8 {
			b[i*8+k] = byte(w >> (8 * k))
		}
	}
	if ci, ok := s.classes[string(b)]; ok {
		s.out[ci].Units += units
		s.out[ci].Size += size
		return
	}
	var members []int
	for i, w := range sig {
		for w != 0 {
			bit := bits.TrailingZeros64(w)
			members = append(members, i*64+bit)
			w &^= 1 << bit
		}
	}
	s.classes[string(b)] = len(s.out)
	s.out = append(s.out, Class{Scopes: members, Units: units, Size: size})
}

// CellScope returns the scope of the cell with key in the answer to q: q
// without group_by, with one more filter per grouped dimension holding the
// cell's value of it. Aggregate counts in the scope exactly the units it
// counts in that cell.
func CellScope(q *queryv1.AggregateQuery, key []string) *queryv1.AggregateQuery {
	s := &queryv1.AggregateQuery{
		Measure:    q.GetMeasure(),
		PeriodFrom: q.GetPeriodFrom(),
		PeriodTo:   q.GetPeriodTo(),
		Filters:    make([]*queryv1.Filter, 0, len(q.GetFilters())+len(key)),
	}
	for _, f := range q.GetFilters() {
		s.Filters = append(s.Filters, &queryv1.Filter{Dimension: f.GetDimension(), Values: slices.Clone(f.GetValues())})
	}
	for i, d := range q.GetGroupBy() {
		if i < len(key) {
			s.Filters = append(s.Filters, &queryv1.Filter{Dimension: d, Values: []string{key[i]}})
		}
	}
	return s
}
