// Package synth generates seeded synthetic incidents with plausible
// Asia-Pacific smuggling patterns, for the demo, tests and benchmarks.
//
// A Generator is deterministic: the same Options always yield the same
// sequence of records. What a state records depends on where it sits on the
// region's corridors (patterns.go): Thailand sees Myanmar, Cambodian and Lao
// workers crossing by land and Rohingya boats in the Andaman Sea; Malaysia
// sees the same boats arrive, Indonesian workers crossing the Straits and
// transit passengers with forged passports at KLIA; Australia sees boats off
// Western Australia and fraud at its airports. A state on no corridor gets a
// generic pattern of air arrivals and inland detections.
//
// Every field the design marks "never shared" (full name, document number,
// date of birth, conveyance, notes, place name, embarkation) is filled with
// an obviously synthetic value containing Marker, so leak tests can search
// for it anywhere it must not appear. National references are
// "<country>-<year>-<index>" with a six-digit, one-based index: unique and
// stable for a (country, seed, index).
package synth

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vrs-federation/vrs/internal/codes"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// Marker starts every never-shared value the generator writes (names,
// document numbers, conveyances, notes, place names, embarkation points), so
// a test can assert it never leaves the node. Dates of birth are real dates
// and cannot carry it.
const Marker = "SYNTH"

// Options says what to generate.
type Options struct {
	// Country is the reporting state, ISO 3166-1 alpha-3. Required.
	Country string
	// Records is how many incidents Write produces. Next is unbounded.
	Records int
	// Seed selects the sequence; the same seed gives the same records.
	Seed int64
	// From and To bound the detection dates, inclusive; only the calendar
	// date (in the value's own location) counts. Zero values default to the
	// last three full calendar years before today: To to 31 December of last
	// year, From to 1 January two years before To's year.
	From, To time.Time
}

// day is one calendar day of the period.
type day struct {
	date         string // YYYY-MM-DD
	year         int
	month, mday  int
	age          float64 // 0 at the end of the period, 1 at its start
	nationalYear string  // the year as text, for national references
}

// prepared is a corridor as one state sees it.
type prepared struct {
	c       *corridor
	st      *stop
	origin  string // forced origin, or "" to draw from c.origins
	dest    string // forced destination, or "" to draw from c.dests
	oCum    []float64
	dCum    []float64
	citCum  []float64
	susCum  []float64
	payCum  []float64
	placCum []float64
	dayCum  []float64
	size    [2]int
	fraud   float64
}

// Generator produces synthetic incidents for one state. Each record is drawn
// from its own random stream, seeded by (seed, country, index), so any record
// can be produced on its own (At) and Write can spread the work over cores
// and still write exactly the sequence Next would return. A Generator is not
// safe for concurrent use.
type Generator struct {
	country  string
	currency string
	rate     float64
	agency   [5]string // by transport mode
	seed     uint64
	cseed    uint64
	pcg      *rand.PCG
	rng      *rand.Rand
	days     []day
	corrs    []prepared
	corrCum  []float64
	next     int
	index    int
	buf      []byte
	// text collects every string of the record being built and pending
	// says which field gets which part: one allocation per record instead
	// of one per name, document number and date.
	text    []byte
	pending []pendingText
}

// pendingText is a string field waiting for its bytes in Generator.text.
type pendingText struct {
	dst  *string
	a, b int
}

// bind makes *dst the text appended since start once the record is done.
func (g *Generator) bind(dst *string, start int) {
	g.pending = append(g.pending, pendingText{dst, start, len(g.text)})
}

// flushText converts the collected text once and fills the bound fields.
func (g *Generator) flushText() {
	s := string(g.text)
	for _, p := range g.pending {
		*p.dst = s[p.a:p.b]
	}
	g.text = g.text[:0]
	clear(g.pending)
	g.pending = g.pending[:0]
}

