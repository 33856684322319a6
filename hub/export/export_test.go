package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func testRun() *hubv1.Run {
	missing := []string{"PNG"}
	return &hubv1.Run{
		Id: "r-123",
		Query: &queryv1.AggregateQuery{
			Measure: "migrants", GroupBy: []string{"period.month", "citizenship"},
			PeriodFrom: "2026-01-01", PeriodTo: "2026-02-28",
		},
		State: hubv1.RunState_RUN_STATE_COMPLETE,
		Cells: []*hubv1.RegionalCell{
			{Key: []string{"2026-01", "AFG"}, Value: 42, Status: queryv1.CellStatus_CELL_STATUS_EXACT, Contributors: []string{"IDN", "THA"}, Missing: missing},
			{Key: []string{"2026-01", "MMR"}, Value: 0, Status: queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY, Contributors: []string{"IDN", "THA"}, Missing: missing},
			{Key: []string{"2026-02", "AFG"}, Value: 9, Status: queryv1.CellStatus_CELL_STATUS_ROUNDED, Contributors: []string{"IDN"}, SuppressedBy: []string{"THA"}, Missing: missing},
			{Key: []string{"2026-02", "MMR"}, Value: 0, Status: queryv1.CellStatus_CELL_STATUS_SUPPRESSED, SuppressedBy: []string{"IDN", "THA"}, Missing: missing},
		},
	}
}

