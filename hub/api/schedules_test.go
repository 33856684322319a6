package api

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	"github.com/vrs-federation/vrs/hub/schedule"
	"github.com/vrs-federation/vrs/internal/kv"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

type schRuns struct{}

func (schRuns) Submit(context.Context, *hubv1.SubmitQueryRequest, string, string) (string, error) {
	return "r-1", nil
}

func TestScheduleService(t *testing.T) {
	t.Parallel()
	db, err := kv.Open(kv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	sch, err := schedule.New(schedule.Config{DB: db, Runs: schRuns{}})
	if err != nil {
		t.Fatal(err)
	}
	svc := NewScheduleService(sch)
	op := "spiffe://vrs.local/operator/alice"
	ctx := as(t, op)

	in := &hubv1.Schedule{
		Name: "quarterly incidents", Cron: "0 6 1 1,4,7,10 *", TimeZone: "Asia/Jakarta",
		Query:          &queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{"transport_mode"}},
		RelativePeriod: hubv1.RelativePeriod_RELATIVE_PERIOD_PREVIOUS_QUARTER,
	}
	created, err := svc.CreateSchedule(ctx, connect.NewRequest(&hubv1.CreateScheduleRequest{Schedule: in}))
	if err != nil {
		t.Fatal(err)
	}
	sc := created.Msg.GetSchedule()
	if sc.GetCreatedBy() != op || sc.GetId() == "" || sc.GetNextRunAt() == nil {
		t.Errorf("created %v", sc)
	}
	if _, err := svc.CreateSchedule(t.Context(), connect.NewRequest(&hubv1.CreateScheduleRequest{Schedule: in})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no caller: err = %v", err)
	}
	bad := &hubv1.Schedule{Name: "bad", Cron: "every day", Query: in.GetQuery()}
	if _, err := svc.CreateSchedule(ctx, connect.NewRequest(&hubv1.CreateScheduleRequest{Schedule: bad})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("bad cron: err = %v", err)
	}
	if _, err := svc.CreateSchedule(ctx, connect.NewRequest(&hubv1.CreateScheduleRequest{})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("no schedule: err = %v", err)
	}
	list, err := svc.ListSchedules(ctx, connect.NewRequest(&hubv1.ListSchedulesRequest{}))
	if err != nil || len(list.Msg.GetSchedules()) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	p, err := svc.PauseSchedule(ctx, connect.NewRequest(&hubv1.PauseScheduleRequest{Id: sc.GetId()}))
	if err != nil || !p.Msg.GetSchedule().GetPaused() {
		t.Fatalf("pause = %v, %v", p, err)
	}
	r, err := svc.ResumeSchedule(ctx, connect.NewRequest(&hubv1.ResumeScheduleRequest{Id: sc.GetId()}))
	if err != nil || r.Msg.GetSchedule().GetPaused() {
		t.Fatalf("resume = %v, %v", r, err)
	}
	if _, err := svc.DeleteSchedule(ctx, connect.NewRequest(&hubv1.DeleteScheduleRequest{Id: sc.GetId()})); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PauseSchedule(ctx, connect.NewRequest(&hubv1.PauseScheduleRequest{Id: sc.GetId()})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("pause deleted: err = %v", err)
	}
}
