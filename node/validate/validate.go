// Package validate checks incidents before a node stores them: required
// fields, dates, ISO 3166 / ISO 4217 / ICCS codes, enum ranges and numeric
// bounds. Every problem is reported as a FieldError that names the field
// path (in proto field names, e.g. "migrants[3].citizenship") and the rule
// broken, so a clerk can fix a file and a partner system a request.
//
// Messages never echo the value of a field the design marks "never shared"
// (conveyance, notes, place name, embarkation, full name, document number,
// date of birth, national_ref): they say what is wrong without repeating it.
// Coded values (countries, dates of detection, ages) are echoed because they
// are what the user needs to find the mistake.
package validate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vrs-federation/vrs/internal/codes"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// Limits on field sizes. They keep one record within what a Badger
// transaction and an API message comfortably hold.
const (
	// MaxNationalRef is the longest national_ref, in characters.
	MaxNationalRef = 128
	// MaxText is the longest short text (agency, names, conveyance), in characters.
	MaxText = 256
	// MaxNotes is the longest notes field, in characters.
	MaxNotes = 10000
	// MaxPersons is the most migrants or suspects in one incident.
	MaxPersons = 10000
	// MaxCodes is the most entries in a list of codes (ICCS, transit, methods, documents).
	MaxCodes = 50
	// MaxAge is the highest age accepted.
	MaxAge = 120
)

// DateLayout is the only date format accepted: ISO 8601 calendar date.
const DateLayout = "2006-01-02"

// FutureTolerance is how far past the validator's clock a date of detection
// may lie: the clock is UTC, and "today" in UTC+14 is already tomorrow.
const FutureTolerance = 36 * time.Hour

// FieldError is one problem with one field of an incident.
type FieldError struct {
	// Path is the field path in proto field names, e.g. "migrants[3].age".
	Path string
	// Rule is what is wrong, in words, e.g. "130 is not between 0 and 120".
	Rule string
	// Index is the incident's index in a batch, or -1 for a single incident.
	Index int
}

// Error renders the problem as "path: rule", prefixed by the batch index
// when there is one ("incidents[4].migrants[3].age: ...").
func (e FieldError) Error() string {
	if e.Index >= 0 {
		if e.Path == "" {
			return fmt.Sprintf("incidents[%d]: %s", e.Index, e.Rule)
		}
		return fmt.Sprintf("incidents[%d].%s: %s", e.Index, e.Path, e.Rule)
	}
	if e.Path == "" {
		return e.Rule
	}
	return e.Path + ": " + e.Rule
}

// Validator checks incidents against a clock. The zero value uses the
// system clock.
type Validator struct {
	// Now is the clock dates are checked against; nil means time.Now.
	Now func() time.Time
}

// Incident checks one incident against the system clock. It returns nil
// when the incident is valid; every error has Index -1.
func Incident(inc *recordv1.Incident) []FieldError {
	return Validator{}.Incident(inc)
}

// Batch checks a batch of incidents against the system clock: each
// incident, and that no national_ref appears twice. Errors carry the
// incident's index.
func Batch(incs []*recordv1.Incident) []FieldError {
	return Validator{}.Batch(incs)
}

// Batch checks a batch of incidents: each incident, and that no
// national_ref appears twice. Errors carry the incident's index.
func (v Validator) Batch(incs []*recordv1.Incident) []FieldError {
	var errs []FieldError
	seen := make(map[string]int, len(incs))
	for i, inc := range incs {
		for _, e := range v.Incident(inc) {
			e.Index = i
			errs = append(errs, e)
		}
		ref := inc.GetNationalRef()
		if ref == "" {
			continue
		}
		if first, ok := seen[ref]; ok {
			errs = append(errs, FieldError{Path: "national_ref", Rule: fmt.Sprintf("duplicate of incidents[%d]", first), Index: i})
			continue
		}
		seen[ref] = i
	}
	return errs
}

