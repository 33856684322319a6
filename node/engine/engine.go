// Package engine is the node's aggregate engine: an in-memory columnar
// projection of the incident records, kept current by the record store's
// observer calls, that answers AggregateQuery with exact counts before any
// disclosure control.
//
// Only coded attributes are projected (dates, enums, country codes, harm
// counts, the fee): the projection holds no name, document number, note,
// conveyance, place name or embarkation, so nothing the engine returns can
// carry one. See docs/engine.md for the layout and why it is fast.
package engine

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vrs-federation/vrs/internal/registry"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// ErrInvalid is wrapped by every error about a record the engine cannot
// project or a query it cannot answer.
var ErrInvalid = errors.New("invalid")

// dict interns strings as small ids. Id 0 is the empty string, which the
// dimensions spell "unknown" (or "none" for multi-valued ones).
type dict struct {
	ids   map[string]uint16
	names []string
}

func newDict() *dict { return &dict{ids: map[string]uint16{"": 0}, names: []string{""}} }

func (d *dict) id(s string) (uint16, error) {
	if id, ok := d.ids[s]; ok {
		return id, nil
	}
	if len(d.names) >= math.MaxUint16 {
		return 0, fmt.Errorf("%w: more than %d distinct codes", ErrInvalid, math.MaxUint16)
	}
	id := uint16(len(d.names))
	d.ids[s] = id
	d.names = append(d.names, s)
	return id, nil
}

func (d *dict) lookup(s string) (uint16, bool) {
	id, ok := d.ids[s]
	return id, ok
}

// persons is a table of migrants or suspects, one packed uint32 per person
// (see the person* constants), so a person-level scan makes one load per
// person whatever it groups or filters by. An incident's persons are a
// contiguous range; replaced ranges become garbage until compaction.
type persons struct {
	x []uint32
}

// The fields of a packed person.
const (
	personCitShift    = 0 // 16 bits: countries dictionary id
	personSexShift    = 16
	personAgeShift    = 19
	personRoleShift   = 22
	personStatusShift = 25
	personMinorBit    = 1 << 28
	personCitMask     = 1<<16 - 1
	personSmallMask   = 1<<3 - 1
)

func (p *persons) len() int { return len(p.x) }

// add appends a person whose citizenship is already interned.
func (p *persons) add(x *recordv1.Person, countries *dict) {
	c, _ := countries.lookup(x.GetCitizenship())
	sex := uint32(x.GetSex())
	if sex == 0 || sex > uint32(recordv1.Sex_SEX_UNKNOWN) {
		sex = uint32(recordv1.Sex_SEX_UNKNOWN)
	}
	v := uint32(c)<<personCitShift | sex<<personSexShift | uint32(ageCode(x))<<personAgeShift |
		uint32(enumCode(int32(x.GetRole()), int32(recordv1.SuspectRole_SUSPECT_ROLE_OTHER)))<<personRoleShift |
		uint32(enumCode(int32(x.GetLegalStatus()), int32(recordv1.LegalStatus_LEGAL_STATUS_ACQUITTED)))<<personStatusShift
	if x.GetUnaccompaniedMinor() {
		v |= personMinorBit
	}
	p.x = append(p.x, v)
}

func ageCode(x *recordv1.Person) uint8 {
	if x.Age == nil {
		return 0
	}
	switch a := x.GetAge(); {
	case a < 0:
		return 0
	case a <= 17:
		return 1
	case a <= 29:
		return 2
	case a <= 44:
		return 3
	}
	return 4
}

var ageNames = []string{registry.Unknown, "0-17", "18-29", "30-44", "45+"}

func enumCode(n, max int32) uint8 {
	if n < 0 || n > max {
		return 0
	}
	return uint8(n)
}

