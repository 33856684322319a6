// Package agreement reads a node's sharing agreement (HCL, DESIGN §6),
// validates it against the measure and dimension registry, and decides
// whether a query is allowed under it. The agreement is written by the
// state's own officers; the node enforces it before anything leaves.
package agreement

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Agreement is a parsed, validated sharing agreement.
type Agreement struct {
	// Name is the block label, e.g. "cau-regional".
	Name string
	// Version is the officers' version number.
	Version int64
	// Recipients are the SPIFFE IDs allowed to ask.
	Recipients []string
	// MinCell is the minimum cell size (≥ 1).
	MinCell int
	// Rounding is "none" or "rr3".
	Rounding string
	// MaxGroupBy is the most group-by dimensions one query may use.
	MaxGroupBy int
	// PeriodFloor is the finest period granularity shared.
	PeriodFloor registry.Granularity
	// SuppressZeros treats zero cells as small cells.
	SuppressZeros bool
	// FeesCurrency is the only currency fees_paid sums.
	FeesCurrency string
	// Measures are the measures shared, in file order.
	Measures []MeasureGrant
	// Extracts are the redacted extracts offered, in file order.
	Extracts []Extract
	// Hash is hex SHA-256 of the file's bytes.
	Hash string
	// Source is the file's bytes.
	Source []byte
	// Filename is where it was read from.
	Filename string
	// Country is the node's country, named in refusals.
	Country string
	// LoadedAt is when the node loaded it.
	LoadedAt time.Time
}

// MeasureGrant is a measure an agreement shares and the dimensions it may be
// grouped or filtered by. A period dimension also allows the coarser ones
// (period.month allows period.quarter and period.year).
type MeasureGrant struct {
	// Measure is the measure id.
	Measure string
	// Dimensions are the dimension ids, in file order.
	Dimensions []string
}

// Extract is a redacted extract an agreement offers.
type Extract struct {
	// Name is the block label, e.g. "sea-routes".
	Name string
	// Fields are the extract's columns, in file order.
	Fields []ExtractField
	// QuasiIdentifiers are the fields k-anonymity is checked over.
	QuasiIdentifiers []string
	// K is the k-anonymity threshold.
	K int
	// SmallGroups is what happens to the rows of a quasi-identifier group
	// smaller than K: SmallGroupsWithhold (the default) or
	// SmallGroupsGeneralise.
	SmallGroups string
}

// What an extract does with rows whose quasi-identifier group is smaller
// than k.
const (
	// SmallGroupsWithhold withholds them.
	SmallGroupsWithhold = "withhold"
	// SmallGroupsGeneralise coarsens their quasi-identifiers further (a
	// period to its year, then every quasi-identifier to "*") and
	// withholds only those still in a group smaller than k.
	SmallGroupsGeneralise = "generalise"
)

// ExtractField is one field of an extract and how it is generalised.
type ExtractField struct {
	// Field is the field name, e.g. "route.origin".
	Field string
	// Generalisation is how it is coarsened, e.g. "country" or "band".
	Generalisation string
}

// extractFields lists the fields an extract may hold and their allowed
// generalisations. Anything else is refused at load time.
var extractFields = map[string][]string{
	"period":            {"month", "quarter", "year"},
	"route.origin":      {"country"},
	"route.transit":     {"country"},
	"route.destination": {"country"},
	"transport_mode":    {"as_is"},
	"location_type":     {"as_is"},
	"subdivision":       {"as_is"},
	"iccs":              {"as_is"},
	"methods":           {"as_is"},
	"document_fraud":    {"as_is"},
	"migrants":          {"band"},
	"suspects":          {"band"},
	"deaths":            {"band"},
	"missing":           {"band"},
	"injured":           {"band"},
}