// New validates the options and returns a generator positioned at the first
// record.
func New(o Options) (*Generator, error) {
	if !codes.IsCountry(o.Country) {
		return nil, fmt.Errorf("country %q is not an ISO 3166-1 alpha-3 code", o.Country)
	}
	if o.Records < 0 {
		return nil, fmt.Errorf("records %d is negative", o.Records)
	}
	from, to := period(o.From, o.To, time.Now())
	if to.Before(from) {
		return nil, errors.New("period ends before it starts")
	}
	if to.Sub(from) > maxPeriod {
		return nil, errors.New("period longer than 100 years")
	}
	g := &Generator{
		country: o.Country,
		seed:    uint64(o.Seed),
		// The country is mixed into every record's stream, so two states
		// with the same seed do not produce the same shape of data.
		cseed: hashString(o.Country),
		pcg:   rand.NewPCG(0, 0),
	}
	g.rng = rand.New(g.pcg)
	g.days = days(from, to)
	g.currency, g.rate = "USD", 1
	for _, r := range usdRates {
		if r.country == o.Country {
			g.currency, g.rate = r.currency, r.rate
		}
	}
	g.agency = [5]string{"National Police", "National Police", "Coast Guard", "Immigration Service", "National Police"}
	for _, a := range agencies {
		if a.country == o.Country {
			g.agency = [5]string{a.any, a.land, a.sea, a.air, a.any}
		}
	}
	g.prepare()
	return g, nil
}

// maxPeriod bounds the period: the generator keeps a table of its days.
const maxPeriod = 100 * 366 * 24 * time.Hour

// period resolves the detection period, applying the defaults.
func period(from, to, now time.Time) (time.Time, time.Time) {
	if to.IsZero() {
		to = time.Date(now.Year()-1, time.December, 31, 0, 0, 0, 0, time.UTC)
	} else {
		to = time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	}
	if from.IsZero() {
		from = time.Date(to.Year()-2, time.January, 1, 0, 0, 0, 0, time.UTC)
	} else {
		from = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	}
	return from, to
}

// days lists the calendar days from from to to inclusive.
func days(from, to time.Time) []day {
	n := int(to.Sub(from).Hours()/24) + 1
	out := make([]day, 0, n)
	years := map[int]string{}
	for t := from; !t.After(to); t = t.AddDate(0, 0, 1) {
		y, m, d := t.Date()
		ys, ok := years[y]
		if !ok {
			ys = fmt.Sprintf("%04d", y)
			years[y] = ys
		}
		age := 0.0
		if n > 1 {
			age = float64(n-1-len(out)) / float64(n-1)
		}
		out = append(out, day{date: t.Format(time.DateOnly), year: y, month: int(m), mday: d, age: age, nationalYear: ys})
	}
	return out
}

// prepare selects the corridors the state sees and precomputes the
// cumulative weights the draws use.
func (g *Generator) prepare() {
	var cs []corridor
	for _, c := range corridors {
		for _, s := range c.stops {
			if s.country == g.country {
				cs = append(cs, c)
				break
			}
		}
	}
	if len(cs) == 0 {
		cs = genericCorridors(g.country)
	}
	for i := range cs {
		c := &cs[i]
		var st *stop
		for j := range c.stops {
			if c.stops[j].country == g.country {
				st = &c.stops[j]
				break
			}
		}
		p := prepared{c: c, st: st, size: c.size, fraud: c.fraud}
		if st.size[1] > 0 {
			p.size = st.size
		}
		if st.fraud > 0 {
			p.fraud = st.fraud
		}
		for _, o := range c.origins {
			if o.v == g.country {
				p.origin = g.country
			}
		}
		for _, d := range c.dests {
			if d.v == g.country {
				p.dest = g.country
			}
		}
		p.oCum = cumStr(c.origins)
		p.dCum = cumStr(c.dests)
		p.citCum = cumStr(c.cit)
		p.susCum = cumStr(c.sus)
		for _, pw := range c.pay {
			p.payCum = appendCum(p.payCum, pw.w)
		}
		for _, pl := range st.places {
			p.placCum = appendCum(p.placCum, pl.w)
		}
		// Detections follow the corridor's season and grow about ten per
		// cent a year over the period, so trend charts have a slope.
		for _, d := range g.days {
			p.dayCum = appendCum(p.dayCum, c.season[d.month-1]*(1+0.1*(1-d.age)*float64(len(g.days))/365))
		}
		g.corrs = append(g.corrs, p)
		g.corrCum = appendCum(g.corrCum, c.w*st.w)
	}
}

func cumStr(ws []wstr) []float64 {
	var cum []float64
	for _, w := range ws {
		cum = appendCum(cum, w.w)
	}
	return cum
}

