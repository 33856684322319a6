// Package codes holds the code lists VRS records are validated against: ISO
// 3166-1 countries, ICAO Doc 9303 nationality codes for persons, ISO 3166-2
// subdivision syntax, UNODC ICCS offence codes and ISO 4217 currencies.
//
// The tables are Go source, sorted once by hand and searched with a binary
// search, so lookups allocate nothing, need no initialisation and behave the
// same on every node: two states validating the same record must agree. The
// tests check every table is sorted, unique and well formed.
package codes

import (
	"fmt"
	"slices"
	"sort"
)

// Country is one ISO 3166-1 entry.
type Country struct {
	// Alpha3 is the ISO 3166-1 alpha-3 code, e.g. "THA".
	Alpha3 string
	// Alpha2 is the ISO 3166-1 alpha-2 code, e.g. "TH"; it prefixes the
	// country's ISO 3166-2 subdivision codes.
	Alpha2 string
	// Name is the English short name.
	Name string
	// M49Region is the UN M49 region code: the sub-region for Asia and
	// Oceania (e.g. "035" South-eastern Asia, "053" Australia and New
	// Zealand), the continent elsewhere ("002" Africa, "019" Americas, "150"
	// Europe), empty for Antarctica.
	M49Region string
}

// LookupCountry returns the ISO 3166-1 entry for an alpha-3 code. Codes are
// case-sensitive: only upper-case codes are valid, as in the standard.
func LookupCountry(alpha3 string) (Country, bool) {
	i := sort.Search(len(countries), func(i int) bool { return countries[i].Alpha3 >= alpha3 })
	if i < len(countries) && countries[i].Alpha3 == alpha3 {
		return countries[i], true
	}
	return Country{}, false
}

// IsCountry reports whether alpha3 is an officially assigned ISO 3166-1
// alpha-3 code.
func IsCountry(alpha3 string) bool {
	_, ok := LookupCountry(alpha3)
	return ok
}

// CountryName returns the English short name of an ISO 3166-1 alpha-3 code.
func CountryName(alpha3 string) (string, bool) {
	c, ok := LookupCountry(alpha3)
	return c.Name, ok
}

// Countries returns every ISO 3166-1 entry sorted by Alpha3. The slice is a
// copy: callers may change it.
func Countries() []Country {
	return slices.Clone(countries)
}

// citizenshipExtras are the ICAO Doc 9303 codes a person's nationality may
// carry besides a country, sorted by code.
var citizenshipExtras = []struct{ code, name string }{
	{"XXA", "Stateless person"},
	{"XXB", "Refugee (1951 Convention)"},
	{"XXC", "Refugee (other)"},
	{"XXX", "Unspecified nationality"},
}

// IsCitizenship reports whether code may stand for a person's citizenship: an
// ISO 3166-1 alpha-3 country or one of the ICAO Doc 9303 codes XXA
// (stateless), XXB (refugee under the 1951 Convention), XXC (other refugee)
// and XXX (unspecified).
func IsCitizenship(code string) bool {
	_, ok := CitizenshipName(code)
	return ok
}

// CitizenshipName returns the name of a citizenship code accepted by
// IsCitizenship.
func CitizenshipName(code string) (string, bool) {
	if n, ok := CountryName(code); ok {
		return n, true
	}
	for _, e := range citizenshipExtras {
		if e.code == code {
			return e.name, true
		}
	}
	return "", false
}

// ValidSubdivision checks that code is an ISO 3166-2 subdivision code of the
// country with alpha-3 code country: the country's alpha-2 code, a hyphen and
// one to three upper-case letters or digits ("TH-90", "ID-RI", "AU-WA").
// Only the syntax and the prefix are checked, not the national list, so a
// newly created subdivision is not rejected. An empty code is an error: the
// caller decides whether the field is optional.
func ValidSubdivision(code, country string) error {
	if !subdivisionSyntax(code) {
		return fmt.Errorf("%q is not an ISO 3166-2 subdivision code", code)
	}
	c, ok := LookupCountry(country)
	if !ok {
		return fmt.Errorf("%q is not an ISO 3166-1 alpha-3 country code", country)
	}
	if code[:2] != c.Alpha2 {
		return fmt.Errorf("%q is not a subdivision of %s", code, country)
	}
	return nil
}

// subdivisionSyntax reports whether code has the ISO 3166-2 shape AA-X,
// AA-XX or AA-XXX.
func subdivisionSyntax(code string) bool {
	if len(code) < 4 || len(code) > 6 || code[2] != '-' {
		return false
	}
	if !isUpper(code[0]) || !isUpper(code[1]) {
		return false
	}
	for i := 3; i < len(code); i++ {
		if !isUpper(code[i]) && !isDigit(code[i]) {
			return false
		}
	}
	return true
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
