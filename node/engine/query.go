package engine

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// RawCell is one exact cell, before disclosure control.
type RawCell struct {
	// Key holds the cell's dimension values in group_by order.
	Key []string
	// Value is the exact count, or for fees_paid the sum rounded to whole
	// currency units.
	Value int64
	// Units is what the small-cell rule applies to: equal to Value for
	// counts of incidents and persons; the incidents counted for deaths,
	// missing and injured; the migrants whose fee is summed for fees_paid.
	Units int64
}

// Stats describes what an aggregate left out.
type Stats struct {
	// FeesOtherCurrency counts incidents with a fee that fees_paid left
	// out because it was not in the requested currency.
	FeesOtherCurrency int64
}

// Option adjusts an aggregate.
type Option func(*options)

type options struct{ feesCurrency string }

// WithFeesCurrency sets the only currency fees_paid sums (ISO 4217, e.g.
// "USD"); fees_paid is refused without it.
func WithFeesCurrency(c string) Option { return func(o *options) { o.feesCurrency = c } }

// Aggregate returns the exact, non-empty cells of q in key order. A cell is
// present when at least one incident (or person, for person-level
// measures) falls in it, even if its value is zero (e.g. deaths).
func (e *Engine) Aggregate(q *queryv1.AggregateQuery, opts ...Option) ([]RawCell, error) {
	cells, _, err := e.AggregateStats(q, opts...)
	return cells, err
}

// dim identifies a dimension inside the engine.
type dim int

const (
	dYear dim = iota
	dQuarter
	dMonth
	dCit
	dSex
	dAge
	dOrigin
	dTransit
	dDest
	dMode
	dICCS
	dLoc
	dSub
	dFraud
	dRole
	dStatus
)

var dimIDs = map[string]dim{
	"period.year": dYear, "period.quarter": dQuarter, "period.month": dMonth,
	"citizenship": dCit, "sex": dSex, "age_band": dAge,
	"route.origin": dOrigin, "route.transit": dTransit, "route.destination": dDest,
	"transport_mode": dMode, "iccs": dICCS, "location_type": dLoc,
	"subdivision": dSub, "document_fraud": dFraud,
	"suspect_role": dRole, "legal_status": dStatus,
}

func (d dim) person() bool { return d == dCit || d == dSex || d == dAge || d == dRole || d == dStatus }

const fraudNone = 7 // the code of "none" in document_fraud

// compiled is a query turned into lookup tables over codes.
type compiled struct {
	measure    registry.Measure
	kind       measureKind
	dayFrom    int32
	dayTo      int32
	monthOK    []bool // indexed by month-minMonth; nil when no period filter
	incFilters []filter
	perFilters []filter
	group      []groupDim
	totalBits  int
	denseBits  int // widest key summed in a dense array
	feeCur     uint16
	feeOK      bool
}

type filter struct {
	d   dim
	tab []bool
}

type groupDim struct {
	d     dim
	shift int    // bits
	off   int    // bit offset of the code in the packed key
	allow []bool // when the same dimension is also filtered
}

// countOnly reports whether the measure is a plain count, whose units are
// its value.
func (c *compiled) countOnly() bool {
	switch c.kind {
	case mIncidents, mPersons, mMinors, mProsecutions, mConvictions:
		return true
	}
	return false
}

// measureKind is the measure as a small integer for the hot loop.
type measureKind int

const (
	mIncidents measureKind = iota
	mDeaths
	mMissing
	mInjured
	mFees
	mPersons // every migrant or suspect
	mMinors
	mProsecutions
	mConvictions
)

var kinds = map[string]measureKind{
	"incidents": mIncidents, "deaths": mDeaths, "missing": mMissing, "injured": mInjured,
	"fees_paid": mFees, "migrants": mPersons, "suspects": mPersons,
	"minors_unaccompanied": mMinors, "prosecutions": mProsecutions, "convictions": mConvictions,
}

