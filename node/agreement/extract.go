package agreement

import (
	"slices"

	"github.com/vrs-federation/vrs/internal/registry"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// CountBands are the spellings of the "band" generalisation of a count,
// in increasing order. Zero is its own band: "no deaths" is what most
// rows say and hides nothing.
var CountBands = []string{"0", "1", "2-4", "5-9", "10-49", "50+"}

// CountBand returns the band of a count (negative counts are "0").
func CountBand(n int64) string {
	switch {
	case n <= 0:
		return "0"
	case n == 1:
		return "1"
	case n <= 4:
		return "2-4"
	case n <= 9:
		return "5-9"
	case n <= 49:
		return "10-49"
	}
	return "50+"
}

// MultiValued reports whether an extract field can hold several values
// per incident. Its row value joins the distinct values, sorted, with
// MultiSep; a filter on it keeps rows having any of the filter's values.
func MultiValued(field string) bool {
	switch field {
	case "route.transit", "iccs", "methods", "document_fraud":
		return true
	}
	return false
}

// MultiSep joins the values of a multi-valued field in an extract row.
const MultiSep = "+"

// methodKeys are the spellings of methods values.
var methodKeys = func() []string {
	var out []string
	for n := range recordv1.Method_METHOD_OTHER + 1 {
		out = append(out, registry.EnumKey(n))
	}
	return append(out, registry.None)
}()

// Granularity is the period granularity of a "period" field.
func (f ExtractField) Granularity() registry.Granularity {
	g, _ := registry.ParseGranularity(f.Generalisation)
	return g
}

// ValidValue reports whether v is a spelling of one (single) value of the
// field after its generalisation, as filters name them.
func (f ExtractField) ValidValue(v string) bool {
	switch f.Field {
	case "period":
		_, _, ok := registry.PeriodMonths(f.Granularity(), v)
		return ok
	case "methods":
		return slices.Contains(methodKeys, v)
	case "migrants", "suspects", "deaths", "missing", "injured":
		return slices.Contains(CountBands, v)
	}
	d, ok := registry.DimensionByID(f.Field)
	return ok && d.ValidValue(v)
}

// field returns the extract's field by name.
func (x Extract) field(name string) (ExtractField, bool) {
	for _, f := range x.Fields {
		if f.Field == name {
			return f, true
		}
	}
	return ExtractField{}, false
}

// PeriodGranularity is what the query period of x must be aligned on: the
// generalisation of its period field, or the agreement's floor when the
// extract has none. A range that cut a month short would let a requester
// learn, by difference, which rows fall on its last days.
func (a *Agreement) PeriodGranularity(x Extract) registry.Granularity {
	if f, ok := x.field("period"); ok {
		return max(f.Granularity(), a.PeriodFloor)
	}
	return a.PeriodFloor
}

// CheckRecipient refuses a requester the agreement does not name.
func (a *Agreement) CheckRecipient(requester string) *queryv1.Refusal {
	if !slices.Contains(a.Recipients, requester) {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_RECIPIENT_NOT_ALLOWED,
			"%s is not a recipient under %s's agreement %s", quote(requester), a.Country, a.Name)
	}
	return nil
}

// CheckExtract decides whether requester may have the extract q under the
// agreement: nil means allowed, otherwise the refusal with a reason
// naming the country. Filters may name only the extract's own fields,
// with values spelt as generalised; the period must be aligned on the
// extract's period generalisation.
func (a *Agreement) CheckExtract(q *queryv1.ExtractQuery, requester string) *queryv1.Refusal {
	if r := a.CheckRecipient(requester); r != nil {
		return r
	}
	if q == nil || q.GetExtract() == "" {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "the query names no extract")
	}
	x, ok := a.Extract(q.GetExtract())
	if !ok {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_EXTRACT_NOT_SHARED, "extract %s is not offered by %s", quote(q.GetExtract()), a.Country)
	}
	if len(q.GetFilters()) > 64 {
		return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "more than 64 filters")
	}
	for _, fl := range q.GetFilters() {
		f, ok := x.field(fl.GetDimension())
		if !ok {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_DIMENSION_NOT_SHARED,
				"field %s is not in %s's extract %s", quote(fl.GetDimension()), a.Country, x.Name)
		}
		if len(fl.GetValues()) == 0 {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "the filter on %s lists no values", f.Field)
		}
		if len(fl.GetValues()) > 1000 {
			return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY, "the filter on %s lists more than 1000 values", f.Field)
		}
		for _, v := range fl.GetValues() {
			if !f.ValidValue(v) {
				return refuse(queryv1.RefusalCode_REFUSAL_CODE_INVALID_QUERY,
					"%s is not a value of field %s generalised to %s", quote(v), f.Field, f.Generalisation)
			}
		}
	}
	return a.checkPeriod(q.GetPeriodFrom(), q.GetPeriodTo(), a.PeriodGranularity(x))
}
