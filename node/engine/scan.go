package engine

import (
	"cmp"
	"maps"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/vrs-federation/vrs/internal/registry"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// accumulator sums cells keyed by the packed codes of the grouped
// dimensions: a dense array when the key space is small (no hashing at
// all), a map to slice indexes otherwise. For plain counts only v is kept
// (units equal the value); otherwise u counts units and f sums fees. A cell
// exists once it has a unit.
type accumulator struct {
	dense     bool
	countOnly bool
	idx       map[uint64]int32
	keys      []uint64
	v         []int64
	f         []float64
	u         []int64
}

// denseBits bounds the dense key space (64k cells) for small tables;
// maxDenseBits bounds it for large ones (see Engine.denseLimit).
const (
	denseBits    = 16
	maxDenseBits = 20
)

// denseLimit returns the widest key for which an aggregate uses a dense
// array: 64k cells, or up to about four cells per row for large tables,
// where clearing and walking the array costs less than one scan while a
// map would cost a hash per cell update.
func (e *Engine) denseLimit() int {
	if e.denseMax > 0 {
		return e.denseMax
	}
	return min(max(bits.Len(uint(len(e.alive)))+2, denseBits), maxDenseBits)
}

func newAccumulator(totalBits, limit int, countOnly bool) *accumulator {
	a := &accumulator{countOnly: countOnly}
	if totalBits <= limit {
		n := 1 << totalBits
		a.dense = true
		a.v = make([]int64, n)
		if !countOnly {
			a.f, a.u = make([]float64, n), make([]int64, n)
		}
		return a
	}
	a.idx = map[uint64]int32{}
	return a
}

func (a *accumulator) slot(k uint64) uint64 {
	if a.dense {
		return k
	}
	i, ok := a.idx[k]
	if !ok {
		i = int32(len(a.keys))
		a.idx[k] = i
		a.keys = append(a.keys, k)
		a.v = append(a.v, 0)
		if !a.countOnly {
			a.f = append(a.f, 0)
			a.u = append(a.u, 0)
		}
	}
	return uint64(i)
}

func (a *accumulator) add(k uint64, v int64, f float64, u int64) {
	i := a.slot(k)
	a.v[i] += v
	if !a.countOnly {
		a.f[i] += f
		a.u[i] += u
	}
}

// count adds one person to a count-only accumulator.
func (a *accumulator) count(k uint64) {
	if a.dense {
		a.v[k]++
		return
	}
	a.v[a.slot(k)]++
}

// each calls fn for every existing cell.
func (a *accumulator) each(fn func(k uint64, v int64, f float64, u int64)) {
	for i, v := range a.v {
		var f float64
		u := v
		if !a.countOnly {
			f, u = a.f[i], a.u[i]
		}
		if u == 0 {
			continue
		}
		k := uint64(i)
		if !a.dense {
			k = a.keys[i]
		}
		fn(k, v, f, u)
	}
}

// merge adds o's cells into a.
func (a *accumulator) merge(o *accumulator) { o.each(a.add) }

// incPass applies the incident-level filters to row r.
func (e *Engine) incPass(c *compiled, r int, buf []uint32) bool {
	for _, f := range c.incFilters {
		if !multiValued(f.d) {
			if !f.tab[e.incCode(f.d, r)] {
				return false
			}
			continue
		}
		ok := false
		for _, code := range e.incCodes(f.d, r, buf[:0]) {
			if f.tab[code] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func multiValued(d dim) bool { return d == dTransit || d == dICCS || d == dFraud }

// incCode returns the code of single-valued incident dimension d for row r.
func (e *Engine) incCode(d dim, r int) uint32 {
	switch d {
	case dYear:
		return uint32(e.month[r]/12 - e.minMonth/12)
	case dQuarter:
		return uint32(e.month[r]/3 - e.minMonth/3)
	case dMonth:
		return uint32(e.month[r] - e.minMonth)
	case dOrigin:
		return uint32(e.origin[r])
	case dDest:
		return uint32(e.dest[r])
	case dSub:
		return uint32(e.sub[r])
	case dMode:
		return uint32(e.mode[r])
	case dLoc:
		return uint32(e.loc[r])
	}
	return 0
}

// incCodes appends the codes of incident dimension d for row r.
func (e *Engine) incCodes(d dim, r int, buf []uint32) []uint32 {
	switch d {
	case dTransit:
		return e.multi(buf, e.transitOff[r], e.transitN[r])
	case dICCS:
		return e.multi(buf, e.iccsOff[r], e.iccsN[r])
	case dFraud:
		m := e.fraud[r]
		if m == 0 {
			return append(buf, fraudNone)
		}
		for b := uint32(0); b < fraudNone; b++ {
			if m&(1<<b) != 0 {
				buf = append(buf, b)
			}
		}
		return buf
	}
	return append(buf, e.incCode(d, r))
}

func (e *Engine) multi(buf []uint32, off uint32, n uint8) []uint32 {
	if n == 0 {
		return append(buf, 0) // "none"
	}
	for _, v := range e.pool[off : off+uint32(n)] {
		buf = append(buf, uint32(v))
	}
	return buf
}

// pfield says where a person dimension sits in a packed person.
type pfield struct {
	shift uint
	mask  uint32
}

func personField(d dim) pfield {
	switch d {
	case dCit:
		return pfield{personCitShift, personCitMask}
	case dSex:
		return pfield{personSexShift, personSmallMask}
	case dAge:
		return pfield{personAgeShift, personSmallMask}
	case dRole:
		return pfield{personRoleShift, personSmallMask}
	case dStatus:
		return pfield{personStatusShift, personSmallMask}
	}
	panic("not a person dimension")
}

func (f pfield) of(x uint32) uint32 { return x >> f.shift & f.mask }

// personCounts reports whether packed person x is counted by a
// person-level measure.
func personCounts(k measureKind, x uint32) bool {
	switch k {
	case mMinors:
		return x&personMinorBit != 0
	case mProsecutions:
		s := recordv1.LegalStatus(x >> personStatusShift & personSmallMask)
		return s == recordv1.LegalStatus_LEGAL_STATUS_PROSECUTED || s == recordv1.LegalStatus_LEGAL_STATUS_CONVICTED || s == recordv1.LegalStatus_LEGAL_STATUS_ACQUITTED
	case mConvictions:
		return recordv1.LegalStatus(x>>personStatusShift&personSmallMask) == recordv1.LegalStatus_LEGAL_STATUS_CONVICTED
	}
	return true
}

type pdim struct {
	field pfield
	off   int
	allow []bool
}

type pfilter struct {
	field pfield
	tab   []bool
}

// minRowsPerWorker keeps small scans on one goroutine.
const minRowsPerWorker = 1 << 16

// scan runs the hot loop over all rows, split across CPUs for large
// tables: each worker sums into its own accumulator, merged at the end.
func (e *Engine) scan(c *compiled, a *accumulator, st *Stats) {
	n := len(e.alive)
	sel := e.periodRows(c)
	fast := c.fastPath()
	run := func(lo, hi int, a *accumulator, st *Stats) {
		if fast {
			e.fastScanRange(c, lo, hi, sel, a)
			return
		}
		e.scanRange(c, lo, hi, sel, a, st)
	}
	visited := n
	if sel != nil {
		visited = 0
		for _, x := range sel {
			visited += bits.OnesCount64(x)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), visited/e.rowsPerWorker, 8)
	if workers <= 1 {
		run(0, n, a, st)
		return
	}
	bounds := splitRows(sel, n, visited, workers)
	accs := make([]*accumulator, workers)
	stats := make([]Stats, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := bounds[w], bounds[w+1]
		accs[w] = newAccumulator(c.totalBits, c.denseBits, c.countOnly())
		wg.Go(func() { run(lo, hi, accs[w], &stats[w]) })
	}
	wg.Wait()
	for w := range workers {
		a.merge(accs[w])
		st.FeesOtherCurrency += stats[w].FeesOtherCurrency
	}
}

// splitRows cuts rows [0, n) into workers ranges holding about the same
// number of visited rows: with a period index the selected rows may all
// sit in one part of the table (records loaded in date order).
func splitRows(sel []uint64, n, visited, workers int) []int {
	bounds := make([]int, workers+1)
	bounds[workers] = n
	if sel == nil {
		for w := range workers {
			bounds[w] = n * w / workers
		}
		return bounds
	}
	w, seen := 1, 0
	for i, x := range sel {
		for w < workers && seen >= visited*w/workers {
			bounds[w] = min(i*64, n)
			w++
		}
		seen += bits.OnesCount64(x)
	}
	for ; w < workers; w++ {
		bounds[w] = n
	}
	return bounds
}

// scanRange is the hot loop: one pass over rows [lo, hi) of the incident
// columns, filters as table lookups, grouping by packed integer keys (each
// dimension's code at its own bit offset, so the incident part and the
// person part of a key are simply OR-ed). When sel is not nil only the
// rows it marks are visited.
func (e *Engine) scanRange(c *compiled, lo, hi int, sel []uint64, a *accumulator, st *Stats) {
	var (
		buf      = make([]uint32, 0, 64)
		keys     = make([]uint64, 0, 64)
		next     = make([]uint64, 0, 64)
		personal = c.measure.Level == registry.LevelPerson
		p        *persons
		starts   []uint32
		counts   []uint32
		pdims    []pdim
		pfs      []pfilter
		igroup   []groupDim
	)
	switch c.measure.Persons {
	case registry.PersonsMigrants:
		p, starts, counts = &e.mig, e.migStart, e.migN
	case registry.PersonsSuspects:
		p, starts, counts = &e.sus, e.susStart, e.susN
	}
	for _, g := range c.group {
		if g.d.person() {
			pdims = append(pdims, pdim{field: personField(g.d), off: g.off, allow: g.allow})
		} else {
			igroup = append(igroup, g)
		}
	}
	for _, f := range c.perFilters {
		pfs = append(pfs, pfilter{field: personField(f.d), tab: f.tab})
	}
rows:
	for r := nextRow(sel, lo, hi); r < hi; r = nextRow(sel, r+1, hi) {
		if !e.alive[r] {
			continue
		}
		if d := e.day[r]; d < c.dayFrom || d > c.dayTo {
			continue
		}
		if c.monthOK != nil && !c.monthOK[e.month[r]-e.minMonth] {
			continue
		}
		if len(c.incFilters) > 0 && !e.incPass(c, r, buf) {
			continue
		}
		// The incident part of the keys: one key, or one per combination
		// of the values of multi-valued dimensions.
		keys = append(keys[:0], 0)
		for _, g := range igroup {
			if !multiValued(g.d) {
				code := e.incCode(g.d, r)
				if g.allow != nil && !g.allow[code] {
					continue rows
				}
				for k := range keys {
					keys[k] |= uint64(code) << g.off
				}
				continue
			}
			next = next[:0]
			for _, code := range e.incCodes(g.d, r, buf[:0]) {
				if g.allow != nil && !g.allow[code] {
					continue
				}
				for _, k := range keys {
					next = append(next, k|uint64(code)<<g.off)
				}
			}
			if len(next) == 0 {
				continue rows
			}
			keys, next = next, keys
		}
		if !personal {
			var v, u int64 = 1, 1
			var f float64
			switch c.kind {
			case mDeaths:
				v, _, _ = e.harm(r)
			case mMissing:
				_, v, _ = e.harm(r)
			case mInjured:
				_, _, v = e.harm(r)
			case mFees:
				if e.feeCur[r] == 0 {
					continue
				}
				if !c.feeOK || e.feeCur[r] != c.feeCur {
					st.FeesOtherCurrency++
					continue
				}
				n := e.migN[r]
				if n == 0 {
					continue
				}
				v, f, u = 0, e.feeAmt[r]*float64(n), int64(n)
			}
			for _, k := range keys {
				a.add(k, v, f, u)
			}
			continue
		}
		first, end := starts[r], starts[r]+counts[r]
		if len(pdims) == 0 {
			var cnt int64
		counted:
			for i := first; i < end; i++ {
				x := p.packed(i)
				if !personCounts(c.kind, x) {
					continue
				}
				for _, f := range pfs {
					if !f.tab[f.field.of(x)] {
						continue counted
					}
				}
				cnt++
			}
			if cnt > 0 {
				for _, k := range keys {
					a.add(k, cnt, 0, cnt)
				}
			}
			continue
		}
	persons:
		for i := first; i < end; i++ {
			x := p.packed(i)
			if !personCounts(c.kind, x) {
				continue
			}
			for _, f := range pfs {
				if !f.tab[f.field.of(x)] {
					continue persons
				}
			}
			var pk uint64
			for _, d := range pdims {
				code := d.field.of(x)
				if d.allow != nil && !d.allow[code] {
					continue persons
				}
				pk |= uint64(code) << d.off
			}
			for _, k := range keys {
				a.count(k | pk)
			}
		}
	}
}

// cells turns the accumulator into named cells in key order. Each code is
// named once per query, and cells are sorted by an integer built from
// each code's rank among the names of its dimension: the same order as
// comparing the keys' strings, without comparing strings per cell pair.
func (e *Engine) cells(c *compiled, a *accumulator) []RawCell {
	type ranked struct {
		rank uint64
		cell RawCell
	}
	names := make([]map[uint32]string, len(c.group))
	for gi := range names {
		names[gi] = map[uint32]string{}
	}
	var out []ranked
	a.each(func(k uint64, v int64, f float64, u int64) {
		key := make([]string, len(c.group))
		for gi, g := range c.group {
			code := uint32(k >> g.off & (1<<g.shift - 1))
			n, ok := names[gi][code]
			if !ok {
				n = e.name(g.d, code)
				names[gi][code] = n
			}
			key[gi] = n
		}
		if c.measure.Sum {
			v = int64(math.Round(f))
		}
		out = append(out, ranked{rank: k, cell: RawCell{Key: key, Value: v, Units: u}})
	})
	// Replace each code by its rank; codes with the same name share one.
	ranks := make([]map[uint32]uint64, len(c.group))
	for gi := range c.group {
		codes := slices.Collect(maps.Keys(names[gi]))
		slices.SortFunc(codes, func(x, y uint32) int { return strings.Compare(names[gi][x], names[gi][y]) })
		ranks[gi] = make(map[uint32]uint64, len(codes))
		var r uint64
		for i, code := range codes {
			if i > 0 && names[gi][code] != names[gi][codes[i-1]] {
				r++
			}
			ranks[gi][code] = r
		}
	}
	for i := range out {
		k, rank := out[i].rank, uint64(0)
		for gi, g := range c.group {
			rank |= ranks[gi][uint32(k>>g.off&(1<<g.shift-1))] << g.off
		}
		out[i].rank = rank
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(x, y ranked) int { return cmp.Compare(x.rank, y.rank) })
	cells := make([]RawCell, len(out))
	for i, r := range out {
		cells[i] = r.cell
	}
	return cells
}
