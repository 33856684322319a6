// Package schedule starts federated runs on cron schedules owned by the hub
// operator. Schedules persist in the hub's store under "sch/"; each names a
// five-field cron expression in an IANA time zone, a query, and optionally
// a relative period ("previous complete month", "year to date", ...) that is
// computed in that zone each time the schedule fires.
//
// Missed runs: if the hub was down (or busy) when a schedule was due, the
// schedule fires once as soon as the scheduler runs again, not once per
// missed occurrence, and its next run is the first occurrence after that
// moment. Relative periods are computed at the moment it fires, so a
// catch-up run asks for the period that is current then.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/robfig/cron/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/picture"
	"github.com/vrs-federation/vrs/hub/schedule/period"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// Domain errors; the API maps them to RPC codes.
var (
	// ErrNotFound: no schedule with that id.
	ErrNotFound = errors.New("schedule not found")
	// ErrInvalid: the schedule is malformed.
	ErrInvalid = errors.New("invalid schedule")
)

// keyPrefix is the schedules' key prefix in the hub's store.
const keyPrefix = "sch/"

// maxWait bounds how long Run sleeps, so a clock jump (or a time zone
// database update) is noticed within the hour.
const maxWait = time.Hour

// Runs is the part of the run manager the scheduler uses.
type Runs interface {
	// Submit starts a run and returns its id.
	Submit(ctx context.Context, req *hubv1.SubmitQueryRequest, submittedBy, scheduleID string) (string, error)
}

// Clock is the scheduler's time source; tests inject a fake one.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// After fires once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config holds the scheduler's dependencies.
type Config struct {
	// DB is the hub's store (required).
	DB *kv.DB
	// Runs starts the runs (required).
	Runs Runs
	// Clock; default the system clock.
	Clock Clock
	// Log; default discards.
	Log hclog.Logger
}

// Scheduler keeps the schedules and fires them.
type Scheduler struct {
	db    *kv.DB
	runs  Runs
	clock Clock
	log   hclog.Logger
	// mu serialises changes to schedules with firing them, so a schedule
	// paused or deleted while due is not fired afterwards.
	mu   sync.Mutex
	wake chan struct{}
}

// New makes a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.DB == nil {
		return nil, errors.New("schedule: store required")
	}
	if cfg.Runs == nil {
		return nil, errors.New("schedule: runs required")
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	return &Scheduler{db: cfg.DB, runs: cfg.Runs, clock: cfg.Clock, log: cfg.Log, wake: make(chan struct{}, 1)}, nil
}

// parser accepts the standard five fields only: no seconds, no descriptors
// such as @every, so what operators write means what cron(8) means.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// spec is a schedule's parsed cron expression and zone.
type spec struct {
	sched cron.Schedule
	loc   *time.Location
}

func parse(s *hubv1.Schedule) (spec, error) {
	expr := strings.TrimSpace(s.GetCron())
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		return spec{}, fmt.Errorf("%w: cron: put the zone in time_zone", ErrInvalid)
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return spec{}, fmt.Errorf("%w: cron %q: %w", ErrInvalid, expr, err)
	}
	tz := s.GetTimeZone()
	if tz == "" {
		tz = "UTC"
	}
	if tz == "Local" {
		return spec{}, fmt.Errorf("%w: time zone Local: name an IANA zone", ErrInvalid)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return spec{}, fmt.Errorf("%w: time zone %q: %w", ErrInvalid, tz, err)
	}
	return spec{sched: sched, loc: loc}, nil
}

// next is the first occurrence strictly after t, in the schedule's zone.
func (sp spec) next(t time.Time) time.Time { return sp.sched.Next(t.In(sp.loc)) }

func validate(s *hubv1.Schedule) (spec, error) {
	sp, err := parse(s)
	if err != nil {
		return spec{}, err
	}
	if strings.TrimSpace(s.GetName()) == "" {
		return spec{}, fmt.Errorf("%w: name required", ErrInvalid)
	}
	if s.GetQuery().GetMeasure() == "" {
		return spec{}, fmt.Errorf("%w: query with a measure required", ErrInvalid)
	}
	if rel := s.GetRelativePeriod(); rel != hubv1.RelativePeriod_RELATIVE_PERIOD_UNSPECIFIED {
		if _, _, err := period.Compute(rel, int(s.GetLastMonths()), time.Now(), sp.loc); err != nil {
			return spec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	for _, c := range s.GetStates() {
		if !identity.ValidCountry(c) {
			return spec{}, fmt.Errorf("%w: state %q: want ISO 3166-1 alpha-3", ErrInvalid, c)
		}
	}
	if d := s.GetTimeout(); d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		return spec{}, fmt.Errorf("%w: timeout", ErrInvalid)
	}
	return sp, nil
}

func key(id string) []byte { return []byte(keyPrefix + id) }

func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "s" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func put(t kv.Txn, s *hubv1.Schedule) error {
	b, err := proto.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode schedule: %w", err)
	}
	return t.Put(key(s.GetId()), b)
}