// neverShared are the record fields DESIGN §4 marks never shared (and the
// fields that stay at the node), under the names an officer might write.
var neverShared = map[string]bool{
	"national_ref": true, "reporting_agency": true, "conveyance": true, "notes": true,
	"name": true, "place": true, "place.name": true, "detected_at.name": true,
	"embarkation": true, "route.embarkation": true,
	"full_name": true, "document_number": true, "date_of_birth": true,
	"detected_on": true, "age": true,
}

func isNeverShared(field string) bool {
	if neverShared[field] {
		return true
	}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return neverShared[field[i+1:]]
	}
	return false
}

var rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "agreement", LabelNames: []string{"name"}}}}

var agreementSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "version", Required: true},
		{Name: "recipients", Required: true},
		{Name: "min_cell", Required: true},
		{Name: "rounding", Required: true},
		{Name: "max_group_by", Required: true},
		{Name: "period_floor"},
		{Name: "suppress_zeros"},
		{Name: "fees_currency"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "measure", LabelNames: []string{"id"}},
		{Type: "extract", LabelNames: []string{"name"}},
	},
}

var measureSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "dimensions", Required: true}}}

var extractSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "fields", Required: true},
	{Name: "quasi_identifiers", Required: true},
	{Name: "k", Required: true},
	{Name: "small_groups"},
}}

// Error is a problem in an agreement file, at a position.
type Error struct {
	// Pos is the line and column (1-based).
	Pos hcl.Pos
	// File is the file name.
	File string
	// Msg says what is wrong.
	Msg string
}

// Error returns "file:line:column: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Column, e.Msg)
}

type parser struct {
	file string
}

func (p *parser) errAt(r hcl.Range, format string, a ...any) error {
	return &Error{File: p.file, Pos: r.Start, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) diags(d hcl.Diagnostics) error {
	for _, x := range d {
		if x.Severity != hcl.DiagError {
			continue
		}
		msg := x.Summary
		if x.Detail != "" {
			msg += ": " + x.Detail
		}
		var r hcl.Range
		if x.Subject != nil {
			r = *x.Subject
		}
		return p.errAt(r, "%s", msg)
	}
	return nil
}

func (p *parser) value(a *hcl.Attribute) (cty.Value, error) {
	v, d := a.Expr.Value(nil)
	if d.HasErrors() {
		return cty.NilVal, p.diags(d)
	}
	if v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, p.errAt(a.Expr.Range(), "%s must have a value", a.Name)
	}
	return v, nil
}

func (p *parser) str(a *hcl.Attribute) (string, error) {
	v, err := p.value(a)
	if err != nil {
		return "", err
	}
	if v.Type() != cty.String {
		return "", p.errAt(a.Expr.Range(), "%s must be a string", a.Name)
	}
	return v.AsString(), nil
}

