package enginetest

import (
	"fmt"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// AttackQ1 returns the differencing attacks' data for country: incidents
// per month and transport mode in Q1 2025, each count times mult, one
// migrant each, all from MMR. With min_cell 5 and mult 1, March LAND (3,
// the attacks' target) and March AIR (2) are suppressed:
//
//	month    SEA  LAND  AIR
//	2025-01    7     6
//	2025-02    5     5
//	2025-03    6     3    2
func AttackQ1(country string, mult int) []*recordv1.Incident {
	counts := []struct {
		month string
		mode  recordv1.TransportMode
		loc   recordv1.LocationType
		n     int
	}{
		{"2025-01", recordv1.TransportMode_TRANSPORT_MODE_SEA, recordv1.LocationType_LOCATION_TYPE_AT_SEA, 7},
		{"2025-01", recordv1.TransportMode_TRANSPORT_MODE_LAND, recordv1.LocationType_LOCATION_TYPE_BORDER_POST, 6},
		{"2025-02", recordv1.TransportMode_TRANSPORT_MODE_SEA, recordv1.LocationType_LOCATION_TYPE_AT_SEA, 5},
		{"2025-02", recordv1.TransportMode_TRANSPORT_MODE_LAND, recordv1.LocationType_LOCATION_TYPE_BORDER_POST, 5},
		{"2025-03", recordv1.TransportMode_TRANSPORT_MODE_SEA, recordv1.LocationType_LOCATION_TYPE_AT_SEA, 6},
		{"2025-03", recordv1.TransportMode_TRANSPORT_MODE_LAND, recordv1.LocationType_LOCATION_TYPE_BORDER_POST, 3},
		{"2025-03", recordv1.TransportMode_TRANSPORT_MODE_AIR, recordv1.LocationType_LOCATION_TYPE_AIRPORT, 2},
	}
	var out []*recordv1.Incident
	for _, c := range counts {
		for i := range c.n * mult {
			out = append(out, &recordv1.Incident{
				NationalRef:   fmt.Sprintf("%s-REL-%s-%s-%03d", country, c.month, c.mode, i),
				DetectedOn:    fmt.Sprintf("%s-%02d", c.month, 1+i%28),
				DetectedAt:    &recordv1.Place{Country: country, Type: c.loc},
				IccsCodes:     []string{"08051"},
				Route:         &recordv1.Route{Origin: "MMR", Destination: country},
				TransportMode: c.mode,
				Migrants:      []*recordv1.Person{{Citizenship: "MMR", Sex: recordv1.Sex_SEX_MALE}},
			})
		}
	}
	return out
}
