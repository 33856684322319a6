package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/hub/export"
	"github.com/vrs-federation/vrs/hub/picture"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/schedule"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// ErrNotContributor is returned under reciprocity when a caller bound to a
// state asks for a regional product that state did not contribute to.
var ErrNotContributor = errors.New("reciprocity: your state did not contribute to this product")

// WithheldHeader names, on a GetRegionalPicture response, the figures whose
// cells were withheld from the caller under reciprocity (comma-separated
// ids).
const WithheldHeader = "Vrs-Reciprocity-Withheld"

// ReportRuns is the part of the run manager the report service reads.
type ReportRuns interface {
	// Get returns a run by id, or an error wrapping runs.ErrNotFound.
	Get(ctx context.Context, id string) (*hubv1.Run, error)
	// LatestComplete returns the newest complete run of exactly this query.
	LatestComplete(ctx context.Context, q *queryv1.AggregateQuery) (*hubv1.Run, error)
}

// Generations is implemented by run managers that count completed runs
// (runs.Manager): while the count and the picture's period stay the same,
// the picture built last is still current and is served again.
type Generations interface {
	// Completions changes whenever a run completes.
	Completions() uint64
}

// ReportOptions configure the report service.
type ReportOptions struct {
	// Reciprocity, when true, lets a caller whose certificate is bound to a
	// state read only the products that state contributed to. The hub
	// turns it on unless its configuration says otherwise (see
	// DefaultReportOptions).
	Reciprocity bool
	// Export sets the SDMX identifiers of exports.
	Export export.Options
	// Log receives reciprocity denials; default discards.
	Log hclog.Logger
}

// DefaultReportOptions is reciprocity on, CAU export defaults.
func DefaultReportOptions() ReportOptions { return ReportOptions{Reciprocity: true} }

// ReportService publishes the regional picture and exports.
type ReportService struct {
	runs ReportRuns
	def  picture.Definition
	opts ReportOptions
	log  hclog.Logger

	// The response built last, for the completion count and period it was
	// built at, its encoding in sharedWire (see HandlerOptions). It is
	// shared by every caller and never modified.
	mu         sync.Mutex
	cached     *hubv1.GetRegionalPictureResponse
	cachedGen  uint64
	cachedFor  string
	sharedWire wireCache
}

// HandlerOptions are the connect options the service's handler needs: a
// codec that writes the shared picture response from its cached encoding.
func (s *ReportService) HandlerOptions() []connect.HandlerOption {
	return []connect.HandlerOption{connect.WithCodec(wireCodec{cache: &s.sharedWire})}
}

var _ hubv1connect.ReportServiceHandler = (*ReportService)(nil)

// NewReportService returns a ReportService reading runs, publishing def as
// the regional picture.
func NewReportService(r ReportRuns, def picture.Definition, opts ReportOptions) *ReportService {
	log := opts.Log
	if log == nil {
		log = logging.Discard()
	}
	return &ReportService{runs: r, def: def, opts: opts, log: log.Named("reports")}
}

// reader is who is asking, for reciprocity: bound is the caller's state, or
// "" when reciprocity does not restrict the caller (operators, partners
// bound to no state, or reciprocity off).
func (s *ReportService) reader(ctx context.Context) (id identity.ID, bound string, err error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return identity.ID{}, "", connect.NewError(connect.CodeUnauthenticated, errors.New("no verified caller"))
	}
	if !s.opts.Reciprocity || id.Role == identity.RoleOperator {
		return id, "", nil
	}
	if c, ok := id.BoundCountry(); ok {
		return id, c, nil
	}
	return id, "", nil
}

