// Package merge turns the per-state answers of a run into the regional
// table: one cell per key, the sum of the states' disclosed values, with the
// coverage of every cell (who contributed, who suppressed, who is missing)
// and the hub's secondary suppression over the combined table.
//
// The rules, and why they are sound, are written down in docs/exports.md
// ("Merge" and "Secondary suppression"); the comments here point at them.
package merge

import (
	"slices"
	"strings"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// TotalCode is the key value a margin carries in the positions it sums over
// (the SDMX code for "total").
const TotalCode = "_T"

// sep joins key parts into a map key; it cannot occur in a dimension value.
const sep = "\x1f"

// Merge builds the regional table of a run from every state asked.
//
// A regional cell is the sum of the ANSWERED states' disclosed values for its
// key; a key absent from a state's answer is a disclosed zero for that state,
// so that state is a contributor. States whose cell is SUPPRESSED are listed
// in suppressed_by and their value is not in the sum; states that did not
// answer are listed in missing on every cell. The status is ROUNDED when any
// contribution was rounded, EXACT otherwise, SUPPRESSED when every answered
// state suppressed the key, and SUPPRESSED_SECONDARY when the hub withheld the
// cell (see Protect). Cells come back in key order.
func Merge(states []*hubv1.StateResult) []*hubv1.RegionalCell {
	var answered []*hubv1.StateResult
	var missing []string
	for _, s := range states {
		if s.GetStatus() == hubv1.StateStatus_STATE_STATUS_ANSWERED {
			answered = append(answered, s)
		} else {
			missing = append(missing, s.GetCountry())
		}
	}
	slices.Sort(missing)
	slices.SortFunc(answered, func(a, b *hubv1.StateResult) int { return strings.Compare(a.GetCountry(), b.GetCountry()) })

	type acc struct {
		key        []string
		value      int64
		rounded    bool
		suppressed map[string]bool
	}
	cells := map[string]*acc{}
	for _, s := range answered {
		for _, c := range s.GetCells() {
			k := strings.Join(c.GetKey(), sep)
			a := cells[k]
			if a == nil {
				a = &acc{key: slices.Clone(c.GetKey()), suppressed: map[string]bool{}}
				cells[k] = a
			}
			switch c.GetStatus() {
			case queryv1.CellStatus_CELL_STATUS_SUPPRESSED, queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
				a.suppressed[s.GetCountry()] = true
			case queryv1.CellStatus_CELL_STATUS_ROUNDED:
				a.value += c.GetValue()
				a.rounded = true
			default:
				a.value += c.GetValue()
			}
		}
	}

	out := make([]*hubv1.RegionalCell, 0, len(cells))
	for _, a := range cells {
		rc := &hubv1.RegionalCell{Key: a.key, Missing: slices.Clone(missing)}
		for _, s := range answered {
			if a.suppressed[s.GetCountry()] {
				rc.SuppressedBy = append(rc.SuppressedBy, s.GetCountry())
			} else {
				rc.Contributors = append(rc.Contributors, s.GetCountry())
			}
		}
		switch {
		case len(rc.Contributors) == 0:
			// Nobody disclosed a value: there is nothing to publish.
			rc.Status = queryv1.CellStatus_CELL_STATUS_SUPPRESSED
		case a.rounded:
			rc.Status = queryv1.CellStatus_CELL_STATUS_ROUNDED
			rc.Value = a.value
		default:
			rc.Status = queryv1.CellStatus_CELL_STATUS_EXACT
			rc.Value = a.value
		}
		out = append(out, rc)
	}
	SortCells(out)
	Protect(out)
	return out
}

// SortCells orders cells by key, part by part.
func SortCells(cells []*hubv1.RegionalCell) {
	slices.SortFunc(cells, func(a, b *hubv1.RegionalCell) int { return slices.Compare(a.GetKey(), b.GetKey()) })
}

// Published reports whether a regional cell's value is published (EXACT or
// ROUNDED), as opposed to withheld.
func Published(c *hubv1.RegionalCell) bool {
	s := c.GetStatus()
	return s == queryv1.CellStatus_CELL_STATUS_EXACT || s == queryv1.CellStatus_CELL_STATUS_ROUNDED
}

// Margins sums a regional table over the key positions not in keep and
// returns one margin cell per distinct value of the kept positions; summed
// positions carry TotalCode. keep empty gives the grand total.
//
// A margin is the sum of the PUBLISHED cells it covers and nothing else:
// neither a state's suppressed contribution nor a cell the hub withheld is
// ever in it, so subtracting published cells from a margin yields a
// published cell or nothing, never a withheld value. Its suppressed_by is the
// union of the covered cells' (so a reader sees the margin is partial), its
// contributors the union of the published cells' contributors, its missing
// the union of the cells' missing. A margin whose covered cells are all
// withheld has status SUPPRESSED_SECONDARY and value 0.
func Margins(cells []*hubv1.RegionalCell, keep []int) []*hubv1.RegionalCell {
	type acc struct {
		cell                            *hubv1.RegionalCell
		published, rounded              bool
		contributors, suppressed, missg map[string]bool
	}
	m := map[string]*acc{}
	var order []*acc
	for _, c := range cells {
		key := make([]string, len(c.GetKey()))
		for i := range key {
			key[i] = TotalCode
		}
		for _, p := range keep {
			if p >= 0 && p < len(key) {
				key[p] = c.GetKey()[p]
			}
		}
		k := strings.Join(key, sep)
		a := m[k]
		if a == nil {
			a = &acc{cell: &hubv1.RegionalCell{Key: key}, contributors: map[string]bool{}, suppressed: map[string]bool{}, missg: map[string]bool{}}
			m[k] = a
			order = append(order, a)
		}
		for _, s := range c.GetSuppressedBy() {
			a.suppressed[s] = true
		}
		for _, s := range c.GetMissing() {
			a.missg[s] = true
		}
		if !Published(c) {
			continue
		}
		a.published = true
		a.cell.Value += c.GetValue()
		if c.GetStatus() == queryv1.CellStatus_CELL_STATUS_ROUNDED {
			a.rounded = true
		}
		for _, s := range c.GetContributors() {
			a.contributors[s] = true
		}
	}
	out := make([]*hubv1.RegionalCell, 0, len(order))
	for _, a := range order {
		switch {
		case !a.published:
			a.cell.Status = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
		case a.rounded:
			a.cell.Status = queryv1.CellStatus_CELL_STATUS_ROUNDED
		default:
			a.cell.Status = queryv1.CellStatus_CELL_STATUS_EXACT
		}
		a.cell.Contributors = sortedSet(a.contributors)
		a.cell.SuppressedBy = sortedSet(a.suppressed)
		a.cell.Missing = sortedSet(a.missg)
		out = append(out, a.cell)
	}
	SortCells(out)
	return out
}

func sortedSet(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
