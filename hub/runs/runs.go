// Package runs owns federated query runs at the hub: one task per state
// asked, delivered to attached nodes at once and to the others when they
// attach, answers settled exactly once per task, deadlines enforced, the
// merged regional table recomputed on every change, and everything persisted
// so that a restarted hub resumes its runs with their original deadlines.
package runs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/merge"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/logging"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Domain errors; the API maps them to RPC codes in one place.
var (
	// ErrNotFound: no such run (or task).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request is malformed.
	ErrInvalid = errors.New("invalid request")
	// ErrSettled: the task already has its outcome; a repeated answer is
	// ignored.
	ErrSettled = errors.New("task already settled")
	// ErrWrongState: an answer came from a state the task was not sent to.
	ErrWrongState = errors.New("task belongs to another state")
)

// Default limits for SubmitQuery.
const (
	DefaultTimeout = 10 * time.Minute
	MaxTimeout     = 7 * 24 * time.Hour
)

// MergeFunc merges the states' results of an aggregate run into the
// regional table (hub/merge.Merge).
type MergeFunc func([]*hubv1.StateResult) []*hubv1.RegionalCell

// Config holds a Manager's dependencies.
type Config struct {
	// Store is the hub's store (required).
	Store *store.Store
	// States lists the states asked when a request names none, usually
	// (*registry.Registry).Countries.
	States func() []string
	// Merge builds the regional table from the states' results; default
	// merge.Merge.
	Merge MergeFunc
	// Requester is the hub's SPIFFE ID, written into every task.
	Requester string
	// DefaultTimeout and MaxTimeout bound SubmitQueryRequest.timeout;
	// defaults DefaultTimeout and MaxTimeout.
	DefaultTimeout, MaxTimeout time.Duration
	// Log defaults to a discarding logger.
	Log hclog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Manager runs federated queries. It is safe for concurrent use; Run must be
// running for deadlines to be enforced.
type Manager struct {
	cfg Config
	log hclog.Logger

	wake chan struct{}

	mu       sync.Mutex
	active   map[string]*active // running runs by id
	links    map[string]*link   // attached countries
	watchers map[string]map[*watcher]struct{}
	// latest caches LatestComplete by query (deterministic bytes); an
	// entry is dropped when a run of that query completes. Without it every
	// GetRegionalPicture scanned every stored run.
	latest map[string]*hubv1.Run
	// completions counts completed runs, so a scan that raced with a
	// completion does not cache what may no longer be the latest.
	completions uint64

	// Changes are committed in groups (see flush): dirty holds the newest
	// snapshot of each changed run and answers the signed answers, both
	// waiting for the next commit. saveMu makes commits one at a time, so
	// that while one is syncing to disk the next group gathers, and 45
	// answers arriving together cost a few syncs instead of 90.
	saveMu  sync.Mutex
	dirty   map[string]*hubv1.Run
	answers []pendingAnswer

	// done keeps the most recently completed or read complete runs, which
	// never change again, so GetRun is served without decoding the run
	// from the store (about a millisecond for 45 states).
	done      map[string]*hubv1.Run
	doneOrder []string // oldest first
}

// doneCacheSize bounds the complete runs kept in memory.
const doneCacheSize = 256

// rememberLocked keeps r, a complete run nobody modifies, in the cache of
// complete runs, evicting the oldest beyond doneCacheSize.
func (m *Manager) rememberLocked(r *hubv1.Run) {
	id := r.GetId()
	if _, ok := m.done[id]; !ok {
		m.doneOrder = append(m.doneOrder, id)
		if len(m.doneOrder) > doneCacheSize {
			delete(m.done, m.doneOrder[0])
			m.doneOrder = slices.Delete(m.doneOrder, 0, 1)
		}
	}
	m.done[id] = r
}

// pendingAnswer is a signed answer waiting for the next commit.
type pendingAnswer struct {
	taskID string
	raw    *federationv1.Answer
}

type active struct {
	run      *hubv1.Run
	deadline time.Time
	tasks    map[string]*federationv1.Task // by country
}

type link struct {
	send func(*federationv1.Task) error
}

type watcher struct {
	ch   chan *hubv1.Run
	done chan struct{}
}

// New loads the runs that were still running when the hub stopped.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("runs: store is required")
	}
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Merge == nil {
		cfg.Merge = merge.Merge
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = MaxTimeout
	}
	m := &Manager{
		cfg:      cfg,
		log:      cfg.Log,
		wake:     make(chan struct{}, 1),
		active:   map[string]*active{},
		links:    map[string]*link{},
		watchers: map[string]map[*watcher]struct{}{},
		dirty:    map[string]*hubv1.Run{},
		done:     map[string]*hubv1.Run{},
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) load() error {
	return m.cfg.Store.View(func(t store.Txn) error {
		return t.Scan(store.RunPrefix, nil, func(key, value []byte) (bool, error) {
			r := &hubv1.Run{}
			if err := proto.Unmarshal(value, r); err != nil {
				return false, fmt.Errorf("decode run %s: %w", key, err)
			}
			if r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE {
				return true, nil
			}
			a := &active{run: r, deadline: r.GetDeadline().AsTime(), tasks: map[string]*federationv1.Task{}}
			for _, s := range r.GetStates() {
				task := &federationv1.Task{}
				if err := t.Get(store.TaskKey(taskID(r.GetId(), s.GetCountry())), task); err != nil {
					return false, fmt.Errorf("load task of run %s for %s: %w", r.GetId(), s.GetCountry(), err)
				}
				a.tasks[s.GetCountry()] = task
			}
			m.active[r.GetId()] = a
			m.log.Info("resuming run", "run", r.GetId(), "deadline", a.deadline)
			return true, nil
		})
	})
}

