package export

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// ColumnSource names the columns of a state's extract rows. A run keeps
// the rows' values but not the column names the node sent with them, so
// the exporter asks where the state's agreement is known.
type ColumnSource interface {
	// ExtractColumns returns the column names of extract as country's
	// agreement with hash agreementHash defines them, in row order, or nil
	// when that agreement is not known.
	ExtractColumns(country, agreementHash, extract string) []string
}

// NodeLister lists the nodes the hub knows (the registry's List).
type NodeLister interface {
	List() []*hubv1.Node
}

// RegistryColumns takes extract column names from the agreements the
// nodes published in their Hello. It answers only when the node's current
// agreement is the one the state applied to the run (same hash): after an
// agreement change the old block's fields are no longer known.
type RegistryColumns struct {
	// Nodes lists the nodes with their published agreements.
	Nodes NodeLister
}

// ExtractColumns implements ColumnSource.
func (r RegistryColumns) ExtractColumns(country, agreementHash, extract string) []string {
	if r.Nodes == nil {
		return nil
	}
	return NodeColumns(r.Nodes.List()).ExtractColumns(country, agreementHash, extract)
}

// NodeColumns is a ColumnSource over a fixed list of nodes, e.g. what
// NodeService.ListNodes returned.
type NodeColumns []*hubv1.Node

// ExtractColumns implements ColumnSource.
func (ns NodeColumns) ExtractColumns(country, agreementHash, extract string) []string {
	for _, n := range ns {
		if n.GetCountry() != country {
			continue
		}
		if agreementHash == "" || n.GetAgreementHash() != agreementHash {
			return nil
		}
		return GrantColumns(n.GetAgreement(), extract)
	}
	return nil
}

// GrantColumns returns the column names of the named extract in a
// published agreement: its fields without their generalisation
// ("period=month" is column "period"), in the block's order, which is the
// order of the values in the node's rows. Nil when the agreement has no
// such extract.
func GrantColumns(s *queryv1.AgreementSummary, extract string) []string {
	for _, g := range s.GetExtracts() {
		if g.GetName() != extract {
			continue
		}
		cols := make([]string, len(g.GetFields()))
		for i, f := range g.GetFields() {
			name, _, _ := strings.Cut(f, "=")
			cols[i] = name
		}
		return cols
	}
	return nil
}

// extractCoverage is the per-state columns every line of an extract CSV
// ends with, then the query's period and the run.
var extractCoverage = []string{"state_status", "state_rows", "state_withheld_rows", "state_reason", "period_from", "period_to", "run_id"}

// genericColumns names the values of rows whose columns are not known:
// value_1, value_2, ...
func genericColumns(n int) []string {
	cols := make([]string, n)
	for i := range cols {
		cols[i] = "value_" + strconv.Itoa(i+1)
	}
	return cols
}

// stateStatusName is the CSV spelling of a state's status: ANSWERED,
// REFUSED, ...
func stateStatusName(s hubv1.StateStatus) string {
	return strings.TrimPrefix(s.String(), "STATE_STATUS_")
}

// renderExtractCSV writes an extract run as one table: a line per
// disclosed row (country, pseudonym, the extract's columns, then the
// state's coverage), and for every state that sent no row a single line
// with empty pseudonym and values that carries its coverage, so a reader
// of the file always sees which states are missing and why.
//
// Columns are the union of the states' columns in order of first
// appearance (states in code order); a state lacking a column has it
// empty. A state whose column names are unknown (no ColumnSource, or its
// agreement has changed since) gets value_1, value_2, ...
func renderExtractCSV(run *hubv1.Run, src ColumnSource) ([]byte, error) {
	x := run.GetExtract()
	rowsOf := map[string][]*queryv1.ExtractRow{}
	for _, r := range run.GetRows() {
		rowsOf[r.GetCountry()] = append(rowsOf[r.GetCountry()], r.GetRow())
	}
	// Columns of each state, and their union.
	colsOf := map[string][]string{}
	var union []string
	for _, st := range run.GetStates() {
		rs := rowsOf[st.GetCountry()]
		if len(rs) == 0 {
			continue
		}
		width := 0
		for _, r := range rs {
			width = max(width, len(r.GetValues()))
		}
		var cols []string
		if src != nil {
			cols = src.ExtractColumns(st.GetCountry(), st.GetAgreementHash(), x.GetExtract())
		}
		if len(cols) != width {
			cols = genericColumns(width)
		}
		colsOf[st.GetCountry()] = cols
		for _, c := range cols {
			if !slices.Contains(union, c) {
				union = append(union, c)
			}
		}
	}
	index := make(map[string]int, len(union))
	for i, c := range union {
		index[c] = i
	}

	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := append([]string{"country", "pseudonym"}, union...)
	header = append(header, extractCoverage...)
	if err := w.Write(header); err != nil {
		return nil, fmt.Errorf("write csv: %w", err)
	}
	for _, st := range run.GetStates() {
		cc := st.GetCountry()
		rs := rowsOf[cc]
		tail := []string{stateStatusName(st.GetStatus()), strconv.Itoa(len(rs)), strconv.FormatInt(st.GetWithheldRows(), 10),
			st.GetReason(), x.GetPeriodFrom(), x.GetPeriodTo(), run.GetId()}
		if len(rs) == 0 {
			line := make([]string, 2+len(union), len(header))
			line[0] = cc
			if err := w.Write(append(line, tail...)); err != nil {
				return nil, fmt.Errorf("write csv: %w", err)
			}
			continue
		}
		cols := colsOf[cc]
		for _, r := range rs {
			line := make([]string, 2+len(union), len(header))
			line[0], line[1] = cc, r.GetPseudonym()
			for i, v := range r.GetValues() {
				line[2+index[cols[i]]] = v
			}
			if err := w.Write(append(line, tail...)); err != nil {
				return nil, fmt.Errorf("write csv: %w", err)
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("write csv: %w", err)
	}
	return buf.Bytes(), nil
}
