package schedule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/hub/picture"
	"github.com/vrs-federation/vrs/internal/kv"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// fakeClock is set by the test; After returns a channel the test fires.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	after chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) After(time.Duration) <-chan time.Time { return c.after }

type submission struct {
	req     *hubv1.SubmitQueryRequest
	by, sch string
}

// fakeRuns records submissions.
type fakeRuns struct {
	mu   sync.Mutex
	subs []submission
	ch   chan submission
	err  error
}

func (f *fakeRuns) Submit(_ context.Context, req *hubv1.SubmitQueryRequest, by, sch string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	s := submission{req: req, by: by, sch: sch}
	f.subs = append(f.subs, s)
	if f.ch != nil {
		f.ch <- s
	}
	return "run-" + sch, nil
}

func (f *fakeRuns) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func openDB(t *testing.T, dir string) *kv.DB {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newScheduler(t *testing.T, db *kv.DB, clock Clock, runs Runs) *Scheduler {
	t.Helper()
	s, err := New(Config{DB: db, Runs: runs, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func monthly() *hubv1.Schedule {
	return &hubv1.Schedule{
		Name: "monthly migrants by citizenship", Cron: "0 6 1 * *", TimeZone: "Asia/Bangkok",
		Query:          &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}},
		RelativePeriod: hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_MONTH,
	}
}

func TestCreateListPauseResumeDelete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)}
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := newScheduler(t, db, clock, &fakeRuns{})
	ctx := t.Context()
	sc, err := s.Create(ctx, monthly(), "spiffe://vrs.local/operator/alice")
	if err != nil {
		t.Fatal(err)
	}
	// 06:00 on 1 December in Bangkok is 23:00 UTC on 30 November.
	if want := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC); !sc.GetNextRunAt().AsTime().Equal(want) {
		t.Errorf("next run %v, want %v", sc.GetNextRunAt().AsTime(), want)
	}
	if sc.GetId() == "" || sc.GetCreatedBy() != "spiffe://vrs.local/operator/alice" {
		t.Errorf("id %q created_by %q", sc.GetId(), sc.GetCreatedBy())
	}
	p, err := s.Pause(ctx, sc.GetId())
	if err != nil || !p.GetPaused() || p.GetNextRunAt() != nil {
		t.Fatalf("Pause = %v, %v", p, err)
	}
	// A restart keeps the schedule and its paused state.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	s = newScheduler(t, db, clock, &fakeRuns{})
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || !list[0].GetPaused() || list[0].GetName() != sc.GetName() {
		t.Fatalf("List after restart = %v, %v", list, err)
	}
	r, err := s.Resume(ctx, sc.GetId())
	if err != nil || r.GetPaused() || r.GetNextRunAt() == nil {
		t.Fatalf("Resume = %v, %v", r, err)
	}
	if err := s.Delete(ctx, sc.GetId()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, sc.GetId()); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Pause(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Pause unknown: err = %v, want ErrNotFound", err)
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	s := newScheduler(t, openDB(t, t.TempDir()), &fakeClock{now: time.Now()}, &fakeRuns{})
	tests := []struct {
		name string
		edit func(*hubv1.Schedule)
	}{
		{"six fields", func(s *hubv1.Schedule) { s.Cron = "0 0 6 1 * *" }},
		{"descriptor", func(s *hubv1.Schedule) { s.Cron = "@every 1h" }},
		{"garbage", func(s *hubv1.Schedule) { s.Cron = "sometimes" }},
		{"zone in expression", func(s *hubv1.Schedule) { s.Cron = "CRON_TZ=Asia/Bangkok 0 6 1 * *" }},
		{"unknown zone", func(s *hubv1.Schedule) { s.TimeZone = "Mars/Olympus" }},
		{"no measure", func(s *hubv1.Schedule) { s.Query = nil }},
		{"no name", func(s *hubv1.Schedule) { s.Name = " " }},
		{"last months zero", func(s *hubv1.Schedule) {
			s.RelativePeriod = hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS
		}},
		{"bad state", func(s *hubv1.Schedule) { s.States = []string{"tha"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := monthly()
			tt.edit(in)
			if _, err := s.Create(t.Context(), in, "x"); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestMissedRunsFireOnceAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &fakeClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	db := openDB(t, dir)
	runs := &fakeRuns{}
	s := newScheduler(t, db, clock, runs)
	daily := &hubv1.Schedule{
		Name: "daily", Cron: "0 6 * * *",
		Query:          &queryv1.AggregateQuery{Measure: "incidents"},
		RelativePeriod: hubv1.RelativePeriod_RELATIVE_PERIOD_YEAR_TO_DATE,
		States:         []string{"IDN", "THA"},
	}
	sc, err := s.Create(t.Context(), daily, "op")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is due yet.
	if n, err := s.Tick(t.Context()); err != nil || n != 0 {
		t.Fatalf("Tick before due = %d, %v", n, err)
	}
	// The hub is down for five days (five occurrences missed), then starts
	// again with a new Scheduler on the same store.
	clock.set(time.Date(2026, 11, 6, 9, 30, 0, 0, time.UTC))
	s2 := newScheduler(t, db, clock, runs)
	if n, err := s2.Tick(t.Context()); err != nil || n != 1 {
		t.Fatalf("Tick after downtime = %d, %v; want exactly one catch-up run", n, err)
	}
	if n, _ := s2.Tick(t.Context()); n != 0 {
		t.Fatalf("second Tick started %d more runs", n)
	}
	got, err := s2.Get(t.Context(), sc.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 7, 6, 0, 0, 0, time.UTC); !got.GetNextRunAt().AsTime().Equal(want) {
		t.Errorf("next run %v, want %v", got.GetNextRunAt().AsTime(), want)
	}
	if got.GetLastRunId() != "run-"+sc.GetId() {
		t.Errorf("last_run_id %q", got.GetLastRunId())
	}
	sub := runs.subs[0]
	if sub.by != "schedule:"+sc.GetId() || sub.sch != sc.GetId() {
		t.Errorf("submitted by %q schedule %q", sub.by, sub.sch)
	}
	if q := sub.req.GetQuery(); q.GetPeriodFrom() != "2026-01-01" || q.GetPeriodTo() != "2026-10-31" {
		t.Errorf("period %s..%s, want year to date (whole months) at the catch-up time", q.GetPeriodFrom(), q.GetPeriodTo())
	}
	if len(sub.req.GetStates()) != 2 {
		t.Errorf("states %v", sub.req.GetStates())
	}
	// The next occurrence fires normally.
	clock.set(time.Date(2026, 11, 7, 6, 0, 0, 0, time.UTC))
	if n, _ := s2.Tick(t.Context()); n != 1 {
		t.Errorf("Tick at the next occurrence started %d runs", n)
	}
}

func TestPausedDoesNotFire(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	runs := &fakeRuns{}
	s := newScheduler(t, openDB(t, t.TempDir()), clock, runs)
	sc, err := s.Create(t.Context(), monthly(), "op")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(t.Context(), sc.GetId()); err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC))
	if n, _ := s.Tick(t.Context()); n != 0 || runs.count() != 0 {
		t.Errorf("paused schedule fired %d runs", n)
	}
	// Resuming does not catch up what was missed while paused.
	r, err := s.Resume(t.Context(), sc.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Tick(t.Context()); n != 0 {
		t.Errorf("resumed schedule fired %d runs at once", n)
	}
	if !r.GetNextRunAt().AsTime().After(clock.Now()) {
		t.Errorf("next run %v not after now", r.GetNextRunAt().AsTime())
	}
}

func TestSubmitFailureMovesOn(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	runs := &fakeRuns{err: errors.New("no states")}
	s := newScheduler(t, openDB(t, t.TempDir()), clock, runs)
	sc, err := s.Create(t.Context(), monthly(), "op")
	if err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if n, err := s.Tick(t.Context()); err != nil || n != 0 {
		t.Fatalf("Tick = %d, %v", n, err)
	}
	got, _ := s.Get(t.Context(), sc.GetId())
	if !got.GetNextRunAt().AsTime().After(clock.Now()) {
		t.Errorf("failed schedule not moved on: next %v", got.GetNextRunAt().AsTime())
	}
}

func TestRunFiresOverdueAndStops(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), after: make(chan time.Time)}
	db := openDB(t, t.TempDir())
	runs := &fakeRuns{ch: make(chan submission, 4)}
	s := newScheduler(t, db, clock, runs)
	if _, err := s.Create(t.Context(), monthly(), "op"); err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)) // two occurrences missed
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	sub := <-runs.ch
	if q := sub.req.GetQuery(); q.GetPeriodFrom() != "2026-12-01" || q.GetPeriodTo() != "2026-12-31" {
		t.Errorf("catch-up period %s..%s, want December", q.GetPeriodFrom(), q.GetPeriodTo())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if runs.count() != 1 {
		t.Errorf("%d runs, want 1", runs.count())
	}
}