// Incident checks one incident. It returns nil when the incident is valid;
// every error has Index -1.
func (v Validator) Incident(inc *recordv1.Incident) []FieldError {
	c := checker{now: v.now()}
	if inc == nil {
		c.add(f(""), "incident is missing")
		return c.errs
	}
	c.nationalRef(inc.GetNationalRef())
	c.text(f("reporting_agency"), inc.GetReportingAgency(), MaxText)
	c.detectedOn(inc.GetDetectedOn())
	if p := inc.GetDetectedAt(); p != nil {
		c.place(p)
	}
	c.listLen("iccs_codes", len(inc.GetIccsCodes()))
	for i, code := range inc.GetIccsCodes() {
		if !codes.IsICCS(code) {
			c.add(elem("iccs_codes", i, ""), fmt.Sprintf("%s is not an ICCS code", quote(code)))
		}
	}
	if r := inc.GetRoute(); r != nil {
		c.country(f("route.origin"), r.GetOrigin())
		c.listLen("route.transit", len(r.GetTransit()))
		for i, t := range r.GetTransit() {
			if t == "" {
				c.add(elem("route.transit", i, ""), "empty country code")
				continue
			}
			c.country(elem("route.transit", i, ""), t)
		}
		c.country(f("route.destination"), r.GetDestination())
		c.text(f("route.embarkation"), r.GetEmbarkation(), MaxText)
	}
	c.enum(f("transport_mode"), inc.GetTransportMode())
	c.text(f("conveyance"), inc.GetConveyance(), MaxText)
	c.listLen("methods", len(inc.GetMethods()))
	for i, m := range inc.GetMethods() {
		c.enum(elem("methods", i, ""), m)
	}
	c.listLen("documents", len(inc.GetDocuments()))
	for i, d := range inc.GetDocuments() {
		c.enum(elem("documents", i, "type"), d.GetType())
		c.country(elem("documents", i, "issuing_country"), d.GetIssuingCountry())
		c.enum(elem("documents", i, "fraud"), d.GetFraud())
	}
	if fee := inc.GetFee(); fee != nil {
		c.fee(fee)
	}
	c.persons("migrants", inc.GetMigrants())
	c.persons("suspects", inc.GetSuspects())
	if h := inc.GetHarm(); h != nil {
		c.nonNegative(f("harm.deaths"), h.GetDeaths())
		c.nonNegative(f("harm.missing"), h.GetMissing())
		c.nonNegative(f("harm.injured"), h.GetInjured())
	}
	c.text(f("notes"), inc.GetNotes(), MaxNotes)
	return c.errs
}

