// Package extract builds a node's redacted extracts (DESIGN §6): one row
// per incident of the period that passes the filters, holding only the
// fields the agreement's named extract lists, each generalised as agreed;
// rows whose quasi-identifier combination occurs fewer than k times are
// withheld (k-anonymity).
//
// Nothing in a row identifies a record: there is no national reference,
// only a pseudonym keyed with a random key made for the one answer and
// then dropped, so pseudonyms are stable within an answer and cannot be
// linked across answers; rows are sorted by their generalised values with
// ties broken by pseudonym, so their order says nothing about record order
// or ids.
package extract

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/engine"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// MaxRows is the most incidents one extract may cover before
// suppression, so that an answer fits a federation message.
const MaxRows = 100_000

// ErrTooLarge is wrapped when the period and filters leave more than
// MaxRows incidents.
var ErrTooLarge = errors.New("extract too large")

// pseudonymBytes is how much of the HMAC a pseudonym keeps: 80 bits, so
// two incidents of one answer practically never share one.
const pseudonymBytes = 10

// Summary says what an extract did, for explanations.
type Summary struct {
	// Matched counts the incidents in the period passing the filters.
	Matched int
	// Sent counts the rows disclosed.
	Sent int
	// Withheld counts the rows withheld by the k-anonymity rule.
	Withheld int
	// SmallGroups counts the quasi-identifier combinations seen fewer
	// than k times.
	SmallGroups int
	// Generalised counts the rows of small groups sent after further
	// generalisation (small_groups = "generalise"); they are in Sent.
	Generalised int
}

// Run scans the engine for the incidents of q's period and builds the
// extract. random supplies the per-answer pseudonym key (crypto/rand's
// Reader in production). The query must have passed
// agreement.CheckExtract.
func Run(e *engine.Engine, x agreement.Extract, q *queryv1.ExtractQuery, random io.Reader) (*queryv1.ExtractResult, Summary, error) {
	recs, err := e.Records(q.GetPeriodFrom(), q.GetPeriodTo())
	if err != nil {
		return nil, Summary{}, fmt.Errorf("extract %s: %w", x.Name, err)
	}
	return Build(x, q, recs, random)
}

// Build is Run over records already read: it filters, generalises,
// suppresses and sorts. It never looks at a record field the extract does
// not list.
func Build(x agreement.Extract, q *queryv1.ExtractQuery, recs iter.Seq[engine.Record], random io.Reader) (*queryv1.ExtractResult, Summary, error) {
	var key [32]byte
	if _, err := io.ReadFull(random, key[:]); err != nil {
		return nil, Summary{}, fmt.Errorf("extract %s: pseudonym key: %w", x.Name, err)
	}
	cols := make([]string, len(x.Fields))
	for i, f := range x.Fields {
		cols[i] = f.Field
	}
	filters, err := compileFilters(x, q.GetFilters())
	if err != nil {
		return nil, Summary{}, err
	}
	qi := make([]int, 0, len(x.QuasiIdentifiers))
	for _, id := range x.QuasiIdentifiers {
		qi = append(qi, slices.Index(cols, id))
	}

	type row struct {
		values []string
		group  string
	}
	var rows []row
	groups := map[string]int{}
	mac := hmac.New(sha256.New, key[:])
	var sum Summary
	vals := make([][]string, len(x.Fields))
next:
	for r := range recs {
		for i, f := range x.Fields {
			vals[i] = generalise(f, &r)
		}
		for _, fl := range filters {
			if !slices.ContainsFunc(vals[fl.col], func(v string) bool { return fl.allow[v] }) {
				continue next
			}
		}
		sum.Matched++
		if sum.Matched > MaxRows {
			return nil, Summary{}, fmt.Errorf("extract %s: %w: more than %d incidents", x.Name, ErrTooLarge, MaxRows)
		}
		out := make([]string, len(vals)+1)
		mac.Reset()
		mac.Write([]byte(r.Ref))
		out[0] = hex.EncodeToString(mac.Sum(nil)[:pseudonymBytes])
		for i, v := range vals {
			out[i+1] = strings.Join(v, agreement.MultiSep)
		}
		g := groupKey(out[1:], qi)
		rows = append(rows, row{values: out, group: g})
		groups[g]++
	}

	res := &queryv1.ExtractResult{Extract: x.Name, Columns: cols, K: int32(x.K)}
	publish := func(r row) {
		res.Rows = append(res.Rows, &queryv1.ExtractRow{Pseudonym: r.values[0], Values: r.values[1:]})
	}
	small := map[string]bool{}
	var pending []row
	for _, r := range rows {
		if groups[r.group] < x.K {
			small[r.group] = true
			pending = append(pending, r)
			continue
		}
		publish(r)
	}
	sum.SmallGroups = len(small)
	if x.SmallGroups == agreement.SmallGroupsGeneralise {
		// Each step coarsens the quasi-identifiers of the rows still in
		// small groups; they are regrouped among themselves (their
		// coarser values cannot equal a published row's) and a group that
		// reaches k is published.
		for _, step := range generaliseSteps(x, qi) {
			counts := map[string]int{}
			for i := range pending {
				step(pending[i].values[1:])
				pending[i].group = groupKey(pending[i].values[1:], qi)
				counts[pending[i].group]++
			}
			still := pending[:0]
			for _, r := range pending {
				if counts[r.group] >= x.K {
					publish(r)
					sum.Generalised++
					continue
				}
				still = append(still, r)
			}
			pending = still
		}
	}
	sum.Withheld = len(pending)
	sum.Sent = len(res.Rows)
	res.WithheldRows = int64(sum.Withheld)
	// Sorted by the values, ties by the per-answer pseudonym: a random
	// order within equal rows, nothing about record order or ids.
	slices.SortFunc(res.Rows, func(a, b *queryv1.ExtractRow) int {
		if c := slices.Compare(a.GetValues(), b.GetValues()); c != 0 {
			return c
		}
		return strings.Compare(a.GetPseudonym(), b.GetPseudonym())
	})
	return res, sum, nil
}

