// Package enginetest holds what tests of the engine and of the packages
// built on it share: a brute-force reference implementation of the
// registry's semantics, read straight from the records, and rapid
// generators of incidents (with canary strings in every never-shared field)
// and queries.
package enginetest

import (
	"fmt"
	"math"
	"slices"

	"pgregory.net/rapid"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// --- brute-force reference ------------------------------------------------
//
// The reference reads the records directly and implements the registry's
// documented semantics with no shared code beyond registry spellings, so a
// disagreement points at the engine.

// Cell is one reference cell.
type Cell struct {
	// V is the value (for sums, the rounded sum).
	V int64
	// F is the unrounded sum of a sum measure.
	F float64
	// Units is what the small-cell rule applies to.
	Units int64
}

func distinctOr(vals []string, none string) []string {
	var out []string
	for _, v := range vals {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return []string{none}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return registry.Unknown
	}
	return s
}

func refIncidentValues(inc *recordv1.Incident, id string) []string {
	t, _ := registry.ParseDate(inc.GetDetectedOn())
	y, m := t.Year(), int(t.Month())
	switch id {
	case "period.year":
		return []string{fmt.Sprintf("%04d", y)}
	case "period.quarter":
		return []string{fmt.Sprintf("%04d-Q%d", y, (m-1)/3+1)}
	case "period.month":
		return []string{fmt.Sprintf("%04d-%02d", y, m)}
	case "route.origin":
		return []string{orUnknown(inc.GetRoute().GetOrigin())}
	case "route.destination":
		return []string{orUnknown(inc.GetRoute().GetDestination())}
	case "route.transit":
		return distinctOr(inc.GetRoute().GetTransit(), registry.None)
	case "iccs":
		return distinctOr(inc.GetIccsCodes(), registry.None)
	case "transport_mode":
		return []string{registry.EnumKey(inc.GetTransportMode())}
	case "location_type":
		return []string{registry.EnumKey(inc.GetDetectedAt().GetType())}
	case "subdivision":
		return []string{orUnknown(inc.GetDetectedAt().GetSubdivision())}
	case "document_fraud":
		var out []string
		for _, d := range inc.GetDocuments() {
			out = append(out, registry.EnumKey(d.GetFraud()))
		}
		return distinctOr(out, registry.None)
	}
	panic("not an incident dimension: " + id)
}

func refPersonValue(p *recordv1.Person, id string) string {
	switch id {
	case "citizenship":
		return orUnknown(p.GetCitizenship())
	case "sex":
		return registry.SexKey(p.GetSex())
	case "age_band":
		return registry.AgeBand(p.Age)
	case "suspect_role":
		return registry.EnumKey(p.GetRole())
	case "legal_status":
		return registry.EnumKey(p.GetLegalStatus())
	}
	panic("not a person dimension: " + id)
}

func Reference(incs []*recordv1.Incident, q *queryv1.AggregateQuery, cur string) map[string]Cell {
	m, _ := registry.MeasureByID(q.GetMeasure())
	out := map[string]Cell{}
	passes := func(id string, vals []string) bool {
		for _, f := range q.GetFilters() {
			if f.GetDimension() != id {
				continue
			}
			ok := false
			for _, v := range vals {
				if slices.Contains(f.GetValues(), v) {
					ok = true
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	allowed := func(id, v string) bool { // grouped and filtered: only filtered values
		for _, f := range q.GetFilters() {
			if f.GetDimension() == id && !slices.Contains(f.GetValues(), v) {
				return false
			}
		}
		return true
	}
	isPerson := func(id string) bool {
		d, _ := registry.DimensionByID(id)
		return d.Level == registry.LevelPerson
	}
	for _, inc := range incs {
		if inc.GetDetectedOn() < q.GetPeriodFrom() || (q.GetPeriodTo() != "" && inc.GetDetectedOn() > q.GetPeriodTo()) {
			continue
		}
		ok := true
		for _, f := range q.GetFilters() {
			if !isPerson(f.GetDimension()) && !passes(f.GetDimension(), refIncidentValues(inc, f.GetDimension())) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		keysFor := func(p *recordv1.Person) []string {
			keys := []string{""}
			for i, id := range q.GetGroupBy() {
				var vals []string
				if isPerson(id) {
					vals = []string{refPersonValue(p, id)}
				} else {
					vals = refIncidentValues(inc, id)
				}
				var next []string
				for _, k := range keys {
					for _, v := range vals {
						if !allowed(id, v) {
							continue
						}
						sep := ""
						if i > 0 {
							sep = "\x00"
						}
						next = append(next, k+sep+v)
					}
				}
				keys = next
			}
			return keys
		}
		add := func(p *recordv1.Person, v int64, f float64, u int64) {
			for _, k := range keysFor(p) {
				c := out[k]
				c.V += v
				c.F += f
				c.Units += u
				out[k] = c
			}
		}
		switch m.ID {
		case "incidents":
			add(nil, 1, 0, 1)
		case "deaths":
			add(nil, int64(max(inc.GetHarm().GetDeaths(), 0)), 0, 1)
		case "missing":
			add(nil, int64(max(inc.GetHarm().GetMissing(), 0)), 0, 1)
		case "injured":
			add(nil, int64(max(inc.GetHarm().GetInjured(), 0)), 0, 1)
		case "fees_paid":
			if inc.GetFee() == nil || inc.GetFee().GetCurrency() != cur || len(inc.GetMigrants()) == 0 {
				continue
			}
			n := len(inc.GetMigrants())
			add(nil, 0, max(inc.GetFee().GetAmountPerPerson(), 0)*float64(n), int64(n))
		default:
			ps := inc.GetMigrants()
			if m.Persons == registry.PersonsSuspects {
				ps = inc.GetSuspects()
			}
			for _, p := range ps {
				switch m.ID {
				case "minors_unaccompanied":
					if !p.GetUnaccompaniedMinor() {
						continue
					}
				case "prosecutions":
					s := p.GetLegalStatus()
					if s != recordv1.LegalStatus_LEGAL_STATUS_PROSECUTED && s != recordv1.LegalStatus_LEGAL_STATUS_CONVICTED && s != recordv1.LegalStatus_LEGAL_STATUS_ACQUITTED {
						continue
					}
				case "convictions":
					if p.GetLegalStatus() != recordv1.LegalStatus_LEGAL_STATUS_CONVICTED {
						continue
					}
				}
				pass := true
				for _, f := range q.GetFilters() {
					if isPerson(f.GetDimension()) && !slices.Contains(f.GetValues(), refPersonValue(p, f.GetDimension())) {
						pass = false
					}
				}
				if pass {
					add(p, 1, 0, 1)
				}
			}
		}
	}
	if m.Sum {
		for k, c := range out {
			c.V = int64(math.Round(c.F))
			out[k] = c
		}
	}
	return out
}

// --- generators -----------------------------------------------------------

var (
	genCountries = []string{"THA", "MMR", "IDN", "AFG", ""}
	genICCS      = []string{"08051", "07023", "0204"}
	genSubs      = []string{"TH-90", "TH-10", ""}
)

func genPerson(t *rapid.T, label string) *recordv1.Person {
	p := &recordv1.Person{
		Citizenship:        rapid.SampledFrom(append(genCountries, "XXA")).Draw(t, label+"cit"),
		Sex:                recordv1.Sex(rapid.IntRange(0, 4).Draw(t, label+"sex")),
		UnaccompaniedMinor: rapid.Bool().Draw(t, label+"minor"),
		Role:               recordv1.SuspectRole(rapid.IntRange(0, 7).Draw(t, label+"role")),
		LegalStatus:        recordv1.LegalStatus(rapid.IntRange(0, 5).Draw(t, label+"status")),
		FullName:           "CANARY-NAME",
		DocumentNumber:     "CANARY-DOC",
		DateOfBirth:        "CANARY-DOB",
	}
	if rapid.Bool().Draw(t, label+"hasAge") {
		a := int32(rapid.IntRange(0, 90).Draw(t, label+"age"))
		p.Age = &a
	}
	return p
}

// Canary starts every never-shared value GenIncident plants; finding it in
// an answer, a log line or an audit entry is a leak.
const Canary = "CANARY-"

// GenIncident draws a random incident with reference ref and canary
// strings in every never-shared field.
func GenIncident(t *rapid.T, ref string) *recordv1.Incident {
	inc := &recordv1.Incident{
		NationalRef:     ref,
		ReportingAgency: "CANARY-AGENCY",
		DetectedOn:      fmt.Sprintf("%04d-%02d-%02d", rapid.IntRange(2024, 2026).Draw(t, "y"), rapid.IntRange(1, 12).Draw(t, "m"), rapid.IntRange(1, 28).Draw(t, "d")),
		TransportMode:   recordv1.TransportMode(rapid.IntRange(0, 4).Draw(t, "mode")),
		DetectedAt: &recordv1.Place{
			Country:     "THA",
			Subdivision: rapid.SampledFrom(genSubs).Draw(t, "sub"),
			Type:        recordv1.LocationType(rapid.IntRange(0, 5).Draw(t, "loc")),
			Name:        "CANARY-PLACE",
		},
		Route: &recordv1.Route{
			Origin:      rapid.SampledFrom(genCountries).Draw(t, "origin"),
			Destination: rapid.SampledFrom(genCountries).Draw(t, "dest"),
			Transit:     rapid.SliceOfN(rapid.SampledFrom(genCountries[:4]), 0, 3).Draw(t, "transit"),
			Embarkation: "CANARY-EMBARK",
		},
		IccsCodes:  rapid.SliceOfN(rapid.SampledFrom(genICCS), 0, 3).Draw(t, "iccs"),
		Conveyance: "CANARY-CONVEYANCE",
		Notes:      "CANARY-NOTES",
		Harm: &recordv1.Harm{
			Deaths:  int32(rapid.IntRange(0, 3).Draw(t, "deaths")),
			Missing: int32(rapid.IntRange(0, 3).Draw(t, "missing")),
			Injured: int32(rapid.IntRange(0, 3).Draw(t, "injured")),
		},
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "ndocs") {
		inc.Documents = append(inc.Documents, &recordv1.Document{
			Type:  recordv1.DocumentType_DOCUMENT_TYPE_PASSPORT,
			Fraud: recordv1.FraudType(rapid.IntRange(0, 6).Draw(t, fmt.Sprint("fraud", i))),
		})
	}
	if rapid.Bool().Draw(t, "hasFee") {
		inc.Fee = &recordv1.Fee{
			AmountPerPerson: float64(rapid.IntRange(0, 5000).Draw(t, "fee")) + 0.25,
			Currency:        rapid.SampledFrom([]string{"USD", "THB"}).Draw(t, "cur"),
		}
	}
	for i := range rapid.IntRange(0, 4).Draw(t, "nmig") {
		inc.Migrants = append(inc.Migrants, genPerson(t, fmt.Sprint("m", i)))
	}
	for i := range rapid.IntRange(0, 3).Draw(t, "nsus") {
		inc.Suspects = append(inc.Suspects, genPerson(t, fmt.Sprint("s", i)))
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "nmethods") {
		inc.Methods = append(inc.Methods, recordv1.Method(rapid.IntRange(0, 7).Draw(t, fmt.Sprint("method", i))))
	}
	return inc
}

func SampleValues(t *rapid.T, d registry.Dimension, label string) []string {
	var pool []string
	switch {
	case d.Values != nil:
		pool = d.Values
	case d.Period == registry.GranularityYear:
		pool = []string{"2024", "2025", "2026"}
	case d.Period == registry.GranularityQuarter:
		pool = []string{"2024-Q1", "2025-Q3", "2026-Q2", "2026-Q4"}
	case d.Period == registry.GranularityMonth:
		pool = []string{"2024-01", "2025-06", "2026-12", "2026-03"}
	case d.ID == "subdivision":
		pool = []string{"TH-90", "TH-10", "TH-11", registry.Unknown}
	case d.ID == "iccs":
		pool = append(slices.Clone(genICCS), registry.None, "0101")
	default:
		pool = []string{"THA", "MMR", "IDN", "AFG", "VNM", d.Missing}
		if d.ID == "citizenship" {
			pool = append(pool, "XXA")
		}
	}
	return rapid.SliceOfNDistinct(rapid.SampledFrom(pool), 1, 3, func(s string) string { return s }).Draw(t, label)
}

// GenQuery draws a query valid against the registry (not necessarily
// allowed by an agreement).
func GenQuery(t *rapid.T) *queryv1.AggregateQuery {
	m := rapid.SampledFrom(registry.Measures()).Draw(t, "measure")
	var dims []registry.Dimension
	for _, d := range registry.Dimensions() {
		if registry.Applies(m, d) {
			dims = append(dims, d)
		}
	}
	q := &queryv1.AggregateQuery{Measure: m.ID}
	group := rapid.SliceOfNDistinct(rapid.SampledFrom(dims), 0, 3, func(d registry.Dimension) string { return d.ID }).Draw(t, "group")
	for _, d := range group {
		q.GroupBy = append(q.GroupBy, d.ID)
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "nfilters") {
		d := rapid.SampledFrom(dims).Draw(t, fmt.Sprint("fdim", i))
		q.Filters = append(q.Filters, &queryv1.Filter{Dimension: d.ID, Values: SampleValues(t, d, fmt.Sprint("fvals", i))})
	}
	if rapid.Bool().Draw(t, "hasPeriod") {
		q.PeriodFrom = fmt.Sprintf("%04d-%02d-01", rapid.IntRange(2024, 2025).Draw(t, "fy"), rapid.IntRange(1, 12).Draw(t, "fm"))
		q.PeriodTo = fmt.Sprintf("%04d-%02d-28", rapid.IntRange(2025, 2026).Draw(t, "ty"), rapid.IntRange(1, 12).Draw(t, "tm"))
	}
	return q
}
