package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/internal/identity"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// QueryService serves federated query runs.
type QueryService struct {
	m *runs.Manager
}

var _ hubv1connect.QueryServiceHandler = (*QueryService)(nil)

// NewQueryService returns a QueryService over m.
func NewQueryService(m *runs.Manager) *QueryService { return &QueryService{m: m} }

// SubmitQuery starts a run on behalf of the verified caller.
func (s *QueryService) SubmitQuery(ctx context.Context, req *connect.Request[hubv1.SubmitQueryRequest]) (*connect.Response[hubv1.SubmitQueryResponse], error) {
	caller, ok := identity.FromContext(ctx)
	if !ok {
		// The middleware always sets it; without it nobody is accountable.
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no verified caller"))
	}
	id, err := s.m.Submit(ctx, req.Msg, caller.String(), "")
	if err != nil {
		return nil, federationError(err)
	}
	return connect.NewResponse(&hubv1.SubmitQueryResponse{RunId: id}), nil
}

// GetRun returns a run with its per-state results and merged table.
func (s *QueryService) GetRun(ctx context.Context, req *connect.Request[hubv1.GetRunRequest]) (*connect.Response[hubv1.GetRunResponse], error) {
	r, err := s.m.Get(ctx, req.Msg.GetRunId())
	if err != nil {
		return nil, federationError(err)
	}
	return connect.NewResponse(&hubv1.GetRunResponse{Run: forCaller(ctx, r)}), nil
}

// forCaller hides each state's own cells from everyone but CAU operators.
// The states disclosed them to the hub; partners read the merged regional
// table, where secondary suppression protects suppressed cells. With the
// per-state cells a partner could add up what the hub withheld.
func forCaller(ctx context.Context, r *hubv1.Run) *hubv1.Run {
	if id, ok := identity.FromContext(ctx); ok && id.Role == identity.RoleOperator {
		return r
	}
	r = proto.Clone(r).(*hubv1.Run)
	for _, s := range r.GetStates() {
		s.Cells = nil
	}
	return r
}

// WatchRun streams the run now and after each change, until it completes.
func (s *QueryService) WatchRun(ctx context.Context, req *connect.Request[hubv1.WatchRunRequest], stream *connect.ServerStream[hubv1.WatchRunResponse]) error {
	ch, err := s.m.Watch(ctx, req.Msg.GetRunId())
	if err != nil {
		return federationError(err)
	}
	for {
		select {
		case <-ctx.Done():
			return federationError(ctx.Err())
		case r, ok := <-ch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return federationError(err)
				}
				return nil
			}
			if err := stream.Send(&hubv1.WatchRunResponse{Run: forCaller(ctx, r)}); err != nil {
				return err
			}
		}
	}
}

// ListRuns lists runs, newest first, without their cells.
func (s *QueryService) ListRuns(ctx context.Context, req *connect.Request[hubv1.ListRunsRequest]) (*connect.Response[hubv1.ListRunsResponse], error) {
	rs, next, err := s.m.List(ctx, int(req.Msg.GetPageSize()), req.Msg.GetPageToken())
	if err != nil {
		return nil, federationError(err)
	}
	return connect.NewResponse(&hubv1.ListRunsResponse{Runs: rs, NextPageToken: next}), nil
}
