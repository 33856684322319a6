package ui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/registry"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// pageTimeout bounds a render: a slow part must not hold a tab forever.
const pageTimeout = 10 * time.Second

// maxForm bounds a Preview submission; the real form is a few hundred bytes.
const maxForm = 16 << 10

// view is what every page template gets: the frame and the page's own data.
type view struct {
	Title       string
	Active      string
	Country     string
	CountryName string
	HubState    string // ok, bad, none
	HubLabel    string
	Now         string
	Page        any
}

func (s *server) render(w http.ResponseWriter, status int, name, title string, page any) {
	v := view{
		Title: title, Active: name, Country: s.cfg.Country, CountryName: countryName(s.cfg.Country),
		Now: fmtTime(s.now()), Page: page,
	}
	switch {
	case s.cfg.Connected == nil:
		v.HubState, v.HubLabel = "none", "No hub configured"
	case s.cfg.Connected():
		v.HubState, v.HubLabel = "ok", "Connected to the hub"
	default:
		v.HubState, v.HubLabel = "bad", "Not connected to the hub"
	}
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, v); err != nil {
		s.log.Error("render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (s *server) fail(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error", http.StatusText(status), struct{ Status, Message string }{http.StatusText(status), msg})
}

// --- overview ---

type overviewData struct {
	Records     string
	ByYear      []countRow
	ByMode      []countRow
	CountsErr   bool
	Agreement   agreementView
	Chain       chainView
	Recent      []entryRow
	RecentErr   bool
	HasCounter  bool
	Disclosures int
}

type countRow struct {
	Key                 string
	Incidents, Migrants string
}

func (s *server) overview(w http.ResponseWriter, r *http.Request) {
	d := overviewData{Records: fmtInt(int64(s.cfg.Records.Count())), HasCounter: s.cfg.Counter != nil}
	if s.cfg.Counter != nil {
		var err error
		if d.ByYear, err = s.counts("period.year"); err == nil {
			d.ByMode, err = s.counts("transport_mode")
		}
		if err != nil {
			s.log.Error("count records", "error", err)
			d.CountsErr = true
		}
	}
	d.Agreement = agreementViewOf(s.cfg.Country, s.cfg.Agreement.Current())
	d.Chain = s.chain()
	head, _ := s.cfg.Audit.Head()
	if entries, err := s.newest(head, 5); err != nil {
		s.log.Error("list audit entries", "error", err)
		d.RecentErr = true
	} else {
		d.Recent = entries
	}
	s.render(w, http.StatusOK, "overview", "Overview", d)
}

// counts tabulates incidents and migrants by one dimension, exactly: this
// page is the node's own and sends nothing.
func (s *server) counts(dim string) ([]countRow, error) {
	inc, err := s.cfg.Counter.Aggregate(&queryv1.AggregateQuery{Measure: "incidents", GroupBy: []string{dim}})
	if err != nil {
		return nil, err
	}
	mig, err := s.cfg.Counter.Aggregate(&queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{dim}})
	if err != nil {
		return nil, err
	}
	rows := map[string]*countRow{}
	var keys []string
	row := func(k string) *countRow {
		if r, ok := rows[k]; ok {
			return r
		}
		r := &countRow{Key: keyLabel(dim, k), Incidents: "0", Migrants: "0"}
		rows[k] = r
		keys = append(keys, k)
		return r
	}
	for _, c := range inc {
		row(c.Key[0]).Incidents = fmtInt(c.Value)
	}
	for _, c := range mig {
		row(c.Key[0]).Migrants = fmtInt(c.Value)
	}
	slices.Sort(keys)
	out := make([]countRow, 0, len(keys))
	for _, k := range keys {
		out = append(out, *rows[k])
	}
	return out, nil
}

// --- agreement ---

func (s *server) agreement(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "agreement", "Agreement", agreementViewOf(s.cfg.Country, s.cfg.Agreement.Current()))
}

// --- preview ---

type previewData struct {
	Token      string
	Measures   []option
	Dimensions []option
	Recipients []option
	From, To   string
	Grants     []grantView
	MaxGroupBy int
	Submitted  bool
	Query      string
	Result     *resultView
	Refusal    *refusalView
	Explain    []string
	Error      string
}

type option struct {
	Value, Label string
	Selected     bool
	Note         string
}

