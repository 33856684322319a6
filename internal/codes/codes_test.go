package codes

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func isUpperN(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) {
			return false
		}
	}
	return true
}

func TestCountryTable(t *testing.T) {
	t.Parallel()
	// ISO 3166-1 has 249 officially assigned codes.
	if got := len(countries); got != 249 {
		t.Errorf("table has %d countries, want 249", got)
	}
	alpha2 := map[string]string{}
	for i, c := range countries {
		if !isUpperN(c.Alpha3, 3) {
			t.Errorf("%q: alpha-3 not three upper-case letters", c.Alpha3)
		}
		if !isUpperN(c.Alpha2, 2) {
			t.Errorf("%s: alpha-2 %q not two upper-case letters", c.Alpha3, c.Alpha2)
		}
		if c.Name == "" || strings.TrimSpace(c.Name) != c.Name || !utf8.ValidString(c.Name) {
			t.Errorf("%s: bad name %q", c.Alpha3, c.Name)
		}
		if c.M49Region != "" && (len(c.M49Region) != 3 || strings.Trim(c.M49Region, "0123456789") != "") {
			t.Errorf("%s: bad M49 region %q", c.Alpha3, c.M49Region)
		}
		if i > 0 && countries[i-1].Alpha3 >= c.Alpha3 {
			t.Errorf("%s: not sorted or duplicate after %s", c.Alpha3, countries[i-1].Alpha3)
		}
		if prev, dup := alpha2[c.Alpha2]; dup {
			t.Errorf("alpha-2 %s used by %s and %s", c.Alpha2, prev, c.Alpha3)
		}
		alpha2[c.Alpha2] = c.Alpha3
		// The alpha-2 and alpha-3 codes of a country almost always share the
		// first letter; the exceptions are listed so a typo in either column
		// shows up here.
		if c.Alpha2[0] != c.Alpha3[0] && !firstLetterExceptions[c.Alpha3] {
			t.Errorf("%s/%s: first letters differ and not a known exception", c.Alpha3, c.Alpha2)
		}
	}
}

// firstLetterExceptions are the countries whose alpha-2 and alpha-3 codes
// start with different letters.
var firstLetterExceptions = map[string]bool{
	"ATF": true, // TF
	"COM": true, // KM
	"CYM": true, // KY
	"MYT": true, // YT
	"PRK": true, // KP
	"SGS": true, // GS
	"SPM": true, // PM
	"SRB": true, // RS
}

func TestCountryCrossConsistency(t *testing.T) {
	t.Parallel()
	// Well-known pairs pin the two columns against each other.
	pairs := map[string]string{
		"AUS": "AU", "AUT": "AT", "BGD": "BD", "BRN": "BN", "CHN": "CN", "DEU": "DE",
		"GBR": "GB", "HKG": "HK", "IDN": "ID", "IND": "IN", "IRN": "IR", "KHM": "KH",
		"KOR": "KR", "LAO": "LA", "LKA": "LK", "MAC": "MO", "MMR": "MM", "MYS": "MY",
		"NCL": "NC", "NFK": "NF", "NZL": "NZ", "PAK": "PK", "PHL": "PH", "PNG": "PG",
		"SGP": "SG", "THA": "TH", "TLS": "TL", "VNM": "VN", "AFG": "AF", "NPL": "NP",
	}
	for a3, a2 := range pairs {
		c, ok := LookupCountry(a3)
		if !ok || c.Alpha2 != a2 {
			t.Errorf("LookupCountry(%s) = %+v, %v; want alpha-2 %s", a3, c, ok, a2)
		}
	}
	all := Countries()
	if len(all) != len(countries) {
		t.Fatalf("Countries() returned %d entries", len(all))
	}
	all[0].Name = "changed"
	if countries[0].Name == "changed" {
		t.Error("Countries() exposes the table")
	}
}

