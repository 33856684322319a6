// Package importer reads incident files an agency prepares — JSON Lines of
// protojson Incident, CSV, or Excel workbooks made from the template — into
// validated incidents, and hands them to a Sink: the record store directly
// (StoreSink: offline, node stopped, the file atomic) or a running node's
// API (APISink: in batches, each atomic).
//
// A file with any invalid line is not written at all: Read reports every
// invalid line with its line number and field path ("incidents.jsonl:17:
// migrants[2].age: 130 is not between 0 and 120"), and Import writes only
// files without problems. Importing the same file again changes nothing. The tabular layout is
// documented in docs/import.md and in the template's README sheet.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/store"
	"github.com/vrs-federation/vrs/node/validate"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// Pos is where something is in an import file.
type Pos struct {
	// File is the file's name as given.
	File string
	// Sheet is the workbook sheet, for .xlsx files.
	Sheet string
	// Line is the 1-based line (row, for a sheet); 0 for the whole file.
	Line int
}

// String renders "file:line", or "file:sheet:row" for a workbook.
func (p Pos) String() string {
	s := p.File
	if p.Sheet != "" {
		s += ":" + p.Sheet
	}
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
	}
	return s
}

// Problem is one reason a file cannot be imported.
type Problem struct {
	// Pos is the line or row.
	Pos Pos
	// Path is the field path, e.g. "migrants[2].age"; empty for the line as
	// a whole.
	Path string
	// Rule is what is wrong.
	Rule string
}

// Error renders "file:17: migrants[2].age: 130 is not between 0 and 120".
func (p Problem) Error() string {
	if p.Path == "" {
		return p.Pos.String() + ": " + p.Rule
	}
	return p.Pos.String() + ": " + p.Path + ": " + p.Rule
}

// Record is one incident read from a file, with where its parts came from.
type Record struct {
	// Incident is the parsed incident.
	Incident *recordv1.Incident
	// Pos is the incident's line or row.
	Pos Pos
	// Parts maps element paths such as "migrants[2]" or "documents[0]" to
	// the row they came from, for tabular files whose persons and
	// documents are on other sheets.
	Parts map[string]Pos
}

// posOf is the position of the part of the record a field path lies in.
func (r *Record) posOf(path string) Pos {
	if i := strings.IndexByte(path, ']'); i > 0 && r.Parts != nil {
		if p, ok := r.Parts[path[:i+1]]; ok {
			return p
		}
	}
	return r.Pos
}

// File is an import file read and validated.
type File struct {
	// Path is the file as given.
	Path string
	// Records are its incidents in file order.
	Records []Record
	// Problems lists every problem found; a file with problems must not be
	// written.
	Problems []Problem
}

// Incidents returns the file's incidents in file order.
func (f *File) Incidents() []*recordv1.Incident {
	out := make([]*recordv1.Incident, len(f.Records))
	for i := range f.Records {
		out[i] = f.Records[i].Incident
	}
	return out
}

// Batches yields the file's incidents in batches of at most n
// (APIBatchSize when n <= 0), for a sink that writes through the node's
// API.
func (f *File) Batches(n int) iter.Seq[[]*recordv1.Incident] {
	if n <= 0 {
		n = APIBatchSize
	}
	incs := f.Incidents()
	return func(yield func([]*recordv1.Incident) bool) {
		for lo := 0; lo < len(incs); lo += n {
			if !yield(incs[lo:min(lo+n, len(incs))]) {
				return
			}
		}
	}
}

// ProblemsFrom turns field errors about the incidents from index offset on
// (a sink's *store.ValidationError for one batch, say) into problems at
// their lines.
func (f *File) ProblemsFrom(errs []validate.FieldError, offset int) []Problem {
	out := make([]Problem, 0, len(errs))
	for _, e := range errs {
		i := e.Index + offset
		if e.Index < 0 || i >= len(f.Records) {
			out = append(out, Problem{Pos: Pos{File: f.Path}, Path: e.Path, Rule: e.Rule})
			continue
		}
		r := &f.Records[i]
		out = append(out, Problem{Pos: r.posOf(e.Path), Path: e.Path, Rule: e.Rule})
	}
	return out
}

// Options configures reading.
type Options struct {
	// Now is the validation clock; default time.Now.
	Now func() time.Time
	// Progress, when set, receives a progress line for large files (a
	// terminal: the lines overwrite each other).
	Progress io.Writer
}

// ErrFormat is returned for a file that cannot be read at all: an unknown
// extension, a missing sheet, an unreadable header.
var ErrFormat = errors.New("unsupported file")

