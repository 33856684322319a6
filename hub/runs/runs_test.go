package runs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/kv"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func openStore(t *testing.T, dir string) (*store.Store, func()) {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeFn := func() { once.Do(func() { _ = db.Close() }) }
	t.Cleanup(closeFn)
	return store.New(db), closeFn
}

func newManager(t *testing.T, st *store.Store, states ...string) *runs.Manager {
	t.Helper()
	m, err := runs.New(runs.Config{Store: st, States: func() []string { return states }, Requester: "spiffe://vrs.test/hub"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runManager runs m's deadline loop until the test ends.
func runManager(t *testing.T, m *runs.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func query() *queryv1.AggregateQuery {
	return &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
}

// inbox collects the tasks sent to one attached country.
type inbox struct {
	mu    sync.Mutex
	tasks []*federationv1.Task
}

func (b *inbox) send(t *federationv1.Task) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tasks = append(b.tasks, t)
	return nil
}

func (b *inbox) last() *federationv1.Task {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tasks) == 0 {
		return nil
	}
	return b.tasks[len(b.tasks)-1]
}

func aggregateAnswer(task *federationv1.Task, country string, cells map[string]int64) (*federationv1.Answer, *federationv1.AnswerBody) {
	res := &queryv1.AggregateResult{Measure: task.GetAggregate().GetMeasure(), GroupBy: task.GetAggregate().GetGroupBy()}
	for k, v := range cells {
		res.Cells = append(res.Cells, &queryv1.Cell{Key: []string{k}, Value: v, Status: queryv1.CellStatus_CELL_STATUS_EXACT})
	}
	body := &federationv1.AnswerBody{TaskId: task.GetTaskId(), RunId: task.GetRunId(), Country: country, AgreementVersion: 2, AgreementHash: "h",
		Outcome: &federationv1.AnswerBody_Aggregate{Aggregate: res}}
	b, _ := proto.Marshal(body)
	return &federationv1.Answer{TaskId: task.GetTaskId(), Body: b}, body
}

func submit(t *testing.T, m *runs.Manager, req *hubv1.SubmitQueryRequest) string {
	t.Helper()
	id, err := m.Submit(t.Context(), req, "spiffe://vrs.test/operator/a", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSubmitValidation(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "THA")
	empty := newManager(t, st)
	q := query
	tests := []struct {
		name string
		m    *runs.Manager
		req  *hubv1.SubmitQueryRequest
		ok   bool
	}{
		{"ok", m, &hubv1.SubmitQueryRequest{Query: q()}, true},
		{"ok extract", m, &hubv1.SubmitQueryRequest{Extract: &queryv1.ExtractQuery{Extract: "sea-routes"}}, true},
		{"no query", m, &hubv1.SubmitQueryRequest{}, false},
		{"both", m, &hubv1.SubmitQueryRequest{Query: q(), Extract: &queryv1.ExtractQuery{Extract: "x"}}, false},
		{"empty measure", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{}}, false},
		{"bad measure", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "Migrants; drop"}}, false},
		{"bad dimension", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"no such"}}}, false},
		{"repeated dimension", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex", "sex"}}}, false},
		{"bad period", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "migrants", PeriodFrom: "2025-13-01"}}, false},
		{"reversed period", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "migrants", PeriodFrom: "2025-02-01", PeriodTo: "2025-01-01"}}, false},
		{"filter without values", m, &hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "migrants", Filters: []*queryv1.Filter{{Dimension: "sex"}}}}, false},
		{"bad state", m, &hubv1.SubmitQueryRequest{Query: q(), States: []string{"tha"}}, false},
		{"unknown state", m, &hubv1.SubmitQueryRequest{Query: q(), States: []string{"XYZ"}}, false},
		{"zero timeout", m, &hubv1.SubmitQueryRequest{Query: q(), Timeout: durationpb.New(0)}, false},
		{"timeout too long", m, &hubv1.SubmitQueryRequest{Query: q(), Timeout: durationpb.New(8 * 24 * time.Hour)}, false},
		{"max timeout", m, &hubv1.SubmitQueryRequest{Query: q(), Timeout: durationpb.New(7 * 24 * time.Hour)}, true},
		{"no states at all", empty, &hubv1.SubmitQueryRequest{Query: q()}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.Submit(t.Context(), tc.req, "x", "")
			if tc.ok && err != nil {
				t.Fatalf("want ok, got %v", err)
			}
			if !tc.ok && !errors.Is(err, runs.ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
		})
	}
}