func taskID(runID, country string) string { return runID + "." + country }

func newRunID(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "r" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Submit validates req and starts a run; it returns the run's id.
// submittedBy is the submitter's SPIFFE ID (or "schedule:<id>"); scheduleID
// names the schedule that started it, if any.
func (m *Manager) Submit(ctx context.Context, req *hubv1.SubmitQueryRequest, submittedBy string, scheduleID string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	states, timeout, err := m.validateRequest(req)
	if err != nil {
		return "", err
	}
	now := m.cfg.Now()
	deadline := now.Add(timeout)
	id := newRunID(now)
	r := &hubv1.Run{
		Id:          id,
		Query:       proto.CloneOf(req.GetQuery()),
		Extract:     proto.CloneOf(req.GetExtract()),
		State:       hubv1.RunState_RUN_STATE_RUNNING,
		CreatedAt:   timestamppb.New(now),
		Deadline:    timestamppb.New(deadline),
		SubmittedBy: submittedBy,
		ScheduleId:  scheduleID,
	}
	a := &active{run: r, deadline: deadline, tasks: map[string]*federationv1.Task{}}
	for _, c := range states {
		t := &federationv1.Task{
			TaskId:    taskID(id, c),
			RunId:     id,
			Deadline:  timestamppb.New(deadline),
			IssuedAt:  timestamppb.New(now),
			Requester: m.cfg.Requester,
		}
		if q := req.GetQuery(); q != nil {
			t.Query = &federationv1.Task_Aggregate{Aggregate: proto.CloneOf(q)}
		} else {
			t.Query = &federationv1.Task_Extract{Extract: proto.CloneOf(req.GetExtract())}
		}
		a.tasks[c] = t
		r.States = append(r.States, &hubv1.StateResult{
			Country: c,
			Status:  hubv1.StateStatus_STATE_STATUS_OFFLINE,
			Reason:  "node not attached",
		})
	}

	m.mu.Lock()
	defer m.flush()
	defer m.mu.Unlock()
	// Persist before delivering, so every task a node can see exists here.
	err = m.cfg.Store.Update(func(t store.Txn) error {
		for _, task := range a.tasks {
			if err := t.Put(store.TaskKey(task.GetTaskId()), task); err != nil {
				return err
			}
		}
		if err := t.PutRaw(store.RunIndexKey(now, id), nil); err != nil {
			return err
		}
		return t.Put(store.RunKey(id), r)
	})
	if err != nil {
		return "", fmt.Errorf("save run: %w", err)
	}
	m.active[id] = a
	for _, s := range r.GetStates() {
		if l, ok := m.links[s.GetCountry()]; ok {
			m.deliverLocked(a, s, l)
		}
	}
	m.changedLocked(a)
	m.log.Info("run submitted", "run", id, "states", len(states), "deadline", deadline, "by", submittedBy)
	m.kick()
	return id, nil
}

// deliverLocked sends s's task over l; a task that could not be queued
// stays OFFLINE and is sent again on the next attach.
func (m *Manager) deliverLocked(a *active, s *hubv1.StateResult, l *link) {
	task := a.tasks[s.GetCountry()]
	if err := l.send(task); err != nil {
		m.log.Warn("task not delivered", "run", a.run.GetId(), "country", s.GetCountry(), "error", err)
		return
	}
	if s.GetStatus() == hubv1.StateStatus_STATE_STATUS_OFFLINE {
		s.Status, s.Reason = hubv1.StateStatus_STATE_STATUS_PENDING, ""
	}
}

// Attach registers country's open federation stream: send queues a task on
// it without blocking. Every unsettled task of that country whose deadline
// has not passed is (re)delivered at once; nodes answer a repeated task id
// with the answer they gave the first time. The returned func unregisters
// this stream only, so a replaced stream's late detach is harmless.
func (m *Manager) Attach(country string, send func(*federationv1.Task) error) (detach func()) {
	l := &link{send: send}
	m.mu.Lock()
	defer m.flush()
	defer m.mu.Unlock()
	m.links[country] = l
	now := m.cfg.Now()
	for _, a := range m.sortedActiveLocked() {
		if !now.Before(a.deadline) {
			continue
		}
		s := stateOf(a.run, country)
		if s == nil || settled(s.GetStatus()) {
			continue
		}
		was := s.GetStatus()
		m.deliverLocked(a, s, l)
		if s.GetStatus() != was {
			m.changedLocked(a)
		}
	}
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.links[country] == l {
			delete(m.links, country)
		}
	}
}

