package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// extractRun is a settled extract run: THA answered two rows, IDN answered
// one row of an extract with other fields, MYS refused, PNG answered with
// every row withheld.
func extractRun() *hubv1.Run {
	row := func(cc, p string, vs ...string) *hubv1.RegionalRow {
		return &hubv1.RegionalRow{Country: cc, Row: &queryv1.ExtractRow{Pseudonym: p, Values: vs}}
	}
	return &hubv1.Run{
		Id:      "r-x1",
		State:   hubv1.RunState_RUN_STATE_COMPLETE,
		Extract: &queryv1.ExtractQuery{Extract: "sea-routes", PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"},
		States: []*hubv1.StateResult{
			{Country: "IDN", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED, AgreementHash: "h-idn"},
			{Country: "MYS", Status: hubv1.StateStatus_STATE_STATUS_REFUSED, Reason: `extract "sea-routes" is not offered by MYS`,
				RefusalCode: queryv1.RefusalCode_REFUSAL_CODE_EXTRACT_NOT_SHARED},
			{Country: "PNG", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED, WithheldRows: 2, AgreementHash: "h-png"},
			{Country: "THA", Status: hubv1.StateStatus_STATE_STATUS_ANSWERED, WithheldRows: 1, AgreementHash: "h-tha"},
		},
		Rows: []*hubv1.RegionalRow{
			row("THA", "aa01", "2025-03", "LKA", "10-49"),
			row("IDN", "bb02", "2025-Q2", "none"),
			row("THA", "aa02", "2025-03", "LKA", "2-4"),
		},
	}
}

func extractNodes() NodeColumns {
	grant := func(name string, fields ...string) *queryv1.AgreementSummary {
		return &queryv1.AgreementSummary{Extracts: []*queryv1.ExtractGrant{{Name: "other", Fields: []string{"iccs=as_is"}}, {Name: name, Fields: fields}}}
	}
	return NodeColumns{
		{Country: "IDN", AgreementHash: "h-idn", Agreement: grant("sea-routes", "period=quarter", "route.transit=country")},
		{Country: "THA", AgreementHash: "h-tha", Agreement: grant("sea-routes", "period=month", "route.origin=country", "migrants=band")},
	}
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, b)
	}
	return recs
}