func get(t kv.Txn, id string) (*hubv1.Schedule, error) {
	b, err := t.Get(key(id))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load schedule %s: %w", id, err)
	}
	s := &hubv1.Schedule{}
	if err := proto.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decode schedule %s: %w", id, err)
	}
	return s, nil
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Create stores a new schedule made by createdBy (a SPIFFE ID) and returns
// it with its id and next run. The id, next_run_at, last_run_id and
// created_by of in are ignored; paused is honoured.
func (s *Scheduler) Create(ctx context.Context, in *hubv1.Schedule, createdBy string) (*hubv1.Schedule, error) {
	return s.create(ctx, in, createdBy, false)
}

func (s *Scheduler) create(ctx context.Context, in *hubv1.Schedule, createdBy string, dueNow bool) (*hubv1.Schedule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sp, err := validate(in)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	sc := proto.CloneOf(in)
	sc.Id = newID(now)
	sc.CreatedBy = createdBy
	sc.LastRunId = ""
	sc.NextRunAt = nil
	if sc.GetTimeZone() == "" {
		sc.TimeZone = "UTC"
	}
	if !sc.GetPaused() {
		next := sp.next(now)
		if dueNow {
			next = now
		}
		sc.NextRunAt = timestamppb.New(next)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Update(func(t kv.Txn) error { return put(t, sc) }); err != nil {
		return nil, fmt.Errorf("save schedule: %w", err)
	}
	s.log.Info("schedule created", "schedule", sc.GetId(), "name", sc.GetName(), "cron", sc.GetCron(), "zone", sc.GetTimeZone(), "by", createdBy)
	s.poke()
	return sc, nil
}

// Get returns one schedule.
func (s *Scheduler) Get(ctx context.Context, id string) (*hubv1.Schedule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var sc *hubv1.Schedule
	err := s.db.View(func(t kv.Txn) error {
		var err error
		sc, err = get(t, id)
		return err
	})
	return sc, err
}

// List returns every schedule, by id.
func (s *Scheduler) List(ctx context.Context) ([]*hubv1.Schedule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*hubv1.Schedule
	err := s.db.View(func(t kv.Txn) error {
		return t.Scan([]byte(keyPrefix), nil, func(_, v []byte) (bool, error) {
			sc := &hubv1.Schedule{}
			if err := proto.Unmarshal(v, sc); err != nil {
				return false, fmt.Errorf("decode schedule: %w", err)
			}
			out = append(out, sc)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

// update applies fn to one stored schedule under the lock.
func (s *Scheduler) update(ctx context.Context, id string, fn func(*hubv1.Schedule) error) (*hubv1.Schedule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var sc *hubv1.Schedule
	err := s.db.Update(func(t kv.Txn) error {
		var err error
		if sc, err = get(t, id); err != nil {
			return err
		}
		if err := fn(sc); err != nil {
			return err
		}
		return put(t, sc)
	})
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// Pause stops a schedule from firing until resumed.
func (s *Scheduler) Pause(ctx context.Context, id string) (*hubv1.Schedule, error) {
	sc, err := s.update(ctx, id, func(sc *hubv1.Schedule) error {
		sc.Paused = true
		sc.NextRunAt = nil
		return nil
	})
	if err == nil {
		s.log.Info("schedule paused", "schedule", id)
	}
	return sc, err
}

// Resume lets a paused schedule fire again from its next occurrence;
// occurrences missed while paused are not caught up.
func (s *Scheduler) Resume(ctx context.Context, id string) (*hubv1.Schedule, error) {
	sc, err := s.update(ctx, id, func(sc *hubv1.Schedule) error {
		sp, err := parse(sc)
		if err != nil {
			return err
		}
		if sc.GetPaused() || sc.GetNextRunAt() == nil {
			sc.Paused = false
			sc.NextRunAt = timestamppb.New(sp.next(s.clock.Now()))
		}
		return nil
	})
	if err == nil {
		s.log.Info("schedule resumed", "schedule", id)
		s.poke()
	}
	return sc, err
}

// Delete removes a schedule; the runs it started are kept.
func (s *Scheduler) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(func(t kv.Txn) error {
		if _, err := get(t, id); err != nil {
			return err
		}
		return t.Delete(key(id))
	})
	if err == nil {
		s.log.Info("schedule deleted", "schedule", id)
	}
	return err
}

// Request is the SubmitQueryRequest sc makes when it fires at now: its
// query with the relative period computed in its zone.
func Request(sc *hubv1.Schedule, now time.Time) (*hubv1.SubmitQueryRequest, error) {
	sp, err := parse(sc)
	if err != nil {
		return nil, err
	}
	q := proto.CloneOf(sc.GetQuery())
	if rel := sc.GetRelativePeriod(); rel != hubv1.RelativePeriod_RELATIVE_PERIOD_UNSPECIFIED {
		q.PeriodFrom, q.PeriodTo, err = period.Compute(rel, int(sc.GetLastMonths()), now, sp.loc)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	req := &hubv1.SubmitQueryRequest{Query: q, States: append([]string(nil), sc.GetStates()...)}
	if sc.GetTimeout() != nil {
		req.Timeout = durationpb.New(sc.GetTimeout().AsDuration())
	}
	return req, nil
}

// Tick fires every schedule that is due (next_run_at at or before now)
// once, and moves its next run to the first occurrence after now; that is
// the whole missed-run policy. It returns how many runs it started.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	all, err := s.List(ctx)
	if err != nil {
		return 0, err
	}
	started := 0
	for _, sc := range all {
		if sc.GetPaused() || sc.GetNextRunAt() == nil || sc.GetNextRunAt().AsTime().After(now) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return started, err
		}
		runID, err := s.fire(ctx, sc, now)
		if err != nil {
			// The schedule still moves on: retrying every tick would
			// hammer a failing run manager; the next occurrence retries.
			s.log.Warn("scheduled run not started; the next occurrence tries again", "schedule", sc.GetId(), "error", err)
		} else {
			started++
		}
		sp, perr := parse(sc)
		if perr != nil {
			s.log.Error("schedule unparsable; pausing it", "schedule", sc.GetId(), "error", perr)
			sc.Paused = true
			sc.NextRunAt = nil
		} else {
			sc.NextRunAt = timestamppb.New(sp.next(now))
		}
		if runID != "" {
			sc.LastRunId = runID
		}
		if err := s.db.Update(func(t kv.Txn) error { return put(t, sc) }); err != nil {
			return started, fmt.Errorf("save schedule %s: %w", sc.GetId(), err)
		}
	}
	return started, nil
}

func (s *Scheduler) fire(ctx context.Context, sc *hubv1.Schedule, now time.Time) (string, error) {
	req, err := Request(sc, now)
	if err != nil {
		return "", err
	}
	id, err := s.runs.Submit(ctx, req, "schedule:"+sc.GetId(), sc.GetId())
	if err != nil {
		return "", fmt.Errorf("submit: %w", err)
	}
	s.log.Info("scheduled run started", "schedule", sc.GetId(), "run", id,
		"period_from", req.GetQuery().GetPeriodFrom(), "period_to", req.GetQuery().GetPeriodTo(),
		"due", sc.GetNextRunAt().AsTime())
	return id, nil
}

// wait is how long Run sleeps before the next due schedule.
func (s *Scheduler) wait(ctx context.Context) time.Duration {
	all, err := s.List(ctx)
	if err != nil {
		return time.Minute
	}
	now := s.clock.Now()
	d := maxWait
	for _, sc := range all {
		if sc.GetPaused() || sc.GetNextRunAt() == nil {
			continue
		}
		if w := sc.GetNextRunAt().AsTime().Sub(now); w < d {
			d = max(w, 0)
		}
	}
	return d
}

// Run fires schedules as they come due until ctx ends. It fires overdue
// schedules first, once each (see the package comment).
func (s *Scheduler) Run(ctx context.Context) error {
	s.log.Info("scheduler started")
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduler tick", "error", err)
		}
		d := s.wait(ctx)
		select {
		case <-ctx.Done():
			s.log.Info("scheduler stopped")
			return nil
		case <-s.wake:
		case <-s.clock.After(d):
		}
	}
}

// StandardName is the name EnsureStandard gives the schedule of one figure
// of a picture definition.
func StandardName(def picture.Definition, f picture.Figure) string {
	return fmt.Sprintf("picture %s v%d: %s", def.Name, def.Version, f.ID)
}

// EnsureStandard makes sure each figure of the picture has its refresh
// schedule: def.Cron in def.Location, the figure's query over the last
// def.LastMonths complete months. A schedule that already exists (matched
// by StandardName) is left alone, paused or not. New schedules are due at
// once, so a fresh hub has a picture without waiting for the first
// occurrence. It returns the figures' schedules in figure order.
func (s *Scheduler) EnsureStandard(ctx context.Context, def picture.Definition) ([]*hubv1.Schedule, error) {
	existing, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*hubv1.Schedule{}
	for _, sc := range existing {
		byName[sc.GetName()] = sc
	}
	zone := "UTC"
	if def.Location != nil {
		zone = def.Location.String()
	}
	var out []*hubv1.Schedule
	for _, f := range def.Figures {
		name := StandardName(def, f)
		if sc, ok := byName[name]; ok {
			out = append(out, sc)
			continue
		}
		in := &hubv1.Schedule{
			Name:           name,
			Cron:           def.Cron,
			TimeZone:       zone,
			Query:          f.Base(),
			RelativePeriod: hubv1.RelativePeriod_RELATIVE_PERIOD_LAST_MONTHS,
			LastMonths:     int32(def.LastMonths),
		}
		if def.Timeout > 0 {
			in.Timeout = durationpb.New(def.Timeout)
		}
		sc, err := s.create(ctx, in, "hub", true)
		if err != nil {
			return nil, fmt.Errorf("figure %s: %w", f.ID, err)
		}
		out = append(out, sc)
	}
	return out, nil
}
