package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/hub/picture"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/internal/identity"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// repRuns is a fake run manager for the report service.
type repRuns struct {
	byID    map[string]*hubv1.Run
	byQuery map[string]*hubv1.Run
}

func (f *repRuns) Get(_ context.Context, id string) (*hubv1.Run, error) {
	if r, ok := f.byID[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("run %s: %w", id, runs.ErrNotFound)
}

func (f *repRuns) LatestComplete(_ context.Context, q *queryv1.AggregateQuery) (*hubv1.Run, error) {
	if r, ok := f.byQuery[prototext.Format(q)]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("complete run: %w", runs.ErrNotFound)
}

var repNow = time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)

// repFixture: figure incidents-by-transport-mode answered by THA and IDN
// (run r-both), figure deaths-by-month answered by IDN only, THA refused
// (run r-idn). Other figures have no run.
func repFixture() (*repRuns, picture.Definition) {
	def := picture.Standard()
	def.Now = func() time.Time { return repNow }
	f := &repRuns{byID: map[string]*hubv1.Run{}, byQuery: map[string]*hubv1.Run{}}
	add := func(id, figure string, states ...*hubv1.StateResult) {
		for _, fig := range def.Figures {
			if fig.ID != figure {
				continue
			}
			q := def.Query(fig, repNow)
			r := &hubv1.Run{
				Id: id, Query: q, State: hubv1.RunState_RUN_STATE_COMPLETE, States: states,
				CompletedAt: timestamppb.New(repNow),
				Cells:       []*hubv1.RegionalCell{{Key: []string{"SEA"}, Value: 40, Status: queryv1.CellStatus_CELL_STATUS_EXACT, Contributors: []string{"IDN"}}},
			}
			f.byID[id] = r
			f.byQuery[prototext.Format(q)] = r
		}
	}
	ans := func(c string) *hubv1.StateResult {
		return &hubv1.StateResult{Country: c, Status: hubv1.StateStatus_STATE_STATUS_ANSWERED}
	}
	refused := &hubv1.StateResult{Country: "THA", Status: hubv1.StateStatus_STATE_STATUS_REFUSED, Reason: "measure deaths not shared"}
	add("r-both", "incidents-by-transport-mode", ans("IDN"), ans("THA"))
	add("r-idn", "deaths-by-month", ans("IDN"), refused)
	return f, def
}

func as(t testing.TB, spiffe string) context.Context {
	t.Helper()
	id, err := identity.Parse(spiffe)
	if err != nil {
		t.Fatal(err)
	}
	return identity.NewContext(t.Context(), id)
}

func figureCells(p *hubv1.RegionalPicture) map[string]int {
	out := map[string]int{}
	for _, f := range p.GetFigures() {
		out[f.GetId()] = len(f.GetCells())
	}
	return out
}

