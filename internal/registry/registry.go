// Package registry is the one table of measures and dimensions that queries,
// agreements, nodes and the hub share (DESIGN §5). Ids are stable strings;
// the semantics written here are what every node computes and what the hub
// may assume when it adds states' cells together.
//
// Levels. A measure counts at the incident level (incidents, deaths,
// missing, injured, fees_paid) or at the person level (migrants, suspects,
// minors_unaccompanied, prosecutions, convictions). Incident dimensions
// (period, route, transport, iccs, location, subdivision, document fraud)
// apply to every measure: a person is classified by the incident he or she
// was detected in. Person dimensions (citizenship, sex, age_band and, for
// suspects only, suspect_role and legal_status) classify the persons being
// counted and are invalid for incident-level measures.
//
// Multi-valued dimensions (route.transit, iccs, document_fraud) count an
// incident, or a person, once under each of its distinct values, so the
// cells of such a table do not add up to the total. An incident without any
// value counts under "none". When a query both groups by and filters on a
// multi-valued dimension, only the filtered values appear as keys.
//
// Cell keys. Enums are spelt without their prefix ("SEA", "FEMALE",
// "BORDER_POST"); countries are ISO 3166-1 alpha-3 (or ICAO XXA, XXB, XXC,
// XXX for citizenship); subdivisions ISO 3166-2 ("TH-90"); ICCS codes as
// digits ("08051"); periods "2026", "2026-Q1", "2026-03"; age bands "0-17",
// "18-29", "30-44", "45+". A value that was not recorded is "unknown" (an
// unspecified enum, an empty country, an absent age); sex recorded as
// UNSPECIFIED is counted under "UNKNOWN" like SEX_UNKNOWN, because both are
// SDMX _U. An empty multi-valued field is "none".
package registry

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vrs-federation/vrs/internal/codes"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// Level says what a measure counts or what a dimension classifies.
type Level int

const (
	// LevelIncident is an incident: one detection.
	LevelIncident Level = iota + 1
	// LevelPerson is a migrant or a suspect.
	LevelPerson
)

// String returns "incident" or "person".
func (l Level) String() string {
	switch l {
	case LevelIncident:
		return "incident"
	case LevelPerson:
		return "person"
	}
	return "level(" + strconv.Itoa(int(l)) + ")"
}

// PersonSet says which persons of an incident a person-level measure counts.
type PersonSet int

const (
	// PersonsNone is for incident-level measures.
	PersonsNone PersonSet = iota
	// PersonsMigrants counts Incident.migrants.
	PersonsMigrants
	// PersonsSuspects counts Incident.suspects.
	PersonsSuspects
)

// Measure is one registered measure.
type Measure struct {
	// ID is the stable id used in queries and agreements.
	ID string
	// Title is a short human title.
	Title string
	// Level is what is counted.
	Level Level
	// Persons is which persons a person-level measure counts.
	Persons PersonSet
	// Sum is true for measures whose value is a currency sum (fees_paid)
	// rather than a number of people or incidents. Their small-cell rule
	// applies to the number of persons whose fee is summed.
	Sum bool
	// Definition says precisely what is counted.
	Definition string
}

// Granularity is the coarseness of a period; the constants go from finest
// to coarsest, so a smaller value is finer.
type Granularity int

const (
	// GranularityNone is for dimensions that are not periods.
	GranularityNone Granularity = iota
	// GranularityMonth is YYYY-MM.
	GranularityMonth
	// GranularityQuarter is YYYY-Qn.
	GranularityQuarter
	// GranularityYear is YYYY.
	GranularityYear
)

// String returns "month", "quarter", "year" or "".
func (g Granularity) String() string {
	switch g {
	case GranularityMonth:
		return "month"
	case GranularityQuarter:
		return "quarter"
	case GranularityYear:
		return "year"
	}
	return ""
}

// ParseGranularity parses "month", "quarter" or "year".
func ParseGranularity(s string) (Granularity, bool) {
	switch s {
	case "month":
		return GranularityMonth, true
	case "quarter":
		return GranularityQuarter, true
	case "year":
		return GranularityYear, true
	}
	return GranularityNone, false
}