func TestExtractCSV(t *testing.T) {
	tail := func(status, rows, withheld, reason string) []string {
		return []string{status, rows, withheld, reason, "2025-01-01", "2025-12-31", "r-x1"}
	}
	line := func(head []string, t []string) []string { return append(head, t...) }
	refused := tail("REFUSED", "0", "0", `extract "sea-routes" is not offered by MYS`)
	tests := []struct {
		name string
		cols ColumnSource
		want [][]string
	}{
		{
			name: "columns known: union in order of first appearance",
			cols: extractNodes(),
			want: [][]string{
				line([]string{"country", "pseudonym", "period", "route.transit", "route.origin", "migrants"}, extractCoverage),
				line([]string{"IDN", "bb02", "2025-Q2", "none", "", ""}, tail("ANSWERED", "1", "0", "")),
				line([]string{"MYS", "", "", "", "", ""}, refused),
				line([]string{"PNG", "", "", "", "", ""}, tail("ANSWERED", "0", "2", "")),
				line([]string{"THA", "aa01", "2025-03", "", "LKA", "10-49"}, tail("ANSWERED", "2", "1", "")),
				line([]string{"THA", "aa02", "2025-03", "", "LKA", "2-4"}, tail("ANSWERED", "2", "1", "")),
			},
		},
		{
			name: "columns unknown: positional names",
			want: [][]string{
				line([]string{"country", "pseudonym", "value_1", "value_2", "value_3"}, extractCoverage),
				line([]string{"IDN", "bb02", "2025-Q2", "none", ""}, tail("ANSWERED", "1", "0", "")),
				line([]string{"MYS", "", "", "", ""}, refused),
				line([]string{"PNG", "", "", "", ""}, tail("ANSWERED", "0", "2", "")),
				line([]string{"THA", "aa01", "2025-03", "LKA", "10-49"}, tail("ANSWERED", "2", "1", "")),
				line([]string{"THA", "aa02", "2025-03", "LKA", "2-4"}, tail("ANSWERED", "2", "1", "")),
			},
		},
		{
			name: "agreement changed since the run: that state positional",
			cols: NodeColumns{extractNodes()[0], {Country: "THA", AgreementHash: "h-new", Agreement: extractNodes()[1].GetAgreement()}},
			want: [][]string{
				line([]string{"country", "pseudonym", "period", "route.transit", "value_1", "value_2", "value_3"}, extractCoverage),
				line([]string{"IDN", "bb02", "2025-Q2", "none", "", "", ""}, tail("ANSWERED", "1", "0", "")),
				line([]string{"MYS", "", "", "", "", "", ""}, refused),
				line([]string{"PNG", "", "", "", "", "", ""}, tail("ANSWERED", "0", "2", "")),
				line([]string{"THA", "aa01", "", "", "2025-03", "LKA", "10-49"}, tail("ANSWERED", "2", "1", "")),
				line([]string{"THA", "aa02", "", "", "2025-03", "LKA", "2-4"}, tail("ANSWERED", "2", "1", "")),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, name, b, err := Render(extractRun(), hubv1.ExportFormat_EXPORT_FORMAT_CSV, Options{Columns: tt.cols})
			if err != nil {
				t.Fatal(err)
			}
			if ct != ContentTypeCSV || name != "run-r-x1.csv" {
				t.Errorf("content type %q, name %q", ct, name)
			}
			got := readCSV(t, b)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(got), len(tt.want), b)
			}
			for i := range got {
				if !slices.Equal(got[i], tt.want[i]) {
					t.Errorf("line %d:\n got %q\nwant %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestExtractSDMXRefused(t *testing.T) {
	for _, f := range []hubv1.ExportFormat{hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON} {
		t.Run(f.String(), func(t *testing.T) {
			_, _, b, err := Render(extractRun(), f, Options{})
			if !errors.Is(err, ErrNotAggregate) {
				t.Fatalf("err = %v, want ErrNotAggregate", err)
			}
			if !strings.Contains(err.Error(), "redacted extract") || !strings.Contains(err.Error(), "CSV") {
				t.Errorf("error does not say why or what to do: %v", err)
			}
			if b != nil {
				t.Errorf("content %q", b)
			}
		})
	}
	if _, _, _, err := Render(extractRun(), hubv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("unset format: err = %v, want ErrFormat", err)
	}
}

type fixedNodes []*hubv1.Node

func (f fixedNodes) List() []*hubv1.Node { return f }

func TestRegistryColumns(t *testing.T) {
	r := RegistryColumns{Nodes: fixedNodes(extractNodes())}
	tests := []struct {
		country, hash, extract string
		want                   []string
	}{
		{"THA", "h-tha", "sea-routes", []string{"period", "route.origin", "migrants"}},
		{"THA", "h-tha", "other", []string{"iccs"}},
		{"THA", "h-tha", "air-routes", nil},
		{"THA", "h-old", "sea-routes", nil},
		{"THA", "", "sea-routes", nil},
		{"MYS", "h-mys", "sea-routes", nil},
	}
	for _, tt := range tests {
		if got := r.ExtractColumns(tt.country, tt.hash, tt.extract); !slices.Equal(got, tt.want) {
			t.Errorf("ExtractColumns(%s, %s, %s) = %q, want %q", tt.country, tt.hash, tt.extract, got, tt.want)
		}
	}
	if got := (RegistryColumns{}).ExtractColumns("THA", "h-tha", "sea-routes"); got != nil {
		t.Errorf("no registry: %q", got)
	}
}

type oneRun struct{ run *hubv1.Run }

func (o oneRun) Get(context.Context, string) (*hubv1.Run, error) { return o.run, nil }

func TestExporterErrorCodes(t *testing.T) {
	e := Exporter{Runs: oneRun{extractRun()}}
	tests := []struct {
		format hubv1.ExportFormat
		code   connect.Code
		is     error
	}{
		{hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON, connect.CodeFailedPrecondition, ErrNotAggregate},
		{hubv1.ExportFormat_EXPORT_FORMAT_UNSPECIFIED, connect.CodeInvalidArgument, ErrFormat},
	}
	for _, tt := range tests {
		_, _, _, err := e.Export(t.Context(), "r-x1", tt.format)
		if connect.CodeOf(err) != tt.code || !errors.Is(err, tt.is) {
			t.Errorf("%v: err = %v, want %v wrapping %v", tt.format, err, tt.code, tt.is)
		}
	}
	if _, _, b, err := e.Export(t.Context(), "r-x1", hubv1.ExportFormat_EXPORT_FORMAT_CSV); err != nil || len(b) == 0 {
		t.Errorf("csv: %v", err)
	}
}
