package importer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/vrs-federation/vrs/node/store"
	"github.com/vrs-federation/vrs/node/validate"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// APIBatchSize is how many incidents APISink sends per UpsertIncidents
// call. The node commits each batch in one Badger transaction, whose limit
// is 15% of a 32 MB memtable, about 4.8 MB: some 1,800 incidents of the
// usual 2.5 KB. 500 (about 1.3 MB) stays a quarter of that, so a file of
// unusually rich incidents (long notes, many persons: up to about 9 KB
// each) still fits, while one synced commit per batch keeps the node's
// fsyncs few. It is also what a clerk loses at most if the import stops.
const APIBatchSize = 500

// APISink writes a file through a running node's RecordService, in
// batches: each UpsertIncidents call is atomic and durable when it is
// acknowledged, but the file as a whole is not (see PartialError). Upserts
// are idempotent, so sending a file again after a failure is safe: the
// acknowledged incidents come back unchanged.
type APISink struct {
	// Client is the node API's record service.
	Client nodev1connect.RecordServiceClient
	// BatchSize defaults to APIBatchSize; at most store.MaxBatch.
	BatchSize int
	// Progress, when set, is called after each acknowledged batch with the
	// incidents acknowledged so far and the file's total.
	Progress func(done, total int)
}

// PartialError is APISink's error when a batch failed: the batches before
// it, the file's first Acknowledged incidents in file order, are stored
// (Written counts what they did); nothing after them was written.
type PartialError struct {
	// Acknowledged is how many of the file's first incidents are stored.
	Acknowledged int
	// Written counts what the acknowledged batches did.
	Written store.UpsertResult
	// Err is why the next batch failed; a *store.ValidationError when the
	// node rejected an incident, with indexes into the whole file.
	Err error
}

// Error says how far the import got.
func (e *PartialError) Error() string {
	return fmt.Sprintf("stopped after %d acknowledged incident(s): %v", e.Acknowledged, e.Err)
}

// Unwrap returns the batch's error.
func (e *PartialError) Unwrap() error { return e.Err }

// Write sends incs in batches, in order, and stops at the first failure.
func (s APISink) Write(ctx context.Context, incs []*recordv1.Incident) (store.UpsertResult, error) {
	n := s.BatchSize
	if n <= 0 {
		n = APIBatchSize
	}
	n = min(n, store.MaxBatch)
	var total store.UpsertResult
	for lo := 0; lo < len(incs); lo += n {
		hi := min(lo+n, len(incs))
		res, err := s.Client.UpsertIncidents(ctx, connect.NewRequest(&nodev1.UpsertIncidentsRequest{Incidents: incs[lo:hi]}))
		if err != nil {
			return total, &PartialError{Acknowledged: lo, Written: total, Err: batchError(err, lo)}
		}
		total.Created += int(res.Msg.GetCreated())
		total.Updated += int(res.Msg.GetUpdated())
		total.Unchanged += int(res.Msg.GetUnchanged())
		if s.Progress != nil {
			s.Progress(hi, len(incs))
		}
	}
	return total, nil
}

// batchError turns the node's rejection of the batch starting at offset
// into a *store.ValidationError indexed into the whole file, so problems
// are reported at their lines; other errors are returned as they are.
func batchError(err error, offset int) error {
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInvalidArgument {
		return err
	}
	var errs []validate.FieldError
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		br, ok := v.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, fv := range br.GetFieldViolations() {
			index, path := splitFieldPath(fv.GetField())
			if index >= 0 {
				index += offset
			}
			errs = append(errs, validate.FieldError{Index: index, Path: path, Rule: fv.GetDescription()})
		}
	}
	if len(errs) == 0 {
		return err
	}
	return &store.ValidationError{Errors: errs}
}

// splitFieldPath splits the node API's "incidents[3].migrants[0].age" into
// 3 and "migrants[0].age"; a path not of that form has index -1.
func splitFieldPath(field string) (int, string) {
	rest, ok := strings.CutPrefix(field, "incidents[")
	if !ok {
		return -1, field
	}
	num, path, ok := strings.Cut(rest, "]")
	if !ok {
		return -1, field
	}
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 {
		return -1, field
	}
	return i, strings.TrimPrefix(path, ".")
}