// Dimension is one registered dimension.
type Dimension struct {
	// ID is the stable id used in queries and agreements.
	ID string
	// Title is a short human title.
	Title string
	// Level is what the dimension classifies.
	Level Level
	// SuspectsOnly marks person dimensions that only suspects have
	// (suspect_role, legal_status).
	SuspectsOnly bool
	// MultiValued dimensions count a unit once under each of its values.
	MultiValued bool
	// Period is the granularity of a period dimension, GranularityNone for
	// the others.
	Period Granularity
	// Values is the closed list of cell keys for enumerated dimensions, in
	// a stable order; nil for open code lists (countries, subdivisions,
	// ICCS codes, periods).
	Values []string
	// Missing is the key for "not recorded": "unknown" or "none".
	Missing string
	kind    valueKind
}

type valueKind int

const (
	kindEnum valueKind = iota
	kindCountry
	kindSubdivision
	kindICCS
	kindYear
	kindQuarter
	kindMonth
)

// Unknown is the key for a value that was not recorded.
const Unknown = "unknown"

// None is the key of a multi-valued dimension for a unit without values.
const None = "none"

// Age bands, the keys of age_band.
var ageBands = []string{"0-17", "18-29", "30-44", "45+", Unknown}

// AgeBand returns the age_band key of an age, or "unknown" when absent.
func AgeBand(age *int32) string {
	if age == nil || *age < 0 {
		return Unknown
	}
	switch a := *age; {
	case a <= 17:
		return "0-17"
	case a <= 29:
		return "18-29"
	case a <= 44:
		return "30-44"
	}
	return "45+"
}

// EnumKey spells an enum value as a cell key: the value's name without the
// enum's prefix, or "unknown" for the zero value and numbers this version
// does not know.
func EnumKey(e protoreflect.Enum) string {
	if e.Number() == 0 {
		return Unknown
	}
	v := e.Descriptor().Values().ByNumber(e.Number())
	if v == nil {
		return Unknown
	}
	return strings.TrimPrefix(string(v.Name()), enumPrefix(e.Descriptor()))
}

// SexKey is EnumKey for sex, with UNSPECIFIED counted as UNKNOWN.
func SexKey(s recordv1.Sex) string {
	if s == recordv1.Sex_SEX_UNSPECIFIED {
		return "UNKNOWN"
	}
	k := EnumKey(s)
	if k == Unknown {
		return "UNKNOWN"
	}
	return k
}

func enumPrefix(d protoreflect.EnumDescriptor) string {
	// Buf STANDARD: every value is prefixed with the upper snake enum name.
	v := d.Values().ByNumber(0)
	return strings.TrimSuffix(string(v.Name()), "UNSPECIFIED")
}

func enumKeys(d protoreflect.EnumDescriptor, withUnknown bool) []string {
	var out []string
	p := enumPrefix(d)
	vals := d.Values()
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		if v.Number() == 0 {
			continue
		}
		out = append(out, strings.TrimPrefix(string(v.Name()), p))
	}
	if withUnknown {
		out = append(out, Unknown)
	}
	return out
}

// Measures returns every measure, in a stable order.
func Measures() []Measure {
	return []Measure{
		{ID: "incidents", Title: "Incidents", Level: LevelIncident,
			Definition: "incidents detected"},
		{ID: "migrants", Title: "Migrants", Level: LevelPerson, Persons: PersonsMigrants,
			Definition: "smuggled or irregular migrants detected (persons in Incident.migrants)"},
		{ID: "suspects", Title: "Suspected smugglers", Level: LevelPerson, Persons: PersonsSuspects,
			Definition: "suspected smugglers (persons in Incident.suspects)"},
		{ID: "deaths", Title: "Deaths", Level: LevelIncident,
			Definition: "sum of Harm.deaths over incidents"},
		{ID: "missing", Title: "Missing persons", Level: LevelIncident,
			Definition: "sum of Harm.missing over incidents"},
		{ID: "injured", Title: "Injured persons", Level: LevelIncident,
			Definition: "sum of Harm.injured over incidents"},
		{ID: "minors_unaccompanied", Title: "Unaccompanied minors", Level: LevelPerson, Persons: PersonsMigrants,
			Definition: "migrants marked unaccompanied_minor"},
		{ID: "prosecutions", Title: "Suspects prosecuted", Level: LevelPerson, Persons: PersonsSuspects,
			Definition: "suspects whose furthest legal status is PROSECUTED, CONVICTED or ACQUITTED (they reached prosecution)"},
		{ID: "convictions", Title: "Suspects convicted", Level: LevelPerson, Persons: PersonsSuspects,
			Definition: "suspects whose legal status is CONVICTED"},
		{ID: "fees_paid", Title: "Smuggling fees paid", Level: LevelIncident, Sum: true,
			Definition: "sum over incidents of Fee.amount_per_person × number of migrants, only for fees in the agreement's fees_currency, rounded to whole currency units per cell"},
	}
}

