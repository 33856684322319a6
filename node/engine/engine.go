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
	"sync/atomic"

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

// persons is a table of migrants or suspects, one column per group of
// fields: citizenship (a countries id), attr (sex in bits 0-2, age band in
// bits 3-5, the unaccompanied-minor flag in bit 6) and, for suspects only,
// legal (suspect role in bits 0-2, legal status in bits 3-5; no measure of
// migrants reads them). A scan grouped by sex reads one byte per person.
// An incident's persons are a contiguous range; replaced ranges become
// garbage until compaction.
type persons struct {
	cit       []uint16
	attr      []uint8
	legal     []uint8
	keepLegal bool
}

// The fields of a packed person (see persons.packed), the form the
// generic loops read: one value holding every field.
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

// Bits of the attr and legal columns.
const (
	attrSexShift    = 0
	attrAgeShift    = 3
	attrMinorBit    = 1 << 6
	legalRoleShift  = 0
	legalStatShift  = 3
	attrPackedShift = personSexShift // attr bits 0-5 are packed bits 16-21
	legalPackedBase = personRoleShift
)

func (p *persons) len() int { return len(p.cit) }

// packed returns person i with all its fields in one value, laid out by
// the person* constants.
func (p *persons) packed(i uint32) uint32 {
	a := uint32(p.attr[i])
	x := uint32(p.cit[i]) | (a&(1<<6-1))<<attrPackedShift | (a>>6)*personMinorBit
	if p.keepLegal {
		x |= uint32(p.legal[i]) << legalPackedBase
	}
	return x
}

// add appends a person whose citizenship is already interned.
func (p *persons) add(x *recordv1.Person, countries *dict) {
	c, _ := countries.lookup(x.GetCitizenship())
	sex := uint8(x.GetSex())
	if sex == 0 || sex > uint8(recordv1.Sex_SEX_UNKNOWN) {
		sex = uint8(recordv1.Sex_SEX_UNKNOWN)
	}
	a := sex<<attrSexShift | ageCode(x)<<attrAgeShift
	if x.GetUnaccompaniedMinor() {
		a |= attrMinorBit
	}
	p.cit = push(p.cit, c)
	p.attr = push(p.attr, a)
	if p.keepLegal {
		p.legal = push(p.legal, enumCode(int32(x.GetRole()), int32(recordv1.SuspectRole_SUSPECT_ROLE_OTHER))<<legalRoleShift|
			enumCode(int32(x.GetLegalStatus()), int32(recordv1.LegalStatus_LEGAL_STATUS_ACQUITTED))<<legalStatShift)
	}
}

// appendRange appends persons [start, start+n) of src and returns where
// they start in p.
func (p *persons) appendRange(src *persons, start, n uint32) uint32 {
	at := uint32(p.len())
	p.cit = append(p.cit, src.cit[start:start+n]...)
	p.attr = append(p.attr, src.attr[start:start+n]...)
	if p.keepLegal {
		p.legal = append(p.legal, src.legal[start:start+n]...)
	}
	return at
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
	mu         sync.RWMutex
	generation atomic.Uint64 // see Generation

	rows map[string]uint32 // national_ref → row; never leaves the engine
	free []uint32

	// Incident columns, one entry per row.
	alive  []bool
	day    []int32 // days since 1970-01-01
	month  []int32 // year*12 + month-1
	mode   []uint8
	loc    []uint8
	sub    []uint16
	origin []uint16
	dest   []uint16
	// Harm counts, one byte each; a row with a count above harmBig holds
	// harmBig in all three and its counts in bigHarm.
	deaths  []uint8
	missing []uint8
	injured []uint8
	bigHarm map[uint32][3]int32
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
	// byMonth lists, per detection month (year*12 + month-1), the live
	// rows detected in it, in no particular order, so a query over a
	// period visits only that period's rows instead of testing every
	// row's date. A list and monthPos cost 8 bytes per row; a bitmap per
	// month would cost months/8 bytes per row (15 bytes for ten years).
	byMonth  map[int32][]uint32
	monthPos []uint32 // row → its index in its month's list
	// sums holds, per detection month, counts by the code of each
	// single-valued dimension (summary.go).
	sums map[int32]*monthSums

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
		byMonth:       map[int32][]uint32{},
		bigHarm:       map[uint32][3]int32{},
		sums:          map[int32]*monthSums{},
		sus:           persons{keepLegal: true},
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
	e.generation.Add(1)
	return e.upsert(inc)
}

// Generation counts the changes projected so far: two reads that see the
// same generation saw the same data.
func (e *Engine) Generation() uint64 { return e.generation.Load() }

