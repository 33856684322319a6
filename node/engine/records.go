package engine

import (
	"fmt"
	"iter"
	"math"

	"github.com/vrs-federation/vrs/internal/registry"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// Record is one incident's coded attributes for a record-level extract,
// every value spelt as an aggregate cell key ("unknown" for a value not
// recorded, "none" for an empty multi-valued field). It holds only what
// the projection holds, so it carries no name, note, conveyance, place
// name, embarkation or exact date.
type Record struct {
	// Ref is the national reference. It never leaves the node: extracts
	// use it only as the input of a keyed pseudonym.
	Ref string
	// Month is the detection month as year*12 + month-1.
	Month int
	// Origin and Destination are ISO 3166-1 alpha-3 codes or "unknown".
	Origin, Destination string
	// Transit holds the distinct transit countries, or "none".
	Transit []string
	// TransportMode and LocationType are enum keys or "unknown".
	TransportMode, LocationType string
	// Subdivision is an ISO 3166-2 code or "unknown".
	Subdivision string
	// ICCS holds the distinct ICCS codes, or "none".
	ICCS []string
	// Methods holds the distinct methods (enum keys, "unknown" for a
	// method not recorded), or "none".
	Methods []string
	// DocumentFraud holds the distinct fraud types of the documents
	// ("unknown" for a document without one), or "none" for no document.
	DocumentFraud []string
	// Counts of migrants and suspects recorded, and the harm counts.
	Migrants, Suspects, Deaths, Missing, Injured int64
}

// Records returns the incidents detected between from and to, inclusive
// YYYY-MM-DD dates (empty for no bound), as a sequence in no particular
// order. The engine's read lock is held while the sequence runs, so a
// consumer should not block in it.
func (e *Engine) Records(from, to string) (iter.Seq[Record], error) {
	dayFrom, dayTo := int32(math.MinInt32), int32(math.MaxInt32)
	if from != "" {
		d, _, ok := daysSinceEpoch(from)
		if !ok {
			return nil, fmt.Errorf("%w: period_from is not a YYYY-MM-DD date", ErrInvalid)
		}
		dayFrom = d
	}
	if to != "" {
		d, _, ok := daysSinceEpoch(to)
		if !ok {
			return nil, fmt.Errorf("%w: period_to is not a YYYY-MM-DD date", ErrInvalid)
		}
		dayTo = d
	}
	return func(yield func(Record) bool) {
		e.mu.RLock()
		defer e.mu.RUnlock()
		buf := make([]uint32, 0, 16)
		names := func(d dim, r int) []string {
			codes := e.incCodes(d, r, buf[:0])
			vals := make([]string, len(codes))
			for i, c := range codes {
				vals[i] = e.name(d, c)
			}
			return vals
		}
		for ref, row := range e.rows {
			r := int(row)
			if d := e.day[r]; d < dayFrom || d > dayTo {
				continue
			}
			deaths, missing, injured := e.harm(r)
			ok := yield(Record{
				Ref:           ref,
				Month:         int(e.month[r]),
				Origin:        e.name(dOrigin, uint32(e.origin[r])),
				Destination:   e.name(dDest, uint32(e.dest[r])),
				Transit:       names(dTransit, r),
				TransportMode: e.name(dMode, uint32(e.mode[r])),
				LocationType:  e.name(dLoc, uint32(e.loc[r])),
				Subdivision:   e.name(dSub, uint32(e.sub[r])),
				ICCS:          names(dICCS, r),
				Methods:       methodNames(e.methods[r]),
				DocumentFraud: names(dFraud, r),
				Migrants:      int64(e.migN[r]),
				Suspects:      int64(e.susN[r]),
				Deaths:        deaths,
				Missing:       missing,
				Injured:       injured,
			})
			if !ok {
				return
			}
		}
	}, nil
}

func methodNames(m uint8) []string {
	if m == 0 {
		return []string{registry.None}
	}
	var out []string
	for b := range 8 {
		if m&(1<<b) != 0 {
			out = append(out, registry.EnumKey(recordv1.Method(b)))
		}
	}
	return out
}