func (v Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checker accumulates the errors of one incident.
type checker struct {
	now  time.Time
	errs []FieldError
}

func (c *checker) add(p at, rule string) {
	c.errs = append(c.errs, FieldError{Path: p.String(), Rule: rule, Index: -1})
}

// at is a field path, rendered only when an error is reported: building
// strings for every field of a million valid incidents would dominate the
// cost of an import.
type at struct {
	list  string // a repeated field, e.g. "migrants"; empty for none
	index int
	field string // the field, or the field under list[index]
}

// f is the path of a plain field.
func f(field string) at { return at{field: field} }

// elem is the path of field under list[index], or of the element itself
// when field is empty.
func elem(list string, index int, field string) at {
	return at{list: list, index: index, field: field}
}

func (p at) String() string {
	if p.list == "" {
		return p.field
	}
	s := p.list + "[" + strconv.Itoa(p.index) + "]"
	if p.field != "" {
		s += "." + p.field
	}
	return s
}

func (c *checker) nationalRef(ref string) {
	p := f("national_ref")
	switch {
	case ref == "":
		c.add(p, "required")
	case !utf8.ValidString(ref):
		c.add(p, "not valid UTF-8")
	case utf8.RuneCountInString(ref) > MaxNationalRef:
		c.add(p, fmt.Sprintf("longer than %d characters", MaxNationalRef))
	case strings.IndexFunc(ref, unicode.IsControl) >= 0:
		c.add(p, "contains a control character")
	case strings.TrimSpace(ref) != ref:
		// "A-17 " and "A-17" would otherwise be two different records.
		c.add(p, "has leading or trailing spaces")
	}
}

func (c *checker) detectedOn(s string) {
	p := f("detected_on")
	if s == "" {
		c.add(p, "required")
		return
	}
	d, ok := ParseDate(s)
	if !ok {
		c.add(p, fmt.Sprintf("%s is not a YYYY-MM-DD date", quote(s)))
		return
	}
	if d.Year() < 1900 {
		c.add(p, fmt.Sprintf("%s is before 1900", quote(s)))
		return
	}
	if d.After(c.now.Add(FutureTolerance)) {
		c.add(p, fmt.Sprintf("%s is in the future", quote(s)))
	}
}

func (c *checker) place(p *recordv1.Place) {
	c.country(f("detected_at.country"), p.GetCountry())
	if sub := p.GetSubdivision(); sub != "" {
		switch {
		case p.GetCountry() == "":
			c.add(f("detected_at.subdivision"), "set without detected_at.country")
		case codes.IsCountry(p.GetCountry()):
			if err := codes.ValidSubdivision(sub, p.GetCountry()); err != nil {
				c.add(f("detected_at.subdivision"), err.Error())
			}
		}
	}
	c.enum(f("detected_at.type"), p.GetType())
	c.text(f("detected_at.name"), p.GetName(), MaxText)
}

func (c *checker) fee(fee *recordv1.Fee) {
	amount := fee.GetAmountPerPerson()
	switch {
	case math.IsNaN(amount) || math.IsInf(amount, 0):
		c.add(f("fee.amount_per_person"), "not a finite number")
	case amount < 0:
		c.add(f("fee.amount_per_person"), fmt.Sprintf("%g is negative", amount))
	}
	switch cur := fee.GetCurrency(); {
	case cur == "" && amount > 0:
		c.add(f("fee.currency"), "required when amount_per_person is above 0")
	case cur != "" && !codes.IsCurrency(cur):
		c.add(f("fee.currency"), fmt.Sprintf("%s is not an ISO 4217 currency code", quote(cur)))
	}
	c.enum(f("fee.method"), fee.GetMethod())
}

func (c *checker) persons(group string, ps []*recordv1.Person) {
	if len(ps) > MaxPersons {
		c.add(f(group), fmt.Sprintf("more than %d persons", MaxPersons))
		return
	}
	for i, p := range ps {
		if p == nil {
			c.add(elem(group, i, ""), "person is missing")
			continue
		}
		if cit := p.GetCitizenship(); cit != "" && !codes.IsCitizenship(cit) {
			c.add(elem(group, i, "citizenship"), fmt.Sprintf("%s is not an ISO 3166-1 alpha-3 or ICAO 9303 (XXA, XXB, XXC, XXX) code", quote(cit)))
		}
		c.enum(elem(group, i, "sex"), p.GetSex())
		if p.Age != nil {
			age := p.GetAge()
			if age < 0 || age > MaxAge {
				c.add(elem(group, i, "age"), fmt.Sprintf("%d is not between 0 and %d", age, MaxAge))
			} else if p.GetUnaccompaniedMinor() && age >= 18 {
				c.add(elem(group, i, "unaccompanied_minor"), fmt.Sprintf("set for a person aged %d", age))
			}
		}
		c.enum(elem(group, i, "role"), p.GetRole())
		c.enum(elem(group, i, "legal_status"), p.GetLegalStatus())
		c.text(elem(group, i, "full_name"), p.GetFullName(), MaxText)
		c.text(elem(group, i, "document_number"), p.GetDocumentNumber(), MaxText)
		if dob := p.GetDateOfBirth(); dob != "" {
			// Never echo a date of birth: it is a personal identifier.
			d, ok := ParseDate(dob)
			switch {
			case !ok:
				c.add(elem(group, i, "date_of_birth"), "not a YYYY-MM-DD date")
			case d.Year() < 1880:
				c.add(elem(group, i, "date_of_birth"), "before 1880")
			case d.After(c.now.Add(FutureTolerance)):
				c.add(elem(group, i, "date_of_birth"), "in the future")
			}
		}
	}
}

// country checks an optional ISO 3166-1 alpha-3 code.
func (c *checker) country(p at, code string) {
	if code != "" && !codes.IsCountry(code) {
		c.add(p, fmt.Sprintf("%s is not an ISO 3166-1 alpha-3 code", quote(code)))
	}
}

// text checks a free-text field without ever echoing it.
func (c *checker) text(p at, s string, max int) {
	if s == "" {
		return
	}
	if !utf8.ValidString(s) {
		c.add(p, "not valid UTF-8 (save the file as UTF-8)")
		return
	}
	if len(s) > max && utf8.RuneCountInString(s) > max {
		c.add(p, fmt.Sprintf("longer than %d characters", max))
	}
}

func (c *checker) listLen(list string, n int) {
	if n > MaxCodes {
		c.add(f(list), fmt.Sprintf("more than %d entries", MaxCodes))
	}
}

func (c *checker) nonNegative(p at, n int32) {
	if n < 0 {
		c.add(p, fmt.Sprintf("%d is negative", n))
	}
}

// enum checks that an enum holds one of its declared values: protobuf keeps
// unknown numbers, and a stored unknown number would count as nothing.
func (c *checker) enum(p at, e protoreflect.Enum) {
	n := e.Number()
	if n == 0 {
		return // every enum here declares 0 as unspecified
	}
	d := e.Descriptor()
	if d.Values().ByNumber(n) == nil {
		c.add(p, fmt.Sprintf("%d is not a %s value", n, d.Name()))
	}
}

// ParseDate parses a strict YYYY-MM-DD calendar date (no time, no zone).
func ParseDate(s string) (time.Time, bool) {
	if len(s) != len(DateLayout) {
		return time.Time{}, false
	}
	d, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, false
	}
	return d, true
}

// quote quotes a coded value for a message, cutting it short so that a
// mistaken paste of a long text into a code column does not flood the
// output.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
