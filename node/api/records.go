package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/store"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// RecordService is the node API's record handler: the state's own agencies
// and partner systems write and read incidents through it. Authentication
// and authorization are layered around it; it only maps requests to the
// store and store errors to RPC codes.
type RecordService struct {
	store *store.Store
	log   hclog.Logger
}

var _ nodev1connect.RecordServiceHandler = (*RecordService)(nil)

// NewRecordService returns the handler for s.
func NewRecordService(s *store.Store, log hclog.Logger) *RecordService {
	if log == nil {
		log = logging.Discard()
	}
	return &RecordService{store: s, log: log}
}

// UpsertIncidents creates or replaces a batch of incidents atomically.
func (s *RecordService) UpsertIncidents(ctx context.Context, req *connect.Request[nodev1.UpsertIncidentsRequest]) (*connect.Response[nodev1.UpsertIncidentsResponse], error) {
	res, err := s.store.Upsert(ctx, req.Msg.GetIncidents())
	if err != nil {
		return nil, s.rpcError("upsert incidents", err)
	}
	return connect.NewResponse(&nodev1.UpsertIncidentsResponse{
		Created:   int32(res.Created),
		Updated:   int32(res.Updated),
		Unchanged: int32(res.Unchanged),
	}), nil
}

// GetIncident returns one incident by national_ref.
func (s *RecordService) GetIncident(ctx context.Context, req *connect.Request[nodev1.GetIncidentRequest]) (*connect.Response[nodev1.GetIncidentResponse], error) {
	si, err := s.store.Get(ctx, req.Msg.GetNationalRef())
	if err != nil {
		return nil, s.rpcError("get incident", err)
	}
	return connect.NewResponse(&nodev1.GetIncidentResponse{Incident: si}), nil
}

// ListIncidents returns a page of incidents in national_ref order.
func (s *RecordService) ListIncidents(ctx context.Context, req *connect.Request[nodev1.ListIncidentsRequest]) (*connect.Response[nodev1.ListIncidentsResponse], error) {
	m := req.Msg
	page, next, err := s.store.List(ctx, store.ListOptions{
		PageSize:      int(m.GetPageSize()),
		PageToken:     m.GetPageToken(),
		DetectedFrom:  m.GetDetectedFrom(),
		DetectedTo:    m.GetDetectedTo(),
		TransportMode: m.GetTransportMode(),
	})
	if err != nil {
		return nil, s.rpcError("list incidents", err)
	}
	return connect.NewResponse(&nodev1.ListIncidentsResponse{Incidents: page, NextPageToken: next}), nil
}

// DeleteIncident removes one incident by national_ref.
func (s *RecordService) DeleteIncident(ctx context.Context, req *connect.Request[nodev1.DeleteIncidentRequest]) (*connect.Response[nodev1.DeleteIncidentResponse], error) {
	ok, err := s.store.Delete(ctx, req.Msg.GetNationalRef())
	if err != nil {
		return nil, s.rpcError("delete incident", err)
	}
	return connect.NewResponse(&nodev1.DeleteIncidentResponse{Deleted: ok}), nil
}

// rpcError is the one place store errors become connect codes. Validation
// errors carry every field error, in the message and as a
// google.rpc.BadRequest detail with one violation per field. Messages name
// fields and rules only: the store's errors never quote a never-shared
// value, and national_ref is not repeated back.
func (s *RecordService) rpcError(op string, err error) error {
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ve):
		cerr := connect.NewError(connect.CodeInvalidArgument, ve)
		br := &errdetails.BadRequest{}
		for _, fe := range ve.Errors {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field:       fieldPath(fe.Index, fe.Path),
				Description: fe.Rule,
			})
		}
		if d, derr := connect.NewErrorDetail(br); derr == nil {
			cerr.AddDetail(d)
		}
		return cerr
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, store.ErrNotFound)
	case errors.Is(err, store.ErrBatchTooLarge), errors.Is(err, kv.ErrTooBig):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, kv.ErrDiskFull):
		// The agency's importer can say what is wrong and retry the same
		// batch (or delete) once the node's operator has made room;
		// nothing of it was stored.
		s.log.Error("record store refuses writes: disk full", "op", op, "error", err)
		return connect.NewError(connect.CodeResourceExhausted, errors.New("the node's disk is full; nothing was stored"))
	case errors.Is(err, store.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	// The client gets no storage details; the operator gets them in the log
	// (storage errors name no record content).
	s.log.Error("record store failure", "op", op, "error", err)
	return connect.NewError(connect.CodeInternal, fmt.Errorf("%s failed", op))
}

func fieldPath(index int, path string) string {
	if index < 0 {
		return path
	}
	if path == "" {
		return fmt.Sprintf("incidents[%d]", index)
	}
	return fmt.Sprintf("incidents[%d].%s", index, path)
}
