package ui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// The fakes describe a small federation: IDN, THA and MYS attached (MYS's
// certificate about to lapse), AUS offline. MYS suppresses small cells and
// AUS is missing from every figure.

var fakeStates = map[string]string{
	"AUS": "Australia",
	"IDN": "Indonesia",
	"MYS": "Malaysia",
	"THA": "Thailand",
}

type fakeNodes struct {
	now time.Time
	err error
}

func (f fakeNodes) ListNodes(context.Context) ([]*hubv1.Node, error) {
	if f.err != nil {
		return nil, f.err
	}
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(f.now.Add(d)) }
	agreement := func(v int64) *queryv1.AgreementSummary {
		return &queryv1.AgreementSummary{Name: "cau-regional", Version: v, Hash: "9f2c4e1ab37d5c0e88aa", MinCell: 5, Rounding: "rr3"}
	}
	// Out of order and without names on purpose: the UI sorts and names.
	return []*hubv1.Node{
		{Country: "THA", Connected: true, LastSeen: ts(-5 * time.Second), SoftwareVersion: "0.3.0",
			AgreementHash: "4b1d0c9e7a22f3", Agreement: agreement(3), CertificateNotAfter: ts(200 * 24 * time.Hour)},
		{Country: "AUS", Connected: false, LastSeen: ts(-72 * time.Hour), SoftwareVersion: "0.2.9",
			AgreementHash: "77e01b5a9c3d42", Agreement: agreement(2), CertificateNotAfter: ts(90 * 24 * time.Hour)},
		{Country: "IDN", Connected: true, LastSeen: ts(-2 * time.Second), SoftwareVersion: "0.3.0",
			AgreementHash: "9f2c4e1ab37d5c", Agreement: agreement(4), CertificateNotAfter: ts(365 * 24 * time.Hour)},
		{Country: "MYS", Connected: true, LastSeen: ts(-9 * time.Second), SoftwareVersion: "0.3.0",
			AgreementHash: "c0ffee12345678", Agreement: agreement(1), CertificateNotAfter: ts(10 * 24 * time.Hour)},
	}, nil
}

type fakePicture struct {
	now time.Time
	err error
}

func cell(value int64, st queryv1.CellStatus, key ...string) *hubv1.RegionalCell {
	c := &hubv1.RegionalCell{Key: key, Value: value, Status: st,
		Contributors: []string{"IDN", "MYS", "THA"}, Missing: []string{"AUS"}}
	if st == queryv1.CellStatus_CELL_STATUS_SUPPRESSED || st == queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY {
		c.Value, c.Contributors, c.SuppressedBy = 0, []string{"IDN", "THA"}, []string{"MYS"}
	}
	return c
}

const (
	exact   = queryv1.CellStatus_CELL_STATUS_EXACT
	rounded = queryv1.CellStatus_CELL_STATUS_ROUNDED
	supp    = queryv1.CellStatus_CELL_STATUS_SUPPRESSED
	supp2   = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
)