func TestDefaultsAndDelivery(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "MYS", "THA")
	tha := &inbox{}
	detach := m.Attach("THA", tha.send)
	defer detach()
	before := time.Now()
	id := submit(t, m, &hubv1.SubmitQueryRequest{Query: query()})
	r, err := m.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetStates()) != 2 || r.GetStates()[0].GetCountry() != "MYS" || r.GetStates()[1].GetCountry() != "THA" {
		t.Fatalf("states: %v", r.GetStates())
	}
	if got := r.GetStates()[0].GetStatus(); got != hubv1.StateStatus_STATE_STATUS_OFFLINE {
		t.Errorf("MYS: %v, want OFFLINE", got)
	}
	if got := r.GetStates()[1].GetStatus(); got != hubv1.StateStatus_STATE_STATUS_PENDING {
		t.Errorf("THA: %v, want PENDING", got)
	}
	if d := r.GetDeadline().AsTime().Sub(before); d < runs.DefaultTimeout || d > runs.DefaultTimeout+time.Minute {
		t.Errorf("deadline %v after submit, want the default %v", d, runs.DefaultTimeout)
	}
	task := tha.last()
	if task.GetRunId() != id || task.GetRequester() != "spiffe://vrs.test/hub" || !proto.Equal(task.GetAggregate(), query()) ||
		!task.GetDeadline().AsTime().Equal(r.GetDeadline().AsTime()) {
		t.Errorf("task: %v", task)
	}
	if r.GetSubmittedBy() != "spiffe://vrs.test/operator/a" || r.GetState() != hubv1.RunState_RUN_STATE_RUNNING {
		t.Errorf("run: %v", r)
	}

	// MYS attaches later and gets its task.
	mys := &inbox{}
	defer m.Attach("MYS", mys.send)()
	if mys.last().GetTaskId() == "" || mys.last().GetTaskId() == task.GetTaskId() {
		t.Fatalf("MYS task: %v", mys.last())
	}
	r, _ = m.Get(t.Context(), id)
	if got := r.GetStates()[0].GetStatus(); got != hubv1.StateStatus_STATE_STATUS_PENDING {
		t.Errorf("MYS after attach: %v", got)
	}
}

func TestAnswersSettleOnce(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "MYS", "THA")
	boxes := map[string]*inbox{"MYS": {}, "THA": {}}
	for cc, b := range boxes {
		defer m.Attach(cc, b.send)()
	}
	id := submit(t, m, &hubv1.SubmitQueryRequest{Query: query()})
	ctx := t.Context()
	ch, err := m.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	raw, body := aggregateAnswer(boxes["THA"].last(), "THA", map[string]int64{"MMR": 10})
	if err := m.Answer(ctx, "THA", raw, body); err != nil {
		t.Fatal(err)
	}
	if err := m.Answer(ctx, "THA", raw, body); !errors.Is(err, runs.ErrSettled) {
		t.Fatalf("second answer: %v, want ErrSettled", err)
	}
	// MYS may not answer THA's task.
	if err := m.Answer(ctx, "MYS", raw, body); !errors.Is(err, runs.ErrWrongState) {
		t.Fatalf("answer for another state: %v, want ErrWrongState", err)
	}
	raw2, body2 := aggregateAnswer(boxes["MYS"].last(), "MYS", map[string]int64{"MMR": 7})
	if err := m.Answer(ctx, "MYS", raw2, body2); err != nil {
		t.Fatal(err)
	}
	if err := m.Answer(ctx, "MYS", raw2, body2); !errors.Is(err, runs.ErrNotFound) {
		t.Fatalf("answer after completion: %v, want ErrNotFound", err)
	}

	var last *hubv1.Run
	for r := range ch {
		last = r
	}
	if last.GetState() != hubv1.RunState_RUN_STATE_COMPLETE || last.GetCompletedAt() == nil {
		t.Fatalf("watched run: %v", last)
	}
	if len(last.GetCells()) != 1 || last.GetCells()[0].GetValue() != 17 {
		t.Errorf("cells: %v, want MMR 17", last.GetCells())
	}
	if s := last.GetStates()[1]; s.GetAgreementVersion() != 2 || s.GetAnsweredAt() == nil {
		t.Errorf("THA result: %v", s)
	}
	// Watching a complete run yields it once.
	ch, err = m.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range ch {
		n++
	}
	if n != 1 {
		t.Errorf("watching a complete run yielded %d runs", n)
	}
}