// card returns the number of codes dimension d can take now.
func (e *Engine) card(d dim) int {
	span := int(e.maxMonth) - int(e.minMonth)
	if span < 0 {
		// Nothing projected yet: one placeholder period code.
		switch d {
		case dYear, dQuarter, dMonth:
			return 1
		}
		span = 0
	}
	switch d {
	case dYear:
		return int(e.maxMonth/12-e.minMonth/12) + 1
	case dQuarter:
		return int(e.maxMonth/3-e.minMonth/3) + 1
	case dMonth:
		return span + 1
	case dCit, dOrigin, dTransit, dDest:
		return len(e.countries.names)
	case dSub:
		return len(e.subdivisions.names)
	case dICCS:
		return len(e.iccs.names)
	case dSex:
		return int(recordv1.Sex_SEX_UNKNOWN) + 1
	case dAge:
		return len(ageNames)
	case dMode:
		return int(recordv1.TransportMode_TRANSPORT_MODE_MIXED) + 1
	case dLoc:
		return int(recordv1.LocationType_LOCATION_TYPE_INLAND) + 1
	case dFraud:
		return fraudNone + 1
	case dRole:
		return int(recordv1.SuspectRole_SUSPECT_ROLE_OTHER) + 1
	case dStatus:
		return int(recordv1.LegalStatus_LEGAL_STATUS_ACQUITTED) + 1
	}
	return 0
}

// name spells code c of dimension d as a cell key.
func (e *Engine) name(d dim, c uint32) string {
	switch d {
	case dYear:
		y := int(e.minMonth/12) + int(c)
		return registry.PeriodKey(registry.GranularityYear, y, 1)
	case dQuarter:
		q := int(e.minMonth/3) + int(c)
		return registry.PeriodKey(registry.GranularityQuarter, q/4, (q%4)*3+1)
	case dMonth:
		m := int(e.minMonth) + int(c)
		return registry.PeriodKey(registry.GranularityMonth, m/12, m%12+1)
	case dCit, dOrigin, dDest:
		if c == 0 {
			return registry.Unknown
		}
		return e.countries.names[c]
	case dTransit:
		if c == 0 {
			return registry.None
		}
		return e.countries.names[c]
	case dSub:
		if c == 0 {
			return registry.Unknown
		}
		return e.subdivisions.names[c]
	case dICCS:
		if c == 0 {
			return registry.None
		}
		return e.iccs.names[c]
	case dSex:
		return registry.SexKey(recordv1.Sex(c))
	case dAge:
		return ageNames[c]
	case dMode:
		return registry.EnumKey(recordv1.TransportMode(c))
	case dLoc:
		return registry.EnumKey(recordv1.LocationType(c))
	case dFraud:
		if c == fraudNone {
			return registry.None
		}
		return registry.EnumKey(recordv1.FraudType(c))
	case dRole:
		return registry.EnumKey(recordv1.SuspectRole(c))
	case dStatus:
		return registry.EnumKey(recordv1.LegalStatus(c))
	}
	return ""
}

// codesOf returns the codes a cell key value stands for (none when the
// value is well-formed but no record has it).
func (e *Engine) codesOf(d dim, v string) []uint32 {
	lookup := func(dc *dict, missing string) []uint32 {
		if v == missing {
			return []uint32{0}
		}
		if id, ok := dc.lookup(v); ok && id != 0 {
			return []uint32{uint32(id)}
		}
		return nil
	}
	switch d {
	case dCit, dOrigin, dDest:
		return lookup(e.countries, registry.Unknown)
	case dTransit:
		return lookup(e.countries, registry.None)
	case dSub:
		return lookup(e.subdivisions, registry.Unknown)
	case dICCS:
		return lookup(e.iccs, registry.None)
	}
	var out []uint32
	for c := range e.card(d) {
		if e.name(d, uint32(c)) == v {
			out = append(out, uint32(c))
		}
	}
	return out
}