// Dimensions returns every dimension, in a stable order.
func Dimensions() []Dimension {
	var (
		mode   = (recordv1.TransportMode)(0).Descriptor()
		loc    = (recordv1.LocationType)(0).Descriptor()
		fraud  = (recordv1.FraudType)(0).Descriptor()
		sex    = (recordv1.Sex)(0).Descriptor()
		role   = (recordv1.SuspectRole)(0).Descriptor()
		status = (recordv1.LegalStatus)(0).Descriptor()
	)
	fraudKeys := append(enumKeys(fraud, true), None)
	return []Dimension{
		{ID: "period.year", Title: "Year", Level: LevelIncident, Period: GranularityYear, kind: kindYear},
		{ID: "period.quarter", Title: "Quarter", Level: LevelIncident, Period: GranularityQuarter, kind: kindQuarter},
		{ID: "period.month", Title: "Month", Level: LevelIncident, Period: GranularityMonth, kind: kindMonth},
		{ID: "citizenship", Title: "Citizenship", Level: LevelPerson, Missing: Unknown, kind: kindCountry},
		{ID: "sex", Title: "Sex", Level: LevelPerson, Values: enumKeys(sex, false), kind: kindEnum},
		{ID: "age_band", Title: "Age band", Level: LevelPerson, Values: ageBands, Missing: Unknown, kind: kindEnum},
		{ID: "route.origin", Title: "Country of origin", Level: LevelIncident, Missing: Unknown, kind: kindCountry},
		{ID: "route.transit", Title: "Transit country", Level: LevelIncident, MultiValued: true, Missing: None, kind: kindCountry},
		{ID: "route.destination", Title: "Country of destination", Level: LevelIncident, Missing: Unknown, kind: kindCountry},
		{ID: "transport_mode", Title: "Transport mode", Level: LevelIncident, Values: enumKeys(mode, true), Missing: Unknown, kind: kindEnum},
		{ID: "iccs", Title: "Offence (ICCS)", Level: LevelIncident, MultiValued: true, Missing: None, kind: kindICCS},
		{ID: "location_type", Title: "Place of detection", Level: LevelIncident, Values: enumKeys(loc, true), Missing: Unknown, kind: kindEnum},
		{ID: "subdivision", Title: "Subdivision (ISO 3166-2)", Level: LevelIncident, Missing: Unknown, kind: kindSubdivision},
		{ID: "document_fraud", Title: "Document fraud type", Level: LevelIncident, MultiValued: true, Values: fraudKeys, Missing: None, kind: kindEnum},
		{ID: "suspect_role", Title: "Suspect's role", Level: LevelPerson, SuspectsOnly: true, Values: enumKeys(role, true), Missing: Unknown, kind: kindEnum},
		{ID: "legal_status", Title: "Suspect's legal status", Level: LevelPerson, SuspectsOnly: true, Values: enumKeys(status, true), Missing: Unknown, kind: kindEnum},
	}
}

