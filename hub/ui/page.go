package ui

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/codes"
	"github.com/vrs-federation/vrs/internal/registry"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// pageTimeout bounds the server-side render: a slow store must not hold a
// browser tab forever.
const pageTimeout = 10 * time.Second

// runsOnPage is how many recent runs the page shows.
const runsOnPage = 10

type pageData struct {
	Now                string
	PollSeconds        int
	CertWarningSeconds int64
	Nodes              []nodeRow
	NodesErr           bool
	PictureName        string
	PictureVersion     int32
	Figures            []figureView
	PictureErr         bool
	Runs               []runRow
	RunsErr            bool
}

type nodeRow struct {
	Country, Name         string
	Connected             bool
	LastSeen, LastSeenISO string
	Version               string
	Agreement             string
	AgreementHash         string
	CertExpiry, CertISO   string
	CertState             string // ok, warn, expired, unknown
	CertNote              string
}

type figureView struct {
	ID, Title   string
	Kind        string
	Measure     string
	GroupBy     []string
	Period      string
	RunID       string
	Completed   string
	Status      string
	NoRun       bool
	Rows        []cellRow
	Coverage    []coveragePart
	Rounded     bool
	Suppressed  bool
	ExportLinks []exportLink
}

type cellRow struct {
	Keys   []string
	Value  string
	Status string // exact, rounded, suppressed, secondary
}

type coveragePart struct {
	Label string
	Items []codeItem
}

type codeItem struct {
	Code, Name, Note string
}

type exportLink struct {
	Label, Href, Format string
}

type runRow struct {
	ID, Query, State  string
	Complete          bool
	Settled, Total    int
	Created, Deadline string
	States            []runStateItem
	Exports           []exportLink
}

type runStateItem struct {
	Country, Name, Status, Class, Reason string
}

