package agreement

import (
	"fmt"
	"slices"
	"time"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// quote shows a requester-supplied string in a reason, cut short so a
// hostile query cannot fill the audit log or the hub's screen.
func quote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func refuse(code queryv1.RefusalCode, format string, a ...any) *queryv1.Refusal {
	return &queryv1.Refusal{Code: code, Reason: fmt.Sprintf(format, a...)}
}

// Allows reports whether the grant lets measure g be grouped or filtered by
// dimension d. A period dimension allows the coarser period dimensions.
func (g MeasureGrant) Allows(d registry.Dimension) bool {
	if slices.Contains(g.Dimensions, d.ID) {
		return true
	}
	if d.Period == registry.GranularityNone {
		return false
	}
	for _, id := range g.Dimensions {
		if x, ok := registry.DimensionByID(id); ok && x.Period != registry.GranularityNone && x.Period <= d.Period {
			return true
		}
	}
	return false
}

// Check decides whether requester may have q under the agreement: nil
// means allowed, otherwise the refusal with a reason naming the country.
func (a *Agreement) Check(q *queryv1.AggregateQuery, requester string) *queryv1.Refusal {
	if r := a.CheckRecipient(requester); r != nil {
		return r
	}
	if q == nil || q.GetMeasure() == "" {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "the query names no measure")
	}
	m, ok := registry.MeasureByID(q.GetMeasure())
	if !ok {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_UNKNOWN_MEASURE, "measure %s is not in the registry", quote(q.GetMeasure()))
	}
	g, ok := a.Grant(m.ID)
	if !ok {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED, "measure %s is not shared by %s", m.ID, a.Country)
	}
	if n := len(q.GetGroupBy()); n > a.MaxGroupBy {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_TOO_MANY_DIMENSIONS,
			"too many dimensions: %d grouped, %s allows at most %d", n, a.Country, a.MaxGroupBy)
	}
	dimension := func(id string) (registry.Dimension, *queryv1.Refusal) {
		d, ok := registry.DimensionByID(id)
		if !ok {
			return d, refuse(queryv1.RefusalCode_REFUSAL_CODE_UNKNOWN_DIMENSION, "dimension %s is not in the registry", quote(id))
		}
		if !registry.Applies(m, d) {
			return d, refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "dimension %s does not apply to measure %s", d.ID, m.ID)
		}
		if !g.Allows(d) {
			return d, refuse(queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED,
				"dimension %s is not shared by %s for measure %s", d.ID, a.Country, m.ID)
		}
		if d.Period != registry.GranularityNone && d.Period < a.PeriodFloor {
			return d, refuse(queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED,
				"%s is finer than the %s periods %s shares", d.ID, a.PeriodFloor, a.Country)
		}
		return d, nil
	}
	for i, id := range q.GetGroupBy() {
		if _, r := dimension(id); r != nil {
			return r
		}
		if slices.Contains(q.GetGroupBy()[:i], id) {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "dimension %s is grouped twice", id)
		}
	}
	for _, f := range q.GetFilters() {
		d, r := dimension(f.GetDimension())
		if r != nil {
			return r
		}
		if len(f.GetValues()) == 0 {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "the filter on %s lists no values", d.ID)
		}
		if len(f.GetValues()) > 1000 {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "the filter on %s lists more than 1000 values", d.ID)
		}
		for _, v := range f.GetValues() {
			if !d.ValidValue(v) {
				return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "%s is not a value of %s", quote(v), d.ID)
			}
		}
	}
	return a.checkPeriod(q.GetPeriodFrom(), q.GetPeriodTo(), a.PeriodFloor)
}

// checkPeriod requires valid dates, from ≤ to, and bounds aligned on g
// (the period floor for aggregates): a day-level range would otherwise let
// a requester difference two month-level answers down to a single day.
func (a *Agreement) checkPeriod(fromS, toS string, g registry.Granularity) *queryv1.Refusal {
	var from, to time.Time
	if s := fromS; s != "" {
		t, ok := registry.ParseDate(s)
		if !ok {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "period_from %s is not a YYYY-MM-DD date", quote(s))
		}
		if !startsPeriod(t, g) {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED,
				"period_from %s is not the first day of a %s, the finest period %s shares", s, g, a.Country)
		}
		from = t
	}
	if s := toS; s != "" {
		t, ok := registry.ParseDate(s)
		if !ok {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "period_to %s is not a YYYY-MM-DD date", quote(s))
		}
		if !startsPeriod(t.AddDate(0, 0, 1), g) {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED,
				"period_to %s is not the last day of a %s, the finest period %s shares", s, g, a.Country)
		}
		to = t
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_PERIOD_NOT_ALLOWED, "period_to %s is before period_from %s", toS, fromS)
	}
	return nil
}

func startsPeriod(t time.Time, g registry.Granularity) bool {
	if t.Day() != 1 {
		return false
	}
	switch g {
	case registry.GranularityQuarter:
		return (t.Month()-1)%3 == 0
	case registry.GranularityYear:
		return t.Month() == time.January
	}
	return true
}
