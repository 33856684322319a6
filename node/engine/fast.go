package engine

import (
	"math/bits"
	"time"

	"github.com/vrs-federation/vrs/internal/registry"
)

// periodRows returns a bitmap of the rows detected in the months the
// query's period can match, or nil when more than half of the months can
// match (then the scan visits all rows). The per-row date test still runs, so a month only
// partly inside the period is handled exactly.
func (e *Engine) periodRows(c *compiled) []uint64 {
	if e.minMonth > e.maxMonth {
		return nil
	}
	var months []int32
	for m := e.minMonth; m <= e.maxMonth; m++ {
		if c.monthOK != nil && !c.monthOK[m-e.minMonth] {
			continue
		}
		first := monthDay(m)
		if last := monthDay(m+1) - 1; last < c.dayFrom || first > c.dayTo {
			continue
		}
		months = append(months, m)
	}
	// Merging most of the months' bitmaps costs more than it saves: the
	// scan's own date test is cheap per row.
	if len(months)*2 > int(e.maxMonth-e.minMonth)+1 {
		return nil
	}
	sel := make([]uint64, (len(e.alive)+63)/64)
	for _, m := range months {
		for _, r := range e.byMonth[m] {
			sel[r>>6] |= 1 << (r & 63)
		}
	}
	return sel
}

