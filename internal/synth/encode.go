package synth

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// appendIncident appends inc in protojson form with default options: the
// JSON names protojson uses (lowerCamelCase), fields in declaration order,
// zero-valued fields omitted, enums by name. protojson itself is reflective
// and about ten times slower, which made a million records take most of a
// minute on two cores; the tests check that protojson.Unmarshal reads this
// output back to the same message and that it decodes to the same JSON value
// protojson.Marshal produces. Unlike protojson, the output has no random
// whitespace, so it is byte-for-byte stable.
func appendIncident(b []byte, inc *recordv1.Incident) ([]byte, error) {
	e := encoder{b: b}
	e.open()
	e.str("nationalRef", inc.GetNationalRef())
	e.str("reportingAgency", inc.GetReportingAgency())
	e.str("detectedOn", inc.GetDetectedOn())
	if p := inc.GetDetectedAt(); p != nil {
		e.key("detectedAt")
		e.open()
		e.str("country", p.GetCountry())
		e.str("subdivision", p.GetSubdivision())
		e.enum("type", int32(p.GetType()), p.GetType().String())
		e.str("name", p.GetName())
		e.close()
	}
	e.strs("iccsCodes", inc.GetIccsCodes())
	if r := inc.GetRoute(); r != nil {
		e.key("route")
		e.open()
		e.str("origin", r.GetOrigin())
		e.strs("transit", r.GetTransit())
		e.str("destination", r.GetDestination())
		e.str("embarkation", r.GetEmbarkation())
		e.close()
	}
	e.enum("transportMode", int32(inc.GetTransportMode()), inc.GetTransportMode().String())
	e.str("conveyance", inc.GetConveyance())
	if ms := inc.GetMethods(); len(ms) > 0 {
		e.key("methods")
		e.b = append(e.b, '[')
		for i, m := range ms {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.enumValue(int32(m), m.String())
		}
		e.b = append(e.b, ']')
	}
	if ds := inc.GetDocuments(); len(ds) > 0 {
		e.key("documents")
		e.b = append(e.b, '[')
		for i, d := range ds {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.open()
			e.enum("type", int32(d.GetType()), d.GetType().String())
			e.str("issuingCountry", d.GetIssuingCountry())
			e.enum("fraud", int32(d.GetFraud()), d.GetFraud().String())
			e.close()
		}
		e.b = append(e.b, ']')
	}
	if f := inc.GetFee(); f != nil {
		e.key("fee")
		e.open()
		if v := f.GetAmountPerPerson(); v != 0 || math.Signbit(v) {
			e.key("amountPerPerson")
			e.float(v)
		}
		e.str("currency", f.GetCurrency())
		e.enum("method", int32(f.GetMethod()), f.GetMethod().String())
		e.close()
	}
	e.persons("migrants", inc.GetMigrants())
	e.persons("suspects", inc.GetSuspects())
	if h := inc.GetHarm(); h != nil {
		e.key("harm")
		e.open()
		e.int("deaths", h.GetDeaths())
		e.int("missing", h.GetMissing())
		e.int("injured", h.GetInjured())
		e.close()
	}
	e.str("notes", inc.GetNotes())
	e.close()
	return e.b, e.err
}

// errInvalidUTF8 matches protojson, which refuses to encode invalid UTF-8.
var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

// encoder writes one JSON object; first tracks whether the current object
// needs a comma before its next member.
type encoder struct {
	b     []byte
	first bool
	err   error
}

func (e *encoder) open() {
	e.b = append(e.b, '{')
	e.first = true
}

func (e *encoder) close() {
	e.b = append(e.b, '}')
	e.first = false
}

func (e *encoder) key(k string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *encoder) str(k, v string) {
	if v == "" {
		return
	}
	e.key(k)
	e.quote(v)
}

func (e *encoder) strs(k string, vs []string) {
	if len(vs) == 0 {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, v := range vs {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.quote(v)
	}
	e.b = append(e.b, ']')
}

func (e *encoder) int(k string, v int32) {
	if v == 0 {
		return
	}
	e.key(k)
	e.b = strconv.AppendInt(e.b, int64(v), 10)
}

func (e *encoder) bool(k string, v bool) {
	if !v {
		return
	}
	e.key(k)
	e.b = append(e.b, "true"...)
}

func (e *encoder) enum(k string, n int32, name string) {
	if n == 0 {
		return
	}
	e.key(k)
	e.enumValue(n, name)
}

// enumValue writes an enum by name, or by number when the value is not in
// the schema (String then returns the number), as protojson does.
func (e *encoder) enumValue(n int32, name string) {
	if name != "" && (name[0] < '0' || name[0] > '9') && name[0] != '-' {
		e.quote(name)
		return
	}
	e.b = strconv.AppendInt(e.b, int64(n), 10)
}

// float writes a double as protojson does: the special values as strings,
// otherwise the shortest representation that reads back exactly.
func (e *encoder) float(v float64) {
	switch {
	case math.IsNaN(v):
		e.b = append(e.b, `"NaN"`...)
	case math.IsInf(v, 1):
		e.b = append(e.b, `"Infinity"`...)
	case math.IsInf(v, -1):
		e.b = append(e.b, `"-Infinity"`...)
	default:
		format := byte('f')
		if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
			format = 'e'
		}
		e.b = strconv.AppendFloat(e.b, v, format, -1, 64)
	}
}

func (e *encoder) persons(k string, ps []*recordv1.Person) {
	if len(ps) == 0 {
		return
	}
	e.key(k)
	e.b = append(e.b, '[')
	for i, p := range ps {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.open()
		e.str("citizenship", p.GetCitizenship())
		e.enum("sex", int32(p.GetSex()), p.GetSex().String())
		if p.Age != nil {
			e.key("age")
			e.b = strconv.AppendInt(e.b, int64(*p.Age), 10)
		}
		e.bool("unaccompaniedMinor", p.GetUnaccompaniedMinor())
		e.enum("role", int32(p.GetRole()), p.GetRole().String())
		e.enum("legalStatus", int32(p.GetLegalStatus()), p.GetLegalStatus().String())
		e.str("fullName", p.GetFullName())
		e.str("documentNumber", p.GetDocumentNumber())
		e.str("dateOfBirth", p.GetDateOfBirth())
		e.close()
	}
	e.b = append(e.b, ']')
}

const hexDigits = "0123456789abcdef"

// quote writes s as a JSON string, escaping what JSON requires and nothing
// else, as protojson does.
func (e *encoder) quote(s string) {
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				e.err = errInvalidUTF8
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		e.b = append(e.b, s[start:i]...)
		switch c {
		case '"', '\\':
			e.b = append(e.b, '\\', c)
		case '\b':
			e.b = append(e.b, '\\', 'b')
		case '\f':
			e.b = append(e.b, '\\', 'f')
		case '\n':
			e.b = append(e.b, '\\', 'n')
		case '\r':
			e.b = append(e.b, '\\', 'r')
		case '\t':
			e.b = append(e.b, '\\', 't')
		default:
			e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}