func appendCum(cum []float64, w float64) []float64 {
	if len(cum) > 0 {
		w += cum[len(cum)-1]
	}
	return append(cum, w)
}

// pick draws an index from cumulative weights.
func (g *Generator) pick(cum []float64) int {
	x := g.rng.Float64() * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

// between draws an integer in [lo, hi], skewed towards lo (mean about a
// quarter of the way): most groups are small, a few are large.
func (g *Generator) between(lo, hi int) int {
	u := g.rng.Float64()
	return lo + int(float64(hi-lo+1)*u*u*u)
}

// Next returns the next incident: At(0), then At(1), and so on. The caller
// owns it.
func (g *Generator) Next() *recordv1.Incident {
	inc := g.At(g.next)
	g.next++
	return inc
}

// At returns the i-th incident (zero-based) of the sequence, whose national
// reference ends in i+1. It does not move Next. The caller owns the result.
func (g *Generator) At(i int) *recordv1.Incident {
	g.index = i + 1
	g.pcg.Seed(splitmix(g.seed+uint64(i)*0x9e3779b97f4a7c15), splitmix(g.cseed^uint64(i)))
	p := &g.corrs[g.pick(g.corrCum)]
	c, st := p.c, p.st
	d := &g.days[g.pick(p.dayCum)]
	ref := g.ref(d)

	origin := p.origin
	if origin == "" {
		origin = c.origins[g.pick(p.oCum)].v
	}
	dest := p.dest
	if dest == "" {
		dest = c.dests[g.pick(p.dCum)].v
	}
	var transit []string
	for _, t := range c.transit {
		if t != origin && t != dest {
			transit = append(transit, t)
		}
	}
	pl := &st.places[g.pick(p.placCum)]
	mode := st.mode

	inc := &recordv1.Incident{
		NationalRef:     ref,
		ReportingAgency: g.agency[mode],
		DetectedOn:      d.date,
		DetectedAt: &recordv1.Place{
			Country:     g.country,
			Subdivision: pl.sub,
			Type:        pl.loc,
		},
		Route: &recordv1.Route{
			Origin:      origin,
			Transit:     transit,
			Destination: dest,
		},
		TransportMode: mode,
	}
	g.textf(&inc.DetectedAt.Name, " place ", pl.label)
	g.textf(&inc.Route.Embarkation, " embarkation ", ref)
	g.textf(&inc.Notes, " notes for ", ref)
	g.conveyance(&inc.Conveyance, mode)

	// Methods and documents.
	fraud := g.chance(p.fraud)
	switch mode {
	case land:
		inc.Methods = append(inc.Methods, recordv1.Method_METHOD_CLANDESTINE_CROSSING)
		if g.chance(0.3) {
			inc.Methods = append(inc.Methods, recordv1.Method_METHOD_CONCEALMENT)
		}
	case sea:
		inc.Methods = append(inc.Methods, recordv1.Method_METHOD_CLANDESTINE_CROSSING)
		if g.chance(0.1) {
			inc.Methods = append(inc.Methods, recordv1.Method_METHOD_CONCEALMENT)
		}
	case mixed:
		if g.chance(0.5) {
			inc.Methods = append(inc.Methods, recordv1.Method_METHOD_CLANDESTINE_CROSSING)
		}
	}
	visa := g.chance(c.visa)
	if visa {
		inc.Methods = append(inc.Methods, recordv1.Method_METHOD_VISA_ABUSE)
	}
	if fraud {
		inc.Documents = g.documents(origin, dest, transit, mode)
		inc.Methods = append(inc.Methods, recordv1.Method_METHOD_FRAUDULENT_DOCUMENT)
		for _, doc := range inc.Documents {
			if doc.Fraud == recordv1.FraudType_FRAUD_TYPE_IMPOSTOR {
				inc.Methods = append(inc.Methods, recordv1.Method_METHOD_IMPOSTOR)
				break
			}
		}
	}
	corrupt := g.chance(0.03)
	if corrupt {
		inc.Methods = append(inc.Methods, recordv1.Method_METHOD_CORRUPTION)
	}
	if len(inc.Methods) == 0 {
		inc.Methods = append(inc.Methods, recordv1.Method_METHOD_OTHER)
	}

	// Offences: smuggling of migrants in nearly every case; document and
	// corruption offences when the methods show them; a few cases turn out
	// to be trafficking in persons or plain irregular stay.
	switch {
	case g.chance(0.03):
		inc.IccsCodes = append(inc.IccsCodes, "0204")
	case visa && !fraud && g.chance(0.3):
		inc.IccsCodes = append(inc.IccsCodes, "08059")
	default:
		inc.IccsCodes = append(inc.IccsCodes, "08051")
	}
	if fraud {
		inc.IccsCodes = append(inc.IccsCodes, "07023")
	}
	if corrupt {
		inc.IccsCodes = append(inc.IccsCodes, "070311")
	}

	n := g.between(p.size[0], p.size[1])
	inc.Migrants = g.migrants(p, d, ref, origin, n)
	inc.Suspects = g.suspects(p, d, ref, origin, mode)
	inc.Fee = g.fee(p, origin)
	inc.Harm = g.harm(p, mode, n)
	g.flushText()
	return inc
}

// textf sets *dst to Marker followed by the parts.
func (g *Generator) textf(dst *string, parts ...string) {
	a := len(g.text)
	g.text = append(g.text, Marker...)
	for _, p := range parts {
		g.text = append(g.text, p...)
	}
	g.bind(dst, a)
}

// ref builds the national reference for the current index.
func (g *Generator) ref(d *day) string {
	b := append(g.buf[:0], g.country...)
	b = append(b, '-')
	b = append(b, d.nationalYear...)
	b = append(b, '-')
	b = appendPadded(b, g.index, 6)
	g.buf = b
	return string(b)
}

func appendPadded(b []byte, v, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func (g *Generator) conveyance(dst *string, mode recordv1.TransportMode) {
	kind := " vehicle "
	switch mode {
	case sea:
		kind = " vessel "
	case air:
		kind = " flight "
	}
	a := len(g.text)
	g.text = append(g.text, Marker...)
	g.text = append(g.text, kind...)
	g.text = strconv.AppendInt(g.text, int64(g.rng.IntN(10000)), 10)
	g.bind(dst, a)
}

// lookalikes are passports commonly counterfeited or used by impostors on
// air routes because their holders need no visa at the destination.
var lookalikes = []string{"JPN", "KOR", "SGP", "MYS", "HKG", "TWN", "GBR", "FRA"}

func (g *Generator) documents(origin, dest string, transit []string, mode recordv1.TransportMode) []*recordv1.Document {
	n := 1
	if mode == air && g.chance(0.3) {
		n = 2
	}
	out := make([]*recordv1.Document, n)
	for i := range out {
		doc := &recordv1.Document{}
		switch {
		case mode != air && mode != mixed:
			// Off the air routes the forged paper is a border pass, an
			// identity card or a work permit of the country of arrival.
			doc.Type = recordv1.DocumentType_DOCUMENT_TYPE_ID_CARD
			if g.chance(0.5) {
				doc.Type = recordv1.DocumentType_DOCUMENT_TYPE_RESIDENCE_PERMIT
			}
			doc.IssuingCountry = dest
		case i == 1 || g.chance(0.2):
			// A visa for the destination, or for the transit country the
			// migrant must first enter.
			doc.Type = recordv1.DocumentType_DOCUMENT_TYPE_VISA
			doc.IssuingCountry = dest
			if len(transit) > 0 && g.chance(0.3) {
				doc.IssuingCountry = transit[0]
			}
		default:
			doc.Type = recordv1.DocumentType_DOCUMENT_TYPE_PASSPORT
			doc.IssuingCountry = origin
			if g.chance(0.5) {
				doc.IssuingCountry = lookalikes[g.rng.IntN(len(lookalikes))]
			}
		}
		switch x := g.rng.IntN(100); {
		case x < 25:
			doc.Fraud = recordv1.FraudType_FRAUD_TYPE_COUNTERFEIT
		case x < 50:
			doc.Fraud = recordv1.FraudType_FRAUD_TYPE_FORGED
		case x < 70:
			doc.Fraud = recordv1.FraudType_FRAUD_TYPE_IMPOSTOR
		case x < 85:
			doc.Fraud = recordv1.FraudType_FRAUD_TYPE_FRAUDULENTLY_OBTAINED
		case x < 95:
			doc.Fraud = recordv1.FraudType_FRAUD_TYPE_STOLEN_BLANK
		default:
			doc.Fraud = recordv1.FraudType_FRAUD_TYPE_PSEUDO
		}
		out[i] = doc
	}
	return out
}

func (g *Generator) migrants(p *prepared, d *day, ref, origin string, n int) []*recordv1.Person {
	c := p.c
	out := make([]*recordv1.Person, n)
	// One backing array per incident instead of one allocation per person.
	people := make([]recordv1.Person, n)
	ages := make([]int32, n)
	cit := origin
	for i := range out {
		m := &people[i]
		// Groups travel together: most share the first migrant's
		// citizenship, some differ.
		if i == 0 || g.chance(0.2) {
			cit = origin
			if !g.chance(c.ownCit) && len(c.cit) > 0 {
				cit = c.cit[g.pick(p.citCum)].v
			}
		}
		m.Citizenship = cit
		var age int
		if g.chance(c.minor) {
			age = g.rng.IntN(18)
			m.UnaccompaniedMinor = age >= 8 && g.chance(c.uam)
			m.Sex = recordv1.Sex_SEX_MALE
			if g.chance(0.45) {
				m.Sex = recordv1.Sex_SEX_FEMALE
			}
		} else {
			age = 18 + g.rng.IntN(12) + g.rng.IntN(12)
			if g.chance(0.1) {
				age += g.rng.IntN(25)
			}
			m.Sex = recordv1.Sex_SEX_MALE
			if g.chance(c.female) {
				m.Sex = recordv1.Sex_SEX_FEMALE
			}
		}
		if g.chance(0.01) {
			m.Sex = recordv1.Sex_SEX_UNKNOWN
		}
		// Age is unknown for a few, never for an unaccompanied minor: the
		// flag is only credible with an age.
		if m.UnaccompaniedMinor || !g.chance(0.05) {
			ages[i] = int32(age)
			m.Age = &ages[i]
			g.birth(&m.DateOfBirth, d, age)
		}
		g.name(&m.FullName, ref, 'M', i)
		if g.chance(0.6) {
			g.docNumber(&m.DocumentNumber, ref, 'M', i)
		}
		out[i] = m
	}
	return out
}

var (
	rolesSea  = []recordv1.SuspectRole{recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, recordv1.SuspectRole_SUSPECT_ROLE_ORGANISER, recordv1.SuspectRole_SUSPECT_ROLE_RECRUITER, recordv1.SuspectRole_SUSPECT_ROLE_FINANCIER}
	rolesLand = []recordv1.SuspectRole{recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, recordv1.SuspectRole_SUSPECT_ROLE_GUIDE, recordv1.SuspectRole_SUSPECT_ROLE_GUIDE, recordv1.SuspectRole_SUSPECT_ROLE_ORGANISER, recordv1.SuspectRole_SUSPECT_ROLE_RECRUITER, recordv1.SuspectRole_SUSPECT_ROLE_OTHER}
	rolesAir  = []recordv1.SuspectRole{recordv1.SuspectRole_SUSPECT_ROLE_FORGER, recordv1.SuspectRole_SUSPECT_ROLE_ORGANISER, recordv1.SuspectRole_SUSPECT_ROLE_ORGANISER, recordv1.SuspectRole_SUSPECT_ROLE_RECRUITER, recordv1.SuspectRole_SUSPECT_ROLE_FINANCIER, recordv1.SuspectRole_SUSPECT_ROLE_GUIDE}
)

func (g *Generator) suspects(p *prepared, d *day, ref, origin string, mode recordv1.TransportMode) []*recordv1.Person {
	c := p.c
	var n int
	roles := rolesLand
	switch mode {
	case sea:
		n, roles = g.rng.IntN(5), rolesSea
	case air:
		n, roles = g.rng.IntN(3), rolesAir
	default:
		n = g.rng.IntN(4)
	}
	if n == 0 {
		return nil
	}
	out := make([]*recordv1.Person, n)
	people := make([]recordv1.Person, n)
	ages := make([]int32, n)
	for i := range out {
		s := &people[i]
		switch {
		case g.chance(c.localSus):
			s.Citizenship = g.country
		case len(c.sus) > 0:
			s.Citizenship = c.sus[g.pick(p.susCum)].v
		default:
			s.Citizenship = origin
		}
		s.Sex = recordv1.Sex_SEX_MALE
		if g.chance(0.15) {
			s.Sex = recordv1.Sex_SEX_FEMALE
		}
		age := 20 + g.rng.IntN(20) + g.rng.IntN(20)
		if g.chance(0.9) {
			ages[i] = int32(age)
			s.Age = &ages[i]
			g.birth(&s.DateOfBirth, d, age)
		}
		s.Role = roles[g.rng.IntN(len(roles))]
		s.LegalStatus = g.legal(d.age)
		g.name(&s.FullName, ref, 'S', i)
		g.docNumber(&s.DocumentNumber, ref, 'S', i)
		out[i] = s
	}
	return out
}

// legal draws how far a suspect got in the justice process; old cases have
// had time to reach a verdict, recent ones have not.
func (g *Generator) legal(age float64) recordv1.LegalStatus {
	x := g.rng.Float64()
	conv := 0.05 + 0.35*age
	acq := 0.01 + 0.05*age
	pros := 0.15 + 0.15*age
	susp := 0.3 - 0.2*age
	switch {
	case x < conv:
		return recordv1.LegalStatus_LEGAL_STATUS_CONVICTED
	case x < conv+acq:
		return recordv1.LegalStatus_LEGAL_STATUS_ACQUITTED
	case x < conv+acq+pros:
		return recordv1.LegalStatus_LEGAL_STATUS_PROSECUTED
	case x < conv+acq+pros+susp:
		return recordv1.LegalStatus_LEGAL_STATUS_SUSPECTED
	default:
		return recordv1.LegalStatus_LEGAL_STATUS_ARRESTED
	}
}

// fee draws the fee per person, when known: log-uniform over the corridor's
// range, in US dollars or in the reporting state's currency.
func (g *Generator) fee(p *prepared, origin string) *recordv1.Fee {
	if !g.chance(0.65) {
		return nil
	}
	lo, hi := p.c.feeUSD[0], p.c.feeUSD[1]
	usd := math.Exp(math.Log(lo) + g.rng.Float64()*(math.Log(hi)-math.Log(lo)))
	f := &recordv1.Fee{Currency: "USD", AmountPerPerson: roundTo(usd, 50)}
	if g.rate != 1 && g.chance(0.4) {
		f.Currency = g.currency
		f.AmountPerPerson = roundSig(usd*g.rate, 2)
	}
	if len(p.payCum) > 0 && g.chance(0.8) {
		f.Method = p.c.pay[g.pick(p.payCum)].v
	}
	return f
}

func roundTo(v, unit float64) float64 {
	r := math.Round(v/unit) * unit
	if r == 0 {
		return unit
	}
	return r
}

// roundSig rounds v to n significant digits, as people quote prices.
func roundSig(v float64, n int) float64 {
	if v <= 0 {
		return 0
	}
	unit := math.Pow(10, math.Floor(math.Log10(v))-float64(n-1))
	return roundTo(v, unit)
}

// harm draws deaths, missing and injured. Deaths and missing persons come
// almost only from sea journeys (capsizes, people lost overboard) and,
// rarely, from suffocation in vehicles on land.
func (g *Generator) harm(p *prepared, mode recordv1.TransportMode, n int) *recordv1.Harm {
	death, miss, injury := p.c.death, p.c.miss, 0.02
	switch mode {
	case air:
		death, miss, injury = 0, 0, 0.002
	case mixed, land:
		death, miss = math.Min(death, 0.005), math.Min(miss, 0.003)
	}
	h := &recordv1.Harm{}
	if g.chance(death) {
		h.Deaths = int32(1 + g.between(0, n/3))
	}
	if g.chance(miss) {
		h.Missing = int32(1 + g.between(0, n/4))
	}
	if g.chance(injury) {
		h.Injured = int32(1 + g.between(0, n/5))
	}
	if h.Deaths == 0 && h.Missing == 0 && h.Injured == 0 {
		return nil
	}
	return h
}

// birth returns a date of birth consistent with age at detection day d.
func (g *Generator) birth(dst *string, d *day, age int) {
	m := 1 + g.rng.IntN(12)
	md := 1 + g.rng.IntN(28)
	y := d.year - age
	if m > d.month || (m == d.month && md > d.mday) {
		y-- // birthday not reached yet in the detection year
	}
	a := len(g.text)
	g.text = appendPadded(g.text, y, 4)
	g.text = append(g.text, '-')
	g.text = appendPadded(g.text, m, 2)
	g.text = append(g.text, '-')
	g.text = appendPadded(g.text, md, 2)
	g.bind(dst, a)
}

// name is a synthetic full name unique within the node.
func (g *Generator) name(dst *string, ref string, kind byte, i int) {
	a := len(g.text)
	g.text = append(g.text, Marker...)
	g.text = append(g.text, " Person "...)
	g.text = append(g.text, ref...)
	g.text = append(g.text, '/', kind)
	g.text = strconv.AppendInt(g.text, int64(i+1), 10)
	g.bind(dst, a)
}

// docNumber is a synthetic document number unique within the node.
func (g *Generator) docNumber(dst *string, ref string, kind byte, i int) {
	a := len(g.text)
	g.text = append(g.text, Marker...)
	g.text = append(g.text, "-DOC-"...)
	g.text = append(g.text, ref...)
	g.text = append(g.text, '-', kind)
	g.text = strconv.AppendInt(g.text, int64(i+1), 10)
	g.bind(dst, a)
}

// Write generates o.Records incidents and writes them to w as JSON Lines: one
// protojson vrs.record.v1.Incident per line, with protojson's default
// lowerCamelCase field names, the canonical import format. The records are
// those Next would return, in the same order. Generation and encoding are
// spread over GOMAXPROCS workers; the output is the same for any number of
// workers because every record has its own random stream.
func Write(w io.Writer, o Options) error {
	g, err := New(o)
	if err != nil {
		return err
	}
	workers := min(runtime.GOMAXPROCS(0), 8)
	if o.Records < 4*writeChunk {
		workers = 1
	}
	type job struct {
		first, n int
		out      chan<- []byte
	}
	jobs := make(chan job, workers)
	order := make(chan chan []byte, 2*workers)
	free := make(chan []byte, 3*workers)
	done := make(chan struct{})
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func(g *Generator) {
			defer wg.Done()
			for j := range jobs {
				var buf []byte
				select {
				case buf = <-free:
				default:
				}
				out, err := g.appendRange(buf[:0], j.first, j.n)
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					out = nil
				}
				// Never blocks: each result channel has room for its one
				// result, so workers finish even if the writer gave up.
				j.out <- out
			}
		}(g.clone())
	}
	// The dispatcher hands out chunks in order and tells the writer which
	// result to wait for next, so output order does not depend on timing.
	go func() {
		defer close(order)
		defer close(jobs)
		for first := 0; first < o.Records; first += writeChunk {
			out := make(chan []byte, 1)
			select {
			case order <- out:
			case <-done:
				return
			}
			select {
			case jobs <- job{first: first, n: min(writeChunk, o.Records-first), out: out}:
			case <-done:
				return
			}
		}
	}()
	bw := bufio.NewWriterSize(w, 1<<16)
	werr := func() error {
		for out := range order {
			buf := <-out
			if buf == nil {
				return <-errc
			}
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			select {
			case free <- buf:
			default:
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}()
	close(done)
	wg.Wait()
	return werr
}

// writeChunk is how many records a Write worker encodes at a time: large
// enough to amortise the hand-off, small enough to keep memory flat.
const writeChunk = 256

// appendRange appends records first..first+n-1 as JSON Lines to buf.
func (g *Generator) appendRange(buf []byte, first, n int) ([]byte, error) {
	var err error
	for i := first; i < first+n; i++ {
		buf, err = appendIncident(buf, g.At(i))
		if err != nil {
			return nil, fmt.Errorf("marshal incident: %w", err)
		}
		buf = append(buf, '\n')
	}
	return buf, nil
}

// clone returns a generator sharing g's read-only tables with its own
// random stream and scratch space, for a Write worker.
func (g *Generator) clone() *Generator {
	c := *g
	c.pcg = rand.NewPCG(0, 0)
	c.rng = rand.New(c.pcg)
	c.buf, c.text, c.pending = nil, nil, nil
	return &c
}

// splitmix is the SplitMix64 finaliser: it turns consecutive integers into
// well-spread seeds.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}