func TestEnsureStandardMatchesPicture(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: now}
	runs := &fakeRuns{}
	s := newScheduler(t, openDB(t, t.TempDir()), clock, runs)
	def := picture.Standard()
	scs, err := s.EnsureStandard(t.Context(), def)
	if err != nil {
		t.Fatal(err)
	}
	if len(scs) != len(def.Figures) {
		t.Fatalf("%d schedules for %d figures", len(scs), len(def.Figures))
	}
	again, err := s.EnsureStandard(t.Context(), def)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := s.List(t.Context())
	if len(all) != len(def.Figures) || again[0].GetId() != scs[0].GetId() {
		t.Fatalf("EnsureStandard twice made %d schedules", len(all))
	}
	// New standard schedules are due at once, and the queries they submit
	// are exactly the ones the picture looks up.
	if n, err := s.Tick(t.Context()); err != nil || n != len(def.Figures) {
		t.Fatalf("Tick = %d, %v", n, err)
	}
	want := def.Queries(now)
	for i, sub := range runs.subs {
		found := false
		for _, q := range want {
			if proto.Equal(q, sub.req.GetQuery()) {
				found = true
			}
		}
		if !found {
			t.Errorf("submission %d query %v is not a picture query", i, sub.req.GetQuery())
		}
		if sub.req.GetTimeout().AsDuration() != def.Timeout {
			t.Errorf("timeout %v", sub.req.GetTimeout().AsDuration())
		}
	}
}
