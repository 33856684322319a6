package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/codes"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

var (
	testFrom = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	testTo   = time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
)

func opts(country string, seed int64, n int) Options {
	return Options{Country: country, Seed: seed, Records: n, From: testFrom, To: testTo}
}

func newGen(t testing.TB, o Options) *Generator {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	return g
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"unknown country", Options{Country: "XYZ"}, `country "XYZ" is not an ISO 3166-1 alpha-3 code`},
		{"lower case", Options{Country: "tha"}, `country "tha" is not an ISO 3166-1 alpha-3 code`},
		{"stateless is no country", Options{Country: "XXA"}, `country "XXA" is not an ISO 3166-1 alpha-3 code`},
		{"negative records", Options{Country: "THA", Records: -1}, "records -1 is negative"},
		{"inverted period", Options{Country: "THA", From: testTo, To: testFrom}, "period ends before it starts"},
		{"endless period", Options{Country: "THA", From: time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC), To: testTo}, "period longer than 100 years"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.o)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
			if err := Write(io.Discard, tt.o); err == nil {
				t.Fatal("Write accepted what New rejects")
			}
		})
	}
}

func TestPeriodDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	tests := []struct {
		name             string
		from, to         time.Time
		wantFrom, wantTo string
	}{
		{"last three full years", time.Time{}, time.Time{}, "2023-01-01", "2025-12-31"},
		{"to given", time.Time{}, time.Date(2020, 6, 30, 23, 0, 0, 0, time.UTC), "2018-01-01", "2020-06-30"},
		{"from given", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Time{}, "2025-03-01", "2025-12-31"},
		{"time of day ignored", time.Date(2024, 1, 2, 22, 0, 0, 0, time.UTC), time.Date(2024, 1, 2, 1, 0, 0, 0, time.UTC), "2024-01-02", "2024-01-02"},
	}
	for _, tt := range tests {
		f, to := period(tt.from, tt.to, now)
		if got := f.Format(time.DateOnly); got != tt.wantFrom {
			t.Errorf("%s: from = %s, want %s", tt.name, got, tt.wantFrom)
		}
		if got := to.Format(time.DateOnly); got != tt.wantTo {
			t.Errorf("%s: to = %s, want %s", tt.name, got, tt.wantTo)
		}
	}
	// A one-day period works and puts every record on that day.
	g := newGen(t, Options{Country: "THA", From: testFrom, To: testFrom})
	for range 50 {
		if d := g.Next().GetDetectedOn(); d != "2022-01-01" {
			t.Fatalf("detected_on %s outside a one-day period", d)
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := newGen(t, opts("MYS", 7, 0))
	b := newGen(t, opts("MYS", 7, 0))
	c := newGen(t, opts("MYS", 8, 0))
	d := newGen(t, opts("THA", 7, 0))
	diffSeed, diffCountry := 0, 0
	for i := range 150 {
		x, y := a.Next(), b.Next()
		if !proto.Equal(x, y) {
			t.Fatalf("record %d differs between generators with the same options", i)
		}
		if at := c.At(i); !proto.Equal(at, c.At(i)) {
			t.Fatalf("At(%d) not repeatable", i)
		}
		if !proto.Equal(x, a.At(i)) {
			t.Fatalf("At(%d) differs from the %d-th Next", i, i)
		}
		if !proto.Equal(stripRef(x), stripRef(c.At(i))) {
			diffSeed++
		}
		if !proto.Equal(stripRef(x), stripRef(d.At(i))) {
			diffCountry++
		}
	}
	if diffSeed < 145 || diffCountry < 145 {
		t.Errorf("other seed differs in %d/150, other country in %d/150 records", diffSeed, diffCountry)
	}
}

// stripRef removes what is equal by construction across seeds.
func stripRef(inc *recordv1.Incident) *recordv1.Incident {
	c := proto.Clone(inc).(*recordv1.Incident)
	c.NationalRef, c.Notes = "", ""
	return c
}

func TestNationalRefs(t *testing.T) {
	t.Parallel()
	refRE := regexp.MustCompile(`^THA-(\d{4})-(\d{6,})$`)
	g := newGen(t, opts("THA", 1, 0))
	seen := map[string]bool{}
	for i := range 3000 {
		inc := g.Next()
		ref := inc.GetNationalRef()
		m := refRE.FindStringSubmatch(ref)
		if m == nil {
			t.Fatalf("national_ref %q malformed", ref)
		}
		if m[1] != inc.GetDetectedOn()[:4] {
			t.Errorf("%s: year differs from detected_on %s", ref, inc.GetDetectedOn())
		}
		if want := fmt.Sprintf("%06d", i+1); m[2] != want {
			t.Errorf("%s: index %s, want %s", ref, m[2], want)
		}
		if seen[ref] {
			t.Fatalf("national_ref %s repeated", ref)
		}
		seen[ref] = true
	}
	// Stable for (country, seed, index), whatever else happened before.
	h := newGen(t, opts("THA", 1, 0))
	if got, want := h.At(1234).GetNationalRef(), g.At(1234).GetNationalRef(); got != want {
		t.Errorf("At(1234) ref %s, then %s", got, want)
	}
}

// validate checks one incident against the design's record rules and the
// code tables; it returns every problem found.
func validate(inc *recordv1.Incident, country string, from, to time.Time) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if ref := inc.GetNationalRef(); ref == "" || len(ref) > 128 {
		bad("national_ref %q", ref)
	}
	if inc.GetReportingAgency() == "" {
		bad("no reporting_agency")
	}
	d, err := time.Parse(time.DateOnly, inc.GetDetectedOn())
	if err != nil {
		bad("detected_on: %v", err)
	} else if d.Before(from) || d.After(to) {
		bad("detected_on %s outside the period", inc.GetDetectedOn())
	}
	at := inc.GetDetectedAt()
	if at.GetCountry() != country {
		bad("detected_at.country %q", at.GetCountry())
	}
	if s := at.GetSubdivision(); s != "" {
		if err := codes.ValidSubdivision(s, at.GetCountry()); err != nil {
			bad("detected_at.subdivision: %v", err)
		}
	}
	mode := inc.GetTransportMode()
	if !locationFits(mode, at.GetType()) {
		bad("location %v with transport %v", at.GetType(), mode)
	}
	if len(inc.GetIccsCodes()) == 0 {
		bad("no iccs_codes")
	}
	for _, c := range inc.GetIccsCodes() {
		if !codes.IsICCS(c) {
			bad("iccs %q", c)
		}
	}
	r := inc.GetRoute()
	onRoute := r.GetOrigin() == country || r.GetDestination() == country
	for _, c := range append([]string{r.GetOrigin(), r.GetDestination()}, r.GetTransit()...) {
		if !codes.IsCountry(c) {
			bad("route country %q", c)
		}
	}
	for _, c := range r.GetTransit() {
		onRoute = onRoute || c == country
		if c == r.GetOrigin() || c == r.GetDestination() {
			bad("transit %s repeats an end of the route", c)
		}
	}
	if !onRoute {
		bad("reporting country not on route %v", r)
	}
	if mode == recordv1.TransportMode_TRANSPORT_MODE_UNSPECIFIED || recordv1.TransportMode_name[int32(mode)] == "" {
		bad("transport_mode %v", mode)
	}
	if len(inc.GetMethods()) == 0 {
		bad("no methods")
	}
	for _, m := range inc.GetMethods() {
		if m == recordv1.Method_METHOD_UNSPECIFIED || recordv1.Method_name[int32(m)] == "" {
			bad("method %v", m)
		}
	}
	for _, doc := range inc.GetDocuments() {
		if !codes.IsCountry(doc.GetIssuingCountry()) {
			bad("document issuing_country %q", doc.GetIssuingCountry())
		}
		if doc.GetType() == 0 || doc.GetFraud() == 0 {
			bad("document %v", doc)
		}
	}
	if len(inc.GetDocuments()) > 0 && !slices.Contains(inc.GetIccsCodes(), "07023") {
		bad("fraudulent documents without ICCS 07023")
	}
	if f := inc.GetFee(); f != nil {
		if f.GetAmountPerPerson() < 0 || math.IsNaN(f.GetAmountPerPerson()) || math.IsInf(f.GetAmountPerPerson(), 0) {
			bad("fee amount %v", f.GetAmountPerPerson())
		}
		if !codes.IsCurrency(f.GetCurrency()) {
			bad("fee currency %q", f.GetCurrency())
		}
	}
	for kind, ps := range map[string][]*recordv1.Person{"migrant": inc.GetMigrants(), "suspect": inc.GetSuspects()} {
		for _, p := range ps {
			if !codes.IsCitizenship(p.GetCitizenship()) {
				bad("%s citizenship %q", kind, p.GetCitizenship())
			}
			if p.GetSex() == 0 {
				bad("%s sex unset", kind)
			}
			if p.Age != nil && (p.GetAge() < 0 || p.GetAge() > 120) {
				bad("%s age %d", kind, p.GetAge())
			}
			if p.GetUnaccompaniedMinor() && (p.Age == nil || p.GetAge() >= 18) {
				bad("%s unaccompanied minor aged %v", kind, p.Age)
			}
			if dob := p.GetDateOfBirth(); dob != "" {
				b, err := time.Parse(time.DateOnly, dob)
				if err != nil {
					bad("%s date_of_birth: %v", kind, err)
				} else if p.Age != nil && err == nil && ageAt(b, d) != int(p.GetAge()) {
					bad("%s born %s is not %d on %s", kind, dob, p.GetAge(), inc.GetDetectedOn())
				}
			}
			isSuspect := kind == "suspect"
			if isSuspect != (p.GetRole() != 0) || isSuspect != (p.GetLegalStatus() != 0) {
				bad("%s role %v legal status %v", kind, p.GetRole(), p.GetLegalStatus())
			}
			if !strings.HasPrefix(p.GetFullName(), Marker) {
				bad("%s full_name not synthetic", kind)
			}
			if n := p.GetDocumentNumber(); n != "" && !strings.HasPrefix(n, Marker) {
				bad("%s document_number not synthetic", kind)
			}
		}
	}
	if len(inc.GetMigrants()) == 0 {
		bad("no migrants")
	}
	if h := inc.GetHarm(); h.GetDeaths() < 0 || h.GetMissing() < 0 || h.GetInjured() < 0 {
		bad("harm %v", h)
	}
	for name, v := range map[string]string{
		"conveyance": inc.GetConveyance(), "notes": inc.GetNotes(),
		"place name": at.GetName(), "embarkation": r.GetEmbarkation(),
	} {
		if !strings.HasPrefix(v, Marker) {
			bad("%s %q not synthetic", name, v)
		}
	}
	return errs
}