var templateFuncs = template.FuncMap{
	"join": strings.Join,
}

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	now := s.now()
	d := pageData{
		Now:                now.UTC().Format("2006-01-02 15:04 UTC"),
		PollSeconds:        max(1, int(s.cfg.PollInterval/time.Second)),
		CertWarningSeconds: int64(s.cfg.CertWarning / time.Second),
	}
	r = r.WithContext(ctx)
	// Each part fails on its own: a broken run store must not hide the
	// node table.
	if nodes, err := s.listNodes(r); err != nil {
		s.log.Error("list nodes", "error", err)
		d.NodesErr = true
	} else {
		for _, n := range nodes {
			d.Nodes = append(d.Nodes, s.nodeView(n, now))
		}
	}
	if p, err := s.cfg.Picture.RegionalPicture(ctx); err != nil {
		s.log.Error("regional picture", "error", err)
		d.PictureErr = true
	} else if p != nil {
		d.PictureName, d.PictureVersion = p.GetName(), p.GetVersion()
		for _, f := range p.GetFigures() {
			d.Figures = append(d.Figures, figureViewOf(f))
		}
	}
	if runs, _, err := s.cfg.Runs.List(ctx, runsOnPage, ""); err != nil {
		s.log.Error("list runs", "error", err)
		d.RunsErr = true
	} else {
		for _, run := range runs {
			d.Runs = append(d.Runs, runViewOf(run))
		}
	}
	var buf bytes.Buffer
	if err := s.page.Execute(&buf, d); err != nil {
		s.log.Error("render page", "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

func (s *server) nodeView(n *hubv1.Node, now time.Time) nodeRow {
	v := nodeRow{
		Country:   n.GetCountry(),
		Name:      n.GetName(),
		Connected: n.GetConnected(),
		Version:   n.GetSoftwareVersion(),
		CertState: "unknown",
		CertNote:  "not known",
	}
	if v.Name == "" {
		v.Name = v.Country
	}
	if v.Version == "" {
		v.Version = "—"
	}
	v.LastSeen, v.LastSeenISO = "never", ""
	if t := n.GetLastSeen(); t != nil {
		v.LastSeen, v.LastSeenISO = ago(now, t.AsTime()), t.AsTime().UTC().Format(time.RFC3339)
	}
	hash := n.GetAgreementHash()
	if a := n.GetAgreement(); a != nil {
		v.Agreement = fmt.Sprintf("%s v%d", a.GetName(), a.GetVersion())
		if hash == "" {
			hash = a.GetHash()
		}
	}
	if len(hash) > 12 {
		v.AgreementHash = hash[:12]
	} else {
		v.AgreementHash = hash
	}
	if v.Agreement == "" && hash == "" {
		v.Agreement = "none published"
	}
	if t := n.GetCertificateNotAfter(); t != nil {
		exp := t.AsTime()
		v.CertExpiry, v.CertISO = exp.UTC().Format("2006-01-02"), exp.UTC().Format(time.RFC3339)
		left := exp.Sub(now)
		switch {
		case left <= 0:
			v.CertState, v.CertNote = "expired", "expired"
		case left <= s.cfg.CertWarning:
			v.CertState, v.CertNote = "warn", "expires in "+days(left)
		default:
			v.CertState, v.CertNote = "ok", "valid for "+days(left)
		}
	}
	return v
}

// kindOf picks the chart for a figure from its query's group_by, the same
// rule the script applies.
func kindOf(groupBy []string) string {
	switch {
	case len(groupBy) == 0:
		return "total"
	case len(groupBy) == 1 && strings.HasPrefix(groupBy[0], "period."):
		return "line"
	case len(groupBy) == 1 && groupBy[0] == "transport_mode":
		return "donut"
	case len(groupBy) == 2 && groupBy[0] == "route.origin" && groupBy[1] == "route.destination":
		return "flow"
	default:
		return "bars"
	}
}

func figureViewOf(f *hubv1.Figure) figureView {
	q := f.GetQuery()
	v := figureView{
		ID:      f.GetId(),
		Title:   f.GetTitle(),
		Kind:    kindOf(q.GetGroupBy()),
		Measure: measureTitle(q.GetMeasure()),
		Period:  periodOf(q),
		RunID:   f.GetRunId(),
	}
	for _, g := range q.GetGroupBy() {
		v.GroupBy = append(v.GroupBy, dimensionTitle(g))
	}
	if v.RunID == "" {
		v.NoRun = true
		v.Status = "No complete run yet"
		return v
	}
	if t := f.GetCompletedAt(); t != nil {
		v.Completed = t.AsTime().UTC().Format("2006-01-02 15:04 UTC")
	}
	switch n := len(f.GetMissing()); n {
	case 0:
		v.Status = "Complete"
	case 1:
		v.Status = "Partial, 1 state missing"
	default:
		v.Status = "Partial, " + strconv.Itoa(n) + " states missing"
	}
	for _, c := range f.GetCells() {
		row := cellRow{Value: fmtInt(c.GetValue()), Status: "exact"}
		for i, k := range c.GetKey() {
			dim := ""
			if i < len(q.GetGroupBy()) {
				dim = q.GetGroupBy()[i]
			}
			row.Keys = append(row.Keys, keyLabel(dim, k))
		}
		switch c.GetStatus() {
		case queryv1.CellStatus_CELL_STATUS_ROUNDED:
			row.Status, v.Rounded = "rounded", true
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
			row.Status, row.Value, v.Suppressed = "suppressed", "suppressed", true
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
			row.Status, row.Value, v.Suppressed = "secondary", "suppressed", true
		}
		v.Rows = append(v.Rows, row)
	}
	v.Coverage = append(v.Coverage, coveragePart{Label: "Contributed", Items: itemsOf(f.GetContributors())})
	if len(f.GetSuppressed()) > 0 {
		v.Coverage = append(v.Coverage, coveragePart{Label: "Suppressed some cells", Items: itemsOf(f.GetSuppressed())})
	}
	if len(f.GetMissing()) > 0 {
		var items []codeItem
		for _, m := range f.GetMissing() {
			items = append(items, codeItem{Code: m.GetCountry(), Name: countryName(m.GetCountry()), Note: statusWord(m.GetStatus())})
		}
		v.Coverage = append(v.Coverage, coveragePart{Label: "Missing", Items: items})
	}
	v.ExportLinks = exportLinks(v.RunID)
	return v
}

func runViewOf(r *hubv1.Run) runRow {
	v := runRow{ID: r.GetId(), Total: len(r.GetStates())}
	v.Complete = r.GetState() == hubv1.RunState_RUN_STATE_COMPLETE
	v.State = "Running"
	if v.Complete {
		v.State = "Complete"
	}
	switch {
	case r.GetQuery() != nil:
		q := r.GetQuery()
		v.Query = measureTitle(q.GetMeasure())
		if len(q.GetGroupBy()) > 0 {
			var dims []string
			for _, g := range q.GetGroupBy() {
				dims = append(dims, dimensionTitle(g))
			}
			v.Query += " by " + strings.Join(dims, " × ")
		}
		v.Query += ", " + periodOf(q)
	case r.GetExtract() != nil:
		v.Query = "Extract " + r.GetExtract().GetExtract()
	}
	for _, st := range r.GetStates() {
		if settled(st.GetStatus(), v.Complete) {
			v.Settled++
		}
		v.States = append(v.States, runStateItem{
			Country: st.GetCountry(), Name: countryName(st.GetCountry()),
			Status: statusWord(st.GetStatus()), Class: statusClass(st.GetStatus()), Reason: st.GetReason(),
		})
	}
	v.Created = fmtTime(r.GetCreatedAt())
	v.Deadline = fmtTime(r.GetDeadline())
	if v.Complete && r.GetQuery() != nil {
		v.Exports = exportLinks(v.ID)
	}
	return v
}

// settled reports whether a state's task is over. An offline state's task
// waits for it until the deadline, so it settles only with the run.
func settled(st hubv1.StateStatus, runComplete bool) bool {
	switch st {
	case hubv1.StateStatus_STATE_STATUS_PENDING, hubv1.StateStatus_STATE_STATUS_UNSPECIFIED:
		return false
	case hubv1.StateStatus_STATE_STATUS_OFFLINE:
		return runComplete
	}
	return true
}

func exportLinks(id string) []exportLink {
	base := "/api/runs/" + id + "/export?format="
	return []exportLink{
		{Label: "CSV", Format: "csv", Href: base + "csv"},
		{Label: "SDMX-CSV", Format: "sdmx-csv", Href: base + "sdmx-csv"},
		{Label: "SDMX-JSON", Format: "sdmx-json", Href: base + "sdmx-json"},
	}
}

func itemsOf(cs []string) []codeItem {
	var out []codeItem
	for _, c := range cs {
		out = append(out, codeItem{Code: c, Name: countryName(c)})
	}
	return out
}

func periodOf(q interface {
	GetPeriodFrom() string
	GetPeriodTo() string
}) string {
	from, to := q.GetPeriodFrom(), q.GetPeriodTo()
	switch {
	case from == "" && to == "":
		return "all dates"
	case from == "":
		return "up to " + to
	case to == "":
		return "from " + from
	}
	return from + " to " + to
}

func statusWord(s hubv1.StateStatus) string {
	switch s {
	case hubv1.StateStatus_STATE_STATUS_PENDING:
		return "pending"
	case hubv1.StateStatus_STATE_STATUS_ANSWERED:
		return "answered"
	case hubv1.StateStatus_STATE_STATUS_REFUSED:
		return "refused"
	case hubv1.StateStatus_STATE_STATUS_FAILED:
		return "failed"
	case hubv1.StateStatus_STATE_STATUS_TIMED_OUT:
		return "timed out"
	case hubv1.StateStatus_STATE_STATUS_OFFLINE:
		return "offline"
	}
	return "unknown"
}

func statusClass(s hubv1.StateStatus) string {
	switch s {
	case hubv1.StateStatus_STATE_STATUS_ANSWERED:
		return "ok"
	case hubv1.StateStatus_STATE_STATUS_PENDING:
		return "pending"
	case hubv1.StateStatus_STATE_STATUS_REFUSED, hubv1.StateStatus_STATE_STATUS_OFFLINE, hubv1.StateStatus_STATE_STATUS_TIMED_OUT:
		return "warn"
	}
	return "bad"
}

func countryName(code string) string {
	if n, ok := codes.CitizenshipName(code); ok {
		return n
	}
	return code
}

func measureTitle(id string) string {
	if m, ok := registry.MeasureByID(id); ok {
		return m.Title
	}
	return id
}

func dimensionTitle(id string) string {
	if d, ok := registry.DimensionByID(id); ok {
		return d.Title
	}
	return id
}

// keyLabel spells a cell key value for people: a country's name, an
// offence's name, an enum value in words.
func keyLabel(dim, k string) string {
	switch {
	case dim == "citizenship" || strings.HasPrefix(dim, "route."):
		if n, ok := codes.CitizenshipName(k); ok {
			return n + " (" + k + ")"
		}
	case dim == "iccs":
		if n, ok := codes.ICCSName(k); ok {
			return n + " (" + k + ")"
		}
	case strings.HasPrefix(dim, "period."):
		return k
	}
	if strings.ToUpper(k) == k && strings.ContainsAny(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		w := strings.ToLower(strings.ReplaceAll(k, "_", " "))
		return strings.ToUpper(w[:1]) + w[1:]
	}
	return k
}

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format("2006-01-02 15:04 UTC")
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.UTC().Format("2006-01-02 15:04 UTC")
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}

func days(d time.Duration) string {
	n := int(math.Ceil(d.Hours() / 24))
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}
