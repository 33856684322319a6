// Package picture defines the regional picture: a named, versioned set of
// standard figures (trend by month, citizenship, routes, transport modes,
// fees, harm, justice response) whose latest complete runs form the CAU's
// regional report. The hub's monthly schedules run the figures' queries
// (see schedule.EnsureStandard); Build assembles whatever has completed.
package picture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/schedule/period"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Runs is the part of the run manager the picture reads.
type Runs interface {
	// LatestComplete returns the newest complete run of exactly this query,
	// or an error wrapping runs.ErrNotFound.
	LatestComplete(ctx context.Context, q *queryv1.AggregateQuery) (*hubv1.Run, error)
}

// Figure is one standard query of the picture. Its period is not part of
// it: every figure covers the definition's period.
type Figure struct {
	// ID is stable, e.g. "migrants-by-month".
	ID string
	// Title is for people.
	Title string
	// Measure is a registry measure id.
	Measure string
	// GroupBy lists registry dimension ids.
	GroupBy []string
	// Filters restrict the query; usually none.
	Filters []*queryv1.Filter
}

// Definition is a named, versioned regional picture.
type Definition struct {
	// Name, e.g. "standard".
	Name string
	// Version changes whenever a figure's query changes.
	Version int32
	// LastMonths is the period of every figure: the last LastMonths
	// complete calendar months.
	LastMonths int
	// Location is the time zone months are counted in; nil is UTC.
	Location *time.Location
	// Cron is when the hub refreshes the picture (five fields, in
	// Location), e.g. "0 6 1 * *": 06:00 on the first of every month.
	Cron string
	// Timeout is how long each refresh run waits for answers.
	Timeout time.Duration
	// Figures in reading order.
	Figures []Figure
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// StandardName is the name of the standard picture.
const StandardName = "standard"

// Standard returns the CAU's standard regional picture, version 1: the last
// 12 complete months (UTC), refreshed at 06:00 UTC on the first of each
// month. Figures use at most three dimensions, the usual max_group_by.
func Standard() Definition {
	return Definition{
		Name:       StandardName,
		Version:    1,
		LastMonths: 12,
		Cron:       "0 6 1 * *",
		Timeout:    24 * time.Hour,
		Figures: []Figure{
			{ID: "migrants-by-month", Title: "Smuggled migrants detected, by month", Measure: "migrants", GroupBy: []string{"period.month"}},
			{ID: "migrants-by-citizenship", Title: "Smuggled migrants detected, by citizenship", Measure: "migrants", GroupBy: []string{"citizenship"}},
			{ID: "migrants-by-route", Title: "Smuggled migrants by route (origin → destination) and transport mode", Measure: "migrants", GroupBy: []string{"route.origin", "route.destination", "transport_mode"}},
			{ID: "incidents-by-transport-mode", Title: "Smuggling incidents by transport mode", Measure: "incidents", GroupBy: []string{"transport_mode"}},
			{ID: "fees-by-route", Title: "Smuggling fees paid by route (origin → destination)", Measure: "fees_paid", GroupBy: []string{"route.origin", "route.destination"}},
			{ID: "deaths-by-month", Title: "Migrant deaths, by month", Measure: "deaths", GroupBy: []string{"period.month"}},
			{ID: "missing-by-month", Title: "Migrants missing, by month", Measure: "missing", GroupBy: []string{"period.month"}},
			{ID: "suspects-by-legal-status", Title: "Suspected smugglers by legal status (justice response)", Measure: "suspects", GroupBy: []string{"legal_status"}},
		},
	}
}

// Clock returns the definition's current time (Now, or time.Now).
func (d Definition) Clock() time.Time { return d.now() }

func (d Definition) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Period returns the figures' period as seen at now.
func (d Definition) Period(now time.Time) (from, to string, err error) {
	return period.Compute(hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS, d.LastMonths, now, d.Location)
}

// Query returns f's query with the period as seen at now.
func (d Definition) Query(f Figure, now time.Time) *queryv1.AggregateQuery {
	q := f.Base()
	q.PeriodFrom, q.PeriodTo, _ = d.Period(now)
	return q
}

// Base returns the figure's query without a period (a schedule fills it).
func (f Figure) Base() *queryv1.AggregateQuery {
	q := &queryv1.AggregateQuery{Measure: f.Measure, GroupBy: slices.Clone(f.GroupBy)}
	for _, fl := range f.Filters {
		q.Filters = append(q.Filters, proto.CloneOf(fl))
	}
	return q
}

// Queries returns every figure's query as seen at now, in figure order.
func (d Definition) Queries(now time.Time) []*queryv1.AggregateQuery {
	out := make([]*queryv1.AggregateQuery, 0, len(d.Figures))
	for _, f := range d.Figures {
		out = append(out, d.Query(f, now))
	}
	return out
}

// Build assembles the picture: for each figure the latest complete run of
// its current query, or, in the days between a month's start and the
// refresh run completing, of the previous month's query. A figure with no
// complete run has its query and no cells. Only store errors fail the call.
func Build(ctx context.Context, def Definition, r Runs) (*hubv1.RegionalPicture, error) {
	if def.LastMonths < 1 {
		return nil, fmt.Errorf("picture %s: %w", def.Name, period.ErrInvalid)
	}
	now := def.now()
	loc := def.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, _ := now.In(loc).Date()
	earlier := time.Date(y, m, 1, 0, 0, 0, 0, loc).Add(-time.Nanosecond)
	pic := &hubv1.RegionalPicture{Name: def.Name, Version: def.Version}
	for _, f := range def.Figures {
		fig := &hubv1.Figure{Id: f.ID, Title: f.Title, Query: def.Query(f, now)}
		for _, at := range []time.Time{now, earlier} {
			q := def.Query(f, at)
			run, err := r.LatestComplete(ctx, q)
			if errors.Is(err, runs.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("figure %s: %w", f.ID, err)
			}
			fig = FromRun(f, run)
			break
		}
		pic.Figures = append(pic.Figures, fig)
	}
	return pic, nil
}

// FromRun makes f's figure from a complete run: its cells, and its coverage
// from the run's states (contributors answered, suppressed answered but
// withheld at least one cell, missing did not answer).
func FromRun(f Figure, run *hubv1.Run) *hubv1.Figure {
	fig := &hubv1.Figure{
		Id:          f.ID,
		Title:       f.Title,
		Query:       proto.CloneOf(run.GetQuery()),
		RunId:       run.GetId(),
		CompletedAt: run.GetCompletedAt(),
	}
	if fig.CompletedAt != nil {
		fig.CompletedAt = timestamppb.New(fig.CompletedAt.AsTime())
	}
	for _, c := range run.GetCells() {
		fig.Cells = append(fig.Cells, proto.CloneOf(c))
	}
	for _, s := range run.GetStates() {
		if s.GetStatus() != hubv1.StateStatus_STATE_STATUS_ANSWERED {
			m := proto.CloneOf(s)
			m.Cells = nil
			fig.Missing = append(fig.Missing, m)
			continue
		}
		fig.Contributors = append(fig.Contributors, s.GetCountry())
		for _, c := range s.GetCells() {
			if c.GetStatus() == queryv1.CellStatus_CELL_STATUS_SUPPRESSED {
				fig.Suppressed = append(fig.Suppressed, s.GetCountry())
				break
			}
		}
	}
	slices.Sort(fig.Contributors)
	slices.Sort(fig.Suppressed)
	slices.SortFunc(fig.Missing, func(a, b *hubv1.StateResult) int {
		if a.GetCountry() < b.GetCountry() {
			return -1
		}
		if a.GetCountry() > b.GetCountry() {
			return 1
		}
		return 0
	})
	return fig
}

// Source serves a definition's picture from a run manager; it is what the
// web UI asks for the latest picture.
type Source struct {
	// Def is the picture served.
	Def Definition
	// Runs is the run manager.
	Runs Runs
}

// RegionalPicture builds the picture now.
func (s Source) RegionalPicture(ctx context.Context) (*hubv1.RegionalPicture, error) {
	return Build(ctx, s.Def, s.Runs)
}