func ageAt(birth, on time.Time) int {
	age := on.Year() - birth.Year()
	if on.Month() < birth.Month() || (on.Month() == birth.Month() && on.Day() < birth.Day()) {
		age--
	}
	return age
}

// locationFits is the consistency rule between transport mode and location
// type: air at airports, sea at sea or in port, land at border posts or
// inland; a mixed journey can be detected anywhere.
func locationFits(mode recordv1.TransportMode, loc recordv1.LocationType) bool {
	switch mode {
	case air:
		return loc == apt
	case sea:
		return loc == atSea || loc == port
	case land:
		return loc == border || loc == inland
	case mixed:
		return loc != recordv1.LocationType_LOCATION_TYPE_UNSPECIFIED
	}
	return false
}

func TestRecordsValid(t *testing.T) {
	t.Parallel()
	countries := []string{"THA", "MYS", "IDN", "AUS", "LKA", "BGD", "MMR", "KHM", "LAO", "PHL", "NPL", "NZL", "FRA", "SGP", "CCK"}
	for _, c := range countries {
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			g := newGen(t, opts(c, 3, 0))
			for range 2000 {
				inc := g.Next()
				if errs := validate(inc, c, testFrom, testTo); len(errs) > 0 {
					t.Fatalf("%s invalid: %s", inc.GetNationalRef(), strings.Join(errs, "; "))
				}
			}
		})
	}
}

