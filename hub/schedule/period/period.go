// Package period computes the relative periods of schedules and of the
// regional picture ("previous complete month", "last 12 complete months",
// ...) from an instant and a time zone. The schedule and the picture both
// use it, so the query a schedule submits and the query the picture looks
// for are equal to the byte.
package period

import (
	"errors"
	"fmt"
	"time"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// MaxLastMonths bounds RELATIVE_PERIOD_LAST_MONTHS.
const MaxLastMonths = 120

// ErrInvalid is returned for an unknown relative period or a month count
// out of range.
var ErrInvalid = errors.New("invalid relative period")

// Compute returns the first and last day (inclusive, YYYY-MM-DD) of the
// relative period as seen at now in loc (nil is UTC). lastMonths is used by
// RELATIVE_PERIOD_LAST_MONTHS only.
//
// YEAR_TO_DATE runs from 1 January to the end of the last complete month;
// in January, when the year has no complete month yet, it is the whole
// previous year rather than an empty period a node would refuse.
func Compute(rel hubv1.RelativePeriod, lastMonths int, now time.Time, loc *time.Location) (from, to string, err error) {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	y, m, _ := t.Date()
	monthStart := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	var f, l time.Time // first day, and the day after the last
	switch rel {
	case hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_MONTH:
		f, l = monthStart.AddDate(0, -1, 0), monthStart
	case hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_QUARTER:
		q := time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
		f, l = q.AddDate(0, -3, 0), q
	case hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_YEAR:
		f, l = time.Date(y-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	case hubv1.RelativePeriod_RELATIVE_PERIOD_YEAR_TO_DATE:
		// Nodes answer whole months only (their period floor), so the
		// year to date ends with the last complete month.
		f, l = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), monthStart
		if !l.After(f) {
			f = f.AddDate(-1, 0, 0)
		}
	case hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS:
		if lastMonths < 1 || lastMonths > MaxLastMonths {
			return "", "", fmt.Errorf("%w: last_months %d, want 1 to %d", ErrInvalid, lastMonths, MaxLastMonths)
		}
		f, l = monthStart.AddDate(0, -lastMonths, 0), monthStart
	default:
		return "", "", fmt.Errorf("%w: %v", ErrInvalid, rel)
	}
	return f.Format(time.DateOnly), l.AddDate(0, 0, -1).Format(time.DateOnly), nil
}