// Engine is the columnar projection. It is safe for concurrent use:
// aggregates share a read lock, record changes take the write lock.
type Engine struct {
	mu sync.RWMutex

	rows map[string]uint32 // national_ref → row; never leaves the engine
	free []uint32

	// Incident columns, one entry per row.
	alive   []bool
	day     []int32 // days since 1970-01-01
	month   []int32 // year*12 + month-1
	mode    []uint8
	loc     []uint8
	sub     []uint16
	origin  []uint16
	dest    []uint16
	deaths  []int32
	missing []int32
	injured []int32
	feeAmt  []float64 // per person
	feeCur  []uint16  // currencies id, 0 none
	fraud   []uint8   // bit k: a document with FraudType k (0: not recorded)
	methods []uint8   // bit k: Method k recorded (0: unspecified); extracts only
	// Multi-valued columns: offset and length into a shared pool.
	transitOff []uint32
	transitN   []uint8
	iccsOff    []uint32
	iccsN      []uint8
	pool       []uint16
	poolDead   int
	// Person ranges.
	migStart, migN []uint32
	susStart, susN []uint32
	mig, sus       persons
	personsDead    int
	// byMonth holds, per detection month (year*12 + month-1), a bitmap of
	// the live rows detected in it, so a query over a period visits only
	// that period's rows instead of testing every row's date.
	byMonth map[int32][]uint64

	countries, subdivisions, iccs, currencies *dict

	minMonth, maxMonth int32
	live               int
	rejected           int
	compactFloor       int // garbage tolerated before compaction; tests lower it
	rowsPerWorker      int // rows below which a scan stays on one goroutine; tests lower it
	denseMax           int // when > 0, the widest dense key; tests lower it to force maps
}

// New returns an empty engine.
func New() *Engine {
	return &Engine{
		rows:          map[string]uint32{},
		countries:     newDict(),
		subdivisions:  newDict(),
		iccs:          newDict(),
		currencies:    newDict(),
		byMonth:       map[int32][]uint64{},
		minMonth:      math.MaxInt32,
		maxMonth:      math.MinInt32,
		compactFloor:  1 << 14,
		rowsPerWorker: minRowsPerWorker,
	}
}

// Len returns the number of incidents projected.
func (e *Engine) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.live
}

// Rejected returns how many observed incidents could not be projected (an
// unparsable detection date) and are therefore not counted.
func (e *Engine) Rejected() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.rejected
}

// Add projects an incident, replacing any incident with the same
// national_ref. It is used to rebuild the projection from the store at
// start.
func (e *Engine) Add(inc *recordv1.Incident) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.upsert(inc)
}

// Apply is the record store's observer: old is nil on create, new is nil
// on delete. An incident that cannot be projected is dropped and counted in
// Rejected (the store validates dates, so this does not happen in practice).
func (e *Engine) Apply(old, new *recordv1.Incident) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if new == nil {
		if old != nil {
			e.remove(old.GetNationalRef())
		}
		return
	}
	if old != nil && old.GetNationalRef() != new.GetNationalRef() {
		e.remove(old.GetNationalRef())
	}
	if err := e.upsert(new); err != nil {
		e.remove(new.GetNationalRef())
		e.rejected++
	}
}

func (e *Engine) remove(ref string) {
	r, ok := e.rows[ref]
	if !ok {
		return
	}
	delete(e.rows, ref)
	e.alive[r] = false
	e.markMonth(e.month[r], r, false)
	e.poolDead += int(e.transitN[r]) + int(e.iccsN[r])
	e.personsDead += int(e.migN[r]) + int(e.susN[r])
	e.transitN[r], e.iccsN[r], e.migN[r], e.susN[r] = 0, 0, 0, 0
	e.free = append(e.free, r)
	e.live--
}

func daysSinceEpoch(s string) (int32, int32, bool) {
	t, ok := registry.ParseDate(s)
	if !ok {
		return 0, 0, false
	}
	return int32(t.Unix() / 86400), int32(t.Year()*12 + int(t.Month()) - 1), true
}

