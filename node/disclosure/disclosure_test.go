package disclosure

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

var secret = bytes.Repeat([]byte{7}, 32)

func TestRR3Distribution(t *testing.T) {
	// Over many cells the draws follow the RR3 probabilities.
	q := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship"}}
	base := baseDefinition(q, "")
	var up1, up2 int
	const n = 30000
	for i := range n {
		key := []string{string(rune('A'+i%26)) + string(rune('A'+i/26%26)) + string(rune('A'+i/676))}
		if RR3(1, draw(secret, base, q.GroupBy, key)) == 3 {
			up1++
		}
		if RR3(2, draw(secret, base, q.GroupBy, key)) == 3 {
			up2++
		}
	}
	if f := float64(up1) / n; f < 0.30 || f > 0.37 {
		t.Errorf("n≡1 rounded up %.3f of the time, want 1/3", f)
	}
	if f := float64(up2) / n; f < 0.63 || f > 0.70 {
		t.Errorf("n≡2 rounded up %.3f of the time, want 2/3", f)
	}
}

func TestRR3Table(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		r    uint8
		want int64
	}{{0, 0, 0}, {3, 2, 3}, {1, 0, 0}, {1, 1, 0}, {1, 2, 3}, {2, 0, 0}, {2, 1, 3}, {2, 2, 3}, {7, 0, 6}, {8, 2, 9}} {
		if got := RR3(tt.n, tt.r); got != tt.want {
			t.Errorf("RR3(%d, %d) = %d, want %d", tt.n, tt.r, got, tt.want)
		}
	}
}

func TestApply(t *testing.T) {
	q := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex"}}
	cells := []engine.RawCell{{Key: []string{"FEMALE"}, Value: 0, Units: 0}, {Key: []string{"MALE"}, Value: 4, Units: 4}, {Key: []string{"OTHER"}, Value: 5, Units: 5}, {Key: []string{"UNKNOWN"}, Value: 12, Units: 12}}
	out, s, err := Apply(Rule{MinCell: 5, Rounding: RoundingNone}, q, cells)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		v  int64
		st queryv1.CellStatus
	}{{0, queryv1.CellStatus_CELL_STATUS_EXACT}, {0, queryv1.CellStatus_CELL_STATUS_SUPPRESSED}, {5, queryv1.CellStatus_CELL_STATUS_EXACT}, {12, queryv1.CellStatus_CELL_STATUS_EXACT}}
	for i, w := range want {
		if out[i].GetValue() != w.v || out[i].GetStatus() != w.st {
			t.Errorf("cell %d = %v, want %d %v", i, out[i], w.v, w.st)
		}
	}
	if s.Suppressed != 1 || s.SuppressedZeros != 0 {
		t.Errorf("summary %+v", s)
	}
	out, s, _ = Apply(Rule{MinCell: 5, Rounding: RoundingNone, SuppressZeros: true}, q, cells)
	if out[0].GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED || s.SuppressedZeros != 1 {
		t.Errorf("zero not suppressed: %v %+v", out[0], s)
	}
	out, _, _ = Apply(Rule{MinCell: 5, Rounding: RoundingRR3, Secret: secret}, q, cells)
	for _, c := range out[2:] {
		if c.GetStatus() != queryv1.CellStatus_CELL_STATUS_ROUNDED || c.GetValue()%3 != 0 {
			t.Errorf("cell not rounded to base 3: %v", c)
		}
	}
	// fees_paid: the small-cell rule counts persons paying, not currency units.
	fq := &queryv1.AggregateQuery{Measure: "fees_paid"}
	out, _, _ = Apply(Rule{MinCell: 5, Rounding: RoundingNone}, fq, []engine.RawCell{{Key: []string{}, Value: 9000, Units: 3}})
	if out[0].GetStatus() != queryv1.CellStatus_CELL_STATUS_SUPPRESSED {
		t.Errorf("fee paid by 3 persons not suppressed: %v", out[0])
	}
	if _, _, err := Apply(Rule{MinCell: 1, Rounding: RoundingRR3}, q, cells); err == nil {
		t.Error("rr3 without a secret accepted")
	}
}

// The same cell gets the same value whatever the group_by order, filter
// order or repetition; and never moves by more than 2.
func TestRoundingIsKeyedByCell(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Int64Range(0, 1000).Draw(t, "v")
		sex := rapid.SampledFrom([]string{"MALE", "FEMALE"}).Draw(t, "sex")
		cit := rapid.SampledFrom([]string{"MMR", "AFG", "unknown"}).Draw(t, "cit")
		filters := []*queryv1.Filter{{Dimension: "transport_mode", Values: []string{"SEA", "LAND"}}, {Dimension: "route.origin", Values: []string{"MMR"}}}
		q1 := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"sex", "citizenship"}, Filters: filters, PeriodFrom: "2026-01-01"}
		q2 := &queryv1.AggregateQuery{Measure: "migrants", GroupBy: []string{"citizenship", "sex"},
			Filters: []*queryv1.Filter{filters[1], {Dimension: "transport_mode", Values: []string{"LAND", "SEA"}}}, PeriodFrom: "2026-01-01"}
		rule := Rule{MinCell: 1, Rounding: RoundingRR3, Secret: secret}
		a, _, _ := Apply(rule, q1, []engine.RawCell{{Key: []string{sex, cit}, Value: v, Units: v}})
		b, _, _ := Apply(rule, q2, []engine.RawCell{{Key: []string{cit, sex}, Value: v, Units: v}})
		c, _, _ := Apply(rule, q1, []engine.RawCell{{Key: []string{sex, cit}, Value: v, Units: v}})
		if a[0].GetValue() != b[0].GetValue() || a[0].GetValue() != c[0].GetValue() {
			t.Fatalf("same cell, different values: %d %d %d", a[0].GetValue(), b[0].GetValue(), c[0].GetValue())
		}
		if d := a[0].GetValue() - v; d < -2 || d > 2 || a[0].GetValue()%3 != 0 {
			t.Fatalf("%d rounded to %d", v, a[0].GetValue())
		}
	})
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := LoadOrCreateSecret(db)
	if err != nil || len(s1) != SecretSize {
		t.Fatalf("%x %v", s1, err)
	}
	db.Close()
	db, err = kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s2, err := LoadOrCreateSecret(db)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("secret changed across restarts: %x %x %v", s1, s2, err)
	}
}