func (f fakePicture) RegionalPicture(context.Context) (*hubv1.RegionalPicture, error) {
	if f.err != nil {
		return nil, f.err
	}
	done := timestamppb.New(f.now.Add(-time.Hour))
	fig := func(id, title, measure string, groupBy []string, cells ...*hubv1.RegionalCell) *hubv1.Figure {
		return &hubv1.Figure{
			Id: id, Title: title, RunId: "run-" + id, CompletedAt: done,
			Query:        &queryv1.AggregateQuery{Measure: measure, GroupBy: groupBy, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"},
			Cells:        cells,
			Contributors: []string{"IDN", "MYS", "THA"},
			Suppressed:   []string{"MYS"},
			Missing:      []*hubv1.StateResult{{Country: "AUS", Status: hubv1.StateStatus_STATE_STATUS_OFFLINE, Reason: "not attached"}},
		}
	}
	var months []*hubv1.RegionalCell
	for m, v := range []int64{412, 388, 455, 502, 610, 733, 0, 684, 590, 521, 467, 430} {
		st := exact
		switch m {
		case 6:
			st = supp2
		case 3, 9:
			st = rounded
		}
		months = append(months, cell(v, st, fmt.Sprintf("2025-%02d", m+1)))
	}
	noRun := &hubv1.Figure{Id: "fees-paid", Title: "Smuggling fees paid",
		Query: &queryv1.AggregateQuery{Measure: "fees_paid", GroupBy: []string{"route.destination"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}}
	return &hubv1.RegionalPicture{Name: "standard", Version: 1, Figures: []*hubv1.Figure{
		fig("migrants-by-month", "Smuggled migrants detected, by month", "migrants", []string{"period.month"}, months...),
		fig("migrants-by-citizenship", "Migrants by citizenship", "migrants", []string{"citizenship"},
			cell(1840, exact, "MMR"), cell(1210, rounded, "AFG"), cell(960, exact, "BGD"), cell(615, exact, "LKA"),
			cell(402, exact, "IRN"), cell(377, exact, "PAK"), cell(240, exact, "VNM"), cell(198, exact, "XXA"),
			cell(120, exact, "CHN"), cell(96, exact, "NPL"), cell(51, exact, "KHM"), cell(33, rounded, "IND"),
			cell(27, exact, "IRQ"), cell(0, supp, "SOM")),
		fig("routes", "Routes, origin to destination", "migrants", []string{"route.origin", "route.destination"},
			cell(1320, exact, "MMR", "THA"), cell(610, exact, "MMR", "MYS"), cell(880, exact, "BGD", "MYS"),
			cell(720, exact, "AFG", "IDN"), cell(415, rounded, "IDN", "AUS"), cell(300, exact, "LKA", "AUS"),
			cell(260, exact, "IRN", "IDN"), cell(240, exact, "VNM", "THA"), cell(0, supp, "PAK", "MYS")),
		fig("transport-modes", "Transport mode", "incidents", []string{"transport_mode"},
			cell(640, exact, "SEA"), cell(410, exact, "LAND"), cell(215, rounded, "AIR"), cell(88, exact, "MIXED"), cell(0, supp, "unknown")),
		fig("harm", "Deaths, by destination", "deaths", []string{"route.destination"},
			cell(37, exact, "MYS"), cell(21, rounded, "IDN"), cell(12, exact, "THA"), cell(0, supp, "AUS")),
		fig("justice", "Suspects by legal status", "suspects", []string{"legal_status"},
			cell(310, exact, "ARRESTED"), cell(184, exact, "PROSECUTED"), cell(97, rounded, "CONVICTED"), cell(14, exact, "ACQUITTED"), cell(0, supp, "SUSPECTED")),
		noRun,
	}}, nil
}

type fakeRuns struct {
	now time.Time
	err error

	mu        sync.Mutex
	lastSize  int
	lastToken string
	finished  bool // run-live has completed
}

// finish completes run-live, as the run manager would when MYS answers.
func (f *fakeRuns) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = true
}

func (f *fakeRuns) runs() []*hubv1.Run {
	f.mu.Lock()
	finished := f.finished
	f.mu.Unlock()
	live, mys := hubv1.RunState_RUN_STATE_RUNNING, hubv1.StateStatus_STATE_STATUS_PENDING
	if finished {
		live, mys = hubv1.RunState_RUN_STATE_COMPLETE, hubv1.StateStatus_STATE_STATUS_ANSWERED
	}
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(f.now.Add(d)) }
	q := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}, PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"}
	return []*hubv1.Run{
		{Id: "run-live", Query: q, State: live, CreatedAt: ts(-time.Minute), Deadline: ts(9 * time.Minute),
			States: []*hubv1.StateResult{
				{Country: "AUS", Status: hubv1.StateStatus_STATE_STATUS_OFFLINE, Reason: "not attached"},
				{Country: "IDN", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED},
				{Country: "MYS", Status: mys},
				{Country: "THA", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED},
			}},
		{Id: "run-done", Query: q, State: hubv1.RunState_RUN_STATE_COMPLETE, CreatedAt: ts(-2 * time.Hour), CompletedAt: ts(-time.Hour),
			States: []*hubv1.StateResult{
				{Country: "AUS", Status: hubv1.StateStatus_STATE_STATUS_REFUSED, Reason: "dimension citizenship not shared"},
				{Country: "IDN", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED},
				{Country: "MYS", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED},
				{Country: "THA", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED},
			},
			Cells: []*hubv1.RegionalCell{cell(1840, exact, "MMR")}},
	}
}

func (f *fakeRuns) List(_ context.Context, size int, token string) ([]*hubv1.Run, string, error) {
	f.mu.Lock()
	f.lastSize, f.lastToken = size, token
	f.mu.Unlock()
	if f.err != nil {
		return nil, "", f.err
	}
	return f.runs(), "", nil
}

func (f *fakeRuns) Get(_ context.Context, id string) (*hubv1.Run, error) {
	if f.err != nil {
		return nil, f.err
	}
	for _, r := range f.runs() {
		if r.GetId() == id {
			return proto.CloneOf(r), nil
		}
	}
	return nil, fmt.Errorf("run %q: %w", id, errNoRun)
}

// errNoRun stands for another package's sentinel, recognised through
// Config.NotFound.
var errNoRun = errors.New("no such run")

type fakeExporter struct {
	filename string
}

func (f fakeExporter) Export(_ context.Context, runID string, format hubv1.ExportFormat) (string, string, []byte, error) {
	if runID != "run-done" && runID != "run-migrants-by-month" {
		return "", "", nil, fmt.Errorf("export: %w", ErrNotFound)
	}
	name := f.filename
	switch format {
	case hubv1.ExportFormat_EXPORT_FORMAT_CSV:
		if name == "" {
			name = runID + ".csv"
		}
		return "text/csv; charset=utf-8", name, []byte("citizenship,value,status\nMMR,1840,exact\n"), nil
	case hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV:
		if name == "" {
			name = runID + ".sdmx.csv"
		}
		return "application/vnd.sdmx.data+csv; version=2.0.0", name, []byte("STRUCTURE,STRUCTURE_ID,ACTION,CITIZENSHIP,OBS_VALUE\n"), nil
	case hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON:
		if name == "" {
			name = runID + ".sdmx.json"
		}
		return "application/vnd.sdmx.data+json; version=2.0.0", name, []byte(`{"meta":{}}`), nil
	}
	return "", "", nil, errors.New("unknown format")
}