// groupKey is the quasi-identifier combination of a row's values,
// length-prefixed so no two combinations share a key.
func groupKey(values []string, qi []int) string {
	var g strings.Builder
	for _, c := range qi {
		fmt.Fprintf(&g, "%d:%s|", len(values[c]), values[c])
	}
	return g.String()
}

// Wildcard stands for any value of a quasi-identifier generalised away
// under small_groups = "generalise".
const Wildcard = "*"

// generaliseSteps are the further generalisations of small_groups =
// "generalise", in order: a period quasi-identifier finer than a year to
// its year, then every quasi-identifier to Wildcard.
func generaliseSteps(x agreement.Extract, qi []int) []func(values []string) {
	var steps []func([]string)
	for _, c := range qi {
		if f := x.Fields[c]; f.Field == "period" && f.Granularity() != registry.GranularityYear {
			// Every period key starts with its four-digit year.
			steps = append(steps, func(v []string) { v[c] = v[c][:4] })
		}
	}
	return append(steps, func(v []string) {
		for _, c := range qi {
			v[c] = Wildcard
		}
	})
}

// generalise returns the field's value(s) for r after its
// generalisation: one value, or for a multi-valued field the distinct
// values sorted.
func generalise(f agreement.ExtractField, r *engine.Record) []string {
	switch f.Field {
	case "period":
		return []string{registry.PeriodKey(f.Granularity(), r.Month/12, r.Month%12+1)}
	case "route.origin":
		return []string{r.Origin}
	case "route.destination":
		return []string{r.Destination}
	case "route.transit":
		return sorted(r.Transit)
	case "transport_mode":
		return []string{r.TransportMode}
	case "location_type":
		return []string{r.LocationType}
	case "subdivision":
		return []string{r.Subdivision}
	case "iccs":
		return sorted(r.ICCS)
	case "methods":
		return sorted(r.Methods)
	case "document_fraud":
		return sorted(r.DocumentFraud)
	case "migrants":
		return []string{agreement.CountBand(r.Migrants)}
	case "suspects":
		return []string{agreement.CountBand(r.Suspects)}
	case "deaths":
		return []string{agreement.CountBand(r.Deaths)}
	case "missing":
		return []string{agreement.CountBand(r.Missing)}
	case "injured":
		return []string{agreement.CountBand(r.Injured)}
	}
	// The agreement refuses any other field at load time; a field this
	// version cannot generalise is sent as not recorded rather than raw.
	return []string{registry.Unknown}
}

func sorted(vals []string) []string {
	out := slices.Clone(vals)
	slices.Sort(out)
	return slices.Compact(out)
}

type compiledFilter struct {
	col   int
	allow map[string]bool
}

func compileFilters(x agreement.Extract, fs []*queryv1.Filter) ([]compiledFilter, error) {
	var out []compiledFilter
	for _, fl := range fs {
		col := slices.IndexFunc(x.Fields, func(f agreement.ExtractField) bool { return f.Field == fl.GetDimension() })
		if col < 0 {
			return nil, fmt.Errorf("extract %s: filter on a field it does not hold", x.Name)
		}
		allow := map[string]bool{}
		for _, v := range fl.GetValues() {
			allow[v] = true
		}
		out = append(out, compiledFilter{col: col, allow: allow})
	}
	return out, nil
}