// Read reads and validates one file, chosen by extension: .jsonl (or
// .ndjson), .csv (with its .persons.csv and .documents.csv companions) or
// .xlsx. Problems with lines are in File.Problems; the error is for a file
// that could not be read.
func Read(ctx context.Context, path string, o Options) (*File, error) {
	var (
		f   *File
		err error
	)
	prog := newProgress(o.Progress, filepath.Base(path))
	defer prog.done()
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".jsonl", ".ndjson":
		f, err = readJSONL(ctx, path, o, prog)
	case ".csv":
		f, err = readCSV(ctx, path, o, prog)
	case ".xlsx":
		f, err = readXLSX(ctx, path, o, prog)
	default:
		return nil, fmt.Errorf("%s: %w: want .jsonl, .csv or .xlsx", path, ErrFormat)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// checkDuplicates adds a problem for every national_ref seen before in the
// file.
func checkDuplicates(f *File) {
	first := make(map[string]Pos, len(f.Records))
	for i := range f.Records {
		r := &f.Records[i]
		ref := r.Incident.GetNationalRef()
		if ref == "" {
			continue
		}
		if p, ok := first[ref]; ok {
			f.Problems = append(f.Problems, Problem{Pos: r.Pos, Path: "national_ref", Rule: "duplicate of " + p.String()})
			continue
		}
		first[ref] = r.Pos
	}
}

// Sink writes one file's validated incidents.
type Sink interface {
	// Write stores the incidents of one file. A *store.ValidationError
	// names incidents by their index in incs.
	Write(ctx context.Context, incs []*recordv1.Incident) (store.UpsertResult, error)
}

// StoreSink writes to an open record store with Store.BulkLoad: the whole
// file in one atomic load. APISink is the other Sink, through a running
// node's API.
type StoreSink struct{ Store *store.Store }

// Write bulk-loads incs.
func (s StoreSink) Write(ctx context.Context, incs []*recordv1.Incident) (store.UpsertResult, error) {
	return s.Store.BulkLoad(ctx, incs)
}

// Config configures an Importer.
type Config struct {
	// Sink receives valid files; nil only for a dry run.
	Sink Sink
	// Logger defaults to a discarding logger. Problems are returned, never
	// logged: they may quote a clerk's data.
	Logger hclog.Logger
	// Progress, when set, receives progress lines (a terminal only).
	Progress io.Writer
	// Now is the validation clock; default time.Now.
	Now func() time.Time
	// DryRun reads and validates without writing.
	DryRun bool
}

// Importer reads files and writes the valid ones to its sink.
type Importer struct {
	c   Config
	log hclog.Logger
}

// New returns an Importer.
func New(c Config) *Importer {
	log := c.Logger
	if log == nil {
		log = logging.Discard()
	}
	return &Importer{c: c, log: log}
}

// Result is what importing one file did.
type Result struct {
	// Path is the file.
	Path string
	// Incidents is how many incidents the file holds.
	Incidents int
	// Written counts created, updated and unchanged incidents (zero for a
	// dry run or a rejected file; for an online import that stopped, what
	// the acknowledged batches did).
	Written store.UpsertResult
	// Acknowledged is, for an online import (APISink) that stopped
	// half-way, how many of the file's first incidents the node stored;
	// 0 otherwise.
	Acknowledged int
	// Problems lists every problem; when there are any, nothing was
	// written, except the Acknowledged incidents of an online import.
	Problems []Problem
}

// ErrInvalidFile is returned by Import when a file has problems; nothing of
// it was written (online, nothing after Result.Acknowledged).
var ErrInvalidFile = errors.New("file has problems; nothing imported")

// Import reads, validates and (unless a dry run) writes one file. It returns
// ErrInvalidFile with the problems in the Result when any line is invalid.
func (im *Importer) Import(ctx context.Context, path string) (Result, error) {
	start := time.Now()
	f, err := Read(ctx, path, Options{Now: im.c.Now, Progress: im.c.Progress})
	if err != nil {
		return Result{Path: path}, err
	}
	res := Result{Path: path, Incidents: len(f.Records), Problems: f.Problems}
	if len(f.Problems) > 0 {
		return res, fmt.Errorf("%s: %d problem(s): %w", path, len(f.Problems), ErrInvalidFile)
	}
	if im.c.DryRun || len(f.Records) == 0 {
		return res, nil
	}
	if im.c.Sink == nil {
		return res, errors.New("import: no sink")
	}
	w, err := im.c.Sink.Write(ctx, f.Incidents())
	var pe *PartialError
	if errors.As(err, &pe) {
		res.Written, res.Acknowledged = pe.Written, pe.Acknowledged
	}
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		// The sink's rules differ from ours (a newer node): still report lines.
		res.Problems = f.ProblemsFrom(ve.Errors, 0)
		return res, fmt.Errorf("%s: %d problem(s): %w", path, len(res.Problems), ErrInvalidFile)
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	res.Written = w
	im.log.Debug("imported", "file", filepath.Base(path), "incidents", len(f.Records),
		"created", w.Created, "updated", w.Updated, "unchanged", w.Unchanged, "took", time.Since(start).Round(time.Millisecond).String())
	return res, nil
}

// validateRecords validates every record, skipping paths that already have
// a parse problem (a value that did not parse was left empty and would only
// be reported twice).
func validateRecords(f *File, now func() time.Time, parsed map[int]map[string]bool) {
	v := validate.Validator{Now: now}
	for i := range f.Records {
		r := &f.Records[i]
		for _, e := range v.Incident(r.Incident) {
			if parsed[i][e.Path] {
				continue
			}
			f.Problems = append(f.Problems, Problem{Pos: r.posOf(e.Path), Path: e.Path, Rule: e.Rule})
		}
	}
	checkDuplicates(f)
}