func TestRegionalPictureReciprocity(t *testing.T) {
	t.Parallel()
	f, def := repFixture()
	tests := []struct {
		name        string
		caller      string
		reciprocity bool
		code        connect.Code // 0: success
		bothCells   int          // cells of incidents-by-transport-mode
		idnCells    int          // cells of deaths-by-month
		withheld    string
	}{
		{"operator reads everything", "spiffe://vrs.local/operator/alice", true, 0, 1, 1, ""},
		{"unbound partner reads everything", "spiffe://vrs.local/partner/unodc-research", true, 0, 1, 1, ""},
		{"contributing state sees its figures only", "spiffe://vrs.local/partner/tha-immigration", true, 0, 1, 0, "deaths-by-month"},
		{"agency of a contributing state", "spiffe://vrs.local/agency/IDN/police", true, 0, 1, 1, ""},
		{"state that contributed nothing is denied", "spiffe://vrs.local/agency/MYS/police", true, connect.CodePermissionDenied, 0, 0, ""},
		{"reciprocity off", "spiffe://vrs.local/agency/MYS/police", false, 0, 1, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := NewReportService(f, def, ReportOptions{Reciprocity: tt.reciprocity})
			resp, err := svc.GetRegionalPicture(as(t, tt.caller), connect.NewRequest(&hubv1.GetRegionalPictureRequest{}))
			if tt.code != 0 {
				if connect.CodeOf(err) != tt.code {
					t.Fatalf("err = %v, want %v", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cells := figureCells(resp.Msg.GetPicture())
			if cells["incidents-by-transport-mode"] != tt.bothCells || cells["deaths-by-month"] != tt.idnCells {
				t.Errorf("cells = %v", cells)
			}
			if got := resp.Header().Get(WithheldHeader); got != tt.withheld {
				t.Errorf("withheld header %q, want %q", got, tt.withheld)
			}
			for _, fig := range resp.Msg.GetPicture().GetFigures() {
				if fig.GetId() == "deaths-by-month" && fig.GetRunId() != "r-idn" {
					t.Errorf("withheld figure lost its coverage: %v", fig)
				}
			}
		})
	}
}

func TestRegionalPictureErrors(t *testing.T) {
	t.Parallel()
	f, def := repFixture()
	svc := NewReportService(f, def, DefaultReportOptions())
	if _, err := svc.GetRegionalPicture(t.Context(), connect.NewRequest(&hubv1.GetRegionalPictureRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no caller: err = %v", err)
	}
	_, err := svc.GetRegionalPicture(as(t, "spiffe://vrs.local/operator/alice"), connect.NewRequest(&hubv1.GetRegionalPictureRequest{Name: "other"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown picture: err = %v", err)
	}
	// A fresh hub with no results yet discloses nothing, so nobody is
	// denied it.
	empty := NewReportService(&repRuns{}, def, DefaultReportOptions())
	if _, err := empty.GetRegionalPicture(as(t, "spiffe://vrs.local/agency/MYS/police"), connect.NewRequest(&hubv1.GetRegionalPictureRequest{Name: "standard"})); err != nil {
		t.Errorf("empty picture: err = %v", err)
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	f, def := repFixture()
	svc := NewReportService(f, def, DefaultReportOptions())
	tests := []struct {
		name, caller, run string
		format            hubv1.ExportFormat
		code              connect.Code
	}{
		{"contributor exports", "spiffe://vrs.local/partner/tha-immigration", "r-both", hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV, 0},
		{"non-contributor denied", "spiffe://vrs.local/partner/tha-immigration", "r-idn", hubv1.ExportFormat_EXPORT_FORMAT_CSV, connect.CodePermissionDenied},
		{"operator exports anything", "spiffe://vrs.local/operator/alice", "r-idn", hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON, 0},
		{"unknown run", "spiffe://vrs.local/operator/alice", "nope", hubv1.ExportFormat_EXPORT_FORMAT_CSV, connect.CodeNotFound},
		{"unset format", "spiffe://vrs.local/operator/alice", "r-both", hubv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED, connect.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := svc.Export(as(t, tt.caller), connect.NewRequest(&hubv1.ExportRequest{RunId: tt.run, Format: tt.format}))
			if tt.code != 0 {
				if connect.CodeOf(err) != tt.code {
					t.Fatalf("err = %v, want %v", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Msg.GetContentType() == "" || resp.Msg.GetFilename() == "" || len(resp.Msg.GetContent()) == 0 {
				t.Errorf("empty export: %v", resp.Msg)
			}
		})
	}
}

// TestReportServiceOverHTTP serves the handler on loopback and reads the
// reciprocity header through a generated client. The identity comes from a
// test-only header here; in the hub the mTLS layer sets it.
func TestReportServiceOverHTTP(t *testing.T) {
	t.Parallel()
	f, def := repFixture()
	g := &genRuns{repRuns: f}
	svc := NewReportService(g, def, DefaultReportOptions())
	path, h := hubv1connect.NewReportServiceHandler(svc, svc.HandlerOptions()...)
	mux := http.NewServeMux()
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := identity.Parse(r.Header.Get("X-Test-Caller"))
		if err != nil {
			http.Error(w, "no caller", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), id)))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := hubv1connect.NewReportServiceClient(srv.Client(), srv.URL)
	req := connect.NewRequest(&hubv1.GetRegionalPictureRequest{})
	req.Header().Set("X-Test-Caller", "spiffe://vrs.local/partner/tha-immigration")
	resp, err := client.GetRegionalPicture(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header().Get(WithheldHeader); got != "deaths-by-month" {
		t.Errorf("withheld header %q", got)
	}
	// The whole picture is written from its cached encoding from the
	// second call on; callers get the same picture either way, and the
	// withholding above did not reach it.
	want, err := picture.Build(t.Context(), def, f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req := connect.NewRequest(&hubv1.GetRegionalPictureRequest{})
		req.Header().Set("X-Test-Caller", "spiffe://vrs.local/operator/alice")
		resp, err := client.GetRegionalPicture(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(resp.Msg.GetPicture(), want) {
			t.Errorf("call %d: operator's picture differs from the one built directly:\n%v\nwant\n%v", i, resp.Msg.GetPicture(), want)
		}
	}
	if svc.sharedWire.lookup(svc.cached) == nil {
		t.Error("the shared response has no cached encoding")
	}
	ereq := connect.NewRequest(&hubv1.ExportRequest{RunId: "r-idn", Format: hubv1.ExportFormat_EXPORT_FORMAT_CSV})
	ereq.Header().Set("X-Test-Caller", "spiffe://vrs.local/partner/tha-immigration")
	if _, err := client.Export(t.Context(), ereq); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("export by non-contributor: err = %v", err)
	}
}

// genRuns is repRuns with a completion count, and a count of the lookups
// made, so the picture cache can be watched.
type genRuns struct {
	*repRuns
	gen     uint64
	lookups int
}

func (g *genRuns) Completions() uint64 { return g.gen }

func (g *genRuns) LatestComplete(ctx context.Context, q *queryv1.AggregateQuery) (*hubv1.Run, error) {
	g.lookups++
	return g.repRuns.LatestComplete(ctx, q)
}

// TestRegionalPictureCache: the picture is built once per completed run
// and period, and reciprocity withholds cells from a copy, never from the
// picture served to the next caller.
func TestRegionalPictureCache(t *testing.T) {
	f, def := repFixture()
	now := repNow
	def.Now = func() time.Time { return now }
	g := &genRuns{repRuns: f}
	svc := NewReportService(g, def, DefaultReportOptions())
	get := func(caller string) *hubv1.RegionalPicture {
		t.Helper()
		resp, err := svc.GetRegionalPicture(as(t, caller), connect.NewRequest(&hubv1.GetRegionalPictureRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.GetPicture()
	}
	const operator, tha = "spiffe://vrs.local/operator/alice", "spiffe://vrs.local/partner/tha-immigration"

	get(operator)
	built := g.lookups
	if built == 0 {
		t.Fatal("the first call built nothing")
	}
	if cells := figureCells(get(tha)); cells["deaths-by-month"] != 0 {
		t.Errorf("THA sees the figure it did not contribute to: %v", cells)
	}
	if cells := figureCells(get(operator)); cells["deaths-by-month"] != 1 || cells["incidents-by-transport-mode"] != 1 {
		t.Errorf("after a withholding call the operator sees %v", cells)
	}
	if g.lookups != built {
		t.Errorf("%d lookups for three calls with nothing completed, want %d", g.lookups, built)
	}

	g.gen++ // a run completed
	get(operator)
	if g.lookups != 2*built {
		t.Errorf("after a completion: %d lookups, want %d", g.lookups, 2*built)
	}
	now = now.AddDate(0, 1, 0) // the period moves on
	get(operator)
	if g.lookups <= 2*built {
		t.Errorf("after the month turned: %d lookups, want more than %d", g.lookups, 2*built)
	}
}