func (s *server) previewForm(w http.ResponseWriter, r *http.Request) {
	s.setTokenCookie(w)
	s.render(w, http.StatusOK, "preview", "Preview", s.previewData(r, nil))
}

// previewData builds the form, keeping what was submitted (r.Form after a
// POST) so the officer can adjust the query.
func (s *server) previewData(r *http.Request, submitted map[string][]string) previewData {
	a := s.cfg.Agreement.Current()
	d := previewData{Token: s.token, MaxGroupBy: a.MaxGroupBy}
	measure := "migrants"
	var groupBy []string
	recipient := ""
	if submitted != nil {
		measure = first(submitted["measure"])
		groupBy = submitted["group_by"]
		d.From, d.To = first(submitted["period_from"]), first(submitted["period_to"])
		recipient = first(submitted["recipient"])
	} else if len(a.Measures) > 0 {
		measure = a.Measures[0].Measure
	}
	for _, m := range registry.Measures() {
		o := option{Value: m.ID, Label: m.Title, Selected: m.ID == measure}
		if _, ok := a.Grant(m.ID); !ok {
			o.Label += " (not shared)"
		}
		d.Measures = append(d.Measures, o)
	}
	for _, dim := range registry.Dimensions() {
		d.Dimensions = append(d.Dimensions, option{Value: dim.ID, Label: dim.Title, Selected: slices.Contains(groupBy, dim.ID)})
	}
	for _, rc := range a.Recipients {
		d.Recipients = append(d.Recipients, option{Value: rc, Label: rc, Selected: rc == recipient})
	}
	d.Grants = agreementViewOf(s.cfg.Country, a).Measures
	return d
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (s *server) previewSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if err := s.sameOrigin(r); err != nil {
		s.log.Warn("preview refused", "reason", err.Error())
		s.fail(w, http.StatusForbidden, "This form was not sent from this page. Open the Preview page again and resubmit.")
		return
	}
	s.setTokenCookie(w)
	d := s.previewData(r, r.PostForm)
	d.Submitted = true
	q := &queryv1.AggregateQuery{
		Measure:    first(r.PostForm["measure"]),
		PeriodFrom: d.From,
		PeriodTo:   d.To,
	}
	// Group in the registry's order, so the table reads the same way
	// whichever boxes were ticked first.
	for _, o := range d.Dimensions {
		if o.Selected {
			q.GroupBy = append(q.GroupBy, o.Value)
		}
	}
	if len(r.PostForm["group_by"]) != len(q.GroupBy) {
		d.Error = "Unknown dimensions were ignored."
	}
	d.Query = queryWords(q)
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	resp, err := s.cfg.Preview.Preview(ctx, &nodev1.PreviewRequest{Aggregate: q, Recipient: first(r.PostForm["recipient"])})
	if err != nil {
		s.log.Error("preview", "error", err)
		d.Error = "The node could not compute the preview. Nothing was sent."
		s.render(w, http.StatusOK, "preview", "Preview", d)
		return
	}
	d.Explain = resp.GetExplanation()
	switch {
	case resp.GetRefusal() != nil:
		d.Refusal = refusalViewOf(resp.GetRefusal())
	case resp.GetAggregate() != nil:
		rv := resultViewOf(resp.GetAggregate())
		d.Result = &rv
	}
	s.render(w, http.StatusOK, "preview", "Preview", d)
}

// --- results, shared by Preview and the transparency pages ---

type resultView struct {
	Measure       string
	Columns       []string
	Rows          []cellRow
	Summary       string
	Rounding      string
	RoundingWords string
	MinCell       int32
	Wire          string
	Extract       bool
	ExtractCol    []string
	ExtractRow    [][]string
}

type cellRow struct {
	Keys   []string
	Value  string
	Status string
}

type refusalView struct {
	Code, Reason string
}

func refusalViewOf(r *queryv1.Refusal) *refusalView {
	return &refusalView{Code: registryWord(r.GetCode().String(), "REFUSAL_CODE_"), Reason: r.GetReason()}
}