func TestCountryLookups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code   string
		ok     bool
		name   string
		region string
	}{
		{"THA", true, "Thailand", "035"},
		{"AUS", true, "Australia", "053"},
		{"MMR", true, "Myanmar", "035"},
		{"BGD", true, "Bangladesh", "034"},
		{"AFG", true, "Afghanistan", "034"},
		{"CHN", true, "China", "030"},
		{"PNG", true, "Papua New Guinea", "054"},
		{"NFK", true, "Norfolk Island", "053"},
		{"FSM", true, "Micronesia (Federated States of)", "057"},
		{"WSM", true, "Samoa", "061"},
		{"ABW", true, "Aruba", "019"},
		{"ZWE", true, "Zimbabwe", "002"},
		{"tha", false, "", ""},
		{"TH", false, "", ""},
		{"XXA", false, "", ""},
		{"XXX", false, "", ""},
		{"", false, "", ""},
		{"AAA", false, "", ""},
		{"ZZZ", false, "", ""},
		{"THAI", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			if got := IsCountry(tt.code); got != tt.ok {
				t.Errorf("IsCountry(%q) = %v, want %v", tt.code, got, tt.ok)
			}
			name, ok := CountryName(tt.code)
			if ok != tt.ok || name != tt.name {
				t.Errorf("CountryName(%q) = %q, %v; want %q, %v", tt.code, name, ok, tt.name, tt.ok)
			}
			c, _ := LookupCountry(tt.code)
			if c.M49Region != tt.region {
				t.Errorf("M49Region(%q) = %q, want %q", tt.code, c.M49Region, tt.region)
			}
		})
	}
}

func TestCitizenship(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		ok   bool
		name string
	}{
		{"MMR", true, "Myanmar"},
		{"XXA", true, "Stateless person"},
		{"XXB", true, "Refugee (1951 Convention)"},
		{"XXC", true, "Refugee (other)"},
		{"XXX", true, "Unspecified nationality"},
		{"XXD", false, ""},
		{"xxa", false, ""},
		{"", false, ""},
		{"UNO", false, ""},
	}
	for _, tt := range tests {
		if got := IsCitizenship(tt.code); got != tt.ok {
			t.Errorf("IsCitizenship(%q) = %v, want %v", tt.code, got, tt.ok)
		}
		name, ok := CitizenshipName(tt.code)
		if ok != tt.ok || name != tt.name {
			t.Errorf("CitizenshipName(%q) = %q, %v; want %q, %v", tt.code, name, ok, tt.name, tt.ok)
		}
	}
	for i, e := range citizenshipExtras {
		if IsCountry(e.code) {
			t.Errorf("ICAO code %s collides with a country", e.code)
		}
		if i > 0 && citizenshipExtras[i-1].code >= e.code {
			t.Errorf("citizenship extras not sorted at %s", e.code)
		}
	}
}

func TestValidSubdivision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code, country string
		wantErr       string
	}{
		{"TH-90", "THA", ""},
		{"TH-10", "THA", ""},
		{"MY-01", "MYS", ""},
		{"ID-RI", "IDN", ""},
		{"AU-WA", "AUS", ""},
		{"AU-NSW", "AUS", ""},
		{"GB-ENG", "GBR", ""},
		{"FR-6", "FRA", ""},
		{"MY-01", "THA", `"MY-01" is not a subdivision of THA`},
		{"TH-XYZW", "THA", `"TH-XYZW" is not an ISO 3166-2 subdivision code`},
		{"TH-", "THA", `"TH-" is not an ISO 3166-2 subdivision code`},
		{"th-90", "THA", `"th-90" is not an ISO 3166-2 subdivision code`},
		{"TH-9a", "THA", `"TH-9a" is not an ISO 3166-2 subdivision code`},
		{"TH90", "THA", `"TH90" is not an ISO 3166-2 subdivision code`},
		{"THA-90", "THA", `"THA-90" is not an ISO 3166-2 subdivision code`},
		{"", "THA", `"" is not an ISO 3166-2 subdivision code`},
		{"TH-90", "XYZ", `"XYZ" is not an ISO 3166-1 alpha-3 country code`},
		{"TH-90", "TH", `"TH" is not an ISO 3166-1 alpha-3 country code`},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.country, func(t *testing.T) {
			t.Parallel()
			err := ValidSubdivision(tt.code, tt.country)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("error = %v, want %s", err, tt.wantErr)
			}
		})
	}
}

func FuzzValidSubdivision(f *testing.F) {
	for _, s := range [][2]string{
		{"TH-90", "THA"}, {"MY-01", "THA"}, {"ID-RI", "IDN"}, {"AU-NSW", "AUS"},
		{"TH-XYZW", "THA"}, {"", ""}, {"TH-", "THA"}, {"--", "---"}, {"ÄÖ-1", "THA"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, code, country string) {
		err := ValidSubdivision(code, country)
		if err != nil {
			return
		}
		// Accepted codes must be what the doc comment promises.
		c, ok := LookupCountry(country)
		if !ok {
			t.Fatalf("accepted %q for unknown country %q", code, country)
		}
		if !strings.HasPrefix(code, c.Alpha2+"-") || len(code) < 4 || len(code) > 6 {
			t.Fatalf("accepted %q for %s", code, country)
		}
		for i := 3; i < len(code); i++ {
			if !isUpper(code[i]) && !isDigit(code[i]) {
				t.Fatalf("accepted %q with byte %q", code, code[i])
			}
		}
	})
}

func TestICCSTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i, c := range iccs {
		if n := len(c.Code); n < 2 || n > 6 || n == 3 || strings.Trim(c.Code, "0123456789") != "" {
			t.Errorf("%q: not an ICCS code", c.Code)
		}
		if seen[c.Code] {
			t.Errorf("%s: duplicate", c.Code)
		}
		seen[c.Code] = true
		if i > 0 && iccs[i-1].Code >= c.Code {
			t.Errorf("%s: not sorted after %s", c.Code, iccs[i-1].Code)
		}
		if c.Name == "" {
			t.Errorf("%s: no name", c.Code)
		}
		// A parent is the code one level up: 2 digits for a 4-digit code,
		// 4 for 5, 5 for 6. Sorting puts it before its children.
		wantParent := ""
		switch len(c.Code) {
		case 4:
			wantParent = c.Code[:2]
		case 5:
			wantParent = c.Code[:4]
		case 6:
			wantParent = c.Code[:5]
		}
		if c.Parent != wantParent {
			t.Errorf("%s: parent %q, want %q", c.Code, c.Parent, wantParent)
		}
		if c.Parent != "" && !seen[c.Parent] {
			t.Errorf("%s: parent %s missing", c.Code, c.Parent)
		}
	}
	for s := 1; s <= 11; s++ {
		code := string([]byte{byte('0' + s/10), byte('0' + s%10)})
		if !seen[code] {
			t.Errorf("section %s missing", code)
		}
	}
}

func TestICCSLookups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		ok   bool
		name string
	}{
		{"08051", true, "Smuggling of migrants"},
		{"0805", true, "Acts related to migration"},
		{"07023", true, "Forgery/counterfeiting of documents"},
		{"0204", true, "Trafficking in persons"},
		{"020291", true, "Illegal adoption"},
		{"020221", true, "Kidnapping"},
		{"0101", true, "Intentional homicide"},
		{"08", true, "Acts against public order, authority and provisions of the State"},
		{"8051", false, ""},
		{"080510", false, ""},
		{"", false, ""},
		{"0805 ", false, ""},
	}
	for _, tt := range tests {
		if got := IsICCS(tt.code); got != tt.ok {
			t.Errorf("IsICCS(%q) = %v, want %v", tt.code, got, tt.ok)
		}
		name, ok := ICCSName(tt.code)
		if ok != tt.ok || name != tt.name {
			t.Errorf("ICCSName(%q) = %q, %v; want %q, %v", tt.code, name, ok, tt.name, tt.ok)
		}
	}
	all := ICCSCodes()
	if len(all) != len(iccs) {
		t.Fatalf("ICCSCodes() returned %d", len(all))
	}
	all[0].Code = "x"
	if iccs[0].Code == "x" {
		t.Error("ICCSCodes() exposes the table")
	}
}

func TestCurrencyTable(t *testing.T) {
	t.Parallel()
	if len(currencies) < 170 {
		t.Errorf("only %d currencies", len(currencies))
	}
	for i, c := range currencies {
		if !isUpperN(c.code, 3) {
			t.Errorf("%q: not three upper-case letters", c.code)
		}
		if c.name == "" {
			t.Errorf("%s: no name", c.code)
		}
		if i > 0 && currencies[i-1].code >= c.code {
			t.Errorf("%s: not sorted or duplicate after %s", c.code, currencies[i-1].code)
		}
	}
}

func TestCurrencyLookups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		ok   bool
		name string
	}{
		{"USD", true, "US Dollar"},
		{"MYR", true, "Malaysian Ringgit"},
		{"THB", true, "Baht"},
		{"IDR", true, "Rupiah"},
		{"AUD", true, "Australian Dollar"},
		{"AFN", true, "Afghani"},
		{"MMK", true, "Kyat"},
		{"EUR", true, "Euro"},
		{"XXX", false, ""},
		{"XTS", false, ""},
		{"usd", false, ""},
		{"US", false, ""},
		{"", false, ""},
		{"ZZZ", false, ""},
	}
	for _, tt := range tests {
		if got := IsCurrency(tt.code); got != tt.ok {
			t.Errorf("IsCurrency(%q) = %v, want %v", tt.code, got, tt.ok)
		}
		name, ok := CurrencyName(tt.code)
		if ok != tt.ok || name != tt.name {
			t.Errorf("CurrencyName(%q) = %q, %v; want %q, %v", tt.code, name, ok, tt.name, tt.ok)
		}
	}
}