func (e *Engine) upsert(inc *recordv1.Incident) error {
	day, month, ok := daysSinceEpoch(inc.GetDetectedOn())
	if !ok {
		return fmt.Errorf("%w: detected_on is not a YYYY-MM-DD date", ErrInvalid)
	}
	// Intern everything first so a dictionary overflow leaves no half row.
	origin, err := e.countries.id(inc.GetRoute().GetOrigin())
	if err != nil {
		return err
	}
	dest, err := e.countries.id(inc.GetRoute().GetDestination())
	if err != nil {
		return err
	}
	sub, err := e.subdivisions.id(inc.GetDetectedAt().GetSubdivision())
	if err != nil {
		return err
	}
	var cur uint16
	if f := inc.GetFee(); f != nil {
		if cur, err = e.currencies.id(f.GetCurrency()); err != nil {
			return err
		}
	}
	transit, err := e.distinct(e.countries, inc.GetRoute().GetTransit())
	if err != nil {
		return err
	}
	codes, err := e.distinct(e.iccs, inc.GetIccsCodes())
	if err != nil {
		return err
	}
	for _, ps := range [][]*recordv1.Person{inc.GetMigrants(), inc.GetSuspects()} {
		for _, p := range ps {
			if _, err := e.countries.id(p.GetCitizenship()); err != nil {
				return err
			}
		}
	}
	var fraud uint8
	for _, d := range inc.GetDocuments() {
		f := enumCode(int32(d.GetFraud()), int32(recordv1.FraudType_FRAUD_TYPE_STOLEN_BLANK))
		fraud |= 1 << f
	}

	var methods uint8
	for _, m := range inc.GetMethods() {
		methods |= 1 << enumCode(int32(m), int32(recordv1.Method_METHOD_OTHER))
	}

	e.remove(inc.GetNationalRef())
	var r uint32
	if n := len(e.free); n > 0 {
		r = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		r = uint32(len(e.alive))
		e.grow()
	}
	e.rows[inc.GetNationalRef()] = r
	e.live++
	e.alive[r] = true
	e.day[r] = day
	e.month[r] = month
	e.markMonth(month, r, true)
	e.minMonth = min(e.minMonth, month)
	e.maxMonth = max(e.maxMonth, month)
	e.mode[r] = enumCode(int32(inc.GetTransportMode()), int32(recordv1.TransportMode_TRANSPORT_MODE_MIXED))
	e.loc[r] = enumCode(int32(inc.GetDetectedAt().GetType()), int32(recordv1.LocationType_LOCATION_TYPE_INLAND))
	e.sub[r] = sub
	e.origin[r] = origin
	e.dest[r] = dest
	e.deaths[r] = max(inc.GetHarm().GetDeaths(), 0)
	e.missing[r] = max(inc.GetHarm().GetMissing(), 0)
	e.injured[r] = max(inc.GetHarm().GetInjured(), 0)
	e.feeAmt[r] = 0
	if a := inc.GetFee().GetAmountPerPerson(); a > 0 && !math.IsInf(a, 0) && !math.IsNaN(a) {
		e.feeAmt[r] = a
	}
	e.feeCur[r] = cur
	e.fraud[r] = fraud
	e.methods[r] = methods
	e.transitOff[r], e.transitN[r] = uint32(len(e.pool)), uint8(len(transit))
	e.pool = append(e.pool, transit...)
	e.iccsOff[r], e.iccsN[r] = uint32(len(e.pool)), uint8(len(codes))
	e.pool = append(e.pool, codes...)

	e.migStart[r] = uint32(e.mig.len())
	for _, p := range inc.GetMigrants() {
		e.mig.add(p, e.countries)
	}
	e.migN[r] = uint32(e.mig.len()) - e.migStart[r]
	e.susStart[r] = uint32(e.sus.len())
	for _, p := range inc.GetSuspects() {
		e.sus.add(p, e.countries)
	}
	e.susN[r] = uint32(e.sus.len()) - e.susStart[r]
	e.maybeCompact()
	return nil
}