func TestCorridorTables(t *testing.T) {
	t.Parallel()
	all := corridors
	all = append(all, genericCorridors("FRA")...)
	for _, c := range all {
		for _, s := range c.stops {
			if !codes.IsCountry(s.country) {
				t.Errorf("%s: stop %q", c.name, s.country)
			}
			for _, p := range s.places {
				if p.sub != "" {
					if err := codes.ValidSubdivision(p.sub, s.country); err != nil {
						t.Errorf("%s: %v", c.name, err)
					}
				}
				if !locationFits(s.mode, p.loc) {
					t.Errorf("%s: %s place %q is %v with %v", c.name, s.country, p.label, p.loc, s.mode)
				}
			}
		}
		for _, ws := range [][]wstr{c.origins, c.dests, c.cit, c.sus} {
			for _, w := range ws {
				if !codes.IsCitizenship(w.v) || w.w <= 0 {
					t.Errorf("%s: weighted code %+v", c.name, w)
				}
			}
		}
		for _, o := range c.origins {
			if !codes.IsCountry(o.v) {
				t.Errorf("%s: origin %q", c.name, o.v)
			}
		}
	}
	for _, r := range usdRates {
		if !codes.IsCountry(r.country) || !codes.IsCurrency(r.currency) {
			t.Errorf("rate %+v", r)
		}
	}
}