// byID indexes the registry once: Dimensions builds its value lists from
// the enums' descriptors, which lookups on hot paths (the differencing
// guard, the engine's query compiler) should not repeat per call. The
// registry is constant, so the index is too.
var byID = sync.OnceValues(func() (map[string]Measure, map[string]Dimension) {
	ms := map[string]Measure{}
	for _, m := range Measures() {
		ms[m.ID] = m
	}
	ds := map[string]Dimension{}
	for _, d := range Dimensions() {
		ds[d.ID] = d
	}
	return ms, ds
})

// MeasureByID returns the measure with that id.
func MeasureByID(id string) (Measure, bool) {
	ms, _ := byID()
	m, ok := ms[id]
	return m, ok
}

// DimensionByID returns the dimension with that id. Its Values are shared:
// callers must not change them.
func DimensionByID(id string) (Dimension, bool) {
	_, ds := byID()
	d, ok := ds[id]
	return d, ok
}

// Applies reports whether dimension d may classify measure m: incident
// dimensions apply to every measure, person dimensions only to person-level
// measures, and suspect-only dimensions only to measures counting suspects.
func Applies(m Measure, d Dimension) bool {
	if d.Level == LevelIncident {
		return true
	}
	if m.Level != LevelPerson {
		return false
	}
	return !d.SuspectsOnly || m.Persons == PersonsSuspects
}

var (
	subdivisionRE = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
	yearRE        = regexp.MustCompile(`^[0-9]{4}$`)
	quarterRE     = regexp.MustCompile(`^[0-9]{4}-Q[1-4]$`)
	monthRE       = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)
)

// ValidValue reports whether v is a cell key of d. Countries must be ISO
// 3166-1 alpha-3 codes (citizenship also the ICAO codes XXA, XXB, XXC, XXX)
// and ICCS codes must be in the built-in table (internal/codes), as records
// are; subdivisions are checked for form only. A valid code that no record
// has simply matches nothing.
func (d Dimension) ValidValue(v string) bool {
	if d.Missing != "" && v == d.Missing {
		return true
	}
	switch d.kind {
	case kindEnum:
		for _, x := range d.Values {
			if x == v {
				return true
			}
		}
		return false
	case kindCountry:
		if d.ID == "citizenship" {
			return codes.IsCitizenship(v)
		}
		return codes.IsCountry(v)
	case kindSubdivision:
		return subdivisionRE.MatchString(v)
	case kindICCS:
		return codes.IsICCS(v)
	case kindYear:
		return yearRE.MatchString(v)
	case kindQuarter:
		return quarterRE.MatchString(v)
	case kindMonth:
		return monthRE.MatchString(v)
	}
	return false
}

// PeriodKey spells the period of granularity g that contains the given
// year and month (1-12).
func PeriodKey(g Granularity, year, month int) string {
	switch g {
	case GranularityYear:
		return pad4(year)
	case GranularityQuarter:
		return pad4(year) + "-Q" + strconv.Itoa((month-1)/3+1)
	case GranularityMonth:
		m := strconv.Itoa(month)
		if month < 10 {
			m = "0" + m
		}
		return pad4(year) + "-" + m
	}
	return ""
}

func pad4(y int) string {
	s := strconv.Itoa(y)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// PeriodMonths returns the first and last month (as year*12 + month-1) a
// period key covers, for a well-formed key of a period dimension.
func PeriodMonths(g Granularity, key string) (first, last int, ok bool) {
	switch g {
	case GranularityYear:
		if !yearRE.MatchString(key) {
			return 0, 0, false
		}
		y, _ := strconv.Atoi(key)
		return y * 12, y*12 + 11, true
	case GranularityQuarter:
		if !quarterRE.MatchString(key) {
			return 0, 0, false
		}
		y, _ := strconv.Atoi(key[:4])
		q := int(key[6] - '1')
		return y*12 + q*3, y*12 + q*3 + 2, true
	case GranularityMonth:
		if !monthRE.MatchString(key) {
			return 0, 0, false
		}
		y, _ := strconv.Atoi(key[:4])
		m, _ := strconv.Atoi(key[5:])
		return y*12 + m - 1, y*12 + m - 1, true
	}
	return 0, 0, false
}

// ParseDate parses a YYYY-MM-DD calendar date.
func ParseDate(s string) (time.Time, bool) {
	if len(s) != 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}
