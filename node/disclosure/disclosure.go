// Package disclosure turns the engine's exact cells into the cells a node
// may send: primary suppression of small cells, then keyed random rounding
// to base 3 (RR3).
//
// Suppression is decided on the exact value, before rounding, so rounding
// can never reveal or hide a small cell. The random draw of RR3 comes from
// HMAC-SHA256 under the node's secret of the cell's canonical definition
// (measure, fees currency, sorted filters, period, and the cell's own
// (dimension, value) pairs sorted by dimension id): the same cell gets the
// same value however often it is asked and in whatever group_by order, so
// repeating or re-slicing a query cannot average the noise away.
package disclosure

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// Rounding rules.
const (
	// RoundingNone sends exact values (above the threshold).
	RoundingNone = "none"
	// RoundingRR3 is keyed random rounding to base 3.
	RoundingRR3 = "rr3"
)

// Rule is the disclosure control of an agreement.
type Rule struct {
	// MinCell is the minimum cell size: exact values in 1..MinCell-1 are
	// suppressed. 1 suppresses nothing.
	MinCell int
	// SuppressZeros treats zero cells as small cells.
	SuppressZeros bool
	// Rounding is RoundingNone or RoundingRR3.
	Rounding string
	// FeesCurrency is the currency fees_paid is summed in; part of the cell
	// definition so a change of currency is a different cell.
	FeesCurrency string
	// Secret keys the rounding; at least 16 bytes for RR3.
	Secret []byte
}

// Summary counts what Apply did, for explanations.
type Summary struct {
	// Cells is the number of cells.
	Cells int
	// Suppressed is the number suppressed below MinCell.
	Suppressed int
	// SuppressedZeros is the number of zero cells suppressed.
	SuppressedZeros int
	// Rounded is the number of cells rounded.
	Rounded int
}

// Apply returns the disclosed cells of q, one per exact cell, in the same
// order.
func Apply(rule Rule, q *queryv1.AggregateQuery, cells []engine.RawCell) ([]*queryv1.Cell, Summary, error) {
	if rule.Rounding != RoundingNone && rule.Rounding != RoundingRR3 {
		return nil, Summary{}, fmt.Errorf("rounding %q: want none or rr3", rule.Rounding)
	}
	if rule.Rounding == RoundingRR3 && len(rule.Secret) < 16 {
		return nil, Summary{}, fmt.Errorf("rr3 rounding needs a node secret of at least 16 bytes")
	}
	m, _ := registry.MeasureByID(q.GetMeasure())
	base := baseDefinition(q, rule.FeesCurrency)
	out := make([]*queryv1.Cell, 0, len(cells))
	s := Summary{Cells: len(cells)}
	for _, c := range cells {
		size := c.Value
		if m.Sum {
			// A sum is small when few persons contribute to it.
			size = c.Units
		}
		switch {
		case c.Value == 0 && rule.SuppressZeros:
			out = append(out, suppressed(c.Key))
			s.SuppressedZeros++
			continue
		case size > 0 && size < int64(rule.MinCell):
			out = append(out, suppressed(c.Key))
			s.Suppressed++
			continue
		}
		if rule.Rounding == RoundingNone {
			out = append(out, &queryv1.Cell{Key: c.Key, Value: c.Value, Status: queryv1.CellStatus_CELL_STATUS_EXACT})
			continue
		}
		// Every cell under RR3 is ROUNDED, including multiples of 3 left
		// unchanged: an EXACT status would tell which ones they are.
		v := RR3(c.Value, draw(rule.Secret, base, q.GetGroupBy(), c.Key))
		out = append(out, &queryv1.Cell{Key: c.Key, Value: v, Status: queryv1.CellStatus_CELL_STATUS_ROUNDED})
		s.Rounded++
	}
	return out, s, nil
}

func suppressed(key []string) *queryv1.Cell {
	return &queryv1.Cell{Key: key, Value: 0, Status: queryv1.CellStatus_CELL_STATUS_SUPPRESSED}
}

// RR3 rounds n to a multiple of 3 with draw r in {0, 1, 2}: n ≡ 0 stays;
// n ≡ 1 goes down 1 when r < 2 (p 2/3) and up 2 otherwise; n ≡ 2 goes down 2
// when r < 1 (p 1/3) and up 1 otherwise. Unbiased; never more than 2 away.
func RR3(n int64, r uint8) int64 {
	switch ((n % 3) + 3) % 3 {
	case 1:
		if r < 2 {
			return n - 1
		}
		return n + 2
	case 2:
		if r < 1 {
			return n - 2
		}
		return n + 1
	}
	return n
}

// baseDefinition is the canonical spelling of what a query's cells share:
// measure, fees currency, filters (sorted by dimension, values sorted and
// without repeats), period.
func baseDefinition(q *queryv1.AggregateQuery, feesCurrency string) []byte {
	var b []byte
	put := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	put("vrs.disclosure.cell.v1")
	put(q.GetMeasure())
	if m, _ := registry.MeasureByID(q.GetMeasure()); m.Sum {
		put(feesCurrency)
	} else {
		put("")
	}
	type f struct {
		dim  string
		vals []string
	}
	var fs []f
	for _, x := range q.GetFilters() {
		v := slices.Clone(x.GetValues())
		slices.Sort(v)
		fs = append(fs, f{x.GetDimension(), slices.Compact(v)})
	}
	slices.SortFunc(fs, func(a, b f) int {
		if c := strings.Compare(a.dim, b.dim); c != 0 {
			return c
		}
		return slices.Compare(a.vals, b.vals)
	})
	fs = slices.CompactFunc(fs, func(a, b f) bool { return a.dim == b.dim && slices.Equal(a.vals, b.vals) })
	b = binary.BigEndian.AppendUint32(b, uint32(len(fs)))
	for _, x := range fs {
		put(x.dim)
		b = binary.BigEndian.AppendUint32(b, uint32(len(x.vals)))
		for _, v := range x.vals {
			put(v)
		}
	}
	put(q.GetPeriodFrom())
	put(q.GetPeriodTo())
	return b
}

// CellDefinition returns the canonical bytes the draw of one cell is keyed
// on: the query's base definition followed by the cell's (dimension, value)
// pairs sorted by dimension id.
func CellDefinition(q *queryv1.AggregateQuery, feesCurrency string, key []string) []byte {
	return cellDefinition(baseDefinition(q, feesCurrency), q.GetGroupBy(), key)
}

func cellDefinition(base []byte, groupBy, key []string) []byte {
	type pair struct{ dim, val string }
	pairs := make([]pair, len(groupBy))
	for i := range groupBy {
		pairs[i] = pair{groupBy[i], key[i]}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.dim, b.dim) })
	b := slices.Clone(base)
	b = binary.BigEndian.AppendUint32(b, uint32(len(pairs)))
	for _, p := range pairs {
		for _, s := range []string{p.dim, p.val} {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// Draw returns the keyed draw in {0, 1, 2} of the cell of q with key (in
// q's group_by order).
func Draw(secret []byte, q *queryv1.AggregateQuery, feesCurrency string, key []string) uint8 {
	return draw(secret, baseDefinition(q, feesCurrency), q.GetGroupBy(), key)
}

func draw(secret, base []byte, groupBy, key []string) uint8 {
	mac := hmac.New(sha256.New, secret)
	mac.Write(cellDefinition(base, groupBy, key))
	sum := mac.Sum(nil)
	// 2^64 mod 3 is 1: the bias is 2^-64, far below anything observable.
	return uint8(binary.BigEndian.Uint64(sum[:8]) % 3)
}