func fields(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func statusOf(t *testing.T, s string) queryv1.CellStatus {
	t.Helper()
	v, ok := queryv1.CellStatus_value["CELL_STATUS_"+s]
	if !ok {
		t.Fatalf("unknown status %q", s)
	}
	return queryv1.CellStatus(v)
}

func equalCells(a, b []*hubv1.RegionalCell) bool {
	return slices.EqualFunc(a, b, func(x, y *hubv1.RegionalCell) bool { return proto.Equal(x, y) })
}

func render(t *testing.T, f hubv1.ExportFormat) (string, string, []byte) {
	t.Helper()
	ct, name, b, err := Render(testRun(), f, Options{Prepared: time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatalf("Render(%v): %v", f, err)
	}
	return ct, name, b
}

func TestCSV(t *testing.T) {
	t.Parallel()
	ct, name, b := render(t, hubv1.ExportFormat_EXPORT_FORMAT_CSV)
	if !strings.HasPrefix(ct, "text/csv") || name != "run-r-123.csv" {
		t.Errorf("content type %q, name %q", ct, name)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := []string{"period.month", "citizenship", "value", "status", "contributors", "suppressed_by", "missing", "period_from", "period_to", "run_id"}
	if !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("header = %v, want %v", rows[0], wantHeader)
	}
	var got []*hubv1.RegionalCell
	for _, r := range rows[1:] {
		c := &hubv1.RegionalCell{Key: r[:2], Status: statusOf(t, r[3]), Contributors: fields(r[4]), SuppressedBy: fields(r[5]), Missing: fields(r[6])}
		if r[2] != "" {
			c.Value, _ = strconv.ParseInt(r[2], 10, 64)
		}
		if r[7] != "2026-01-01" || r[8] != "2026-02-28" || r[9] != "r-123" {
			t.Errorf("row %v: period or run id wrong", r)
		}
		got = append(got, c)
	}
	if !equalCells(got, testRun().GetCells()) {
		t.Errorf("recovered %v\nwant %v", got, testRun().GetCells())
	}
}

func TestSDMXCSV(t *testing.T) {
	t.Parallel()
	ct, name, b := render(t, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV)
	if ct != "application/vnd.sdmx.data+csv; version=2.0.0" || name != "run-r-123.sdmx.csv" {
		t.Errorf("content type %q, name %q", ct, name)
	}
	if !bytes.Contains(b, []byte("\r\n")) {
		t.Error("want CRLF line ends (RFC 4180)")
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := []string{"STRUCTURE", "STRUCTURE_ID", "ACTION", "FREQ", "REF_AREA", "INDICATOR", "CITIZENSHIP", "TIME_PERIOD",
		"OBS_VALUE", "OBS_STATUS", "CONF_STATUS", "CELL_STATUS", "CONTRIBUTORS", "SUPPRESSED_BY", "MISSING"}
	if !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("header = %v, want %v", rows[0], wantHeader)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	wantStatus := map[queryv1.CellStatus][2]string{
		queryv1.CellStatus_CELL_STATUS_EXACT:                {"A", "F"},
		queryv1.CellStatus_CELL_STATUS_ROUNDED:              {"A", "F"},
		queryv1.CellStatus_CELL_STATUS_SUPPRESSED:           {"Q", "A"},
		queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY: {"Q", "S"},
	}
	var got []*hubv1.RegionalCell
	for _, r := range rows[1:] {
		if r[col["STRUCTURE"]] != "dataflow" || r[col["STRUCTURE_ID"]] != "BPCAU:DF_SOM(1.0.0)" || r[col["ACTION"]] != "I" {
			t.Errorf("row %v: structure columns wrong", r)
		}
		if r[col["FREQ"]] != "M" || r[col["REF_AREA"]] != "BALI_PROCESS" || r[col["INDICATOR"]] != "MIGRANTS" {
			t.Errorf("row %v: fixed dimensions wrong", r)
		}
		c := &hubv1.RegionalCell{
			Key:    []string{r[col["TIME_PERIOD"]], r[col["CITIZENSHIP"]]},
			Status: statusOf(t, r[col["CELL_STATUS"]]), Contributors: fields(r[col["CONTRIBUTORS"]]),
			SuppressedBy: fields(r[col["SUPPRESSED_BY"]]), Missing: fields(r[col["MISSING"]]),
		}
		if w := wantStatus[c.Status]; r[col["OBS_STATUS"]] != w[0] || r[col["CONF_STATUS"]] != w[1] {
			t.Errorf("row %v: OBS_STATUS/CONF_STATUS = %s/%s, want %s/%s", r, r[col["OBS_STATUS"]], r[col["CONF_STATUS"]], w[0], w[1])
		}
		if v := r[col["OBS_VALUE"]]; v != "" {
			c.Value, _ = strconv.ParseInt(v, 10, 64)
		} else if r[col["OBS_STATUS"]] != "Q" {
			t.Errorf("row %v: empty value not flagged Q", r)
		}
		got = append(got, c)
	}
	if !equalCells(got, testRun().GetCells()) {
		t.Errorf("recovered %v\nwant %v", got, testRun().GetCells())
	}
}

type sdmxJSON struct {
	Meta struct {
		ID       string `json:"id"`
		Prepared string `json:"prepared"`
		Sender   struct {
			ID string `json:"id"`
		} `json:"sender"`
	} `json:"meta"`
	Data struct {
		Structures []struct {
			Links []struct {
				URN string `json:"urn"`
			} `json:"links"`
			Dimensions struct {
				Observation []struct {
					ID          string `json:"id"`
					KeyPosition int    `json:"keyPosition"`
					Values      []struct {
						ID   string `json:"id"`
						Name string `json:"name"`
					} `json:"values"`
				} `json:"observation"`
			} `json:"dimensions"`
			Attributes struct {
				Observation []struct {
					ID     string `json:"id"`
					Values []struct {
						ID string `json:"id"`
					} `json:"values"`
				} `json:"observation"`
			} `json:"attributes"`
		} `json:"structures"`
		DataSets []struct {
			Observations map[string][]*json.Number `json:"observations"`
		} `json:"dataSets"`
	} `json:"data"`
}

func TestSDMXJSON(t *testing.T) {
	t.Parallel()
	ct, name, b := render(t, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON)
	if ct != "application/vnd.sdmx.data+json; version=2.0.0" || name != "run-r-123.sdmx.json" {
		t.Errorf("content type %q, name %q", ct, name)
	}
	var m sdmxJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if m.Meta.ID == "" || m.Meta.Prepared != "2026-03-01T06:00:00Z" || m.Meta.Sender.ID != "BPCAU" {
		t.Errorf("meta = %+v", m.Meta)
	}
	st := m.Data.Structures[0]
	if st.Links[0].URN != "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=BPCAU:DF_SOM(1.0.0)" {
		t.Errorf("urn = %q", st.Links[0].URN)
	}
	dims := map[string]int{}
	for i, d := range st.Dimensions.Observation {
		if d.KeyPosition != i {
			t.Errorf("dimension %s keyPosition %d, want %d", d.ID, d.KeyPosition, i)
		}
		dims[d.ID] = i
	}
	for _, id := range []string{"FREQ", "REF_AREA", "INDICATOR", "CITIZENSHIP", "TIME_PERIOD"} {
		if _, ok := dims[id]; !ok {
			t.Errorf("dimension %s missing", id)
		}
	}
	attrs := map[string]int{}
	for i, a := range st.Attributes.Observation {
		attrs[a.ID] = i
	}
	attr := func(ob []*json.Number, id string) string {
		i := attrs[id]
		n := ob[1+i]
		if n == nil {
			return ""
		}
		k, _ := n.Int64()
		return st.Attributes.Observation[i].Values[k].ID
	}
	var got []*hubv1.RegionalCell
	for key, ob := range m.Data.DataSets[0].Observations {
		idx := strings.Split(key, ":")
		if len(idx) != len(st.Dimensions.Observation) {
			t.Fatalf("key %q has %d parts", key, len(idx))
		}
		val := func(id string) string {
			k, _ := strconv.Atoi(idx[dims[id]])
			return st.Dimensions.Observation[dims[id]].Values[k].ID
		}
		c := &hubv1.RegionalCell{
			Key:    []string{val("TIME_PERIOD"), val("CITIZENSHIP")},
			Status: statusOf(t, attr(ob, "CELL_STATUS")), Contributors: fields(attr(ob, "CONTRIBUTORS")),
			SuppressedBy: fields(attr(ob, "SUPPRESSED_BY")), Missing: fields(attr(ob, "MISSING")),
		}
		if ob[0] != nil {
			c.Value, _ = ob[0].Int64()
		} else if attr(ob, "OBS_STATUS") != "Q" {
			t.Errorf("observation %q: null value not flagged Q", key)
		}
		conf := map[queryv1.CellStatus]string{
			queryv1.CellStatus_CELL_STATUS_EXACT: "F", queryv1.CellStatus_CELL_STATUS_ROUNDED: "F",
			queryv1.CellStatus_CELL_STATUS_SUPPRESSED: "A", queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY: "S",
		}[c.Status]
		if attr(ob, "CONF_STATUS") != conf {
			t.Errorf("observation %q: CONF_STATUS %q, want %q", key, attr(ob, "CONF_STATUS"), conf)
		}
		got = append(got, c)
	}
	slices.SortFunc(got, func(a, b *hubv1.RegionalCell) int { return slices.Compare(a.Key, b.Key) })
	if !equalCells(got, testRun().GetCells()) {
		t.Errorf("recovered %v\nwant %v", got, testRun().GetCells())
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	if _, _, _, err := Render(testRun(), hubv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("unspecified format: err = %v, want ErrFormat", err)
	}
	if _, _, _, err := Render(&hubv1.Run{Id: "x"}, hubv1.ExportFormat_EXPORT_FORMAT_CSV, Options{}); !errors.Is(err, ErrNotAggregate) {
		t.Errorf("run without a query: err = %v, want ErrNotAggregate", err)
	}
	if _, _, _, err := Render(&hubv1.Run{Id: "x", Extract: &queryv1.ExtractQuery{Extract: "sea"}}, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV, Options{}); !errors.Is(err, ErrNotAggregate) {
		t.Errorf("extract run as SDMX: err = %v, want ErrNotAggregate", err)
	}
}

func TestQueryPeriod(t *testing.T) {
	t.Parallel()
	tests := []struct{ from, to, freq, period string }{
		{"2025-01-01", "2025-12-31", "A", "2025"},
		{"2025-04-01", "2025-06-30", "Q", "2025-Q2"},
		{"2024-02-01", "2024-02-29", "M", "2024-02"},
		{"2025-11-01", "2026-10-31", "_O", "2025-11-01/P12M"},
		{"2026-01-01", "2026-03-14", "_O", "2026-01-01/P73D"},
	}
	for _, tt := range tests {
		freq, period := queryPeriod(tt.from, tt.to)
		if freq != tt.freq || period != tt.period {
			t.Errorf("queryPeriod(%s, %s) = %s %s, want %s %s", tt.from, tt.to, freq, period, tt.freq, tt.period)
		}
	}
}

func TestNoPeriodDimension(t *testing.T) {
	t.Parallel()
	run := testRun()
	run.Query.GroupBy = []string{"route.origin", "transport_mode"}
	run.Query.PeriodFrom, run.Query.PeriodTo = "2025-01-01", "2025-12-31"
	_, _, b, err := Render(run, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV, Options{RefArea: "142"})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(bytes.NewReader(b)).ReadAll()
	want := []string{"STRUCTURE", "STRUCTURE_ID", "ACTION", "FREQ", "REF_AREA", "INDICATOR", "ROUTE_ORIGIN", "TRANSPORT_MODE", "TIME_PERIOD"}
	if !slices.Equal(rows[0][:9], want) {
		t.Fatalf("header = %v", rows[0])
	}
	if r := rows[1]; r[3] != "A" || r[4] != "142" || r[8] != "2025" {
		t.Errorf("row = %v, want FREQ A, REF_AREA 142, TIME_PERIOD 2025", r)
	}
}

type getter map[string]*hubv1.Run

func (g getter) Get(_ context.Context, id string) (*hubv1.Run, error) {
	if r, ok := g[id]; ok {
		return r, nil
	}
	return nil, errors.New("not found")
}

func TestExporter(t *testing.T) {
	t.Parallel()
	e := Exporter{Runs: getter{"r-123": testRun()}}
	ct, name, b, err := e.Export(t.Context(), "r-123", hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON)
	if err != nil || ct != ContentTypeSDMXJSON || name != "run-r-123.sdmx.json" || len(b) == 0 {
		t.Errorf("Export = %q %q %d bytes, %v", ct, name, len(b), err)
	}
	if _, _, _, err := e.Export(t.Context(), "nope", hubv1.ExportFormat_EXPORT_FORMAT_CSV); err == nil {
		t.Error("unknown run exported")
	}
}
