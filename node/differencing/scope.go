package differencing

import (
	"slices"
	"strings"
	"time"

	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// scope is one cell's definition in a canonical form: the same set of
// units asked in another way (a month grouped out of a quarter, a value
// grouped rather than filtered, filters in another order) has the same
// key.
type scope struct {
	key string
	q   *queryv1.AggregateQuery // no group_by; what engine.Overlaps takes
	// from and to bound the detection date, as days since 1970-01-01.
	from, to int64
}

// noBound stands for an open end of the period.
const noBound = int64(1) << 40

// asSuspects spells the measures that count suspects by legal status as
// what they count, so that their cells and suspects cells are compared:
// convictions of X are the suspects of X convicted, and 14 convictions in
// Q1 minus 11 convicted suspects in January-February give March's.
var asSuspects = map[string][]string{
	"convictions":  {"CONVICTED"},
	"prosecutions": {"ACQUITTED", "CONVICTED", "PROSECUTED"},
}

// measureOf returns the measure a cell of measure m is kept under.
func measureOf(m string) string {
	if _, ok := asSuspects[m]; ok {
		return "suspects"
	}
	return m
}

// cellScope returns the canonical scope of the cell with key in the answer
// to q.
func cellScope(q *queryv1.AggregateQuery, key []string) scope {
	raw := engine.CellScope(q, key)
	if statuses, ok := asSuspects[raw.GetMeasure()]; ok {
		raw.Measure = "suspects"
		raw.Filters = append(raw.Filters, &queryv1.Filter{Dimension: "legal_status", Values: statuses})
	}
	s := scope{from: -noBound, to: noBound}
	if d, ok := registry.ParseDate(raw.GetPeriodFrom()); ok {
		s.from = days(d)
	}
	if d, ok := registry.ParseDate(raw.GetPeriodTo()); ok {
		s.to = days(d)
	}
	var filters []*queryv1.Filter
	for _, f := range raw.GetFilters() {
		d, ok := registry.DimensionByID(f.GetDimension())
		if ok && d.Period != registry.GranularityNone && len(f.GetValues()) == 1 {
			// One period value is a date range: fold it into the period.
			if first, last, ok := registry.PeriodMonths(d.Period, f.GetValues()[0]); ok {
				s.from = max(s.from, days(monthStart(first)))
				s.to = min(s.to, days(monthStart(last+1))-1)
				continue
			}
		}
		vals := slices.Clone(f.GetValues())
		slices.Sort(vals)
		vals = slices.Compact(vals)
		filters = append(filters, &queryv1.Filter{Dimension: f.GetDimension(), Values: vals})
	}
	slices.SortFunc(filters, func(a, b *queryv1.Filter) int {
		if c := strings.Compare(a.GetDimension(), b.GetDimension()); c != 0 {
			return c
		}
		return slices.Compare(a.GetValues(), b.GetValues())
	})
	filters = slices.CompactFunc(filters, func(a, b *queryv1.Filter) bool {
		return a.GetDimension() == b.GetDimension() && slices.Equal(a.GetValues(), b.GetValues())
	})
	s.q = &queryv1.AggregateQuery{Measure: raw.GetMeasure(), Filters: filters}
	if s.from > -noBound {
		s.q.PeriodFrom = date(s.from)
	}
	if s.to < noBound {
		s.q.PeriodTo = date(s.to)
	}
	var b strings.Builder
	b.WriteString(s.q.GetPeriodFrom())
	b.WriteByte('/')
	b.WriteString(s.q.GetPeriodTo())
	for _, f := range filters {
		b.WriteByte('|')
		b.WriteString(f.GetDimension())
		b.WriteByte('=')
		b.WriteString(strings.Join(f.GetValues(), ","))
	}
	s.key = b.String()
	return s
}

// mayOverlap reports whether two scopes can share a unit, from their
// definitions alone: false only when their periods do not meet or when
// both filter a single-valued dimension on disjoint values.
func (s scope) mayOverlap(o scope) bool {
	if s.from > o.to || o.from > s.to {
		return false
	}
	for _, f := range s.q.GetFilters() {
		d, ok := registry.DimensionByID(f.GetDimension())
		if !ok || d.MultiValued || d.Period != registry.GranularityNone {
			continue
		}
		for _, g := range o.q.GetFilters() {
			if g.GetDimension() == f.GetDimension() && !intersect(f.GetValues(), g.GetValues()) {
				return false
			}
		}
	}
	return true
}

// intersect reports whether two sorted lists share a value.
func intersect(a, b []string) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i], b[j]); {
		case c == 0:
			return true
		case c < 0:
			i++
		default:
			j++
		}
	}
	return false
}

func days(t time.Time) int64 { return t.Unix() / 86400 }

func date(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// monthStart returns the first day of month m (year*12 + month-1).
func monthStart(m int) time.Time { return time.Date(m/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC) }