func (e *Engine) compile(q *queryv1.AggregateQuery, o options) (*compiled, error) {
	m, ok := registry.MeasureByID(q.GetMeasure())
	if !ok {
		return nil, fmt.Errorf("%w: unknown measure %q", ErrInvalid, q.GetMeasure())
	}
	c := &compiled{measure: m, kind: kinds[m.ID], dayFrom: math.MinInt32, dayTo: math.MaxInt32}
	if m.ID == "fees_paid" {
		if o.feesCurrency == "" {
			return nil, fmt.Errorf("%w: fees_paid needs a currency", ErrInvalid)
		}
		c.feeCur, c.feeOK = e.currencies.lookup(o.feesCurrency)
		c.feeOK = c.feeOK && c.feeCur != 0
	}
	if s := q.GetPeriodFrom(); s != "" {
		d, _, ok := daysSinceEpoch(s)
		if !ok {
			return nil, fmt.Errorf("%w: period_from is not a YYYY-MM-DD date", ErrInvalid)
		}
		c.dayFrom = d
	}
	if s := q.GetPeriodTo(); s != "" {
		d, _, ok := daysSinceEpoch(s)
		if !ok {
			return nil, fmt.Errorf("%w: period_to is not a YYYY-MM-DD date", ErrInvalid)
		}
		c.dayTo = d
	}
	lookupDim := func(id string) (dim, registry.Dimension, error) {
		rd, ok := registry.DimensionByID(id)
		if !ok {
			return 0, rd, fmt.Errorf("%w: unknown dimension %q", ErrInvalid, id)
		}
		if !registry.Applies(m, rd) {
			return 0, rd, fmt.Errorf("%w: dimension %s does not apply to measure %s", ErrInvalid, id, m.ID)
		}
		return dimIDs[id], rd, nil
	}
	filtered := map[dim][]bool{}
	for _, f := range q.GetFilters() {
		d, rd, err := lookupDim(f.GetDimension())
		if err != nil {
			return nil, err
		}
		if len(f.GetValues()) == 0 {
			return nil, fmt.Errorf("%w: filter on %s has no values", ErrInvalid, rd.ID)
		}
		if rd.Period != registry.GranularityNone {
			tab := make([]bool, e.card(dMonth))
			for _, v := range f.GetValues() {
				first, last, ok := registry.PeriodMonths(rd.Period, v)
				if !ok {
					return nil, fmt.Errorf("%w: %q is not a %s value", ErrInvalid, v, rd.ID)
				}
				for mo := max(first, int(e.minMonth)); mo <= min(last, int(e.maxMonth)); mo++ {
					tab[mo-int(e.minMonth)] = true
				}
			}
			if c.monthOK == nil {
				c.monthOK = tab
			} else {
				for i := range tab {
					c.monthOK[i] = c.monthOK[i] && tab[i]
				}
			}
			continue
		}
		tab := make([]bool, e.card(d))
		for _, v := range f.GetValues() {
			if !rd.ValidValue(v) {
				return nil, fmt.Errorf("%w: %q is not a %s value", ErrInvalid, v, rd.ID)
			}
			for _, code := range e.codesOf(d, v) {
				tab[code] = true
			}
		}
		// Each filter is checked on its own: for a multi-valued dimension
		// two filters mean "has one of these and one of those", which is
		// not the intersection of the two lists.
		if d.person() {
			c.perFilters = append(c.perFilters, filter{d: d, tab: tab})
		} else {
			c.incFilters = append(c.incFilters, filter{d: d, tab: tab})
		}
		// A grouped dimension shows only values every filter on it allows.
		if prev, ok := filtered[d]; ok {
			both := make([]bool, len(tab))
			for i := range tab {
				both[i] = tab[i] && prev[i]
			}
			tab = both
		}
		filtered[d] = tab
	}
	seen := map[dim]bool{}
	for _, id := range q.GetGroupBy() {
		d, _, err := lookupDim(id)
		if err != nil {
			return nil, err
		}
		if seen[d] {
			return nil, fmt.Errorf("%w: dimension %s grouped twice", ErrInvalid, id)
		}
		seen[d] = true
		n := max(e.card(d), 1)
		w := bits.Len(uint(n - 1))
		if w == 0 {
			w = 1
		}
		c.totalBits += w
		g := groupDim{d: d, shift: w}
		if tab, ok := filtered[d]; ok {
			g.allow = tab
		}
		c.group = append(c.group, g)
	}
	if c.totalBits > 64 {
		return nil, fmt.Errorf("%w: too many dimensions to group at once", ErrInvalid)
	}
	// The first dimension takes the highest bits, so packed keys sort in
	// group_by order (not needed for correctness, handy when debugging).
	off := c.totalBits
	for i := range c.group {
		off -= c.group[i].shift
		c.group[i].off = off
	}
	return c, nil
}

// AggregateStats is Aggregate that also reports what it left out.
func (e *Engine) AggregateStats(q *queryv1.AggregateQuery, opts ...Option) ([]RawCell, Stats, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	c, err := e.compile(q, o)
	if err != nil {
		return nil, Stats{}, err
	}
	c.denseBits = e.denseLimit()
	a := newAccumulator(c.totalBits, c.denseBits, c.countOnly())
	var st Stats
	if e.live > 0 && !e.fromSummary(c, a) {
		e.scan(c, a, &st)
	}
	return e.cells(c, a), st, nil
}