// markMonth sets or clears row r in month m's bitmap.
func (e *Engine) markMonth(m int32, r uint32, on bool) {
	b := e.byMonth[m]
	w := int(r >> 6)
	if !on {
		if w < len(b) {
			b[w] &^= 1 << (r & 63)
		}
		return
	}
	if w >= len(b) {
		b = append(b, make([]uint64, w+1-len(b))...)
		e.byMonth[m] = b
	}
	b[w] |= 1 << (r & 63)
}

// distinct interns the non-empty values, without repeats, at most 255.
func (e *Engine) distinct(d *dict, vals []string) ([]uint16, error) {
	var out []uint16
next:
	for _, v := range vals {
		if v == "" {
			continue
		}
		id, err := d.id(v)
		if err != nil {
			return nil, err
		}
		for _, x := range out {
			if x == id {
				continue next
			}
		}
		if len(out) == math.MaxUint8 {
			return nil, fmt.Errorf("%w: more than %d distinct values in one field", ErrInvalid, math.MaxUint8)
		}
		out = append(out, id)
	}
	return out, nil
}

func (e *Engine) grow() {
	e.alive = append(e.alive, false)
	e.day = append(e.day, 0)
	e.month = append(e.month, 0)
	e.mode = append(e.mode, 0)
	e.loc = append(e.loc, 0)
	e.sub = append(e.sub, 0)
	e.origin = append(e.origin, 0)
	e.dest = append(e.dest, 0)
	e.deaths = append(e.deaths, 0)
	e.missing = append(e.missing, 0)
	e.injured = append(e.injured, 0)
	e.feeAmt = append(e.feeAmt, 0)
	e.feeCur = append(e.feeCur, 0)
	e.fraud = append(e.fraud, 0)
	e.methods = append(e.methods, 0)
	e.transitOff = append(e.transitOff, 0)
	e.transitN = append(e.transitN, 0)
	e.iccsOff = append(e.iccsOff, 0)
	e.iccsN = append(e.iccsN, 0)
	e.migStart = append(e.migStart, 0)
	e.migN = append(e.migN, 0)
	e.susStart = append(e.susStart, 0)
	e.susN = append(e.susN, 0)
}

// maybeCompact rewrites the pool and the person tables once more than half
// of them is garbage left by updates and deletes, so memory stays
// proportional to the live records.
func (e *Engine) maybeCompact() {
	floor := e.compactFloor
	if e.poolDead > floor && e.poolDead*2 > len(e.pool) {
		pool := make([]uint16, 0, len(e.pool)-e.poolDead)
		for r, ok := range e.alive {
			if !ok {
				continue
			}
			off := uint32(len(pool))
			pool = append(pool, e.pool[e.transitOff[r]:e.transitOff[r]+uint32(e.transitN[r])]...)
			e.transitOff[r] = off
			off = uint32(len(pool))
			pool = append(pool, e.pool[e.iccsOff[r]:e.iccsOff[r]+uint32(e.iccsN[r])]...)
			e.iccsOff[r] = off
		}
		e.pool, e.poolDead = pool, 0
	}
	if e.personsDead > floor && e.personsDead*2 > e.mig.len()+e.sus.len() {
		var mig, sus persons
		for r, ok := range e.alive {
			if !ok {
				continue
			}
			e.migStart[r] = copyPersons(&mig, &e.mig, e.migStart[r], e.migN[r])
			e.susStart[r] = copyPersons(&sus, &e.sus, e.susStart[r], e.susN[r])
		}
		e.mig, e.sus, e.personsDead = mig, sus, 0
	}
}

func copyPersons(dst, src *persons, start, n uint32) uint32 {
	at := uint32(dst.len())
	dst.x = append(dst.x, src.x[start:start+n]...)
	return at
}
