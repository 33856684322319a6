package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/vrs-federation/vrs/hub/api"
	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/kv"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func services(t *testing.T) (*api.NodeService, *api.QueryService, *registry.Registry) {
	t.Helper()
	ns, qs, reg, _ := servicesAndManager(t)
	return ns, qs, reg
}

func servicesAndManager(t *testing.T) (*api.NodeService, *api.QueryService, *registry.Registry, *runs.Manager) {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	st := store.New(db)
	reg, err := registry.New(registry.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	m, err := runs.New(runs.Config{Store: st, States: reg.Countries})
	if err != nil {
		t.Fatal(err)
	}
	return api.NewNodeService(reg), api.NewQueryService(m), reg, m
}

func operator(ctx context.Context) context.Context {
	return identity.NewContext(ctx, identity.ID{TrustDomain: "vrs.test", Role: identity.RoleOperator, Name: "ana"})
}

func TestQueryService(t *testing.T) {
	_, qs, reg := services(t)
	if err := reg.Attached("THA", &federationv1.Hello{Country: "THA"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	q := &queryv1.AggregateQuery{Measure: "migrants"}

	_, err := qs.SubmitQuery(t.Context(), connect.NewRequest(&hubv1.SubmitQueryRequest{Query: q}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("submit without caller: %v", err)
	}
	_, err = qs.SubmitQuery(operator(t.Context()), connect.NewRequest(&hubv1.SubmitQueryRequest{}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("submit without query: %v", err)
	}
	resp, err := qs.SubmitQuery(operator(t.Context()), connect.NewRequest(&hubv1.SubmitQueryRequest{Query: q}))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Msg.GetRunId()
	got, err := qs.GetRun(t.Context(), connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
	if err != nil {
		t.Fatal(err)
	}
	r := got.Msg.GetRun()
	if r.GetSubmittedBy() != "spiffe://vrs.test/operator/ana" || len(r.GetStates()) != 1 || r.GetStates()[0].GetCountry() != "THA" {
		t.Errorf("run: %v", r)
	}
	_, err = qs.GetRun(t.Context(), connect.NewRequest(&hubv1.GetRunRequest{RunId: "nope"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown run: %v", err)
	}
	list, err := qs.ListRuns(t.Context(), connect.NewRequest(&hubv1.ListRunsRequest{}))
	if err != nil || len(list.Msg.GetRuns()) != 1 {
		t.Errorf("list: %v %v", list, err)
	}
	_, err = qs.ListRuns(t.Context(), connect.NewRequest(&hubv1.ListRunsRequest{PageToken: "%%"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("bad token: %v", err)
	}
}

func TestNodeService(t *testing.T) {
	ns, _, reg := services(t)
	if err := reg.Attached("THA", &federationv1.Hello{Country: "THA", SoftwareVersion: "1"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	list, err := ns.ListNodes(t.Context(), connect.NewRequest(&hubv1.ListNodesRequest{}))
	if err != nil || len(list.Msg.GetNodes()) != 1 || !list.Msg.GetNodes()[0].GetConnected() {
		t.Fatalf("list: %v %v", list, err)
	}
	tests := []struct {
		country string
		code    connect.Code
	}{
		{"THA", 0},
		{"MYS", connect.CodeNotFound},
		{"tha", connect.CodeInvalidArgument},
	}
	for _, tc := range tests {
		_, err := ns.GetNode(t.Context(), connect.NewRequest(&hubv1.GetNodeRequest{Country: tc.country}))
		if tc.code == 0 && err != nil || tc.code != 0 && connect.CodeOf(err) != tc.code {
			t.Errorf("GetNode(%s): %v, want %v", tc.country, err, tc.code)
		}
	}
	var ce *connect.Error
	_, err = ns.GetNode(t.Context(), connect.NewRequest(&hubv1.GetNodeRequest{Country: "MYS"}))
	if !errors.As(err, &ce) {
		t.Errorf("not a connect error: %v", err)
	}
}

func TestWatchRunOverConnect(t *testing.T) {
	_, qs, _, m := servicesAndManager(t)
	mux := http.NewServeMux()
	mux.Handle(hubv1connect.NewQueryServiceHandler(qs))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(operator(r.Context())))
	}))
	defer srv.Close()
	client := hubv1connect.NewQueryServiceClient(srv.Client(), srv.URL)

	var task *federationv1.Task
	defer m.Attach("THA", func(t *federationv1.Task) error { task = t; return nil })()
	sub, err := client.SubmitQuery(t.Context(), connect.NewRequest(&hubv1.SubmitQueryRequest{
		Query: &queryv1.AggregateQuery{Measure: "migrants"}, States: []string{"THA"}}))
	if err != nil {
		t.Fatal(err)
	}
	id := sub.Msg.GetRunId()
	stream, err := client.WatchRun(t.Context(), connect.NewRequest(&hubv1.WatchRunRequest{RunId: id}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() || stream.Msg().GetRun().GetState() != hubv1.RunState_RUN_STATE_RUNNING {
		t.Fatalf("first message: %v %v", stream.Msg(), stream.Err())
	}
	body := &federationv1.AnswerBody{TaskId: task.GetTaskId(), RunId: id, Country: "THA", Outcome: &federationv1.AnswerBody_Refusal{
		Refusal: &queryv1.Refusal{Code: queryv1.RefusalCode_REFUSAL_CODE_MEASURE_NOT_SHARED, Reason: "not shared"}}}
	if err := m.Answer(t.Context(), "THA", &federationv1.Answer{TaskId: task.GetTaskId()}, body); err != nil {
		t.Fatal(err)
	}
	var last *hubv1.Run
	for stream.Receive() {
		last = stream.Msg().GetRun()
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if last.GetState() != hubv1.RunState_RUN_STATE_COMPLETE || last.GetStates()[0].GetReason() != "not shared" {
		t.Errorf("last watched: %v", last)
	}
}

// TestGetRunRedactsACopy: complete runs are shared between callers
// (runs.Manager keeps them in memory), so the partner's redacted view must
// leave the operator's intact, however often and in whatever order they
// ask.
func TestGetRunRedactsACopy(t *testing.T) {
	_, qs, reg, m := servicesAndManager(t)
	if err := reg.Attached("THA", &federationv1.Hello{Country: "THA"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tasks := make(chan *federationv1.Task, 1)
	m.Attach("THA", func(t *federationv1.Task) error { tasks <- t; return nil })
	resp, err := qs.SubmitQuery(operator(t.Context()), connect.NewRequest(&hubv1.SubmitQueryRequest{Query: &queryv1.AggregateQuery{Measure: "migrants"}}))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Msg.GetRunId()
	task := <-tasks
	body := &federationv1.AnswerBody{Country: "THA", RunId: id, TaskId: task.GetTaskId(), Outcome: &federationv1.AnswerBody_Aggregate{Aggregate: &queryv1.AggregateResult{
		Measure: "migrants", Cells: []*queryv1.Cell{{Value: 42, Status: queryv1.CellStatus_CELL_STATUS_EXACT}},
	}}}
	if err := m.Answer(t.Context(), "THA", &federationv1.Answer{TaskId: task.GetTaskId()}, body); err != nil {
		t.Fatal(err)
	}
	partner := identity.NewContext(t.Context(), identity.ID{TrustDomain: "vrs.test", Role: identity.RolePartner, Name: "research"})
	for range 2 {
		got, err := qs.GetRun(partner, connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
		if err != nil {
			t.Fatal(err)
		}
		r := got.Msg.GetRun()
		if r.GetState() != hubv1.RunState_RUN_STATE_COMPLETE || len(r.GetCells()) != 1 || len(r.GetStates()[0].GetCells()) != 0 {
			t.Fatalf("partner view: %v", r)
		}
		got, err = qs.GetRun(operator(t.Context()), connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
		if err != nil {
			t.Fatal(err)
		}
		if cells := got.Msg.GetRun().GetStates()[0].GetCells(); len(cells) != 1 || cells[0].GetValue() != 42 {
			t.Fatalf("operator view after the partner's: %v", got.Msg.GetRun())
		}
	}
}