func TestDistribution(t *testing.T) {
	t.Parallel()
	type tally struct {
		incidents, migrants, minors, uam, female                     int
		deathsBy                                                     map[recordv1.TransportMode]int
		routes                                                       map[string]int
		citizenship                                                  map[string]int
		fraudAir, air, docsNonAir                                    int
		convicted, prosecuted, suspects                              int
		andamanPeak, andamanLow                                      int
		currencies                                                   map[string]int
		modes                                                        map[recordv1.TransportMode]int
		prosecutedRecent, prosecutedOld, suspectsRecent, suspectsOld int
	}
	newTally := func() *tally {
		return &tally{deathsBy: map[recordv1.TransportMode]int{}, routes: map[string]int{}, citizenship: map[string]int{},
			currencies: map[string]int{}, modes: map[recordv1.TransportMode]int{}}
	}
	byCountry := map[string]*tally{}
	for _, c := range []string{"THA", "MYS", "IDN", "AUS"} {
		tl := newTally()
		byCountry[c] = tl
		g := newGen(t, opts(c, 11, 0))
		for range 5000 {
			inc := g.Next()
			tl.incidents++
			mode := inc.GetTransportMode()
			tl.modes[mode]++
			tl.deathsBy[mode] += int(inc.GetHarm().GetDeaths() + inc.GetHarm().GetMissing())
			r := inc.GetRoute()
			tl.routes[strings.Join(slices.Concat([]string{r.GetOrigin()}, r.GetTransit(), []string{r.GetDestination()}), ">")]++
			for _, m := range inc.GetMigrants() {
				tl.migrants++
				tl.citizenship[m.GetCitizenship()]++
				if m.Age != nil && m.GetAge() < 18 {
					tl.minors++
				}
				if m.GetUnaccompaniedMinor() {
					tl.uam++
				}
				if m.GetSex() == recordv1.Sex_SEX_FEMALE {
					tl.female++
				}
			}
			if mode == air {
				tl.air++
				if len(inc.GetDocuments()) > 0 {
					tl.fraudAir++
				}
			} else if len(inc.GetDocuments()) > 0 {
				tl.docsNonAir++
			}
			month := inc.GetDetectedOn()[5:7]
			if mode == sea && (r.GetOrigin() == "MMR" || r.GetOrigin() == "BGD") {
				switch month {
				case "11", "12", "01":
					tl.andamanPeak++
				case "06", "07", "08":
					tl.andamanLow++
				}
			}
			recent := inc.GetDetectedOn() >= "2024-07-01"
			for _, s := range inc.GetSuspects() {
				tl.suspects++
				switch s.GetLegalStatus() {
				case recordv1.LegalStatus_LEGAL_STATUS_CONVICTED:
					tl.convicted++
				case recordv1.LegalStatus_LEGAL_STATUS_PROSECUTED:
					tl.prosecuted++
				}
				conv := s.GetLegalStatus() == recordv1.LegalStatus_LEGAL_STATUS_CONVICTED
				if recent {
					tl.suspectsRecent++
					if conv {
						tl.prosecutedRecent++
					}
				} else if inc.GetDetectedOn() < "2022-07-01" {
					tl.suspectsOld++
					if conv {
						tl.prosecutedOld++
					}
				}
			}
			if f := inc.GetFee(); f != nil {
				tl.currencies[f.GetCurrency()]++
			}
		}
	}
	for c, tl := range byCountry {
		total := 0
		for _, n := range tl.deathsBy {
			total += n
		}
		if total == 0 || float64(tl.deathsBy[sea])/float64(total) < 0.8 {
			t.Errorf("%s: deaths and missing by mode %v: sea should carry most", c, tl.deathsBy)
		}
		if tl.minors == 0 || tl.uam == 0 {
			t.Errorf("%s: %d minors, %d unaccompanied", c, tl.minors, tl.uam)
		}
		if share := float64(tl.female) / float64(tl.migrants); share < 0.15 || share > 0.6 {
			t.Errorf("%s: female share %.2f", c, share)
		}
		if len(tl.routes) < 4 {
			t.Errorf("%s: only routes %v", c, tl.routes)
		}
		if tl.air > 0 && float64(tl.fraudAir)/float64(tl.air) < 0.3 {
			t.Errorf("%s: document fraud on %d of %d air incidents", c, tl.fraudAir, tl.air)
		}
		if tl.air > 0 && tl.docsNonAir > tl.fraudAir {
			t.Errorf("%s: more document fraud off air routes (%d) than on them (%d)", c, tl.docsNonAir, tl.fraudAir)
		}
		if tl.convicted == 0 || tl.prosecuted == 0 {
			t.Errorf("%s: %d convicted, %d prosecuted", c, tl.convicted, tl.prosecuted)
		}
		if old, recent := ratio(tl.prosecutedOld, tl.suspectsOld), ratio(tl.prosecutedRecent, tl.suspectsRecent); old <= recent {
			t.Errorf("%s: conviction rate of old cases %.2f not above recent %.2f", c, old, recent)
		}
		if tl.currencies["USD"] == 0 || len(tl.currencies) < 2 {
			t.Errorf("%s: fee currencies %v", c, tl.currencies)
		}
	}
	tha, mys, idn, aus := byCountry["THA"], byCountry["MYS"], byCountry["IDN"], byCountry["AUS"]
	if tha.routes["MMR>THA>MYS"] == 0 || tha.routes["KHM>THA"] == 0 || tha.routes["LAO>THA"] == 0 {
		t.Errorf("THA lacks its land routes: %v", tha.routes)
	}
	if tha.modes[land] < tha.modes[sea] || tha.modes[land] < tha.modes[air] {
		t.Errorf("THA mostly land expected: %v", tha.modes)
	}
	if tha.citizenship["XXA"] == 0 || idn.citizenship["XXA"] < idn.migrants/10 {
		t.Errorf("stateless Rohingya missing: THA %d, IDN %d of %d", tha.citizenship["XXA"], idn.citizenship["XXA"], idn.migrants)
	}
	if aus.routes["AFG>MYS>IDN>AUS"] == 0 || aus.routes["LKA>AUS"] == 0 {
		t.Errorf("AUS lacks its sea routes: %v", aus.routes)
	}
	if mys.currencies["MYR"] == 0 || idn.currencies["IDR"] == 0 || tha.currencies["THB"] == 0 || aus.currencies["AUD"] == 0 {
		t.Error("local currencies missing")
	}
	peak := tha.andamanPeak + mys.andamanPeak + idn.andamanPeak
	low := tha.andamanLow + mys.andamanLow + idn.andamanLow
	if peak <= 2*low {
		t.Errorf("Andaman Sea season: %d in Nov-Jan, %d in Jun-Aug", peak, low)
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func TestWriteRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 37, 4*writeChunk + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			o := opts("AUS", 5, n)
			if err := Write(&buf, o); err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if err := Write(&again, o); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Fatal("Write output differs between runs")
			}
			g := newGen(t, o)
			sc := bufio.NewScanner(&buf)
			sc.Buffer(nil, 1<<22)
			lines := 0
			for sc.Scan() {
				var got recordv1.Incident
				if err := protojson.Unmarshal(sc.Bytes(), &got); err != nil {
					t.Fatalf("line %d: %v", lines+1, err)
				}
				want := g.Next()
				if !proto.Equal(&got, want) {
					t.Fatalf("line %d does not read back as record %d", lines+1, lines)
				}
				if lines < 50 {
					sameJSON(t, sc.Bytes(), want)
				}
				lines++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if lines != n {
				t.Fatalf("%d lines, want %d", lines, n)
			}
		})
	}
}