func TestOutcomes(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "IDN", "MYS", "THA")
	boxes := map[string]*inbox{"IDN": {}, "MYS": {}, "THA": {}}
	for cc, b := range boxes {
		defer m.Attach(cc, b.send)()
	}
	id := submit(t, m, &hubv1.SubmitQueryRequest{Query: query()})
	ctx := t.Context()

	refusal := func(task *federationv1.Task) (*federationv1.Answer, *federationv1.AnswerBody) {
		body := &federationv1.AnswerBody{TaskId: task.GetTaskId(), RunId: task.GetRunId(), Country: "IDN",
			Outcome: &federationv1.AnswerBody_Refusal{Refusal: &queryv1.Refusal{Code: queryv1.RefusalCode_REFUSAL_CODE_TOO_MANY_DIMENSIONS, Reason: "too many dimensions"}}}
		return &federationv1.Answer{TaskId: task.GetTaskId()}, body
	}
	raw, body := refusal(boxes["IDN"].last())
	if err := m.Answer(ctx, "IDN", raw, body); err != nil {
		t.Fatal(err)
	}
	if err := m.Fail(ctx, "MYS", boxes["MYS"].last().GetTaskId(), "answer signature does not verify"); err != nil {
		t.Fatal(err)
	}
	// An answer grouped differently from the query cannot be merged.
	raw, body = aggregateAnswer(boxes["THA"].last(), "THA", map[string]int64{"MMR": 10})
	body.GetAggregate().GroupBy = []string{"sex"}
	if err := m.Answer(ctx, "THA", raw, body); err != nil {
		t.Fatal(err)
	}
	r, err := m.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status hubv1.StateStatus
		reason string
	}{
		{hubv1.StateStatus_STATE_STATUS_REFUSED, "too many dimensions"},
		{hubv1.StateStatus_STATE_STATUS_FAILED, "answer signature does not verify"},
		{hubv1.StateStatus_STATE_STATUS_FAILED, "answer does not match the query"},
	}
	for i, w := range want {
		s := r.GetStates()[i]
		if s.GetStatus() != w.status || s.GetReason() != w.reason {
			t.Errorf("%s: %v %q, want %v %q", s.GetCountry(), s.GetStatus(), s.GetReason(), w.status, w.reason)
		}
	}
	if r.GetStates()[0].GetRefusalCode() != queryv1.RefusalCode_REFUSAL_CODE_TOO_MANY_DIMENSIONS {
		t.Errorf("refusal code: %v", r.GetStates()[0].GetRefusalCode())
	}
	if r.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		t.Errorf("run: %v", r.GetState())
	}
}

func TestDeadline(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "MYS", "THA")
	runManager(t, m)
	defer m.Attach("THA", (&inbox{}).send)()
	id := submit(t, m, &hubv1.SubmitQueryRequest{Query: query(), Timeout: durationpb.New(300 * time.Millisecond)})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ch, err := m.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var r *hubv1.Run
	for r = range ch {
	}
	if r.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		t.Fatalf("run: %v", r)
	}
	if s := r.GetStates()[0]; s.GetStatus() != hubv1.StateStatus_STATE_STATUS_OFFLINE || s.GetReason() == "" {
		t.Errorf("MYS (never attached): %v", s)
	}
	if s := r.GetStates()[1]; s.GetStatus() != hubv1.StateStatus_STATE_STATUS_TIMED_OUT {
		t.Errorf("THA (delivered): %v", s)
	}
	for _, c := range r.GetCells() {
		t.Errorf("no state answered, yet a cell: %v", c)
	}
}