// monthDay returns the first day of month m (year*12 + month-1) as days
// since 1970-01-01.
func monthDay(m int32) int32 {
	return int32(time.Date(int(m/12), time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// nextRow returns the first row at or after r selected by sel (all rows
// when sel is nil); a result ≥ hi means none is left.
func nextRow(sel []uint64, r, hi int) int {
	if sel == nil {
		return r
	}
	for r < hi {
		if w := sel[r>>6] >> (r & 63); w != 0 {
			return r + bits.TrailingZeros64(w)
		}
		r = (r | 63) + 1
	}
	return hi
}

// fastPath reports whether the query fits the specialised loop of
// fastScanRange: a plain count of incidents or of every person, grouped
// only by single-valued dimensions that are not also filtered, with no
// person-level filter. Incident filters are allowed.
func (c *compiled) fastPath() bool {
	if c.kind != mIncidents && c.kind != mPersons {
		return false
	}
	if len(c.perFilters) > 0 {
		return false
	}
	for _, g := range c.group {
		if multiValued(g.d) || g.allow != nil {
			return false
		}
	}
	return true
}

// fastChunk is how many rows fastScanRange selects before computing their
// keys column by column.
const fastChunk = 1024

// localBits bounds the per-incident person table used when the cell
// accumulator is a map.
const localBits = 10

// fastScanRange is scanRange for the shapes fastPath accepts. It works a
// chunk at a time: first the rows that pass the period and incident
// filters, then their incident keys one dimension (one typed column) at a
// time, then the counts, so no per-row switch on dimensions or measure
// remains in the inner loops.
func (e *Engine) fastScanRange(c *compiled, lo, hi int, sel []uint64, a *accumulator) {
	rows := make([]int32, 0, fastChunk)
	keys := make([]uint64, fastChunk)
	buf := make([]uint32, 0, 64)
	var (
		p      *persons
		starts []uint32
		counts []uint32
		idims  []groupDim
		npd    int // person dimensions grouped
		pbits  int
		pdim   dim // the person dimension, when npd is 1
	)
	personal := c.kind == mPersons
	if c.measure.Persons == registry.PersonsSuspects {
		p, starts, counts = &e.sus, e.susStart, e.susN
	} else {
		p, starts, counts = &e.mig, e.migStart, e.migN
	}
	// pk places person codes in the cell key; lk packs them tightly
	// into an index of the per-incident table below.
	var pk, lk personKey
	for _, g := range c.group {
		if !g.d.person() {
			idims = append(idims, g)
			continue
		}
		f := personField(g.d)
		// The field's mask is narrowed to the key width: codes are below
		// the dimension's cardinality, so nothing is lost.
		m := f.mask & (1<<g.shift - 1)
		pk.shift[npd], pk.mask[npd], pk.off[npd] = f.shift, m, uint(g.off)
		lk.shift[npd], lk.mask[npd], lk.off[npd] = f.shift, m, uint(pbits)
		npd++
		pbits += g.shift
		pdim = g.d
	}
	// With a map accumulator, persons are first counted per incident in
	// a small table indexed by their packed person codes alone.
	var (
		local   []int64
		touched []uint32
	)
	if personal && npd > 0 && !a.dense && pbits <= localBits {
		local = make([]int64, 1<<pbits)
	}
	r := nextRow(sel, lo, hi)
	for r < hi {
		rows = rows[:0]
		for ; r < hi && len(rows) < fastChunk; r = nextRow(sel, r+1, hi) {
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
			rows = append(rows, int32(r))
		}
		ks := keys[:len(rows)]
		clear(ks)
		for _, g := range idims {
			e.orCodes(g, rows, ks)
		}
		switch {
		case !personal && a.dense:
			v := a.v
			for _, k := range ks {
				v[k]++
			}
		case !personal:
			for _, k := range ks {
				a.count(k)
			}
		case npd == 0:
			for i, r := range rows {
				if n := int64(counts[r]); n > 0 {
					a.add(ks[i], n, 0, n)
				}
			}
		case a.dense && npd == 1 && pdim == dCit:
			countCitizenships(a.v, p.cit, rows, ks, starts, counts, pk.off[0])
		case a.dense && npd == 1:
			col, s := p.attr, uint(attrSexShift)
			switch pdim {
			case dAge:
				s = attrAgeShift
			case dRole:
				col, s = p.legal, legalRoleShift
			case dStatus:
				col, s = p.legal, legalStatShift
			}
			countSmall(a.v, col, s, uint8(pk.mask[0]), pk.off[0], rows, ks, starts, counts)
		case a.dense:
			// personKey.of by hand: too big for the compiler to inline.
			v := a.v
			s0, s1, s2, s3, s4 := pk.shift[0], pk.shift[1], pk.shift[2], pk.shift[3], pk.shift[4]
			m0, m1, m2, m3, m4 := pk.mask[0], pk.mask[1], pk.mask[2], pk.mask[3], pk.mask[4]
			o0, o1, o2, o3, o4 := pk.off[0], pk.off[1], pk.off[2], pk.off[3], pk.off[4]
			for i, r := range rows {
				k := ks[i]
				for j := starts[r]; j < starts[r]+counts[r]; j++ {
					x := p.packed(j)
					v[k|uint64(x>>s0&m0)<<o0|uint64(x>>s1&m1)<<o1|uint64(x>>s2&m2)<<o2|
						uint64(x>>s3&m3)<<o3|uint64(x>>s4&m4)<<o4]++
				}
			}
		case local != nil:
			for i, r := range rows {
				for j := starts[r]; j < starts[r]+counts[r]; j++ {
					li := lk.of(p.packed(j))
					if local[li] == 0 {
						touched = append(touched, uint32(li))
					}
					local[li]++
				}
				for _, li := range touched {
					n := local[li]
					a.add(ks[i]|pk.of(lk.unpack(uint64(li))), n, 0, n)
					local[li] = 0
				}
				touched = touched[:0]
			}
		default:
			for i, r := range rows {
				k := ks[i]
				for j := starts[r]; j < starts[r]+counts[r]; j++ {
					a.count(k | pk.of(p.packed(j)))
				}
			}
		}
	}
}

// countCitizenships counts the persons of rows by citizenship into dense
// array v, at key ks[i] with the citizenship at bit off. Persons of one
// incident often share a citizenship, so a run of equal codes is added
// at once: one memory update instead of a chain of dependent increments
// of the same counter.
func countCitizenships(v []int64, cit []uint16, rows []int32, ks []uint64, starts, counts []uint32, off uint) {
	for i, r := range rows {
		k := ks[i]
		people := cit[starts[r] : starts[r]+counts[r]]
		for j := 0; j < len(people); {
			c, n := people[j], 1
			for j++; j < len(people) && people[j] == c; j++ {
				n++
			}
			v[k|uint64(c)<<off] += int64(n)
		}
	}
}

// countSmall counts the persons of rows by a field of at most 8 codes
// (mask ≤ 7) found at bit shift of column col. An incident's persons are
// first counted in registers, one byte-wide counter per code packed in a
// uint64 (flushed every 255 persons so no counter overflows; a table
// turns a column byte into the increment), then added to dense array v
// once per code present: no chain of dependent increments of the same
// counter in memory.
func countSmall(v []int64, col []uint8, shift uint, mask uint8, off uint, rows []int32, ks []uint64, starts, counts []uint32) {
	var inc [256]uint64
	for b := range inc {
		inc[b] = 1 << (uint8(b) >> shift & mask * 8)
	}
	for i, r := range rows {
		k := ks[i]
		people := col[starts[r] : starts[r]+counts[r]]
		for len(people) > 0 {
			batch := people[:min(len(people), 255)]
			people = people[len(batch):]
			var h0, h1 uint64
			j := 0
			for ; j+1 < len(batch); j += 2 {
				h0 += inc[batch[j]]
				h1 += inc[batch[j+1]]
			}
			if j < len(batch) {
				h0 += inc[batch[j]]
			}
			// Both halves hold at most 255 persons together, so no lane
			// carries into the next.
			h := h0 + h1
			for h != 0 {
				b := uint(bits.TrailingZeros64(h)) / 8
				v[k|uint64(b)<<off] += int64(h >> (b * 8) & 0xff)
				h &^= 0xff << (b * 8)
			}
		}
	}
}

// maxPersonDims is how many person dimensions a query can group by
// (citizenship, sex, age band, suspect role, legal status).
const maxPersonDims = 5

// personKey moves the grouped fields of a packed person to their places
// in a cell key. Unused slots have a zero mask, so the key is built with
// a fixed, branch-free sequence of shifts whatever the query groups by.
type personKey struct {
	shift [maxPersonDims]uint
	mask  [maxPersonDims]uint32
	off   [maxPersonDims]uint
}

func (k *personKey) of(x uint32) uint64 {
	return uint64(x>>k.shift[0]&k.mask[0])<<k.off[0] |
		uint64(x>>k.shift[1]&k.mask[1])<<k.off[1] |
		uint64(x>>k.shift[2]&k.mask[2])<<k.off[2] |
		uint64(x>>k.shift[3]&k.mask[3])<<k.off[3] |
		uint64(x>>k.shift[4]&k.mask[4])<<k.off[4]
}

// unpack turns a key built by k back into a packed person holding only
// the grouped fields.
func (k *personKey) unpack(li uint64) uint32 {
	var x uint32
	for i := range maxPersonDims {
		x |= uint32(li>>k.off[i]) & k.mask[i] << k.shift[i]
	}
	return x
}

// orCodes ORs the code of single-valued incident dimension g of each row
// into its key, with the dimension's switch outside the loop.
func (e *Engine) orCodes(g groupDim, rows []int32, ks []uint64) {
	off := uint(g.off)
	switch g.d {
	case dMonth:
		base := e.minMonth
		for i, r := range rows {
			ks[i] |= uint64(e.month[r]-base) << off
		}
	case dYear:
		base := e.minMonth / 12
		for i, r := range rows {
			ks[i] |= uint64(e.month[r]/12-base) << off
		}
	case dQuarter:
		base := e.minMonth / 3
		for i, r := range rows {
			ks[i] |= uint64(e.month[r]/3-base) << off
		}
	case dOrigin:
		for i, r := range rows {
			ks[i] |= uint64(e.origin[r]) << off
		}
	case dDest:
		for i, r := range rows {
			ks[i] |= uint64(e.dest[r]) << off
		}
	case dSub:
		for i, r := range rows {
			ks[i] |= uint64(e.sub[r]) << off
		}
	case dMode:
		for i, r := range rows {
			ks[i] |= uint64(e.mode[r]) << off
		}
	case dLoc:
		for i, r := range rows {
			ks[i] |= uint64(e.loc[r]) << off
		}
	default:
		for i, r := range rows {
			ks[i] |= uint64(e.incCode(g.d, int(r))) << off
		}
	}
}
