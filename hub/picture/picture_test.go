package picture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/runs"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// fakeRuns answers LatestComplete from a map keyed by the query's text.
type fakeRuns struct {
	byQuery map[string]*hubv1.Run
	err     error
}

func key(q *queryv1.AggregateQuery) string {
	return prototext.Format(q)
}

func (f *fakeRuns) LatestComplete(_ context.Context, q *queryv1.AggregateQuery) (*hubv1.Run, error) {
	if f.err != nil {
		return nil, f.err
	}
	if r, ok := f.byQuery[key(q)]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("complete run: %w", runs.ErrNotFound)
}

func TestStandard(t *testing.T) {
	t.Parallel()
	def := Standard()
	if def.Name != "standard" || def.Version < 1 {
		t.Errorf("name %q version %d", def.Name, def.Version)
	}
	seen := map[string]bool{}
	for _, f := range def.Figures {
		if seen[f.ID] || f.ID == "" || f.Title == "" {
			t.Errorf("figure %q: duplicate or unnamed", f.ID)
		}
		seen[f.ID] = true
		if len(f.GroupBy) > 3 {
			t.Errorf("figure %s groups by %d dimensions", f.ID, len(f.GroupBy))
		}
	}
	for _, id := range []string{"migrants-by-month", "migrants-by-citizenship", "migrants-by-route", "incidents-by-transport-mode",
		"fees-by-route", "deaths-by-month", "missing-by-month", "suspects-by-legal-status"} {
		if !seen[id] {
			t.Errorf("figure %s missing", id)
		}
	}
	qs := def.Queries(time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC))
	if len(qs) != len(def.Figures) {
		t.Fatalf("%d queries for %d figures", len(qs), len(def.Figures))
	}
	for _, q := range qs {
		if q.GetPeriodFrom() != "2025-11-01" || q.GetPeriodTo() != "2026-10-31" {
			t.Errorf("query %s period %s..%s, want the last 12 complete months", q.GetMeasure(), q.GetPeriodFrom(), q.GetPeriodTo())
		}
	}
}

func completeRun(id string, q *queryv1.AggregateQuery) *hubv1.Run {
	return &hubv1.Run{
		Id: id, Query: q, State: hubv1.RunState_RUN_STATE_COMPLETE,
		CompletedAt: timestamppb.New(time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC)),
		States: []*hubv1.StateResult{
			{Country: "THA", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED, Cells: []*queryv1.Cell{
				{Key: []string{"SEA"}, Status: queryv1.CellStatus_CELL_STATUS_SUPPRESSED},
				{Key: []string{"AIR"}, Value: 12, Status: queryv1.CellStatus_CELL_STATUS_EXACT},
			}},
			{Country: "IDN", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED, Cells: []*queryv1.Cell{
				{Key: []string{"SEA"}, Value: 30, Status: queryv1.CellStatus_CELL_STATUS_ROUNDED},
			}},
			{Country: "MYS", Status: hubv1.StateStatus_STATE_STATUS_REFUSED, Reason: "measure incidents not shared"},
			{Country: "AUS", Status: hubv1.StateStatus_STATE_STATUS_TIMED_OUT},
		},
		Cells: []*hubv1.RegionalCell{
			{Key: []string{"AIR"}, Value: 12, Status: queryv1.CellStatus_CELL_STATUS_EXACT, Contributors: []string{"IDN", "THA"}},
			{Key: []string{"SEA"}, Value: 30, Status: queryv1.CellStatus_CELL_STATUS_ROUNDED, Contributors: []string{"IDN"}, SuppressedBy: []string{"THA"}},
		},
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	def := Standard()
	def.Now = func() time.Time { return now }
	byID := map[string]Figure{}
	for _, f := range def.Figures {
		byID[f.ID] = f
	}
	fake := &fakeRuns{byQuery: map[string]*hubv1.Run{}}
	// This month's refresh of one figure has completed.
	q1 := def.Query(byID["incidents-by-transport-mode"], now)
	fake.byQuery[key(q1)] = completeRun("r-current", q1)
	// Another figure only has last month's run: the refresh is still going.
	q2 := def.Query(byID["deaths-by-month"], now.AddDate(0, -1, 0))
	fake.byQuery[key(q2)] = completeRun("r-previous", q2)

	pic, err := Build(t.Context(), def, fake)
	if err != nil {
		t.Fatal(err)
	}
	if pic.GetName() != "standard" || len(pic.GetFigures()) != len(def.Figures) {
		t.Fatalf("picture %q with %d figures", pic.GetName(), len(pic.GetFigures()))
	}
	for _, fig := range pic.GetFigures() {
		switch fig.GetId() {
		case "incidents-by-transport-mode", "deaths-by-month":
			want := map[string]string{"incidents-by-transport-mode": "r-current", "deaths-by-month": "r-previous"}[fig.GetId()]
			if fig.GetRunId() != want || len(fig.GetCells()) != 2 {
				t.Errorf("figure %s: run %q with %d cells, want %s with 2", fig.GetId(), fig.GetRunId(), len(fig.GetCells()), want)
			}
			if !slices.Equal(fig.GetContributors(), []string{"IDN", "THA"}) || !slices.Equal(fig.GetSuppressed(), []string{"THA"}) {
				t.Errorf("figure %s: contributors %v suppressed %v", fig.GetId(), fig.GetContributors(), fig.GetSuppressed())
			}
			if len(fig.GetMissing()) != 2 || fig.GetMissing()[0].GetCountry() != "AUS" || fig.GetMissing()[1].GetReason() == "" {
				t.Errorf("figure %s: missing %v", fig.GetId(), fig.GetMissing())
			}
		default:
			if fig.GetRunId() != "" || len(fig.GetCells()) != 0 || fig.GetQuery().GetPeriodTo() != "2026-10-31" {
				t.Errorf("figure %s: want no result and the current query, got %v", fig.GetId(), fig)
			}
		}
	}
}

func TestBuildStoreError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	if _, err := Build(t.Context(), Standard(), &fakeRuns{err: boom}); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the store error", err)
	}
}

func TestSource(t *testing.T) {
	t.Parallel()
	pic, err := Source{Def: Standard(), Runs: &fakeRuns{}}.RegionalPicture(t.Context())
	if err != nil || len(pic.GetFigures()) != len(Standard().Figures) {
		t.Errorf("RegionalPicture = %v, %v", pic, err)
	}
}
