// Package export renders a run's merged regional table as a file people and
// statistical systems read: tidy CSV, SDMX-CSV 2.0 or SDMX-JSON 2.0. Every
// observation carries its disclosure status (SDMX OBS_STATUS and
// CONF_STATUS) and its coverage (which states contributed, suppressed or
// were missing). The column and code choices are documented in
// docs/exports.md.
package export

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Media types of the formats.
const (
	ContentTypeCSV      = "text/csv; charset=utf-8; header=present"
	ContentTypeSDMXCSV  = "application/vnd.sdmx.data+csv; version=2.0.0"
	ContentTypeSDMXJSON = "application/vnd.sdmx.data+json; version=2.0.0"
)

// Errors Render returns, for the API to map to its codes.
var (
	// ErrFormat is returned for an unknown or unset format.
	ErrFormat = errors.New("unknown export format")
	// ErrNotAggregate is returned for a run without an aggregate query
	// (a redacted-extract run has rows, not cells), and for an SDMX
	// format asked of an extract run: SDMX describes aggregate
	// observations, and record-level rows have no dataflow to fit.
	ErrNotAggregate = errors.New("run has no aggregate table")
)

// Options are the SDMX identifiers of the exports. The zero value gives the
// CAU defaults.
type Options struct {
	// Agency is the maintenance agency of the dataflow; default "BPCAU".
	Agency string
	// Dataflow is the dataflow id; default "DF_SOM" (smuggling of migrants).
	Dataflow string
	// Version is the dataflow version; default "1.0.0".
	Version string
	// RefArea is the REF_AREA code of the regional figures; default
	// "BALI_PROCESS". Use an M49 code (e.g. "142" Asia) to match another
	// code list.
	RefArea string
	// Sender is the SDMX-JSON meta.sender id; default Agency.
	Sender string
	// Prepared is the SDMX-JSON meta.prepared time; default the run's
	// completion time, else now.
	Prepared time.Time
	// Columns names the columns of extract runs' rows (RegistryColumns in
	// the hub); nil names them value_1, value_2, ...
	Columns ColumnSource
}

func (o Options) withDefaults(run *hubv1.Run) Options {
	if o.Agency == "" {
		o.Agency = "BPCAU"
	}
	if o.Dataflow == "" {
		o.Dataflow = "DF_SOM"
	}
	if o.Version == "" {
		o.Version = "1.0.0"
	}
	if o.RefArea == "" {
		o.RefArea = "BALI_PROCESS"
	}
	if o.Sender == "" {
		o.Sender = o.Agency
	}
	if o.Prepared.IsZero() {
		if run.GetCompletedAt() != nil {
			o.Prepared = run.GetCompletedAt().AsTime()
		} else {
			o.Prepared = time.Now()
		}
	}
	return o
}

// structureID is AGENCY:ID(VERSION), as SDMX-CSV's STRUCTURE_ID.
func (o Options) structureID() string {
	return fmt.Sprintf("%s:%s(%s)", o.Agency, o.Dataflow, o.Version)
}

// URN is the dataflow's SDMX URN.
func (o Options) URN() string {
	return "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=" + o.structureID()
}

// Render renders the run's merged table in the format and returns its media
// type, a suggested file name and the bytes.
func Render(run *hubv1.Run, format hubv1.ExportFormat, opts Options) (contentType, filename string, content []byte, err error) {
	base := "run-" + safeName(run.GetId())
	if run.GetExtract() != nil {
		return renderExtract(run, format, base, opts)
	}
	if run.GetQuery() == nil {
		return "", "", nil, ErrNotAggregate
	}
	opts = opts.withDefaults(run)
	switch format {
	case hubv1.ExportFormat_EXPORT_FORMAT_CSV:
		content, err = renderCSV(run)
		return ContentTypeCSV, base + ".csv", content, err
	case hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV:
		content, err = renderSDMXCSV(run, opts)
		return ContentTypeSDMXCSV, base + ".sdmx.csv", content, err
	case hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON:
		content, err = renderSDMXJSON(run, opts)
		return ContentTypeSDMXJSON, base + ".sdmx.json", content, err
	default:
		return "", "", nil, fmt.Errorf("%w: %v", ErrFormat, format)
	}
}

// renderExtract renders an extract run: tidy CSV only.
func renderExtract(run *hubv1.Run, format hubv1.ExportFormat, base string, opts Options) (contentType, filename string, content []byte, err error) {
	switch format {
	case hubv1.ExportFormat_EXPORT_FORMAT_CSV:
		content, err = renderExtractCSV(run, opts.Columns)
		return ContentTypeCSV, base + ".csv", content, err
	case hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON:
		return "", "", nil, fmt.Errorf("%w: run %s is a redacted extract (record-level rows); SDMX carries aggregate observations only, export it as CSV", ErrNotAggregate, run.GetId())
	default:
		return "", "", nil, fmt.Errorf("%w: %v", ErrFormat, format)
	}
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	s = unsafe.ReplaceAllString(s, "_")
	if s == "" {
		return "unknown"
	}
	return s
}

// statusName is the tidy CSV spelling of a cell status.
func statusName(s queryv1.CellStatus) string {
	return strings.TrimPrefix(s.String(), "CELL_STATUS_")
}

// withheld reports whether a cell's value is not published.
func withheld(s queryv1.CellStatus) bool {
	return s == queryv1.CellStatus_CELL_STATUS_SUPPRESSED || s == queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
}

// obsStatus maps a cell status to SDMX CL_OBS_STATUS: A normal, Q missing
// value because suppressed.
func obsStatus(s queryv1.CellStatus) string {
	if withheld(s) {
		return "Q"
	}
	return "A"
}

// confStatus maps a cell status to SDMX CL_CONF_STATUS: F free, A primary
// confidentiality (every answering state suppressed the cell), S secondary
// confidentiality set by the receiver (the hub).
func confStatus(s queryv1.CellStatus) string {
	switch s {
	case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
		return "A"
	case queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
		return "S"
	default:
		return "F"
	}
}

// list joins country codes for one field: space-separated, because ';' is
// SDMX-CSV 2.0's sub-field separator and ',' its column separator.
func list(cs []string) string { return strings.Join(cs, " ") }

// RunGetter reads a run by id (the run manager's Get).
type RunGetter interface {
	Get(ctx context.Context, id string) (*hubv1.Run, error)
}

// Exporter renders stored runs; it is what the web UI's export links use.
// It applies no reciprocity: callers that need it (the hub API) check first.
type Exporter struct {
	// Runs reads the runs.
	Runs RunGetter
	// Options sets the SDMX identifiers.
	Options Options
}

// Export loads the run and renders it. A format the run cannot have (SDMX
// of an extract run) or an unknown format comes back as a connect
// FailedPrecondition or InvalidArgument error that still wraps ErrNotAggregate
// or ErrFormat, so the web UI answers 400 rather than an internal error.
func (e Exporter) Export(ctx context.Context, runID string, format hubv1.ExportFormat) (contentType, filename string, content []byte, err error) {
	run, err := e.Runs.Get(ctx, runID)
	if err != nil {
		return "", "", nil, err
	}
	contentType, filename, content, err = Render(run, format, e.Options)
	switch {
	case errors.Is(err, ErrNotAggregate):
		err = connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, ErrFormat):
		err = connect.NewError(connect.CodeInvalidArgument, err)
	}
	return contentType, filename, content, err
}
