package runs

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/vrs-federation/vrs/internal/codes"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// The hub checks only that a query is well formed; whether a measure or a
// dimension is shared is each node's decision under its own agreement, and
// nodes may run newer registries than the hub.
var (
	idRE        = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$`)
	extractRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	maxGroupBy  = 8
	maxFilters  = 16
	maxValues   = 256
	maxValueLen = 64
	maxStates   = 300
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func validateAggregate(q *queryv1.AggregateQuery) error {
	if len(q.GetMeasure()) > 64 || !idRE.MatchString(q.GetMeasure()) {
		return invalid("measure %q is not a measure id", q.GetMeasure())
	}
	if len(q.GetGroupBy()) > maxGroupBy {
		return invalid("%d group_by dimensions, at most %d", len(q.GetGroupBy()), maxGroupBy)
	}
	seen := map[string]bool{}
	for _, d := range q.GetGroupBy() {
		if len(d) > 64 || !idRE.MatchString(d) {
			return invalid("group_by %q is not a dimension id", d)
		}
		if seen[d] {
			return invalid("group_by %q repeated", d)
		}
		seen[d] = true
	}
	if err := validateFilters(q.GetFilters()); err != nil {
		return err
	}
	return validatePeriod(q.GetPeriodFrom(), q.GetPeriodTo())
}

func validateExtract(q *queryv1.ExtractQuery) error {
	if !extractRE.MatchString(q.GetExtract()) {
		return invalid("extract %q is not an extract name", q.GetExtract())
	}
	if err := validateFilters(q.GetFilters()); err != nil {
		return err
	}
	return validatePeriod(q.GetPeriodFrom(), q.GetPeriodTo())
}

func validateFilters(fs []*queryv1.Filter) error {
	if len(fs) > maxFilters {
		return invalid("%d filters, at most %d", len(fs), maxFilters)
	}
	for _, f := range fs {
		if len(f.GetDimension()) > 64 || !idRE.MatchString(f.GetDimension()) {
			return invalid("filter dimension %q is not a dimension id", f.GetDimension())
		}
		if len(f.GetValues()) == 0 || len(f.GetValues()) > maxValues {
			return invalid("filter %s: want 1 to %d values", f.GetDimension(), maxValues)
		}
		for _, v := range f.GetValues() {
			if v == "" || len(v) > maxValueLen {
				return invalid("filter %s: empty or over-long value", f.GetDimension())
			}
		}
	}
	return nil
}

func validatePeriod(from, to string) error {
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = time.Parse(time.DateOnly, from); err != nil {
			return invalid("period_from %q: want YYYY-MM-DD", from)
		}
	}
	if to != "" {
		if t, err = time.Parse(time.DateOnly, to); err != nil {
			return invalid("period_to %q: want YYYY-MM-DD", to)
		}
	}
	if from != "" && to != "" && t.Before(f) {
		return invalid("period_to %s is before period_from %s", to, from)
	}
	return nil
}

// validateRequest checks req and returns the states to ask (sorted, unique)
// and the timeout.
func (m *Manager) validateRequest(req *hubv1.SubmitQueryRequest) ([]string, time.Duration, error) {
	switch {
	case req.GetQuery() != nil && req.GetExtract() != nil:
		return nil, 0, invalid("set query or extract, not both")
	case req.GetQuery() != nil:
		if err := validateAggregate(req.GetQuery()); err != nil {
			return nil, 0, err
		}
	case req.GetExtract() != nil:
		if err := validateExtract(req.GetExtract()); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, invalid("query is required")
	}
	timeout := m.cfg.DefaultTimeout
	if req.GetTimeout() != nil {
		if err := req.GetTimeout().CheckValid(); err != nil {
			return nil, 0, invalid("timeout: %v", err)
		}
		timeout = req.GetTimeout().AsDuration()
		if timeout <= 0 || timeout > m.cfg.MaxTimeout {
			return nil, 0, invalid("timeout %s: want more than 0 and at most %s", timeout, m.cfg.MaxTimeout)
		}
	}
	states := req.GetStates()
	if len(states) == 0 && m.cfg.States != nil {
		states = m.cfg.States()
	}
	if len(states) > maxStates {
		return nil, 0, invalid("%d states, at most %d", len(states), maxStates)
	}
	out := make([]string, 0, len(states))
	for _, s := range states {
		if !codes.IsCountry(s) {
			return nil, 0, invalid("state %q is not an ISO 3166-1 alpha-3 code", s)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, 0, invalid("no states to ask: none named and none registered")
	}
	return out, timeout, nil
}
