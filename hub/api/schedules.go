package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/hub/schedule"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// ScheduleService manages recurring runs for hub operators.
type ScheduleService struct {
	s   *schedule.Scheduler
	log hclog.Logger
}

var _ hubv1connect.ScheduleServiceHandler = (*ScheduleService)(nil)

// NewScheduleService returns a ScheduleService over s.
func NewScheduleService(s *schedule.Scheduler) *ScheduleService {
	return &ScheduleService{s: s, log: logging.Discard()}
}

// WithLog sets the logger that records errors the caller only sees as
// Internal; it returns the service.
func (h *ScheduleService) WithLog(log hclog.Logger) *ScheduleService {
	if log != nil {
		h.log = log.Named("schedules")
	}
	return h
}

func (h *ScheduleService) fail(err error) error {
	return logInternal(h.log, productError(err), err)
}

// CreateSchedule stores a schedule created by the verified caller.
func (h *ScheduleService) CreateSchedule(ctx context.Context, req *connect.Request[hubv1.CreateScheduleRequest]) (*connect.Response[hubv1.CreateScheduleResponse], error) {
	caller, ok := identity.FromContext(ctx)
	if !ok {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no verified caller"))
	}
	if req.Msg.GetSchedule() == nil {
		return nil, h.fail(schedule.ErrInvalid)
	}
	sc, err := h.s.Create(ctx, req.Msg.GetSchedule(), caller.String())
	if err != nil {
		return nil, h.fail(err)
	}
	return connect.NewResponse(&hubv1.CreateScheduleResponse{Schedule: sc}), nil
}

// ListSchedules lists every schedule by id.
func (h *ScheduleService) ListSchedules(ctx context.Context, _ *connect.Request[hubv1.ListSchedulesRequest]) (*connect.Response[hubv1.ListSchedulesResponse], error) {
	all, err := h.s.List(ctx)
	if err != nil {
		return nil, h.fail(err)
	}
	return connect.NewResponse(&hubv1.ListSchedulesResponse{Schedules: all}), nil
}

// PauseSchedule pauses a schedule.
func (h *ScheduleService) PauseSchedule(ctx context.Context, req *connect.Request[hubv1.PauseScheduleRequest]) (*connect.Response[hubv1.PauseScheduleResponse], error) {
	sc, err := h.s.Pause(ctx, req.Msg.GetId())
	if err != nil {
		return nil, h.fail(err)
	}
	return connect.NewResponse(&hubv1.PauseScheduleResponse{Schedule: sc}), nil
}

// ResumeSchedule resumes a paused schedule.
func (h *ScheduleService) ResumeSchedule(ctx context.Context, req *connect.Request[hubv1.ResumeScheduleRequest]) (*connect.Response[hubv1.ResumeScheduleResponse], error) {
	sc, err := h.s.Resume(ctx, req.Msg.GetId())
	if err != nil {
		return nil, h.fail(err)
	}
	return connect.NewResponse(&hubv1.ResumeScheduleResponse{Schedule: sc}), nil
}

// DeleteSchedule removes a schedule; its runs are kept.
func (h *ScheduleService) DeleteSchedule(ctx context.Context, req *connect.Request[hubv1.DeleteScheduleRequest]) (*connect.Response[hubv1.DeleteScheduleResponse], error) {
	if err := h.s.Delete(ctx, req.Msg.GetId()); err != nil {
		return nil, h.fail(err)
	}
	return connect.NewResponse(&hubv1.DeleteScheduleResponse{}), nil
}