// Apply is the record store's observer: old is nil on create, new is nil
// on delete. An incident that cannot be projected is dropped and counted in
// Rejected (the store validates dates, so this does not happen in practice).
func (e *Engine) Apply(old, new *recordv1.Incident) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.generation.Add(1)
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
	delete(e.bigHarm, r)
	e.summarise(r, -1)
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
	e.setHarm(r, max(inc.GetHarm().GetDeaths(), 0), max(inc.GetHarm().GetMissing(), 0), max(inc.GetHarm().GetInjured(), 0))
	e.feeAmt[r] = 0
	if a := inc.GetFee().GetAmountPerPerson(); a > 0 && !math.IsInf(a, 0) && !math.IsNaN(a) {
		e.feeAmt[r] = a
	}
	e.feeCur[r] = cur
	e.fraud[r] = fraud
	e.methods[r] = methods
	e.transitOff[r], e.transitN[r] = uint32(len(e.pool)), uint8(len(transit))
	e.pool = push(e.pool, transit...)
	e.iccsOff[r], e.iccsN[r] = uint32(len(e.pool)), uint8(len(codes))
	e.pool = push(e.pool, codes...)

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
	e.summarise(r, 1)
	e.maybeCompact()
	return nil
}

// harmBig marks a harm column byte whose counts are in bigHarm: almost
// every incident has a few deaths, missing or injured at most.
const harmBig = math.MaxUint8

// setHarm stores row r's harm counts (non-negative).
func (e *Engine) setHarm(r uint32, deaths, missing, injured int32) {
	delete(e.bigHarm, r)
	if deaths >= harmBig || missing >= harmBig || injured >= harmBig {
		e.bigHarm[r] = [3]int32{deaths, missing, injured}
		e.deaths[r], e.missing[r], e.injured[r] = harmBig, harmBig, harmBig
		return
	}
	e.deaths[r], e.missing[r], e.injured[r] = uint8(deaths), uint8(missing), uint8(injured)
}

// harm returns row r's deaths, missing and injured.
func (e *Engine) harm(r int) (deaths, missing, injured int64) {
	if e.deaths[r] == harmBig {
		h := e.bigHarm[uint32(r)]
		return int64(h[0]), int64(h[1]), int64(h[2])
	}
	return int64(e.deaths[r]), int64(e.missing[r]), int64(e.injured[r])
}

// markMonth adds row r to month m's list or takes it out, moving the
// list's last row into the gap (monthPos says where each row is).
func (e *Engine) markMonth(m int32, r uint32, on bool) {
	rows := e.byMonth[m]
	if on {
		e.monthPos[r] = uint32(len(rows))
		e.byMonth[m] = append(rows, r)
		return
	}
	i := e.monthPos[r]
	if int(i) >= len(rows) || rows[i] != r {
		return
	}
	last := rows[len(rows)-1]
	rows[i] = last
	e.monthPos[last] = i
	e.byMonth[m] = rows[:len(rows)-1]
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
	e.alive = push(e.alive, false)
	e.day = push(e.day, 0)
	e.month = push(e.month, 0)
	e.monthPos = push(e.monthPos, 0)
	e.mode = push(e.mode, 0)
	e.loc = push(e.loc, 0)
	e.sub = push(e.sub, 0)
	e.origin = push(e.origin, 0)
	e.dest = push(e.dest, 0)
	e.deaths = push(e.deaths, 0)
	e.missing = push(e.missing, 0)
	e.injured = push(e.injured, 0)
	e.feeAmt = push(e.feeAmt, 0)
	e.feeCur = push(e.feeCur, 0)
	e.fraud = push(e.fraud, 0)
	e.methods = push(e.methods, 0)
	e.transitOff = push(e.transitOff, 0)
	e.transitN = push(e.transitN, 0)
	e.iccsOff = push(e.iccsOff, 0)
	e.iccsN = push(e.iccsN, 0)
	e.migStart = push(e.migStart, 0)
	e.migN = push(e.migN, 0)
	e.susStart = push(e.susStart, 0)
	e.susN = push(e.susN, 0)
}

// bigSlice is the length from which push grows a column by a sixteenth
// instead of append's quarter or more.
const bigSlice = 1 << 16

// push appends vs to s. A large column grows by a sixteenth of its length
// at a time, so its unused capacity (which the process holds like the
// rest) stays near 3% on average instead of about 12% with append; the
// extra copying is a fraction of a second over a million-incident build.
func push[T any](s []T, vs ...T) []T {
	if len(s)+len(vs) > cap(s) && len(s) >= bigSlice {
		grown := make([]T, len(s), len(s)+max(len(s)/16, len(vs)))
		copy(grown, s)
		s = grown
	}
	return append(s, vs...)
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
		mig, sus := persons{}, persons{keepLegal: true}
		for r, ok := range e.alive {
			if !ok {
				continue
			}
			e.migStart[r] = mig.appendRange(&e.mig, e.migStart[r], e.migN[r])
			e.susStart[r] = sus.appendRange(&e.sus, e.susStart[r], e.susN[r])
		}
		e.mig, e.sus, e.personsDead = mig, sus, 0
	}
}
