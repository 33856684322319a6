package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/internal/identity"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// QueryService serves federated query runs.
type QueryService struct {
	m           *runs.Manager
	reciprocity bool
}

var _ hubv1connect.QueryServiceHandler = (*QueryService)(nil)

// NewQueryService returns a QueryService over m.
func NewQueryService(m *runs.Manager) *QueryService { return &QueryService{m: m, reciprocity: true} }

// WithReciprocity switches reciprocity for state-bound partners (on by
// default).
func (s *QueryService) WithReciprocity(on bool) *QueryService { s.reciprocity = on; return s }

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
	r, err = s.forCaller(ctx, r)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&hubv1.GetRunResponse{Run: r}), nil
}

// forCaller shapes a run for the verified caller. CAU operators see it
// all. Everyone else sees the merged regional table but never a state's own
// cells nor an extract's record-level rows: the states disclosed those to the hub, and with them a partner
// could add up what secondary suppression withheld. A partner bound to a
// state reads a run only if that state contributed to it (reciprocity).
func (s *QueryService) forCaller(ctx context.Context, r *hubv1.Run) (*hubv1.Run, error) {
	id, ok := identity.FromContext(ctx)
	if ok && id.Role == identity.RoleOperator {
		return r, nil
	}
	if cc, bound := id.BoundCountry(); ok && bound && s.reciprocity && !contributed(r, cc) {
		return nil, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("reciprocity: %s did not contribute to run %s", cc, r.GetId()))
	}
	// The run is shared (runs.Manager.Get): the redacted view is a new
	// message that shares the parts it keeps, never a modified original.
	out := shallowCopy(r)
	out.States = make([]*hubv1.StateResult, len(r.GetStates()))
	for i, st := range r.GetStates() {
		out.States[i] = shallowCopy(st)
		out.States[i].Cells = nil
	}
	// Redacted extract rows are record-level: the states agreed to send
	// them to the hub, not to pass them on.
	out.Rows = nil
	return out, nil
}

// shallowCopy returns a new message with m's fields, sharing their values
// (sub-messages, lists) with m: cheap where proto.Clone would copy a run's
// every cell only to drop most of them.
func shallowCopy[M proto.Message](m M) M {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		dst.Set(fd, v)
		return true
	})
	return dst.Interface().(M)
}

func contributed(r *hubv1.Run, country string) bool {
	for _, st := range r.GetStates() {
		if st.GetCountry() == country && st.GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED {
			return true
		}
	}
	return false
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
			if r.GetState() == hubv1.RunState_RUN_STATE_RUNNING {
				// Reciprocity is decided on the settled run.
				if id, ok := identity.FromContext(ctx); ok && id.Role != identity.RoleOperator {
					if _, bound := id.BoundCountry(); bound && s.reciprocity {
						continue
					}
				}
			}
			r, err := s.forCaller(ctx, r)
			if err != nil {
				return err
			}
			if err := stream.Send(&hubv1.WatchRunResponse{Run: r}); err != nil {
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
