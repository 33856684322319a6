package merge

import (
	"slices"
	"strconv"
	"strings"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// item is one withheld quantity of the table: a state's suppressed
// contribution to a cell (state set) or a regional cell the hub withheld
// (state empty).
type item struct {
	cell  int
	state string
}

// outsider is the attacker who knows nothing but the published table.
const outsider = ""

// Protect applies secondary suppression to a regional table in place and
// returns how many cells it withheld. Merge calls it; it is exported for
// tables assembled another way.
//
// The threat (docs/exports.md, "Secondary suppression"): every line of the
// table (the cells that share all key values but one) has a margin that may
// be published elsewhere, e.g. by a coarser run whose cell a state did not
// suppress. The margin minus the line's published cells is the sum of the
// line's withheld quantities. An attacker (an outsider, or a state that
// knows its own contributions) who sees a line with exactly one withheld
// quantity it does not know learns that quantity, and may use it in crossing
// lines (peeling). Protect simulates that attack for the outsider and every
// state that knows something, and whenever it would reveal another state's
// suppressed value it withholds a complementary cell of that line: the
// smallest positive published cell whose value the attacker does not know,
// else the smallest such cell, else the cell itself. It repeats until no
// attacker can peel a suppressed value.
func Protect(cells []*hubv1.RegionalCell) int {
	if len(cells) < 2 {
		return 0
	}
	lines := buildLines(cells)
	if len(lines) == 0 {
		return 0
	}
	withheld := 0
	giveUp := map[string]bool{}
	// Withholding a cell only takes knowledge away from an attacker, so
	// once an attacker has no leak, later fixes for others cannot give it
	// one: each attacker is handled once, until it has no leak left.
	items, byCell := collectItems(cells)
	if len(items) == 0 {
		return 0
	}
	for _, a := range attackers(cells) {
		for {
			lk, ok := findLeak(cells, lines, items, byCell, a, giveUp)
			if !ok {
				break
			}
			j := fix(cells, lines, items, lk, a)
			if j < 0 {
				// Nothing left to withhold: the attacker already knows
				// every other quantity of the lines involved, which
				// needs a state that alone contributes to all of them.
				// Record it so the loop ends.
				giveUp[giveUpKey(a, items[lk.item])] = true
				continue
			}
			cells[j].Status = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
			cells[j].Value = 0
			byCell[j] = append(byCell[j], len(items))
			items = append(items, item{cell: j})
			withheld++
		}
	}
	return withheld
}

// buildLines groups cell indexes into lines: for each key position, the
// cells that agree on every other position. Lines of one cell are dropped:
// their margin is the cell itself.
func buildLines(cells []*hubv1.RegionalCell) [][]int {
	dims := len(cells[0].GetKey())
	if dims == 0 {
		return nil
	}
	var lines [][]int
	for d := range dims {
		idx := map[string]int{}
		var group [][]int
		for i, c := range cells {
			if len(c.GetKey()) != dims {
				continue
			}
			rest := slices.Concat(c.GetKey()[:d], c.GetKey()[d+1:])
			k := strings.Join(rest, sep)
			g, ok := idx[k]
			if !ok {
				g = len(group)
				idx[k] = g
				group = append(group, nil)
			}
			group[g] = append(group[g], i)
		}
		for _, g := range group {
			if len(g) > 1 {
				lines = append(lines, g)
			}
		}
	}
	return lines
}

func collectItems(cells []*hubv1.RegionalCell) ([]item, [][]int) {
	var items []item
	byCell := make([][]int, len(cells))
	for i, c := range cells {
		for _, s := range c.GetSuppressedBy() {
			byCell[i] = append(byCell[i], len(items))
			items = append(items, item{cell: i, state: s})
		}
		if c.GetStatus() == queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY {
			byCell[i] = append(byCell[i], len(items))
			items = append(items, item{cell: i})
		}
	}
	return items, byCell
}

// attackers lists who knows something beyond the published table: the
// outsider, every state that suppressed a cell (it knows its own value), and
// every state that is the sole contributor of a cell (it knows that cell's
// value even when withheld). Other states know no more than the outsider.
func attackers(cells []*hubv1.RegionalCell) []string {
	set := map[string]bool{}
	for _, c := range cells {
		for _, s := range c.GetSuppressedBy() {
			set[s] = true
		}
		if len(c.GetContributors()) == 1 {
			set[c.GetContributors()[0]] = true
		}
	}
	out := []string{outsider}
	out = append(out, sortedSet(set)...)
	return out
}

// knows reports whether attacker a knows a withheld cell's value before any
// subtraction: only when a is its only contributor (or it has none).
func knowsCell(c *hubv1.RegionalCell, a string) bool {
	cs := c.GetContributors()
	return len(cs) == 0 || (len(cs) == 1 && cs[0] == a && a != outsider)
}

// leak is a line where an attacker would learn another state's suppressed
// value; via holds, for every other withheld item of the line that the
// attacker learnt by subtraction, the line it learnt it from.
type leak struct {
	line, item int
	via        map[int]int
}

// findLeak runs the peeling attack for attacker a in rounds (every line is
// judged on what was known when the round began, so a leak visible without
// any peeling is found before one that needs it) and returns the first line
// where a would learn another state's suppressed value.
func findLeak(cells []*hubv1.RegionalCell, lines [][]int, items []item, byCell [][]int, a string, giveUp map[string]bool) (leak, bool) {
	known := make([]bool, len(items))
	for i, it := range items {
		if it.state == "" {
			known[i] = knowsCell(cells[it.cell], a)
		} else {
			known[i] = it.state == a
		}
	}
	derivedBy := map[int]int{} // item -> line it was learnt from
	for {
		learnt := map[int]int{}
		for l, line := range lines {
			unknown, count := -1, 0
			for _, ci := range line {
				for _, it := range byCell[ci] {
					if !known[it] {
						unknown = it
						count++
					}
				}
			}
			if count != 1 {
				continue
			}
			if items[unknown].state != "" && !giveUp[giveUpKey(a, items[unknown])] {
				lk := leak{line: l, item: unknown, via: map[int]int{}}
				for _, ci := range line {
					for _, it := range byCell[ci] {
						if v, ok := derivedBy[it]; ok {
							lk.via[it] = v
						}
					}
				}
				return lk, true
			}
			if _, ok := learnt[unknown]; !ok {
				learnt[unknown] = l
			}
		}
		if len(learnt) == 0 {
			return leak{}, false
		}
		for it, l := range learnt {
			known[it] = true
			derivedBy[it] = l
		}
	}
}

// fix withholds a cell that stops the leak: a complement in the leaking
// line, else a complement in a line the attacker used to learn one of the
// line's other withheld quantities. It returns -1 when neither exists.
func fix(cells []*hubv1.RegionalCell, lines [][]int, items []item, lk leak, a string) int {
	if j := complement(cells, lines[lk.line], items[lk.item].cell, a); j >= 0 {
		return j
	}
	its := make([]int, 0, len(lk.via))
	for it := range lk.via {
		its = append(its, it)
	}
	slices.Sort(its)
	for _, it := range its {
		if j := complement(cells, lines[lk.via[it]], items[it].cell, a); j >= 0 {
			return j
		}
	}
	return -1
}

// complement picks the cell of line to withhold so that attacker a faces two
// unknowns: the smallest positive published cell other than k whose value a
// does not know, else the smallest such cell, else k itself.
func complement(cells []*hubv1.RegionalCell, line []int, k int, a string) int {
	best := -1
	better := func(j int) bool {
		if best < 0 {
			return true
		}
		vj, vb := cells[j].GetValue(), cells[best].GetValue()
		if (vj > 0) != (vb > 0) {
			return vj > 0
		}
		return vj < vb
	}
	for _, j := range line {
		if j == k || !Published(cells[j]) || knowsCell(cells[j], a) {
			continue
		}
		if better(j) {
			best = j
		}
	}
	if best < 0 && Published(cells[k]) && !knowsCell(cells[k], a) {
		best = k
	}
	return best
}

func giveUpKey(a string, it item) string {
	return a + sep + strconv.Itoa(it.cell) + sep + it.state
}
