// Package api holds the hub's connect-go services (DESIGN §8): the node
// registry, federated query runs, schedules and the regional picture.
// Handlers translate between the wire messages and the hub's packages;
// authorization happens before them in identity's middleware.
package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/internal/identity"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// NodeService serves the registry of states.
type NodeService struct {
	reg *registry.Registry
}

var _ hubv1connect.NodeServiceHandler = (*NodeService)(nil)

// NewNodeService returns a NodeService over reg.
func NewNodeService(reg *registry.Registry) *NodeService { return &NodeService{reg: reg} }

// ListNodes lists every state the hub has seen, by country code.
func (s *NodeService) ListNodes(ctx context.Context, _ *connect.Request[hubv1.ListNodesRequest]) (*connect.Response[hubv1.ListNodesResponse], error) {
	return connect.NewResponse(&hubv1.ListNodesResponse{Nodes: s.reg.List()}), nil
}

// GetNode returns one state's node.
func (s *NodeService) GetNode(ctx context.Context, req *connect.Request[hubv1.GetNodeRequest]) (*connect.Response[hubv1.GetNodeResponse], error) {
	c := req.Msg.GetCountry()
	if !identity.ValidCountry(c) {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("country %q: want ISO 3166-1 alpha-3", c))
	}
	n, err := s.reg.Get(c)
	if err != nil {
		return nil, federationError(err)
	}
	return connect.NewResponse(&hubv1.GetNodeResponse{Node: n}), nil
}

// federationError maps the registry's and the run manager's domain errors to
// connect codes; anything unexpected is Internal without its detail, which
// the hub's own log keeps.
func federationError(err error) error {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, runs.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, runs.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
