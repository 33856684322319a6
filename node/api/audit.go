package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/vrs-federation/vrs/node/audit"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// AuditService reads the node's audit log.
type AuditService struct {
	log *audit.Log
}

var _ nodev1connect.AuditServiceHandler = (*AuditService)(nil)

// NewAuditService returns the handler.
func NewAuditService(l *audit.Log) *AuditService { return &AuditService{log: l} }

// ListEntries pages through entries in sequence order.
func (s *AuditService) ListEntries(_ context.Context, req *connect.Request[nodev1.ListEntriesRequest]) (*connect.Response[nodev1.ListEntriesResponse], error) {
	size := int(req.Msg.GetPageSize())
	switch {
	case size <= 0:
		size = 100
	case size > 1000:
		size = 1000
	}
	// One more than asked tells whether there is a next page.
	es, err := s.log.List(req.Msg.GetFromSequence(), size+1)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	resp := &nodev1.ListEntriesResponse{}
	if len(es) > size {
		resp.NextSequence = es[size].GetSequence()
		es = es[:size]
	}
	resp.Entries = es
	return connect.NewResponse(resp), nil
}

// Verify checks the whole hash chain.
func (s *AuditService) Verify(_ context.Context, _ *connect.Request[nodev1.VerifyRequest]) (*connect.Response[nodev1.VerifyResponse], error) {
	v, err := s.log.Verify()
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	return connect.NewResponse(v), nil
}