// sameJSON checks that line decodes to the same JSON value protojson.Marshal
// produces for want: same names, same omissions, same enum spellings.
func sameJSON(t *testing.T, line []byte, want proto.Message) {
	t.Helper()
	ref, err := protojson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(line, &a); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := json.Unmarshal(ref, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("encoding differs from protojson:\n got %s\nwant %s", line, ref)
	}
}

func TestEncoderMatchesProtojson(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		inc  *recordv1.Incident
	}{
		{"empty", &recordv1.Incident{}},
		{"escapes", &recordv1.Incident{
			NationalRef: "A\"B\\C\n\t\r\b\f\x01\x1f/<>&", Notes: "Ünïcödé ✓ \u2028 😀",
			Route: &recordv1.Route{Transit: []string{"", "THA"}},
		}},
		{"empty messages", &recordv1.Incident{DetectedAt: &recordv1.Place{}, Route: &recordv1.Route{}, Fee: &recordv1.Fee{}, Harm: &recordv1.Harm{}}},
		{"unknown enums", &recordv1.Incident{
			TransportMode: recordv1.TransportMode(42),
			Methods:       []recordv1.Method{recordv1.Method_METHOD_OTHER, recordv1.Method(-3)},
			Documents:     []*recordv1.Document{{Type: recordv1.DocumentType(99), Fraud: recordv1.FraudType_FRAUD_TYPE_PSEUDO}},
		}},
		{"numbers", &recordv1.Incident{
			Fee:      &recordv1.Fee{AmountPerPerson: 1234.5678, Currency: "USD", Method: recordv1.PaymentMethod_PAYMENT_METHOD_HAWALA},
			Harm:     &recordv1.Harm{Deaths: 1, Missing: -2, Injured: math.MaxInt32},
			Migrants: []*recordv1.Person{{Age: proto.Int32(0)}, {Age: proto.Int32(120), UnaccompaniedMinor: true}, {}},
		}},
		{"tiny and huge fees", &recordv1.Incident{Fee: &recordv1.Fee{AmountPerPerson: 1e-9}, Harm: &recordv1.Harm{}}},
		{"huge fee", &recordv1.Incident{Fee: &recordv1.Fee{AmountPerPerson: 3e22}}},
		{"negative zero", &recordv1.Incident{Fee: &recordv1.Fee{AmountPerPerson: math.Copysign(0, -1)}}},
		{"infinite fee", &recordv1.Incident{Fee: &recordv1.Fee{AmountPerPerson: math.Inf(1)}}},
		{"nan fee", &recordv1.Incident{Fee: &recordv1.Fee{AmountPerPerson: math.NaN()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			line, err := appendIncident(nil, tt.inc)
			if err != nil {
				t.Fatal(err)
			}
			var got recordv1.Incident
			if err := protojson.Unmarshal(line, &got); err != nil {
				t.Fatalf("protojson cannot read %s: %v", line, err)
			}
			if !proto.Equal(&got, tt.inc) && !(tt.name == "nan fee" && math.IsNaN(got.GetFee().GetAmountPerPerson())) {
				t.Fatalf("read back %v, want %v", &got, tt.inc)
			}
			if tt.name != "nan fee" {
				sameJSON(t, line, tt.inc)
			}
		})
	}
	// protojson refuses invalid UTF-8, and so does the encoder.
	bad := &recordv1.Incident{Notes: "bad \xff"}
	if _, err := protojson.Marshal(bad); err == nil {
		t.Fatal("protojson accepted invalid UTF-8")
	}
	if _, err := appendIncident(nil, bad); !errors.Is(err, errInvalidUTF8) {
		t.Fatalf("encoder error = %v, want errInvalidUTF8", err)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	for _, after := range []int{0, 2} {
		err := Write(&failWriter{after: after}, opts("IDN", 1, 5*writeChunk))
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("after %d writes: error = %v", after, err)
		}
	}
}