func (p *parser) integer(a *hcl.Attribute) (int64, error) {
	v, err := p.value(a)
	if err != nil {
		return 0, err
	}
	if v.Type() != cty.Number {
		return 0, p.errAt(a.Expr.Range(), "%s must be a whole number", a.Name)
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || !bf.IsInt() {
		return 0, p.errAt(a.Expr.Range(), "%s must be a whole number", a.Name)
	}
	return i, nil
}

func (p *parser) boolean(a *hcl.Attribute) (bool, error) {
	v, err := p.value(a)
	if err != nil {
		return false, err
	}
	if v.Type() != cty.Bool {
		return false, p.errAt(a.Expr.Range(), "%s must be true or false", a.Name)
	}
	return v.True(), nil
}

// strings returns a list of strings with each element's range.
func (p *parser) strings(a *hcl.Attribute) ([]string, []hcl.Range, error) {
	exprs, d := hcl.ExprList(a.Expr)
	if d.HasErrors() {
		return nil, nil, p.errAt(a.Expr.Range(), "%s must be a list of strings", a.Name)
	}
	var out []string
	var rs []hcl.Range
	for _, x := range exprs {
		v, d := x.Value(nil)
		if d.HasErrors() {
			return nil, nil, p.diags(d)
		}
		if v.IsNull() || v.Type() != cty.String {
			return nil, nil, p.errAt(x.Range(), "%s must be a list of strings", a.Name)
		}
		out = append(out, v.AsString())
		rs = append(rs, x.Range())
	}
	return out, rs, nil
}

// Parse reads and validates an agreement. country is the node's country,
// named in refusal reasons. Errors are "file:line:column: message".
func Parse(filename string, src []byte, country string) (*Agreement, error) {
	p := &parser{file: filename}
	f, d := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if d.HasErrors() {
		return nil, p.diags(d)
	}
	root, d := f.Body.Content(rootSchema)
	if d.HasErrors() {
		return nil, p.diags(d)
	}
	if len(root.Blocks) != 1 {
		return nil, p.errAt(f.Body.MissingItemRange(), "want exactly one agreement block, found %d", len(root.Blocks))
	}
	blk := root.Blocks[0]
	sum := sha256.Sum256(src)
	a := &Agreement{
		Name:        blk.Labels[0],
		Hash:        hex.EncodeToString(sum[:]),
		Source:      slices.Clone(src),
		Filename:    filename,
		Country:     country,
		PeriodFloor: registry.GranularityMonth,
	}
	if strings.TrimSpace(a.Name) == "" {
		return nil, p.errAt(blk.LabelRanges[0], "the agreement needs a name")
	}
	body, d := blk.Body.Content(agreementSchema)
	if d.HasErrors() {
		return nil, p.diags(d)
	}
	if err := p.attributes(a, body.Attributes); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range body.Blocks {
		switch b.Type {
		case "measure":
			g, err := p.measure(a, b)
			if err != nil {
				return nil, err
			}
			if seen["m:"+g.Measure] {
				return nil, p.errAt(b.DefRange, "measure %s is granted twice", g.Measure)
			}
			seen["m:"+g.Measure] = true
			a.Measures = append(a.Measures, g)
		case "extract":
			x, err := p.extract(a, b)
			if err != nil {
				return nil, err
			}
			if seen["x:"+x.Name] {
				return nil, p.errAt(b.DefRange, "extract %q is defined twice", x.Name)
			}
			seen["x:"+x.Name] = true
			a.Extracts = append(a.Extracts, x)
		}
	}
	return a, nil
}

func (p *parser) attributes(a *Agreement, attrs hcl.Attributes) error {
	var err error
	at := attrs["version"]
	if a.Version, err = p.integer(at); err != nil {
		return err
	}
	if a.Version < 1 {
		return p.errAt(at.Expr.Range(), "version must be at least 1")
	}
	at = attrs["recipients"]
	rs, ranges, err := p.strings(at)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return p.errAt(at.Expr.Range(), "recipients must name at least one SPIFFE ID")
	}
	for i, r := range rs {
		if _, err := identity.Parse(r); err != nil {
			return p.errAt(ranges[i], "recipient %q is not a SPIFFE ID: %v", r, err)
		}
		if slices.Contains(rs[:i], r) {
			return p.errAt(ranges[i], "recipient %q is listed twice", r)
		}
	}
	a.Recipients = rs
	at = attrs["min_cell"]
	n, err := p.integer(at)
	if err != nil {
		return err
	}
	if n < 1 || n > 1_000_000 {
		return p.errAt(at.Expr.Range(), "min_cell must be at least 1")
	}
	a.MinCell = int(n)
	at = attrs["rounding"]
	if a.Rounding, err = p.str(at); err != nil {
		return err
	}
	if a.Rounding != "none" && a.Rounding != "rr3" {
		return p.errAt(at.Expr.Range(), "rounding %q: want \"none\" or \"rr3\"", a.Rounding)
	}
	at = attrs["max_group_by"]
	if n, err = p.integer(at); err != nil {
		return err
	}
	if n < 0 || n > 16 {
		return p.errAt(at.Expr.Range(), "max_group_by must be between 0 and 16")
	}
	a.MaxGroupBy = int(n)
	if at := attrs["period_floor"]; at != nil {
		s, err := p.str(at)
		if err != nil {
			return err
		}
		g, ok := registry.ParseGranularity(s)
		if !ok {
			return p.errAt(at.Expr.Range(), "period_floor %q: want \"month\", \"quarter\" or \"year\"", s)
		}
		a.PeriodFloor = g
	}
	if at := attrs["suppress_zeros"]; at != nil {
		if a.SuppressZeros, err = p.boolean(at); err != nil {
			return err
		}
	}
	if at := attrs["fees_currency"]; at != nil {
		if a.FeesCurrency, err = p.str(at); err != nil {
			return err
		}
		if len(a.FeesCurrency) != 3 || strings.ToUpper(a.FeesCurrency) != a.FeesCurrency || strings.ContainsFunc(a.FeesCurrency, func(r rune) bool { return r < 'A' || r > 'Z' }) {
			return p.errAt(at.Expr.Range(), "fees_currency %q: want an ISO 4217 code such as \"USD\"", a.FeesCurrency)
		}
	}
	return nil
}

