package engine

import "github.com/vrs-federation/vrs/internal/registry"

// Month summaries: per detection month, the number of incidents, migrants
// and suspects with each code of each single-valued dimension, kept
// current on every insert and delete. A plain count over whole months,
// with no filter but the period and grouped by period dimensions and at
// most one other dimension, is then read from a few hundred counters
// instead of scanning rows or persons.

// The tables a summary counts.
const (
	sumIncidents = iota
	sumMigrants
	sumSuspects
	sumTables
)

// sumDims are the dimensions summarised, in the order of monthSums.by.
var sumDims = [...]dim{dMode, dLoc, dSub, dOrigin, dDest, dCit, dSex, dAge, dRole, dStatus}

// sumIndex returns d's place in sumDims, or -1 when d is not summarised
// (period dimensions are the summary's key; multi-valued ones would need
// a count per combination).
func sumIndex(d dim) int {
	for i, s := range sumDims {
		if s == d {
			return i
		}
	}
	return -1
}

// monthSums holds one month's counts: total[t] rows of table t, and
// by[t][i][code] rows of table t whose sumDims[i] is code. For persons, an
// incident dimension counts the persons of the incidents with that code.
type monthSums struct {
	total [sumTables]int64
	by    [sumTables][len(sumDims)][]int64
}

// bump adds n to s[code], growing s as dictionaries grow.
func bump(s []int64, code uint32, n int64) []int64 {
	if int(code) >= len(s) {
		s = append(s, make([]int64, int(code)+1-len(s))...)
	}
	s[code] += n
	return s
}

// summarise adds row r to its month's summary (sign 1) or takes it out
// (sign -1). It reads the row's columns and person ranges, so it runs
// after an insert has written them and before a delete clears them.
func (e *Engine) summarise(r uint32, sign int64) {
	s := e.sums[e.month[r]]
	if s == nil {
		s = &monthSums{}
		e.sums[e.month[r]] = s
	}
	// The incident codes, in the order of sumDims.
	inc := [...]uint32{uint32(e.mode[r]), uint32(e.loc[r]), uint32(e.sub[r]), uint32(e.origin[r]), uint32(e.dest[r])}
	weights := [sumTables]int64{sign, sign * int64(e.migN[r]), sign * int64(e.susN[r])}
	for t, w := range weights {
		s.total[t] += w
		for i, code := range inc {
			s.by[t][i] = bump(s.by[t][i], code, w)
		}
	}
	persons := [...]struct {
		p        *persons
		start, n uint32
		t        int
	}{{&e.mig, e.migStart[r], e.migN[r], sumMigrants}, {&e.sus, e.susStart[r], e.susN[r], sumSuspects}}
	for _, p := range persons {
		by := &s.by[p.t]
		for i := p.start; i < p.start+p.n; i++ {
			x := p.p.packed(i)
			for j, d := range sumDims[len(inc):] {
				by[len(inc)+j] = bump(by[len(inc)+j], personField(d).of(x), sign)
			}
		}
	}
}

// fromSummary answers c from the month summaries when it can, reporting
// whether it did: a count of incidents or of all migrants or suspects,
// with no filter but the period, the period made of whole months, grouped
// by period dimensions and at most one summarised dimension.
func (e *Engine) fromSummary(c *compiled, a *accumulator) bool {
	t := sumIncidents
	switch {
	case c.kind == mPersons && c.measure.Persons == registry.PersonsSuspects:
		t = sumSuspects
	case c.kind == mPersons:
		t = sumMigrants
	case c.kind != mIncidents:
		return false
	}
	if len(c.incFilters) > 0 || len(c.perFilters) > 0 {
		return false
	}
	var (
		other = -1
		off   int
	)
	for _, g := range c.group {
		switch g.d {
		case dYear, dQuarter, dMonth:
			continue
		}
		i := sumIndex(g.d)
		if other >= 0 || i < 0 || g.allow != nil {
			return false
		}
		other, off = i, g.off
	}
	// Every month is wholly inside the period or wholly outside it;
	// otherwise only a scan can tell the days apart.
	var months []int32
	for m := e.minMonth; m <= e.maxMonth; m++ {
		if c.monthOK != nil && !c.monthOK[m-e.minMonth] {
			continue
		}
		first, last := monthDay(m), monthDay(m+1)-1
		if last < c.dayFrom || first > c.dayTo {
			continue
		}
		if first < c.dayFrom || last > c.dayTo {
			return false
		}
		months = append(months, m)
	}
	for _, m := range months {
		s := e.sums[m]
		if s == nil {
			continue
		}
		var k uint64
		for _, g := range c.group {
			switch g.d {
			case dYear:
				k |= uint64(m/12-e.minMonth/12) << g.off
			case dQuarter:
				k |= uint64(m/3-e.minMonth/3) << g.off
			case dMonth:
				k |= uint64(m-e.minMonth) << g.off
			}
		}
		if other < 0 {
			if n := s.total[t]; n > 0 {
				a.add(k, n, 0, n)
			}
			continue
		}
		for code, n := range s.by[t][other] {
			if n > 0 {
				a.add(k|uint64(code)<<off, n, 0, n)
			}
		}
	}
	return true
}
