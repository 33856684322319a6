package ui

import (
	"cmp"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/codes"
	"github.com/vrs-federation/vrs/internal/registry"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

// The JSON endpoints answer with the same messages as the hub API
// (ListNodesResponse, GetRegionalPictureResponse, ListRunsResponse,
// GetRunResponse) in protojson, so a script written against one works
// against the other.
var jsonOpts = protojson.MarshalOptions{}

const (
	defaultPageSize = 20
	maxPageSize     = 500
)

// runID bounds what reaches the run store from a URL.
var runID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// exportFormats maps the ?format= values to the API's formats.
var exportFormats = map[string]hubv1.ExportFormat{
	"csv":       hubv1.ExportFormat_EXPORT_FORMAT_CSV,
	"sdmx-csv":  hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV,
	"sdmx-json": hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON,
}

func (s *server) nodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.listNodes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeProto(w, &hubv1.ListNodesResponse{Nodes: nodes})
}

// listNodes returns the nodes by country code, each with its English name.
func (s *server) listNodes(r *http.Request) ([]*hubv1.Node, error) {
	nodes, err := s.cfg.Nodes.ListNodes(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]*hubv1.Node, 0, len(nodes))
	for _, n := range nodes {
		if n == nil {
			continue
		}
		if n.GetName() == "" {
			if name, ok := codes.CountryName(n.GetCountry()); ok {
				n = proto.CloneOf(n)
				n.Name = name
			}
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *hubv1.Node) int { return cmp.Compare(a.GetCountry(), b.GetCountry()) })
	return out, nil
}

func (s *server) picture(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Picture.RegionalPicture(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeProto(w, &hubv1.GetRegionalPictureResponse{Picture: p})
}

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) {
	size := defaultPageSize
	if v := r.URL.Query().Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "page_size must be a positive integer")
			return
		}
		size = min(n, maxPageSize)
	}
	runs, next, err := s.cfg.Runs.List(r.Context(), size, r.URL.Query().Get("page_token"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeProto(w, &hubv1.ListRunsResponse{Runs: runs, NextPageToken: next})
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !runID.MatchString(id) {
		writeError(w, http.StatusNotFound, "run not found")
		return
	}
	run, err := s.cfg.Runs.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeProto(w, &hubv1.GetRunResponse{Run: run})
}

func (s *server) export(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !runID.MatchString(id) {
		writeError(w, http.StatusNotFound, "run not found")
		return
	}
	name := r.URL.Query().Get("format")
	format, ok := exportFormats[name]
	if !ok {
		writeError(w, http.StatusBadRequest, "format must be csv, sdmx-csv or sdmx-json")
		return
	}
	ctype, filename, content, err := s.cfg.Export.Export(r.Context(), id, format)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	filename = safeFilename(filename)
	if filename == "" {
		filename = safeFilename("run-" + id + "." + map[string]string{"csv": "csv", "sdmx-csv": "csv", "sdmx-json": "json"}[name])
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	// An attachment with the export's own content type and nosniff: the
	// browser saves it, it does not render it.
	_, _ = w.Write(content) //nolint:gosec // G705: a download, not a page
}

// safeFilename keeps the characters every file system and browser accepts,
// so a file name can never carry a path or a header break.
func safeFilename(name string) string {
	var b strings.Builder
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return strings.TrimLeft(b.String(), ".")
}

// labelSet is what the script needs to print codes as words.
type labelSet struct {
	Countries  map[string]string `json:"countries"`
	ICCS       map[string]string `json:"iccs"`
	Measures   map[string]string `json:"measures"`
	Dimensions map[string]string `json:"dimensions"`
}

// labels serves the code lists once, so the script can name a citizenship,
// an offence or a dimension without a copy of the tables.
func (s *server) labels(w http.ResponseWriter, _ *http.Request) {
	l := labelSet{
		Countries:  map[string]string{},
		ICCS:       map[string]string{},
		Measures:   map[string]string{},
		Dimensions: map[string]string{},
	}
	for _, c := range codes.Countries() {
		l.Countries[c.Alpha3] = c.Name
	}
	for _, x := range []string{"XXA", "XXB", "XXC", "XXX"} {
		if n, ok := codes.CitizenshipName(x); ok {
			l.Countries[x] = n
		}
	}
	for _, c := range codes.ICCSCodes() {
		l.ICCS[c.Code] = c.Name
	}
	for _, m := range registry.Measures() {
		l.Measures[m.ID] = m.Title
	}
	for _, d := range registry.Dimensions() {
		l.Dimensions[d.ID] = d.Title
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(l)
}

func (s *server) writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		s.log.Error("encode response", "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// fail answers an error from a dependency. Only not-found and invalid
// requests say what went wrong; anything else is logged and answered with a
// generic message, so internal details never reach the page.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case s.notFound(err):
		writeError(w, http.StatusNotFound, "run not found")
	case r.Context().Err() != nil:
		// The browser went away; nothing to answer.
	case connect.CodeOf(err) == connect.CodeInvalidArgument || connect.CodeOf(err) == connect.CodeFailedPrecondition:
		writeError(w, http.StatusBadRequest, "request not possible for this run")
	default:
		s.log.Error("request failed", "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func (s *server) notFound(err error) bool {
	return errors.Is(err, ErrNotFound) || connect.CodeOf(err) == connect.CodeNotFound ||
		(s.cfg.NotFound != nil && s.cfg.NotFound(err))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