func (p *parser) measure(a *Agreement, b *hcl.Block) (MeasureGrant, error) {
	id := b.Labels[0]
	m, ok := registry.MeasureByID(id)
	if !ok {
		return MeasureGrant{}, p.errAt(b.LabelRanges[0], "unknown measure %q", id)
	}
	if m.Sum && a.FeesCurrency == "" {
		return MeasureGrant{}, p.errAt(b.LabelRanges[0], "measure %s needs fees_currency in the agreement", id)
	}
	body, d := b.Body.Content(measureSchema)
	if d.HasErrors() {
		return MeasureGrant{}, p.diags(d)
	}
	dims, ranges, err := p.strings(body.Attributes["dimensions"])
	if err != nil {
		return MeasureGrant{}, err
	}
	for i, id := range dims {
		dim, ok := registry.DimensionByID(id)
		if !ok {
			return MeasureGrant{}, p.errAt(ranges[i], "unknown dimension %q", id)
		}
		if !registry.Applies(m, dim) {
			return MeasureGrant{}, p.errAt(ranges[i], "dimension %s does not apply to measure %s", id, m.ID)
		}
		if dim.Period != registry.GranularityNone && dim.Period < a.PeriodFloor {
			return MeasureGrant{}, p.errAt(ranges[i], "dimension %s is finer than period_floor %s", id, a.PeriodFloor)
		}
		if slices.Contains(dims[:i], id) {
			return MeasureGrant{}, p.errAt(ranges[i], "dimension %s is listed twice", id)
		}
	}
	return MeasureGrant{Measure: m.ID, Dimensions: dims}, nil
}