func FuzzAppendIncident(f *testing.F) {
	f.Add("THA-2024-000001", "notes", "TH-90", int32(17), true, 1500.0, int32(2), int32(3))
	f.Add("a\"b\\c\x00", "Ünïcödé \u2028", "", int32(-1), false, -0.5, int32(-7), int32(99))
	f.Add("", "\xff", "x", int32(0), true, 1e300, int32(0), int32(0))
	f.Fuzz(func(t *testing.T, ref, notes, sub string, age int32, uam bool, fee float64, mode, sex int32) {
		inc := &recordv1.Incident{
			NationalRef:   ref,
			Notes:         notes,
			DetectedAt:    &recordv1.Place{Subdivision: sub},
			TransportMode: recordv1.TransportMode(mode),
			Fee:           &recordv1.Fee{AmountPerPerson: fee},
			Migrants:      []*recordv1.Person{{Age: proto.Int32(age), UnaccompaniedMinor: uam, Sex: recordv1.Sex(sex), FullName: notes}},
		}
		line, err := appendIncident(nil, inc)
		ref2, perr := protojson.Marshal(inc)
		if (err != nil) != (perr != nil) {
			t.Fatalf("encoder error %v, protojson error %v", err, perr)
		}
		if err != nil {
			return
		}
		var got recordv1.Incident
		if err := protojson.Unmarshal(line, &got); err != nil {
			t.Fatalf("protojson cannot read %s: %v", line, err)
		}
		if math.IsNaN(fee) {
			return
		}
		if !proto.Equal(&got, inc) {
			t.Fatalf("read back %v, want %v", &got, inc)
		}
		var a, b any
		if json.Unmarshal(line, &a) != nil || json.Unmarshal(ref2, &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("encoding differs from protojson:\n got %s\nwant %s", line, ref2)
		}
	})
}