func (m *Manager) sortedActiveLocked() []*active {
	out := make([]*active, 0, len(m.active))
	for _, a := range m.active {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *active) int { return x.run.GetCreatedAt().AsTime().Compare(y.run.GetCreatedAt().AsTime()) })
	return out
}

func stateOf(r *hubv1.Run, country string) *hubv1.StateResult {
	for _, s := range r.GetStates() {
		if s.GetCountry() == country {
			return s
		}
	}
	return nil
}

// settled reports whether a state's status is final before the deadline.
func settled(s hubv1.StateStatus) bool {
	switch s {
	case hubv1.StateStatus_STATE_STATUS_ANSWERED, hubv1.StateStatus_STATE_STATUS_REFUSED,
		hubv1.StateStatus_STATE_STATUS_FAILED, hubv1.StateStatus_STATE_STATUS_TIMED_OUT:
		return true
	}
	return false
}

// lookupLocked finds the running task taskID and checks that country may
// answer it.
func (m *Manager) lookupLocked(country, taskID string) (*active, *hubv1.StateResult, error) {
	for _, a := range m.active {
		for c, t := range a.tasks {
			if t.GetTaskId() != taskID {
				continue
			}
			if c != country {
				return nil, nil, fmt.Errorf("task %s: %w", taskID, ErrWrongState)
			}
			s := stateOf(a.run, c)
			if settled(s.GetStatus()) {
				return nil, nil, fmt.Errorf("task %s: %w", taskID, ErrSettled)
			}
			if !m.cfg.Now().Before(a.deadline) {
				return nil, nil, fmt.Errorf("task %s: deadline passed: %w", taskID, ErrSettled)
			}
			return a, s, nil
		}
	}
	return nil, nil, fmt.Errorf("task %s: %w (or its run is complete)", taskID, ErrNotFound)
}