func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	st, closeStore := openStore(t, dir)
	m := newManager(t, st, "THA")
	tha := &inbox{}
	detach := m.Attach("THA", tha.send)
	id := submit(t, m, &hubv1.SubmitQueryRequest{Query: query(), Timeout: durationpb.New(time.Hour)})
	before, _ := m.Get(t.Context(), id)
	detach()
	closeStore()

	st2, _ := openStore(t, dir)
	m2 := newManager(t, st2, "THA")
	runManager(t, m2)
	r, err := m2.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(r, before) {
		t.Fatalf("after restart:\n%v\nbefore:\n%v", r, before)
	}
	tha2 := &inbox{}
	defer m2.Attach("THA", tha2.send)()
	task := tha2.last()
	if task == nil || !proto.Equal(task, tha.last()) {
		t.Fatalf("redelivered task %v, want %v", task, tha.last())
	}
	raw, body := aggregateAnswer(task, "THA", map[string]int64{"MMR": 10})
	if err := m2.Answer(t.Context(), "THA", raw, body); err != nil {
		t.Fatal(err)
	}
	r, _ = m2.Get(t.Context(), id)
	if r.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		t.Errorf("run: %v", r)
	}
}

func TestListAndLatestComplete(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "THA")
	tha := &inbox{}
	defer m.Attach("THA", tha.send)()
	ctx := t.Context()
	if _, err := m.LatestComplete(ctx, query()); !errors.Is(err, runs.ErrNotFound) {
		t.Fatalf("LatestComplete on empty store: %v", err)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, submit(t, m, &hubv1.SubmitQueryRequest{Query: query()}))
		if i < 3 {
			raw, body := aggregateAnswer(tha.last(), "THA", map[string]int64{"MMR": int64(10 + i)})
			if err := m.Answer(ctx, "THA", raw, body); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Millisecond) // distinct creation times order the list
	}
	var got []string
	token := ""
	for {
		page, next, err := m.List(ctx, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.GetId())
			if len(r.GetCells()) != 0 || len(r.GetStates()) != 1 || len(r.GetStates()[0].GetCells()) != 0 {
				t.Errorf("listed run carries cells: %v", r)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("listed %v, want %v", got, want)
		}
	}
	if _, _, err := m.List(ctx, 2, "garbage!"); !errors.Is(err, runs.ErrInvalid) {
		t.Errorf("bad token: %v", err)
	}
	r, err := m.LatestComplete(ctx, query())
	if err != nil {
		t.Fatal(err)
	}
	if r.GetId() != ids[2] || r.GetCells()[0].GetValue() != 12 {
		t.Errorf("latest complete: %v, want %s", r, ids[2])
	}
	other := query()
	other.Measure = "incidents"
	if _, err := m.LatestComplete(ctx, other); !errors.Is(err, runs.ErrNotFound) {
		t.Errorf("other query: %v", err)
	}
	if _, err := m.Get(ctx, "nope"); !errors.Is(err, runs.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
}

func TestExtractRun(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "THA")
	tha := &inbox{}
	defer m.Attach("THA", tha.send)()
	id := submit(t, m, &hubv1.SubmitQueryRequest{Extract: &queryv1.ExtractQuery{Extract: "sea-routes"}})
	task := tha.last()
	if task.GetExtract().GetExtract() != "sea-routes" {
		t.Fatalf("task: %v", task)
	}
	body := &federationv1.AnswerBody{TaskId: task.GetTaskId(), RunId: id, Country: "THA", Outcome: &federationv1.AnswerBody_Extract{Extract: &queryv1.ExtractResult{
		Extract: "sea-routes", Columns: []string{"period"}, Rows: []*queryv1.ExtractRow{{Pseudonym: "p1", Values: []string{"2025-03"}}}, WithheldRows: 2}}}
	if err := m.Answer(t.Context(), "THA", &federationv1.Answer{TaskId: task.GetTaskId()}, body); err != nil {
		t.Fatal(err)
	}
	r, _ := m.Get(t.Context(), id)
	if len(r.GetRows()) != 1 || r.GetRows()[0].GetCountry() != "THA" || r.GetStates()[0].GetWithheldRows() != 2 || r.GetState() != hubv1.RunState_RUN_STATE_COMPLETE {
		t.Errorf("extract run: %v", r)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	st, _ := openStore(t, t.TempDir())
	m := newManager(t, st, "THA")
	id := submit(t, m, &hubv1.SubmitQueryRequest{Query: query()})
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := m.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	for range ch {
	}
	if _, err := m.Watch(t.Context(), "nope"); !errors.Is(err, runs.ErrNotFound) {
		t.Errorf("watch unknown: %v", err)
	}
}
