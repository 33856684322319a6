package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/answerer"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// AgreementService shows the agreement in force and previews queries
// against it.
type AgreementService struct {
	holder *agreement.Holder
	ans    *answerer.Answerer
}

var _ nodev1connect.AgreementServiceHandler = (*AgreementService)(nil)

// NewAgreementService returns the handler.
func NewAgreementService(h *agreement.Holder, a *answerer.Answerer) *AgreementService {
	return &AgreementService{holder: h, ans: a}
}

// GetAgreement returns the agreement in force, its source and load time.
func (s *AgreementService) GetAgreement(_ context.Context, _ *connect.Request[nodev1.GetAgreementRequest]) (*connect.Response[nodev1.GetAgreementResponse], error) {
	a := s.holder.Current()
	return connect.NewResponse(&nodev1.GetAgreementResponse{
		Agreement: a.Summary(),
		Source:    string(a.Source),
		LoadedAt:  timestamppb.New(a.LoadedAt),
	}), nil
}

// Preview returns exactly what would be sent for a query, or the refusal.
// It is not a disclosure and is not audited.
func (s *AgreementService) Preview(ctx context.Context, req *connect.Request[nodev1.PreviewRequest]) (*connect.Response[nodev1.PreviewResponse], error) {
	m := req.Msg
	if (m.GetAggregate() == nil) == (m.GetExtract() == nil) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("set exactly one of aggregate and extract"))
	}
	resp, err := s.ans.Preview(ctx, m)
	if err != nil {
		if ctx.Err() != nil {
			return nil, connect.NewError(connect.CodeCanceled, ctx.Err())
		}
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return connect.NewResponse(resp), nil
}