// GetRegionalPicture returns the latest complete result of each figure.
//
// Under reciprocity a caller bound to a state gets, for each figure its
// state did not contribute to (did not answer), the figure's query and
// coverage but no cells; those figures are named in the WithheldHeader
// response header. If the state contributed to no figure that has a
// result, the call is denied (PermissionDenied). A picture with no results
// at all is returned as it is: it discloses nothing.
func (s *ReportService) GetRegionalPicture(ctx context.Context, req *connect.Request[hubv1.GetRegionalPictureRequest]) (*connect.Response[hubv1.GetRegionalPictureResponse], error) {
	id, bound, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	if n := req.Msg.GetName(); n != "" && n != s.def.Name {
		return nil, s.fail(fmt.Errorf("picture %q: %w", n, runs.ErrNotFound))
	}
	whole, err := s.picture(ctx)
	if err != nil {
		return nil, s.fail(err)
	}
	if bound == "" {
		return connect.NewResponse(whole), nil
	}
	pic := proto.CloneOf(whole.GetPicture()) // the cached picture is shared
	var withheld []string
	withResult, contributed := 0, 0
	for _, f := range pic.GetFigures() {
		if f.GetRunId() == "" {
			continue
		}
		withResult++
		if slices.Contains(f.GetContributors(), bound) {
			contributed++
			continue
		}
		f.Cells = nil
		withheld = append(withheld, f.GetId())
	}
	if withResult > 0 && contributed == 0 {
		s.log.Info("reciprocity denial", "caller", id.String(), "state", bound, "product", "picture")
		return nil, s.fail(ErrNotContributor)
	}
	resp := connect.NewResponse(&hubv1.GetRegionalPictureResponse{Picture: pic})
	if len(withheld) > 0 {
		resp.Header().Set(WithheldHeader, strings.Join(withheld, ","))
	}
	return resp, nil
}

// picture returns the response carrying the whole regional picture,
// built again (and encoded once for the codec) only when a run has
// completed or the period has moved on since it was last built. Callers
// must not modify it.
func (s *ReportService) picture(ctx context.Context) (*hubv1.GetRegionalPictureResponse, error) {
	gens, ok := s.runs.(Generations)
	if !ok {
		pic, err := picture.Build(ctx, s.def, s.runs)
		return &hubv1.GetRegionalPictureResponse{Picture: pic}, err
	}
	from, to, err := s.def.Period(s.def.Clock())
	if err != nil {
		return nil, err
	}
	period := from + "/" + to
	// Read the count before building: a run completing meanwhile leaves a
	// picture cached under the older count, which the next call rebuilds.
	gen := gens.Completions()
	s.mu.Lock()
	if s.cached != nil && s.cachedGen == gen && s.cachedFor == period {
		resp := s.cached
		s.mu.Unlock()
		return resp, nil
	}
	s.mu.Unlock()
	pic, err := picture.Build(ctx, s.def, s.runs)
	if err != nil {
		return nil, err
	}
	resp := &hubv1.GetRegionalPictureResponse{Picture: pic}
	if err := s.sharedWire.share(resp); err != nil {
		// Not cached: the codec encodes it per call.
		s.log.Warn("picture response not cached", "error", err)
	}
	s.mu.Lock()
	s.cached, s.cachedGen, s.cachedFor = resp, gen, period
	s.mu.Unlock()
	return resp, nil
}

// Export renders a run's merged table. Under reciprocity a caller bound to
// a state may export only runs that state answered.
func (s *ReportService) Export(ctx context.Context, req *connect.Request[hubv1.ExportRequest]) (*connect.Response[hubv1.ExportResponse], error) {
	id, bound, err := s.reader(ctx)
	if err != nil {
		return nil, err
	}
	run, err := s.runs.Get(ctx, req.Msg.GetRunId())
	if err != nil {
		return nil, s.fail(err)
	}
	if bound != "" && !answered(run, bound) {
		s.log.Info("reciprocity denial", "caller", id.String(), "state", bound, "product", "export", "run", run.GetId())
		return nil, s.fail(ErrNotContributor)
	}
	ct, name, content, err := export.Render(run, req.Msg.GetFormat(), s.opts.Export)
	if err != nil {
		return nil, s.fail(err)
	}
	return connect.NewResponse(&hubv1.ExportResponse{ContentType: ct, Filename: name, Content: content}), nil
}

func answered(run *hubv1.Run, country string) bool {
	for _, st := range run.GetStates() {
		if st.GetCountry() == country {
			return st.GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED
		}
	}
	return false
}

// fail maps err for the caller and logs what the caller does not see.
func (s *ReportService) fail(err error) error {
	return logInternal(s.log, productError(err), err)
}

// logInternal logs err when it became an Internal error, whose detail the
// caller does not get.
func logInternal(log hclog.Logger, mapped, err error) error {
	if connect.CodeOf(mapped) == connect.CodeInternal {
		log.Error("internal error", "error", err)
	}
	return mapped
}

// productError maps the domain errors of the regional products (runs,
// schedules, exports, reciprocity) to connect codes; anything unexpected is
// Internal without its detail.
func productError(err error) error {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, ErrNotContributor):
		return connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, runs.ErrNotFound), errors.Is(err, schedule.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, schedule.ErrInvalid), errors.Is(err, export.ErrFormat), errors.Is(err, runs.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, export.ErrNotAggregate):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeInternal, errors.New("internal error"))
}