// Answer settles a task with a node's verified answer: raw is the signed
// answer as received and body its verified content. country is the
// answering state as its certificate says. A repeated answer for a settled
// task returns ErrSettled and changes nothing.
func (m *Manager) Answer(ctx context.Context, country string, raw *federationv1.Answer, body *federationv1.AnswerBody) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.flush()
	defer m.mu.Unlock()
	a, s, err := m.lookupLocked(country, raw.GetTaskId())
	if err != nil {
		return err
	}
	if body.GetCountry() != country || body.GetRunId() != a.run.GetId() {
		return m.failLocked(a, s, "answer names another state or run")
	}
	s.AnsweredAt = timestamppb.New(m.cfg.Now())
	s.AgreementVersion = body.GetAgreementVersion()
	s.AgreementHash = body.GetAgreementHash()
	s.Reason, s.Cells, s.RefusalCode, s.WithheldRows = "", nil, queryv1.RefusalCode_REFUSAL_CODE_UNSPECIFIED, 0
	switch o := body.GetOutcome().(type) {
	case *federationv1.AnswerBody_Aggregate:
		if reason := checkAggregate(a.run.GetQuery(), o.Aggregate); reason != "" {
			return m.failLocked(a, s, reason)
		}
		s.Status = hubv1.StateStatus_STATE_STATUS_ANSWERED
		s.Cells = o.Aggregate.GetCells()
	case *federationv1.AnswerBody_Extract:
		if a.run.GetExtract() == nil || o.Extract.GetExtract() != a.run.GetExtract().GetExtract() {
			return m.failLocked(a, s, "answer does not match the query")
		}
		s.Status = hubv1.StateStatus_STATE_STATUS_ANSWERED
		s.WithheldRows = o.Extract.GetWithheldRows()
		for _, row := range o.Extract.GetRows() {
			a.run.Rows = append(a.run.Rows, &hubv1.RegionalRow{Country: country, Row: row})
		}
	case *federationv1.AnswerBody_Refusal:
		s.Status = hubv1.StateStatus_STATE_STATUS_REFUSED
		s.Reason = o.Refusal.GetReason()
		s.RefusalCode = o.Refusal.GetCode()
	case *federationv1.AnswerBody_Failure:
		s.Status = hubv1.StateStatus_STATE_STATUS_FAILED
		s.Reason = o.Failure
	default:
		return m.failLocked(a, s, "answer carries no outcome")
	}
	m.answers = append(m.answers, pendingAnswer{taskID: raw.GetTaskId(), raw: raw})
	m.log.Info("state settled", "run", a.run.GetId(), "country", country, "status", s.GetStatus().String())
	m.changedLocked(a)
	return nil
}

// checkAggregate returns why result cannot be merged into q's table, or "".
func checkAggregate(q *queryv1.AggregateQuery, res *queryv1.AggregateResult) string {
	if q == nil {
		return "answer does not match the query"
	}
	if res.GetMeasure() != q.GetMeasure() || !slices.Equal(res.GetGroupBy(), q.GetGroupBy()) {
		return "answer does not match the query"
	}
	for _, c := range res.GetCells() {
		if len(c.GetKey()) != len(q.GetGroupBy()) {
			return "answer has a cell of the wrong shape"
		}
		if c.GetValue() < 0 {
			return "answer has a negative cell"
		}
	}
	return ""
}

// Fail settles country's task taskID as FAILED, e.g. when its answer's
// signature does not verify.
func (m *Manager) Fail(ctx context.Context, country, taskID, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.flush()
	defer m.mu.Unlock()
	a, s, err := m.lookupLocked(country, taskID)
	if err != nil {
		return err
	}
	return m.failLocked(a, s, reason)
}

func (m *Manager) failLocked(a *active, s *hubv1.StateResult, reason string) error {
	s.Status, s.Reason, s.Cells = hubv1.StateStatus_STATE_STATUS_FAILED, reason, nil
	s.AnsweredAt = timestamppb.New(m.cfg.Now())
	m.log.Warn("state failed", "run", a.run.GetId(), "country", s.GetCountry(), "reason", reason)
	m.changedLocked(a)
	return nil
}

// recomputeLocked derives the run's state and merged table from its states.
func (m *Manager) recomputeLocked(a *active) {
	r := a.run
	done := true
	for _, s := range r.GetStates() {
		if !settled(s.GetStatus()) {
			done = false
		}
	}
	if done && r.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		r.State = hubv1.RunState_RUN_STATE_COMPLETE
		r.CompletedAt = timestamppb.New(m.cfg.Now())
	}
	// The regional table is merged once, when the run completes: secondary
	// suppression over the whole table costs up to tens of milliseconds
	// (a route table of 45 states), and a partial table would change
	// under its readers as states answer.
	if r.GetQuery() != nil && r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE {
		r.Cells = m.cfg.Merge(r.GetStates())
	}
}

// changedLocked recomputes a after a change and queues it for the next
// commit. The caller calls flush after releasing mu: only then is the
// change durable, published to watchers and, once complete, retired.
func (m *Manager) changedLocked(a *active) {
	m.recomputeLocked(a)
	m.dirty[a.run.GetId()] = proto.CloneOf(a.run)
}

