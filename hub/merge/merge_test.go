package merge

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

const (
	exact  = queryv1.CellStatus_CELL_STATUS_EXACT
	round  = queryv1.CellStatus_CELL_STATUS_ROUNDED
	supp   = queryv1.CellStatus_CELL_STATUS_SUPPRESSED
	second = queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY
)

func cell(v int64, st queryv1.CellStatus, key ...string) *queryv1.Cell {
	return &queryv1.Cell{Key: key, Value: v, Status: st}
}

func answered(cc string, cells ...*queryv1.Cell) *hubv1.StateResult {
	return &hubv1.StateResult{Country: cc, Status: hubv1.StateStatus_STATE_STATUS_ANSWERED, Cells: cells}
}

func state(cc string, st hubv1.StateStatus) *hubv1.StateResult {
	return &hubv1.StateResult{Country: cc, Status: st}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		states []*hubv1.StateResult
		want   []*hubv1.RegionalCell
	}{
		{
			name: "sum, coverage and status",
			states: []*hubv1.StateResult{
				answered("THA", cell(7, exact, "SEA")),
				answered("IDN", cell(5, exact, "SEA"), cell(6, round, "AIR")),
				state("MYS", hubv1.StateStatus_STATE_STATUS_REFUSED),
				state("AUS", hubv1.StateStatus_STATE_STATUS_OFFLINE),
			},
			want: []*hubv1.RegionalCell{
				{Key: []string{"AIR"}, Value: 6, Status: round, Contributors: []string{"IDN", "THA"}, Missing: []string{"AUS", "MYS"}},
				{Key: []string{"SEA"}, Value: 12, Status: exact, Contributors: []string{"IDN", "THA"}, Missing: []string{"AUS", "MYS"}},
			},
		},
		{
			name: "suppressed contribution left out of the sum",
			states: []*hubv1.StateResult{
				answered("THA", cell(0, supp, "SEA")),
				answered("IDN", cell(9, exact, "SEA")),
				state("PNG", hubv1.StateStatus_STATE_STATUS_PENDING),
			},
			want: []*hubv1.RegionalCell{
				{Key: []string{"SEA"}, Value: 9, Status: exact, Contributors: []string{"IDN"}, SuppressedBy: []string{"THA"}, Missing: []string{"PNG"}},
			},
		},
		{
			name: "every answered state suppressed",
			states: []*hubv1.StateResult{
				answered("THA", cell(0, supp, "SEA")),
				answered("IDN", cell(0, supp, "SEA")),
			},
			want: []*hubv1.RegionalCell{
				{Key: []string{"SEA"}, Status: supp, SuppressedBy: []string{"IDN", "THA"}},
			},
		},
		{
			name: "total without group_by",
			states: []*hubv1.StateResult{
				answered("THA", cell(30, round)),
				answered("IDN", cell(12, exact)),
				state("MYS", hubv1.StateStatus_STATE_STATUS_TIMED_OUT),
			},
			want: []*hubv1.RegionalCell{
				{Key: nil, Value: 42, Status: round, Contributors: []string{"IDN", "THA"}, Missing: []string{"MYS"}},
			},
		},
		{
			name: "one suppressed cell in a line gets a complement",
			states: []*hubv1.StateResult{
				answered("THA", cell(10, exact, "AIR"), cell(0, supp, "LAND"), cell(20, exact, "SEA")),
				answered("IDN", cell(8, exact, "AIR"), cell(9, exact, "LAND"), cell(4, exact, "SEA")),
			},
			want: []*hubv1.RegionalCell{
				{Key: []string{"AIR"}, Value: 0, Status: second, Contributors: []string{"IDN", "THA"}},
				{Key: []string{"LAND"}, Value: 9, Status: exact, Contributors: []string{"IDN"}, SuppressedBy: []string{"THA"}},
				{Key: []string{"SEA"}, Value: 24, Status: exact, Contributors: []string{"IDN", "THA"}},
			},
		},
		{
			// IDN knows its own suppressed SEA value, so without a
			// complement it would learn THA's LAND value, and THA IDN's.
			name: "two suppressors in a line still need a complement",
			states: []*hubv1.StateResult{
				answered("THA", cell(10, exact, "AIR"), cell(0, supp, "LAND"), cell(20, exact, "SEA")),
				answered("IDN", cell(8, exact, "AIR"), cell(9, exact, "LAND"), cell(0, supp, "SEA")),
				answered("MYS", cell(8, exact, "AIR"), cell(9, exact, "LAND")),
			},
			want: []*hubv1.RegionalCell{
				{Key: []string{"AIR"}, Value: 26, Status: exact, Contributors: []string{"IDN", "MYS", "THA"}},
				{Key: []string{"LAND"}, Value: 18, Status: exact, Contributors: []string{"IDN", "MYS"}, SuppressedBy: []string{"THA"}},
				{Key: []string{"SEA"}, Value: 0, Status: second, Contributors: []string{"MYS", "THA"}, SuppressedBy: []string{"IDN"}},
			},
		},
		{
			name: "two suppressed cells of one state need no complement",
			states: []*hubv1.StateResult{
				answered("THA", cell(10, exact, "AIR"), cell(0, supp, "LAND"), cell(0, supp, "SEA")),
				answered("IDN", cell(8, exact, "AIR"), cell(9, exact, "LAND"), cell(7, exact, "SEA")),
			},
			want: []*hubv1.RegionalCell{
				{Key: []string{"AIR"}, Value: 18, Status: exact, Contributors: []string{"IDN", "THA"}},
				{Key: []string{"LAND"}, Value: 9, Status: exact, Contributors: []string{"IDN"}, SuppressedBy: []string{"THA"}},
				{Key: []string{"SEA"}, Value: 7, Status: exact, Contributors: []string{"IDN"}, SuppressedBy: []string{"THA"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Merge(tt.states)
			if !equalCells(tt.want, got) {
				t.Errorf("Merge() = %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestMergeTwoDimensions(t *testing.T) {
	t.Parallel()
	// THA suppressed one cell of a 3×3 origin × destination table.
	var tha, idn []*queryv1.Cell
	for _, o := range []string{"AFG", "LKA", "MMR"} {
		for _, d := range []string{"AUS", "IDN", "MYS"} {
			if o == "LKA" && d == "AUS" {
				tha = append(tha, cell(0, supp, o, d))
			} else {
				tha = append(tha, cell(10, exact, o, d))
			}
			idn = append(idn, cell(6, exact, o, d))
		}
	}
	got := Merge([]*hubv1.StateResult{answered("THA", tha...), answered("IDN", idn...)})
	secondary := 0
	for _, c := range got {
		if c.GetStatus() == second {
			secondary++
		}
	}
	// The row and the column of the suppressed cell each need another
	// withheld quantity, and the crossing cell keeps those from peeling.
	if secondary < 2 {
		t.Fatalf("want at least 2 secondary cells, got %d: %v", secondary, got)
	}
	if leak := singleSubtractionLeak(got); leak != "" {
		t.Fatal(leak)
	}
}

func TestMargins(t *testing.T) {
	t.Parallel()
	cells := []*hubv1.RegionalCell{
		{Key: []string{"AFG", "AUS"}, Value: 10, Status: exact, Contributors: []string{"IDN"}},
		{Key: []string{"AFG", "MYS"}, Value: 0, Status: second, Contributors: []string{"IDN"}},
		{Key: []string{"LKA", "AUS"}, Value: 6, Status: round, Contributors: []string{"THA"}, SuppressedBy: []string{"IDN"}},
	}
	got := Margins(cells, []int{1})
	want := []*hubv1.RegionalCell{
		{Key: []string{TotalCode, "AUS"}, Value: 16, Status: round, Contributors: []string{"IDN", "THA"}, SuppressedBy: []string{"IDN"}},
		{Key: []string{TotalCode, "MYS"}, Value: 0, Status: second},
	}
	if !equalCells(want, got) {
		t.Errorf("Margins() = %v\nwant %v", got, want)
	}
	total := Margins(cells, nil)
	if len(total) != 1 || total[0].GetValue() != 16 {
		t.Errorf("grand total = %v, want 16", total)
	}
}

// singleSubtractionLeak checks the claim of docs/exports.md directly: for
// every line of the table and every attacker (the outsider, or a state that
// knows its own contributions and the cells it alone contributes to), the
// line's margin minus its published cells must not leave exactly one
// unknown quantity that is another state's suppressed value.
func singleSubtractionLeak(cells []*hubv1.RegionalCell) string {
	if len(cells) == 0 {
		return ""
	}
	states := map[string]bool{"": true}
	for _, c := range cells {
		for _, s := range slices.Concat(c.GetContributors(), c.GetSuppressedBy()) {
			states[s] = true
		}
	}
	dims := len(cells[0].GetKey())
	for d := range dims {
		lines := map[string][]*hubv1.RegionalCell{}
		for _, c := range cells {
			k := strings.Join(slices.Concat(c.GetKey()[:d], c.GetKey()[d+1:]), "|")
			lines[k] = append(lines[k], c)
		}
		for lk, line := range lines {
			if len(line) < 2 {
				continue
			}
			for a := range states {
				var unknown []string
				for _, c := range line {
					for _, s := range c.GetSuppressedBy() {
						if s != a {
							unknown = append(unknown, "primary "+s)
						}
					}
					if c.GetStatus() == second {
						cs := c.GetContributors()
						if !(len(cs) == 1 && cs[0] == a) {
							unknown = append(unknown, "secondary")
						}
					}
				}
				if len(unknown) == 1 && strings.HasPrefix(unknown[0], "primary") {
					return fmt.Sprintf("dimension %d line %q: attacker %q recovers %s", d, lk, a, unknown[0])
				}
			}
		}
	}
	return ""
}

func TestSecondarySuppressionProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		const minCell = 5
		dims := rapid.IntRange(1, 3).Draw(t, "dims")
		sizes := make([]int, dims)
		for i := range sizes {
			sizes[i] = rapid.IntRange(1, 4).Draw(t, fmt.Sprintf("size%d", i))
		}
		var keys [][]string
		var walk func(prefix []string)
		walk = func(prefix []string) {
			if len(prefix) == dims {
				keys = append(keys, slices.Clone(prefix))
				return
			}
			for v := range sizes[len(prefix)] {
				walk(append(prefix, fmt.Sprintf("v%d", v)))
			}
		}
		walk(nil)

		nStates := rapid.IntRange(1, 5).Draw(t, "states")
		var states []*hubv1.StateResult
		truth := map[string]map[string]int64{} // state -> key -> true value
		for s := range nStates {
			cc := fmt.Sprintf("S%02d", s)
			if !rapid.Bool().Draw(t, cc+"answered") && s > 0 {
				states = append(states, state(cc, hubv1.StateStatus_STATE_STATUS_REFUSED))
				continue
			}
			truth[cc] = map[string]int64{}
			var cells []*queryv1.Cell
			for _, k := range keys {
				v := rapid.Int64Range(0, 30).Draw(t, cc+strings.Join(k, ","))
				if v == 0 {
					continue // absent: a disclosed zero
				}
				truth[cc][strings.Join(k, sep)] = v
				if v < minCell {
					cells = append(cells, cell(0, supp, k...))
				} else {
					cells = append(cells, cell(v, exact, k...))
				}
			}
			states = append(states, answered(cc, cells...))
		}

		got := Merge(states)
		if leak := singleSubtractionLeak(got); leak != "" {
			t.Fatal(leak)
		}
		for _, c := range got {
			k := strings.Join(c.GetKey(), sep)
			var sum int64
			for _, s := range c.GetContributors() {
				sum += truth[s][k]
			}
			switch c.GetStatus() {
			case exact:
				if c.GetValue() != sum {
					t.Fatalf("cell %v = %d, want the contributors' sum %d", c.GetKey(), c.GetValue(), sum)
				}
			case second, supp:
				if c.GetValue() != 0 {
					t.Fatalf("withheld cell %v carries value %d", c.GetKey(), c.GetValue())
				}
			default:
				t.Fatalf("cell %v has status %v", c.GetKey(), c.GetStatus())
			}
		}
		// Hub margins hold published values only: every margin minus the
		// published cells of its line is zero, so it never yields a
		// withheld value.
		for d := range dims {
			keep := make([]int, 0, dims-1)
			for i := range dims {
				if i != d {
					keep = append(keep, i)
				}
			}
			for _, m := range Margins(got, keep) {
				var pub int64
				for _, c := range got {
					match := true
					for _, p := range keep {
						if c.GetKey()[p] != m.GetKey()[p] {
							match = false
						}
					}
					if match && Published(c) {
						pub += c.GetValue()
					}
				}
				if m.GetValue() != pub {
					t.Fatalf("margin %v = %d, published cells sum to %d", m.GetKey(), m.GetValue(), pub)
				}
			}
		}
	})
}

func equalCells(a, b []*hubv1.RegionalCell) bool {
	return slices.EqualFunc(a, b, func(x, y *hubv1.RegionalCell) bool { return proto.Equal(x, y) })
}

// BenchmarkMergeRoutes merges a 45-state origin × destination × mode table
// (30 × 20 × 4 keys, sparse, many small cells).
func BenchmarkMergeRoutes(b *testing.B) {
	var states []*hubv1.StateResult
	for s := range 45 {
		var cells []*queryv1.Cell
		for o := range 30 {
			for d := range 20 {
				for m := range 4 {
					h := (s*7919 + o*104729 + d*1299709 + m*15485863) % 97
					switch {
					case h < 60:
						continue
					case h < 75:
						cells = append(cells, cell(0, supp, fmt.Sprintf("O%02d", o), fmt.Sprintf("D%02d", d), fmt.Sprintf("M%d", m)))
					default:
						cells = append(cells, cell(int64(h), exact, fmt.Sprintf("O%02d", o), fmt.Sprintf("D%02d", d), fmt.Sprintf("M%d", m)))
					}
				}
			}
		}
		states = append(states, answered(fmt.Sprintf("S%02d", s), cells...))
	}
	b.ResetTimer()
	for b.Loop() {
		Merge(states)
	}
}
