package ui

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/vrs-federation/vrs/internal/codes"
	"github.com/vrs-federation/vrs/internal/registry"
	"github.com/vrs-federation/vrs/node/agreement"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// This file spells codes, queries and the agreement in words. The pages
// show ids next to the words where officers need them to match logs.

var templateFuncs = template.FuncMap{
	"join": strings.Join,
	"inc":  func(n int) int { return n + 1 },
	"incu": func(n uint64) uint64 { return n + 1 },
	"dec":  func(n uint64) uint64 { return n - 1 },
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

// lowerFirst makes a title fit inside a sentence ("Month" → "month") but
// keeps acronyms ("ICCS").
func lowerFirst(s string) string {
	if len(s) > 1 && strings.ToUpper(s[:2]) == s[:2] {
		return s
	}
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
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

// periodWords spells a query's period.
func periodWords(from, to string) string {
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

// queryWords spells an aggregate query: "Migrants by month × citizenship,
// where transport mode is Sea, 2026-01-01 to 2026-03-31".
func queryWords(q *queryv1.AggregateQuery) string {
	s := measureTitle(q.GetMeasure())
	if len(q.GetGroupBy()) > 0 {
		var dims []string
		for _, g := range q.GetGroupBy() {
			dims = append(dims, lowerFirst(dimensionTitle(g)))
		}
		s += " by " + strings.Join(dims, " × ")
	}
	s += filterWords(q.GetFilters())
	return s + ", " + periodWords(q.GetPeriodFrom(), q.GetPeriodTo())
}

// extractWords spells a redacted-extract query.
func extractWords(x *queryv1.ExtractQuery) string {
	return "Redacted extract “" + x.GetExtract() + "”" + filterWords(x.GetFilters()) + ", " +
		periodWords(x.GetPeriodFrom(), x.GetPeriodTo())
}

func filterWords(fs []*queryv1.Filter) string {
	var parts []string
	for _, f := range fs {
		var vals []string
		for _, v := range f.GetValues() {
			vals = append(vals, keyLabel(f.GetDimension(), v))
		}
		parts = append(parts, lowerFirst(dimensionTitle(f.GetDimension()))+" is "+strings.Join(vals, " or "))
	}
	if len(parts) == 0 {
		return ""
	}
	return ", where " + strings.Join(parts, " and ")
}

// list joins words as people do: "a", "a and b", "a, b and c".
func list(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmtInt(int64(n)) + " " + many
}

// agreementView is the agreement in plain language.
type agreementView struct {
	Name, Version, Hash, ShortHash string
	Filename, LoadedAt             string
	Intro                          string
	Sentence                       string
	Recipients                     []string
	Measures                       []grantView
	Rules                          []string
	Extracts                       []extractView
	Source                         string
}

type grantView struct {
	ID, Title, Definition string
	Dimensions            string
}

type extractView struct {
	Name     string
	Fields   []string
	Sentence string
	Quasi    string
	K        int
}

func agreementViewOf(country string, a *agreement.Agreement) agreementView {
	v := agreementView{
		Name:      a.Name,
		Version:   strconv.FormatInt(a.Version, 10),
		Hash:      a.Hash,
		ShortHash: short(a.Hash),
		Filename:  a.Filename,
		Source:    string(a.Source),
	}
	if !a.LoadedAt.IsZero() {
		v.LoadedAt = fmtTime(a.LoadedAt)
	}
	v.Recipients = a.Recipients
	who := "nobody"
	if len(a.Recipients) > 0 {
		who = list(a.Recipients)
	}
	nothing := len(a.Measures) == 0 && len(a.Extracts) == 0
	if nothing {
		v.Intro = "Every query is refused, and the refusal is recorded."
	} else {
		v.Intro = "Nothing else is shared: any other query is refused, and the refusal is recorded."
	}
	// The one-sentence summary: who gets what, and how it is protected.
	var what []string
	for _, g := range a.Measures {
		gv := grantView{ID: g.Measure, Title: measureTitle(g.Measure)}
		if m, ok := registry.MeasureByID(g.Measure); ok {
			gv.Definition = m.Definition
		}
		var dims []string
		for _, d := range g.Dimensions {
			t := lowerFirst(dimensionTitle(d))
			if dd, ok := registry.DimensionByID(d); ok && dd.Period != registry.GranularityNone && dd.Period != registry.GranularityYear {
				t += " (or coarser)"
			}
			dims = append(dims, t)
		}
		if len(dims) == 0 {
			gv.Dimensions = "as a single total only"
		} else {
			gv.Dimensions = "by " + list(dims)
		}
		v.Measures = append(v.Measures, gv)
		what = append(what, lowerFirst(gv.Title)+" "+gv.Dimensions)
	}
	for _, x := range a.Extracts {
		what = append(what, "the redacted extract “"+x.Name+"”")
	}
	if nothing {
		v.Sentence = countryName(country) + " shares nothing under this agreement."
	} else {
		v.Sentence = countryName(country) + " shares with " + who + ": " + strings.Join(what, "; ") +
			". Counts below " + strconv.Itoa(a.MinCell) + " are withheld"
		switch a.Rounding {
		case "rr3":
			v.Sentence += "; other values are randomly rounded to base 3."
		case "none", "":
			v.Sentence += "; other values are exact."
		default:
			v.Sentence += "; other values are rounded (" + a.Rounding + ")."
		}
	}
	v.Rules = append(v.Rules, "Counts below "+strconv.Itoa(a.MinCell)+" are withheld: the cell is sent as “suppressed”, without its value.")
	if a.SuppressZeros {
		v.Rules = append(v.Rules, "Zero counts are withheld like small counts, so an absent cell says nothing.")
	}
	switch a.Rounding {
	case "rr3":
		v.Rules = append(v.Rules, "Every other value is randomly rounded to a multiple of 3 (never more than 2 away from the true count, and the same each time it is asked).")
	case "none", "":
		v.Rules = append(v.Rules, "Other values are sent exactly, without rounding.",
			"Because exact figures can be subtracted from each other, a figure that would give away a withheld count together with figures sent before is withheld too (“secondary”).")
	default:
		v.Rules = append(v.Rules, "Other values are rounded with the rule “"+a.Rounding+"”.")
	}
	if a.MaxGroupBy > 0 {
		v.Rules = append(v.Rules, "One query may break the figures down by at most "+plural(a.MaxGroupBy, "dimension", "dimensions")+".")
	}
	if g := a.PeriodFloor.String(); g != "" {
		v.Rules = append(v.Rules, "No figure is given for a period shorter than a "+g+".")
	}
	if a.FeesCurrency != "" {
		name := a.FeesCurrency
		if n, ok := codes.CurrencyName(a.FeesCurrency); ok {
			name = n + " (" + a.FeesCurrency + ")"
		}
		v.Rules = append(v.Rules, "Smuggling fees are summed in "+name+" only; fees in other currencies are left out.")
	}
	v.Rules = append(v.Rules, "Names, document numbers, dates of birth, places, vessels, notes and national case references are never sent.")
	for _, x := range a.Extracts {
		xv := extractView{Name: x.Name, K: x.K}
		var quasi []string
		for _, f := range x.Fields {
			xv.Fields = append(xv.Fields, lowerFirst(dimensionTitleOrField(f.Field))+" ("+generalisationWords(f.Generalisation)+")")
		}
		for _, q := range x.QuasiIdentifiers {
			quasi = append(quasi, lowerFirst(dimensionTitleOrField(q)))
		}
		xv.Quasi = list(quasi)
		xv.Sentence = "Record-level rows under a pseudonym that changes with every answer. A row is withheld unless at least " +
			strconv.Itoa(x.K) + " rows share its " + xv.Quasi + "."
		v.Extracts = append(v.Extracts, xv)
	}
	return v
}

func dimensionTitleOrField(f string) string {
	if d, ok := registry.DimensionByID(f); ok {
		return d.Title
	}
	if m, ok := registry.MeasureByID(f); ok {
		return m.Title
	}
	if f == "period" {
		return "Period"
	}
	return f
}

func generalisationWords(g string) string {
	switch g {
	case "as_is":
		return "as recorded"
	case "band":
		return "in bands"
	case "country":
		return "country only"
	case "month", "quarter", "year":
		return "by " + g
	}
	return g
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
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

func fmtTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