func (p *parser) extract(a *Agreement, b *hcl.Block) (Extract, error) {
	x := Extract{Name: b.Labels[0]}
	if strings.TrimSpace(x.Name) == "" {
		return x, p.errAt(b.LabelRanges[0], "the extract needs a name")
	}
	body, d := b.Body.Content(extractSchema)
	if d.HasErrors() {
		return x, p.diags(d)
	}
	fa := body.Attributes["fields"]
	pairs, d := hcl.ExprMap(fa.Expr)
	if d.HasErrors() {
		return x, p.errAt(fa.Expr.Range(), "fields must be a map of field = generalisation")
	}
	if len(pairs) == 0 {
		return x, p.errAt(fa.Expr.Range(), "fields must name at least one field")
	}
	for _, kv := range pairs {
		k, d := kv.Key.Value(nil)
		if d.HasErrors() {
			return x, p.diags(d)
		}
		v, d := kv.Value.Value(nil)
		if d.HasErrors() {
			return x, p.diags(d)
		}
		if k.IsNull() || k.Type() != cty.String || v.IsNull() || v.Type() != cty.String {
			return x, p.errAt(kv.Key.Range(), "fields must map field names to generalisations (strings)")
		}
		field, gen := k.AsString(), v.AsString()
		if isNeverShared(field) {
			return x, p.errAt(kv.Key.Range(), "field %s is never shared", field)
		}
		allowed, ok := extractFields[field]
		if !ok {
			return x, p.errAt(kv.Key.Range(), "unknown extract field %q", field)
		}
		if !slices.Contains(allowed, gen) {
			return x, p.errAt(kv.Value.Range(), "field %s: generalisation %q: want one of %s", field, gen, strings.Join(allowed, ", "))
		}
		if field == "period" {
			g, _ := registry.ParseGranularity(gen)
			if g < a.PeriodFloor {
				return x, p.errAt(kv.Value.Range(), "period %s is finer than period_floor %s", gen, a.PeriodFloor)
			}
		}
		if slices.ContainsFunc(x.Fields, func(f ExtractField) bool { return f.Field == field }) {
			return x, p.errAt(kv.Key.Range(), "field %s is listed twice", field)
		}
		x.Fields = append(x.Fields, ExtractField{Field: field, Generalisation: gen})
	}
	qa := body.Attributes["quasi_identifiers"]
	qis, ranges, err := p.strings(qa)
	if err != nil {
		return x, err
	}
	for i, q := range qis {
		if !slices.ContainsFunc(x.Fields, func(f ExtractField) bool { return f.Field == q }) {
			return x, p.errAt(ranges[i], "quasi-identifier %s is not a field of the extract", q)
		}
	}
	x.QuasiIdentifiers = qis
	ka := body.Attributes["k"]
	k, err := p.integer(ka)
	if err != nil {
		return x, err
	}
	if k < 1 || k > 1_000_000 {
		return x, p.errAt(ka.Expr.Range(), "k must be at least 1")
	}
	x.K = int(k)
	x.SmallGroups = SmallGroupsWithhold
	if sa := body.Attributes["small_groups"]; sa != nil {
		if x.SmallGroups, err = p.str(sa); err != nil {
			return x, err
		}
		if x.SmallGroups != SmallGroupsWithhold && x.SmallGroups != SmallGroupsGeneralise {
			return x, p.errAt(sa.Expr.Range(), "small_groups %q: want \"withhold\" or \"generalise\"", x.SmallGroups)
		}
	}
	return x, nil
}

// Grant returns the grant of a measure, if shared.
func (a *Agreement) Grant(measure string) (MeasureGrant, bool) {
	for _, g := range a.Measures {
		if g.Measure == measure {
			return g, true
		}
	}
	return MeasureGrant{}, false
}

// Extract returns the extract with that name, if offered.
func (a *Agreement) Extract(name string) (Extract, bool) {
	for _, x := range a.Extracts {
		if x.Name == name {
			return x, true
		}
	}
	return Extract{}, false
}

// Summary returns what the node publishes about the agreement.
func (a *Agreement) Summary() *queryv1.AgreementSummary {
	s := &queryv1.AgreementSummary{
		Name:          a.Name,
		Version:       a.Version,
		Hash:          a.Hash,
		MinCell:       int32(a.MinCell),
		Rounding:      a.Rounding,
		MaxGroupBy:    int32(a.MaxGroupBy),
		PeriodFloor:   a.PeriodFloor.String(),
		Recipients:    slices.Clone(a.Recipients),
		SuppressZeros: a.SuppressZeros,
	}
	for _, g := range a.Measures {
		s.Measures = append(s.Measures, &queryv1.MeasureGrant{Measure: g.Measure, Dimensions: slices.Clone(g.Dimensions)})
	}
	for _, x := range a.Extracts {
		eg := &queryv1.ExtractGrant{Name: x.Name, QuasiIdentifiers: slices.Clone(x.QuasiIdentifiers), K: int32(x.K)}
		for _, f := range x.Fields {
			eg.Fields = append(eg.Fields, f.Field+"="+f.Generalisation)
		}
		s.Extracts = append(s.Extracts, eg)
	}
	return s
}