// flush commits the queued changes, its own and any that other goroutines
// queued meanwhile, in one synced transaction, then publishes them. It
// returns once the caller's changes are durable: either this call wrote
// them or the commit it waited for did. Watchers see a version only after
// it is on disk, so a crash never takes back what a client was shown.
func (m *Manager) flush() {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	runs, answers := m.dirty, m.answers
	if len(runs) == 0 && len(answers) == 0 {
		m.mu.Unlock()
		return
	}
	m.dirty, m.answers = map[string]*hubv1.Run{}, nil
	m.mu.Unlock()

	err := m.cfg.Store.Update(func(t store.Txn) error {
		for _, p := range answers {
			if err := t.Put(store.AnswerKey(p.taskID), p.raw); err != nil {
				return err
			}
		}
		for _, r := range runs {
			if err := t.Put(store.RunKey(r.GetId()), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The runs stay in memory and are written with their next change;
		// a restart before that asks the nodes again.
		m.log.Error("save runs", "runs", len(runs), "answers", len(answers), "error", err)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range runs {
		complete := r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE
		if complete {
			if a, ok := m.active[id]; ok && a.run.GetState() == hubv1.RunState_RUN_STATE_COMPLETE {
				delete(m.active, id)
			}
			m.rememberLocked(r)
			m.log.Info("run complete", "run", id)
		}
		m.notifyLocked(r, complete)
	}
}

func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run enforces deadlines until ctx ends: at a run's deadline every state
// still waiting is settled (TIMED_OUT when its task was delivered, OFFLINE
// when its node never attached) and the run completes.
func (m *Manager) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next := m.expire()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(m.cfg.Now()), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// expire settles every run whose deadline has passed and returns the next
// deadline (zero when none is running).
func (m *Manager) expire() time.Time {
	m.mu.Lock()
	defer m.flush()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	var next time.Time
	for _, a := range m.sortedActiveLocked() {
		if now.Before(a.deadline) {
			if next.IsZero() || a.deadline.Before(next) {
				next = a.deadline
			}
			continue
		}
		for _, s := range a.run.GetStates() {
			switch s.GetStatus() {
			case hubv1.StateStatus_STATE_STATUS_PENDING:
				s.Status, s.Reason = hubv1.StateStatus_STATE_STATUS_TIMED_OUT, "no answer before the deadline"
			case hubv1.StateStatus_STATE_STATUS_OFFLINE, hubv1.StateStatus_STATE_STATUS_UNSPECIFIED:
				s.Status, s.Reason = hubv1.StateStatus_STATE_STATUS_OFFLINE, "node not attached before the deadline"
			}
		}
		a.run.State = hubv1.RunState_RUN_STATE_COMPLETE
		a.run.CompletedAt = timestamppb.New(now)
		m.changedLocked(a)
	}
	return next
}

// Get returns the run id. The run is shared with other callers and must
// not be modified (proto.CloneOf it first).
func (m *Manager) Get(ctx context.Context, id string) (*hubv1.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if a, ok := m.active[id]; ok {
		r := proto.CloneOf(a.run)
		m.mu.Unlock()
		return r, nil
	}
	if r, ok := m.done[id]; ok {
		m.mu.Unlock()
		return r, nil
	}
	m.mu.Unlock()
	r, err := m.load1(id)
	if err != nil {
		return nil, err
	}
	if r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE {
		m.mu.Lock()
		// A run still active here was loaded from disk before it changed;
		// only a run that stayed complete is remembered.
		if _, ok := m.active[id]; !ok {
			m.rememberLocked(r)
		}
		m.mu.Unlock()
	}
	return r, nil
}

func (m *Manager) load1(id string) (*hubv1.Run, error) {
	r := &hubv1.Run{}
	if err := m.cfg.Store.Get(store.RunKey(id), r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	return r, nil
}

// List returns up to pageSize runs (default 50, at most 500), newest first,
// without cells or rows, and the token of the next page ("" on the last).
func (m *Manager) List(ctx context.Context, pageSize int, pageToken string) ([]*hubv1.Run, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	switch {
	case pageSize <= 0:
		pageSize = 50
	case pageSize > 500:
		pageSize = 500
	}
	var start []byte
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || len(b) <= len(store.RunIndexPrefix) || string(b[:len(store.RunIndexPrefix)]) != string(store.RunIndexPrefix) {
			return nil, "", fmt.Errorf("%w: bad page token", ErrInvalid)
		}
		start = b
	}
	var out []*hubv1.Run
	var next string
	err := m.cfg.Store.View(func(t store.Txn) error {
		return t.Scan(store.RunIndexPrefix, start, func(key, _ []byte) (bool, error) {
			if len(out) == pageSize {
				next = base64.RawURLEncoding.EncodeToString(key)
				return false, nil
			}
			id, err := store.RunIndexID(key)
			if err != nil {
				return false, err
			}
			r := &hubv1.Run{}
			if err := t.Get(store.RunKey(id), r); err != nil {
				return false, fmt.Errorf("load run %s: %w", id, err)
			}
			r.Cells, r.Rows = nil, nil
			for _, s := range r.GetStates() {
				s.Cells = nil
			}
			out = append(out, r)
			return true, nil
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	return out, next, nil
}

// LatestComplete returns the newest COMPLETE run whose aggregate query is
// proto.Equal to query; ErrNotFound when there is none.
func (m *Manager) LatestComplete(ctx context.Context, query *queryv1.AggregateQuery) (*hubv1.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := queryKey(query)
	m.mu.Lock()
	cached, ok := m.latest[key]
	gen := m.completions
	m.mu.Unlock()
	if ok {
		return proto.CloneOf(cached), nil
	}
	var found *hubv1.Run
	err := m.cfg.Store.View(func(t store.Txn) error {
		return t.Scan(store.RunIndexPrefix, nil, func(key, _ []byte) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			id, err := store.RunIndexID(key)
			if err != nil {
				return false, err
			}
			r := &hubv1.Run{}
			if err := t.Get(store.RunKey(id), r); err != nil {
				return false, fmt.Errorf("load run %s: %w", id, err)
			}
			if r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE && r.GetQuery() != nil && proto.Equal(r.GetQuery(), query) {
				found = r
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("complete run for query: %w", ErrNotFound)
	}
	m.mu.Lock()
	if m.completions == gen {
		if m.latest == nil {
			m.latest = map[string]*hubv1.Run{}
		}
		m.latest[key] = proto.CloneOf(found)
	}
	m.mu.Unlock()
	return found, nil
}

// Completions counts the runs completed since the hub started; it changes
// whenever LatestComplete may answer differently.
func (m *Manager) Completions() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.completions
}

// queryKey identifies a query for the LatestComplete cache.
func queryKey(q *queryv1.AggregateQuery) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(q)
	if err != nil {
		return "" // an unmarshalable query is never cached under a real key
	}
	return string(b)
}

// Watch returns a channel that yields the run now and after each change; it
// is closed once the run is complete (after yielding it) or ctx ends. A slow
// reader sees the latest version, not every intermediate one.
func (m *Manager) Watch(ctx context.Context, id string) (<-chan *hubv1.Run, error) {
	m.mu.Lock()
	a, ok := m.active[id]
	if !ok {
		m.mu.Unlock()
		r, err := m.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		ch := make(chan *hubv1.Run, 1)
		ch <- r
		close(ch)
		return ch, nil
	}
	w := &watcher{ch: make(chan *hubv1.Run, 1), done: make(chan struct{})}
	w.ch <- proto.CloneOf(a.run)
	if m.watchers[id] == nil {
		m.watchers[id] = map[*watcher]struct{}{}
	}
	m.watchers[id][w] = struct{}{}
	m.mu.Unlock()
	go func() {
		select {
		case <-w.done:
		case <-ctx.Done():
			m.mu.Lock()
			if _, ok := m.watchers[id][w]; ok {
				delete(m.watchers[id], w)
				if len(m.watchers[id]) == 0 {
					delete(m.watchers, id)
				}
				close(w.ch)
			}
			m.mu.Unlock()
		}
	}()
	return w.ch, nil
}

func (m *Manager) notifyLocked(r *hubv1.Run, complete bool) {
	if complete {
		m.completions++
		if r.GetQuery() != nil {
			delete(m.latest, queryKey(r.GetQuery()))
		}
	}
	ws := m.watchers[r.GetId()]
	if len(ws) == 0 {
		return
	}
	snap := r // a snapshot already, never changed after it was queued
	for w := range ws {
		// Only this goroutine (under mu) sends, so after draining there is
		// room for the newest version.
		select {
		case <-w.ch:
		default:
		}
		w.ch <- snap
		if complete {
			close(w.ch)
			close(w.done)
		}
	}
	if complete {
		delete(m.watchers, r.GetId())
	}
}