// registryWord turns an enum name into words: REFUSAL_CODE_MEASURE_NOT_SHARED
// → "measure not shared".
func registryWord(name, prefix string) string {
	w := name
	if len(w) > len(prefix) && w[:len(prefix)] == prefix {
		w = w[len(prefix):]
	}
	b := []byte(w)
	for i, c := range b {
		switch {
		case c == '_':
			b[i] = ' '
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

var wire = protojson.MarshalOptions{Multiline: true, Indent: "  "}

func resultViewOf(res *queryv1.AggregateResult) resultView {
	v := resultView{Measure: measureTitle(res.GetMeasure()), Rounding: res.GetRounding(), MinCell: res.GetMinCell()}
	switch v.Rounding {
	case "rr3":
		v.RoundingWords = "other values randomly rounded to base 3"
	case "none", "":
		v.RoundingWords = "other values exact"
	default:
		v.RoundingWords = "other values rounded (" + v.Rounding + ")"
	}
	for _, g := range res.GetGroupBy() {
		v.Columns = append(v.Columns, dimensionTitle(g))
	}
	var exact, rounded, suppressed int
	for _, c := range res.GetCells() {
		row := cellRow{Value: fmtInt(c.GetValue())}
		for i, k := range c.GetKey() {
			dim := ""
			if i < len(res.GetGroupBy()) {
				dim = res.GetGroupBy()[i]
			}
			row.Keys = append(row.Keys, keyLabel(dim, k))
		}
		switch c.GetStatus() {
		case queryv1.CellStatus_CELL_STATUS_ROUNDED:
			row.Status = "rounded"
			rounded++
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED:
			row.Status, row.Value = "suppressed", "withheld"
			suppressed++
		case queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
			// The differencing guard: not small itself, but it would give
			// away a small cell with what was sent before.
			row.Status, row.Value = "secondary", "withheld"
			suppressed++
		default:
			row.Status = "exact"
			exact++
		}
		v.Rows = append(v.Rows, row)
	}
	v.Summary = plural(len(res.GetCells()), "cell", "cells")
	if len(res.GetCells()) > 0 {
		v.Summary += ": " + fmtInt(int64(exact)) + " exact, " + fmtInt(int64(rounded)) + " rounded, " + fmtInt(int64(suppressed)) + " withheld"
	}
	if b, err := wire.Marshal(res); err == nil {
		v.Wire = string(b)
	}
	return v
}

func extractViewOf(res *queryv1.ExtractResult) resultView {
	v := resultView{Extract: true, Measure: "Redacted extract “" + res.GetExtract() + "”"}
	v.ExtractCol = append([]string{"Pseudonym"}, res.GetColumns()...)
	for _, r := range res.GetRows() {
		v.ExtractRow = append(v.ExtractRow, append([]string{r.GetPseudonym()}, r.GetValues()...))
	}
	v.Summary = plural(len(res.GetRows()), "row", "rows") + " sent, " + plural(int(res.GetWithheldRows()), "row", "rows") +
		" withheld (k = " + strconv.Itoa(int(res.GetK())) + ")"
	if b, err := wire.Marshal(res); err == nil {
		v.Wire = string(b)
	}
	return v
}

// --- transparency ---

type chainView struct {
	OK       bool
	Entries  string
	Problem  string
	Head     string
	HeadSeq  uint64
	Err      bool
	Verified string
}

// chain verifies the whole audit chain. It walks every entry on every
// call: the log holds one entry per task, so this stays cheap for years of
// a node's life, and a cached "ok" could hide an edit.
func (s *server) chain() chainView {
	res, err := s.cfg.Audit.Verify()
	if err != nil {
		s.log.Error("verify audit chain", "error", err)
		return chainView{Err: true}
	}
	seq, _ := s.cfg.Audit.Head()
	return chainView{
		OK: res.GetOk(), Entries: plural(int(res.GetEntries()), "entry", "entries"), Problem: res.GetProblem(),
		Head: res.GetHeadHash(), HeadSeq: seq, Verified: fmtTime(s.now()),
	}
}

type entryRow struct {
	Seq              uint64
	Time, TimeISO    string
	Date, Clock      string
	Requester        string
	RunID, TaskID    string
	Query            string
	AgreementVersion int64
	AgreementHash    string
	Decision, Class  string
	Reason           string
	Answer           string
	AnswerHash       string
	HasAnswer        bool
}

func entryRowOf(e *nodev1.AuditEntry) entryRow {
	v := entryRow{
		Seq: e.GetSequence(), Requester: e.GetRequester(), RunID: e.GetRunId(), TaskID: e.GetTaskId(),
		AgreementVersion: e.GetAgreementVersion(), AgreementHash: short(e.GetAgreementHash()),
		Reason: e.GetReason(), AnswerHash: short(e.GetAnswerHash()), HasAnswer: len(e.GetAnswer()) > 0,
	}
	if t := e.GetTime(); t != nil {
		at := t.AsTime().UTC()
		v.Time, v.TimeISO = fmtTime(at), at.Format(time.RFC3339)
		v.Date, v.Clock = at.Format("2006-01-02"), at.Format("15:04:05 UTC")
	}
	switch {
	case e.GetAggregate() != nil:
		v.Query = queryWords(e.GetAggregate())
	case e.GetExtract() != nil:
		v.Query = extractWords(e.GetExtract())
	}
	switch e.GetDecision() {
	case nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED:
		v.Decision, v.Class = "Disclosed", "ok"
	case nodev1.AuditDecision_AUDIT_DECISION_REFUSED:
		v.Decision, v.Class = "Refused", "warn"
	case nodev1.AuditDecision_AUDIT_DECISION_FAILED:
		v.Decision, v.Class = "Failed", "bad"
	case nodev1.AuditDecision_AUDIT_DECISION_AGREEMENT_LOADED:
		v.Decision, v.Class = "Agreement loaded", "pending"
	default:
		v.Decision, v.Class = "Unknown", "bad"
	}
	if body, err := decodeBody(e.GetAnswer()); err == nil && body != nil {
		switch {
		case body.GetAggregate() != nil:
			res := body.GetAggregate()
			n := 0
			for _, c := range res.GetCells() {
				if c.GetStatus() == queryv1.CellStatus_CELL_STATUS_SUPPRESSED || c.GetStatus() == queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY {
					n++
				}
			}
			v.Answer = plural(len(res.GetCells()), "cell", "cells")
			if n > 0 {
				v.Answer += " (" + fmtInt(int64(n)) + " withheld)"
			}
		case body.GetExtract() != nil:
			v.Answer = plural(len(body.GetExtract().GetRows()), "row", "rows")
		case body.GetRefusal() != nil:
			v.Answer = "refusal"
		case body.GetFailure() != "":
			v.Answer = "failure notice"
		}
	} else if err != nil {
		v.Answer = "undecodable"
	}
	return v
}

func decodeBody(b []byte) (*federationv1.AnswerBody, error) {
	if len(b) == 0 {
		return nil, nil
	}
	body := &federationv1.AnswerBody{}
	if err := proto.Unmarshal(b, body); err != nil {
		return nil, err
	}
	return body, nil
}

// newest returns up to n entries at or below sequence top, newest first.
func (s *server) newest(top uint64, n int) ([]entryRow, error) {
	if top == 0 {
		return nil, nil
	}
	lo := uint64(1)
	if top > uint64(n) {
		lo = top - uint64(n) + 1
	}
	entries, err := s.cfg.Audit.List(lo, int(top-lo+1))
	if err != nil {
		return nil, err
	}
	out := make([]entryRow, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].GetSequence() > top {
			continue
		}
		out = append(out, entryRowOf(entries[i]))
	}
	return out, nil
}

type transparencyData struct {
	Chain        chainView
	Entries      []entryRow
	ListErr      bool
	Newer, Older string
	Range        string
}

func (s *server) transparency(w http.ResponseWriter, r *http.Request) {
	head, _ := s.cfg.Audit.Head()
	top := head
	if f := r.URL.Query().Get("from"); f != "" {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil || n == 0 {
			s.fail(w, http.StatusBadRequest, "The page number is not valid.")
			return
		}
		top = min(n, head)
	}
	size := uint64(s.cfg.PageSize)
	d := transparencyData{Chain: s.chain()}
	entries, err := s.newest(top, s.cfg.PageSize)
	if err != nil {
		s.log.Error("list audit entries", "error", err)
		d.ListErr = true
	}
	d.Entries = entries
	if len(entries) > 0 {
		low := entries[len(entries)-1].Seq
		d.Range = "Entries " + fmtInt(int64(entries[0].Seq)) + " to " + fmtInt(int64(low)) + " of " + fmtInt(int64(head)) + ", newest first"
		if low > 1 {
			d.Older = "/transparency?from=" + strconv.FormatUint(low-1, 10)
		}
	}
	if top < head {
		d.Newer = "/transparency?from=" + strconv.FormatUint(min(head, top+size), 10)
	}
	s.render(w, http.StatusOK, "transparency", "Transparency", d)
}

type entryData struct {
	Row           entryRow
	Full          *nodev1.AuditEntry
	PrevHash      string
	Hash          string
	AgreementFull string
	AnswerHash    string
	HashOK        bool
	Body          *bodyView
	BodyErr       bool
	Prev, Next    string
}

type bodyView struct {
	TaskID, RunID, Country string
	Agreement              string
	AnsweredAt             string
	AuditSeq               uint64
	Bytes                  string
	Result                 *resultView
	Refusal                *refusalView
	Failure                string
	Wire                   string
}

func (s *server) lookup(w http.ResponseWriter, r *http.Request) (*nodev1.AuditEntry, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	head, _ := s.cfg.Audit.Head()
	if err != nil || seq == 0 || seq > head {
		s.fail(w, http.StatusNotFound, "There is no audit entry with that number.")
		return nil, false
	}
	e, err := s.cfg.Audit.Get(seq)
	if err != nil {
		s.log.Error("read audit entry", "sequence", seq, "error", err)
		s.fail(w, http.StatusInternalServerError, "The audit entry could not be read.")
		return nil, false
	}
	return e, true
}

func (s *server) entry(w http.ResponseWriter, r *http.Request) {
	e, ok := s.lookup(w, r)
	if !ok {
		return
	}
	d := entryData{Row: entryRowOf(e), Full: e, PrevHash: e.GetPreviousHash(), Hash: e.GetHash(),
		AgreementFull: e.GetAgreementHash(), AnswerHash: e.GetAnswerHash()}
	if len(e.GetAnswer()) > 0 {
		sum := sha256.Sum256(e.GetAnswer())
		d.HashOK = hex.EncodeToString(sum[:]) == e.GetAnswerHash()
		body, err := decodeBody(e.GetAnswer())
		if err != nil {
			d.BodyErr = true
		} else {
			d.Body = bodyViewOf(body, len(e.GetAnswer()))
		}
	}
	head, _ := s.cfg.Audit.Head()
	if e.GetSequence() > 1 {
		d.Prev = "/transparency/" + strconv.FormatUint(e.GetSequence()-1, 10)
	}
	if e.GetSequence() < head {
		d.Next = "/transparency/" + strconv.FormatUint(e.GetSequence()+1, 10)
	}
	s.render(w, http.StatusOK, "entry", "Audit entry "+strconv.FormatUint(e.GetSequence(), 10), d)
}

func bodyViewOf(b *federationv1.AnswerBody, n int) *bodyView {
	v := &bodyView{
		TaskID: b.GetTaskId(), RunID: b.GetRunId(), Country: b.GetCountry(),
		Agreement: b.GetAgreementName() + " version " + strconv.FormatInt(b.GetAgreementVersion(), 10),
		AuditSeq:  b.GetAuditSequence(), Bytes: plural(n, "byte", "bytes"),
	}
	if t := b.GetAnsweredAt(); t != nil {
		v.AnsweredAt = fmtTime(t.AsTime())
	}
	switch {
	case b.GetAggregate() != nil:
		rv := resultViewOf(b.GetAggregate())
		v.Result = &rv
	case b.GetExtract() != nil:
		rv := extractViewOf(b.GetExtract())
		v.Result = &rv
	case b.GetRefusal() != nil:
		v.Refusal = refusalViewOf(b.GetRefusal())
	default:
		v.Failure = b.GetFailure()
	}
	if j, err := wire.Marshal(b); err == nil {
		v.Wire = string(j)
	}
	return v
}

// answerBytes serves the exact signed body bytes, so anyone can check them
// against the answer hash and the hub's copy.
func (s *server) answerBytes(w http.ResponseWriter, r *http.Request) {
	e, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if len(e.GetAnswer()) == 0 {
		s.fail(w, http.StatusNotFound, "This entry sent no answer.")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="answer-`+strconv.FormatUint(e.GetSequence(), 10)+`.bin"`)
	_, _ = w.Write(e.GetAnswer()) //nolint:gosec // an attachment of type octet-stream with nosniff is never rendered
}
