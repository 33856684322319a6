package importer

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vrs-federation/vrs/internal/codes"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// The tabular layout (CSV files and workbook sheets) is three tables linked
// by national_ref: incidents (one row per incident), persons (one row per
// migrant or suspect) and documents (one row per document). Column names
// are matched case-insensitively; columns may be in any order and all but
// national_ref may be left out.

// Table names, used as sheet names and CSV companion-file suffixes.
const (
	TableIncidents = "incidents"
	TablePersons   = "persons"
	TableDocuments = "documents"
)

// column is one column of a table.
type column struct {
	name    string
	path    string // field path for messages; under the element for persons/documents
	help    string
	example string
	enum    protoreflect.EnumDescriptor // drop-down values, if an enum
	list    string                      // "country", "citizenship", "currency", "iccs", "yesno", "group": a drop-down list
	date    bool                        // a YYYY-MM-DD column (Excel serial dates converted)
	multi   bool                        // several values separated by ';'
	// set parses v (trimmed, non-empty) into the message.
	set func(m proto.Message, v string) error
}

func incidentColumns() []column {
	inc := func(m proto.Message) *recordv1.Incident { return m.(*recordv1.Incident) }
	place := func(m proto.Message) *recordv1.Place {
		i := inc(m)
		if i.DetectedAt == nil {
			i.DetectedAt = &recordv1.Place{}
		}
		return i.DetectedAt
	}
	route := func(m proto.Message) *recordv1.Route {
		i := inc(m)
		if i.Route == nil {
			i.Route = &recordv1.Route{}
		}
		return i.Route
	}
	fee := func(m proto.Message) *recordv1.Fee {
		i := inc(m)
		if i.Fee == nil {
			i.Fee = &recordv1.Fee{}
		}
		return i.Fee
	}
	harm := func(m proto.Message) *recordv1.Harm {
		i := inc(m)
		if i.Harm == nil {
			i.Harm = &recordv1.Harm{}
		}
		return i.Harm
	}
	return []column{
		{name: "national_ref", path: "national_ref", help: "Your agency's own case reference. Required; unique; importing it again replaces the incident. Never shared.", example: "THA-RTP-2026-0001",
			set: func(m proto.Message, v string) error { inc(m).NationalRef = v; return nil }},
		{name: "reporting_agency", path: "reporting_agency", help: "The agency that recorded the incident.", example: "Royal Thai Police",
			set: func(m proto.Message, v string) error { inc(m).ReportingAgency = v; return nil }},
		{name: "detected_on", path: "detected_on", date: true, help: "Date of detection, YYYY-MM-DD. Required.", example: "2026-03-14",
			set: func(m proto.Message, v string) error { inc(m).DetectedOn = v; return nil }},
		{name: "country", path: "detected_at.country", list: "country", help: "Country of detection, ISO 3166-1 alpha-3.", example: "THA",
			set: func(m proto.Message, v string) error { place(m).Country = upper(v); return nil }},
		{name: "subdivision", path: "detected_at.subdivision", help: "Province or state, ISO 3166-2 (e.g. TH-90). Optional.", example: "TH-90",
			set: func(m proto.Message, v string) error { place(m).Subdivision = upper(v); return nil }},
		{name: "location_type", path: "detected_at.type", enum: (recordv1.LocationType)(0).Descriptor(), help: "Kind of place.", example: "AT_SEA",
			set: func(m proto.Message, v string) error { return setEnum(v, &place(m).Type) }},
		{name: "place_name", path: "detected_at.name", help: "Name of the place (border post, beach). Never shared.", example: "Koh Lipe",
			set: func(m proto.Message, v string) error { place(m).Name = v; return nil }},
		{name: "iccs_codes", path: "iccs_codes", list: "iccs", multi: true, help: "ICCS offence codes separated by ';' (08051 smuggling of migrants, 07023 fraudulent documents, 0204 trafficking in persons).", example: "08051;07023",
			set: func(m proto.Message, v string) error { inc(m).IccsCodes = iccsList(v); return nil }},
		{name: "transport_mode", path: "transport_mode", enum: (recordv1.TransportMode)(0).Descriptor(), help: "Main mode of transport at detection.", example: "SEA",
			set: func(m proto.Message, v string) error { return setEnum(v, &inc(m).TransportMode) }},
		{name: "conveyance", path: "conveyance", help: "Vessel name, plate or flight. Never shared.", example: "KM Harapan",
			set: func(m proto.Message, v string) error { inc(m).Conveyance = v; return nil }},
		{name: "methods", path: "methods", enum: (recordv1.Method)(0).Descriptor(), multi: true, help: "Smuggling methods separated by ';'.", example: "CONCEALMENT;FRAUDULENT_DOCUMENT",
			set: func(m proto.Message, v string) error {
				var out []recordv1.Method
				for _, s := range splitList(v) {
					var e recordv1.Method
					if err := setEnum(s, &e); err != nil {
						return err
					}
					out = append(out, e)
				}
				inc(m).Methods = out
				return nil
			}},
		{name: "route_origin", path: "route.origin", list: "country", help: "Country of origin, ISO 3166-1 alpha-3.", example: "MMR",
			set: func(m proto.Message, v string) error { route(m).Origin = upper(v); return nil }},
		{name: "route_transit", path: "route.transit", multi: true, help: "Transit countries in travel order, separated by ';'.", example: "THA;MYS",
			set: func(m proto.Message, v string) error {
				r := route(m)
				r.Transit = nil
				for _, s := range splitList(v) {
					r.Transit = append(r.Transit, upper(s))
				}
				return nil
			}},
		{name: "route_destination", path: "route.destination", list: "country", help: "Intended destination country.", example: "AUS",
			set: func(m proto.Message, v string) error { route(m).Destination = upper(v); return nil }},
		{name: "embarkation", path: "route.embarkation", help: "Place of embarkation. Never shared.", example: "a beach near Satun",
			set: func(m proto.Message, v string) error { route(m).Embarkation = v; return nil }},
		{name: "fee_amount", path: "fee.amount_per_person", help: "Fee per person in currency units (not cents).", example: "1500",
			set: func(m proto.Message, v string) error {
				x, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
				if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
					return fmt.Errorf("%q is not a number", short(v))
				}
				fee(m).AmountPerPerson = x
				return nil
			}},
		{name: "fee_currency", path: "fee.currency", list: "currency", help: "ISO 4217 currency code; required with an amount.", example: "USD",
			set: func(m proto.Message, v string) error { fee(m).Currency = upper(v); return nil }},
		{name: "fee_method", path: "fee.method", enum: (recordv1.PaymentMethod)(0).Descriptor(), help: "How the fee was paid.", example: "CASH",
			set: func(m proto.Message, v string) error { return setEnum(v, &fee(m).Method) }},
		{name: "deaths", path: "harm.deaths", help: "Persons found dead.", example: "0",
			set: func(m proto.Message, v string) error { return setInt(v, &harm(m).Deaths) }},
		{name: "missing", path: "harm.missing", help: "Persons missing.", example: "0",
			set: func(m proto.Message, v string) error { return setInt(v, &harm(m).Missing) }},
		{name: "injured", path: "harm.injured", help: "Persons injured.", example: "0",
			set: func(m proto.Message, v string) error { return setInt(v, &harm(m).Injured) }},
		{name: "notes", path: "notes", help: "Free text for your agency. Never shared.", example: "",
			set: func(m proto.Message, v string) error { inc(m).Notes = v; return nil }},
	}
}

// Group values of the persons table.
const (
	groupMigrant = "migrant"
	groupSuspect = "suspect"
)

func personColumns() []column {
	p := func(m proto.Message) *recordv1.Person { return m.(*recordv1.Person) }
	return []column{
		{name: "national_ref", help: "The incident's national_ref (links the row to the incidents sheet). Required.", example: "THA-RTP-2026-0001"},
		{name: "group", list: "group", help: "migrant or suspect. Required.", example: "migrant"},
		{name: "citizenship", path: "citizenship", list: "citizenship", help: "ISO 3166-1 alpha-3, or XXA stateless, XXB refugee, XXC other refugee, XXX unknown.", example: "MMR",
			set: func(m proto.Message, v string) error { p(m).Citizenship = upper(v); return nil }},
		{name: "sex", path: "sex", enum: (recordv1.Sex)(0).Descriptor(), help: "FEMALE, MALE, OTHER or UNKNOWN.", example: "FEMALE",
			set: func(m proto.Message, v string) error { return setEnum(v, &p(m).Sex) }},
		{name: "age", path: "age", help: "Age in years at detection, 0 to 120; empty when unknown.", example: "16",
			set: func(m proto.Message, v string) error {
				var a int32
				if err := setInt(v, &a); err != nil {
					return err
				}
				p(m).Age = &a
				return nil
			}},
		{name: "unaccompanied_minor", path: "unaccompanied_minor", list: "yesno", help: "yes for a migrant under 18 without a parent or guardian.", example: "yes",
			set: func(m proto.Message, v string) error { return setBool(v, &p(m).UnaccompaniedMinor) }},
		{name: "role", path: "role", enum: (recordv1.SuspectRole)(0).Descriptor(), help: "Suspects: role in the operation.", example: "",
			set: func(m proto.Message, v string) error { return setEnum(v, &p(m).Role) }},
		{name: "legal_status", path: "legal_status", enum: (recordv1.LegalStatus)(0).Descriptor(), help: "Suspects: furthest stage of the justice process.", example: "",
			set: func(m proto.Message, v string) error { return setEnum(v, &p(m).LegalStatus) }},
		{name: "full_name", path: "full_name", help: "Personal identifier: stays at the node, never shared.", example: "",
			set: func(m proto.Message, v string) error { p(m).FullName = v; return nil }},
		{name: "document_number", path: "document_number", help: "Personal identifier: stays at the node, never shared.", example: "",
			set: func(m proto.Message, v string) error { p(m).DocumentNumber = v; return nil }},
		{name: "date_of_birth", path: "date_of_birth", date: true, help: "YYYY-MM-DD. Personal identifier: never shared.", example: "",
			set: func(m proto.Message, v string) error { p(m).DateOfBirth = v; return nil }},
	}
}

func documentColumns() []column {
	d := func(m proto.Message) *recordv1.Document { return m.(*recordv1.Document) }
	return []column{
		{name: "national_ref", help: "The incident's national_ref. Required.", example: "THA-RTP-2026-0001"},
		{name: "type", path: "type", enum: (recordv1.DocumentType)(0).Descriptor(), help: "Kind of document.", example: "PASSPORT",
			set: func(m proto.Message, v string) error { return setEnum(v, &d(m).Type) }},
		{name: "issuing_country", path: "issuing_country", list: "country", help: "Country whose name the document bears.", example: "MYS",
			set: func(m proto.Message, v string) error { d(m).IssuingCountry = upper(v); return nil }},
		{name: "fraud", path: "fraud", enum: (recordv1.FraudType)(0).Descriptor(), help: "How the document was fraudulent.", example: "FORGED",
			set: func(m proto.Message, v string) error { return setEnum(v, &d(m).Fraud) }},
	}
}

// enumPrefix is the common prefix of an enum's value names, e.g.
// "TRANSPORT_MODE_".
func enumPrefix(d protoreflect.EnumDescriptor) string {
	return strings.TrimSuffix(string(d.Values().ByNumber(0).Name()), "UNSPECIFIED")
}

// enumChoices lists an enum's short value names, without UNSPECIFIED.
func enumChoices(d protoreflect.EnumDescriptor) []string {
	prefix := enumPrefix(d)
	var out []string
	for i := range d.Values().Len() {
		v := d.Values().Get(i)
		if v.Number() == 0 {
			continue
		}
		out = append(out, strings.TrimPrefix(string(v.Name()), prefix))
	}
	return out
}

// setEnum parses a short ("SEA") or full ("TRANSPORT_MODE_SEA") value name,
// in any case, with spaces or hyphens for underscores.
func setEnum[E interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}](v string, dst *E) error {
	var zero E
	d := zero.Descriptor()
	name := strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_").Replace(strings.TrimSpace(v)))
	prefix := enumPrefix(d)
	for _, n := range []string{name, prefix + name} {
		if ev := d.Values().ByName(protoreflect.Name(n)); ev != nil {
			*dst = E(ev.Number())
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", short(v), strings.Join(enumChoices(d), ", "))
}

func setInt(v string, dst *int32) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		// Spreadsheets may store whole numbers as "16.0".
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
			return fmt.Errorf("%q is not a whole number", short(v))
		}
		n = int64(f)
	}
	*dst = int32(n)
	return nil
}

func setBool(v string, dst *bool) error {
	switch strings.ToLower(v) {
	case "yes", "y", "true", "1", "x":
		*dst = true
	case "no", "n", "false", "0":
		*dst = false
	default:
		return fmt.Errorf("%q is not yes or no", short(v))
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' }) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// iccsList splits ICCS codes, restoring a leading zero a spreadsheet
// dropped ("8051" was "08051").
func iccsList(v string) []string {
	var out []string
	for _, s := range splitList(v) {
		if !codes.IsICCS(s) && codes.IsICCS("0"+s) {
			s = "0" + s
		}
		out = append(out, s)
	}
	return out
}

func upper(v string) string { return strings.ToUpper(v) }

// short quotes at most 40 characters of a value for a message.
func short(v string) string {
	r := []rune(v)
	if len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return v
}

// sheet is one table as read from a CSV file or a workbook sheet: a header
// row and data rows, each with its position.
type sheet struct {
	name   string // TableIncidents, ...
	header []string
	rows   [][]string
	pos    []Pos // of each data row
	head   Pos   // of the header row
	serial bool  // numeric date cells are Excel serial dates
}

// bind maps header names to columns, reporting unknown and duplicate ones.
func (s *sheet) bind(cols []column) (map[int]*column, []Problem) {
	byName := map[string]*column{}
	for i := range cols {
		byName[cols[i].name] = &cols[i]
	}
	bound := map[int]*column{}
	seen := map[string]bool{}
	var probs []Problem
	for i, h := range s.header {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		c, ok := byName[h]
		if !ok {
			names := make([]string, len(cols))
			for j := range cols {
				names[j] = cols[j].name
			}
			probs = append(probs, Problem{Pos: s.head, Rule: fmt.Sprintf("unknown column %q (the columns are %s)", short(h), strings.Join(names, ", "))})
			continue
		}
		if seen[h] {
			probs = append(probs, Problem{Pos: s.head, Rule: fmt.Sprintf("column %q appears twice", h)})
			continue
		}
		seen[h] = true
		bound[i] = c
	}
	if !seen["national_ref"] {
		probs = append(probs, Problem{Pos: s.head, Rule: "no national_ref column"})
	}
	if s.name == TablePersons && !seen["group"] {
		probs = append(probs, Problem{Pos: s.head, Rule: "no group column (migrant or suspect)"})
	}
	return bound, probs
}

// cell returns the trimmed value of column i of a row, converting Excel
// serial dates in date columns.
func (s *sheet) cell(row []string, i int, c *column) string {
	if i >= len(row) {
		return ""
	}
	v := strings.TrimSpace(row[i])
	if c != nil && c.date && s.serial && v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 2958466 {
			// Excel's day 0 is 1899-12-30 (the 1900 leap-year bug included).
			d := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(math.Round(f*24*60*60)) * time.Second)
			v = d.Format("2006-01-02")
		}
	}
	return v
}

func blankRow(row []string) bool {
	for _, v := range row {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// buildTables turns the three tables into a File: incidents first, then
// persons and documents appended to their incidents in row order.
func buildTables(name string, incidents, persons, documents *sheet, now func() time.Time) *File {
	f := &File{Path: name}
	parsed := map[int]map[string]bool{} // record index -> paths with a parse problem
	markParsed := func(rec int, path string) {
		if parsed[rec] == nil {
			parsed[rec] = map[string]bool{}
		}
		parsed[rec][path] = true
	}
	byRef := map[string]int{}

	cols := incidentColumns()
	bound, probs := incidents.bind(cols)
	f.Problems = append(f.Problems, probs...)
	for r, row := range incidents.rows {
		if blankRow(row) {
			continue
		}
		inc := &recordv1.Incident{}
		rec := len(f.Records)
		for i := range row {
			c := bound[i]
			if c == nil {
				continue
			}
			v := incidents.cell(row, i, c)
			if v == "" {
				continue
			}
			if err := c.set(inc, v); err != nil {
				f.Problems = append(f.Problems, Problem{Pos: incidents.pos[r], Path: c.path, Rule: err.Error()})
				markParsed(rec, c.path)
			}
		}
		f.Records = append(f.Records, Record{Incident: inc, Pos: incidents.pos[r]})
		if ref := inc.GetNationalRef(); ref != "" {
			if _, dup := byRef[ref]; !dup {
				byRef[ref] = rec
			}
		}
	}

	attach := func(s *sheet, cols []column, add func(rec int, row []string, bound map[int]*column, pos Pos) (string, proto.Message, error)) {
		if s == nil {
			return
		}
		bound, probs := s.bind(cols)
		f.Problems = append(f.Problems, probs...)
		if len(probs) > 0 {
			return
		}
		refCol := -1
		for i, c := range bound {
			if c.name == "national_ref" {
				refCol = i
			}
		}
		for r, row := range s.rows {
			if blankRow(row) {
				continue
			}
			pos := s.pos[r]
			ref := s.cell(row, refCol, nil)
			rec, ok := byRef[ref]
			if !ok {
				rule := "no incident with this national_ref in the " + TableIncidents + " table"
				if ref == "" {
					rule = "required"
				}
				f.Problems = append(f.Problems, Problem{Pos: pos, Path: "national_ref", Rule: rule})
				continue
			}
			elemPath, msg, err := add(rec, row, bound, pos)
			if err != nil {
				f.Problems = append(f.Problems, Problem{Pos: pos, Path: elemPath, Rule: err.Error()})
				continue
			}
			record := &f.Records[rec]
			if record.Parts == nil {
				record.Parts = map[string]Pos{}
			}
			record.Parts[elemPath] = pos
			for i, c := range bound {
				if c.set == nil {
					continue
				}
				v := s.cell(row, i, c)
				if v == "" {
					continue
				}
				if err := c.set(msg, v); err != nil {
					path := elemPath + "." + c.path
					f.Problems = append(f.Problems, Problem{Pos: pos, Path: path, Rule: err.Error()})
					markParsed(rec, path)
				}
			}
		}
	}
	attach(persons, personColumns(), func(rec int, row []string, bound map[int]*column, pos Pos) (string, proto.Message, error) {
		var group string
		for i, c := range bound {
			if c.name == "group" {
				group = strings.ToLower(persons.cell(row, i, nil))
			}
		}
		inc := f.Records[rec].Incident
		p := &recordv1.Person{}
		switch strings.TrimSuffix(group, "s") {
		case groupMigrant:
			inc.Migrants = append(inc.Migrants, p)
			return fmt.Sprintf("migrants[%d]", len(inc.Migrants)-1), p, nil
		case groupSuspect:
			inc.Suspects = append(inc.Suspects, p)
			return fmt.Sprintf("suspects[%d]", len(inc.Suspects)-1), p, nil
		case "":
			return "group", nil, fmt.Errorf("required: %s or %s", groupMigrant, groupSuspect)
		}
		return "group", nil, fmt.Errorf("%q is not %s or %s", short(group), groupMigrant, groupSuspect)
	})
	attach(documents, documentColumns(), func(rec int, _ []string, _ map[int]*column, _ Pos) (string, proto.Message, error) {
		inc := f.Records[rec].Incident
		d := &recordv1.Document{}
		inc.Documents = append(inc.Documents, d)
		return fmt.Sprintf("documents[%d]", len(inc.Documents)-1), d, nil
	})

	validateRecords(f, now, parsed)
	sortProblems(f.Problems)
	return f
}

// sortProblems orders problems by file, table and line, so a clerk can
// work down the list.
func sortProblems(ps []Problem) {
	rank := func(p Pos) int {
		for i, t := range []string{TablePersons, TableDocuments} {
			if p.Sheet == t || strings.HasSuffix(p.File, "."+t+".csv") {
				return i + 1
			}
		}
		return 0
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if d := rank(a.Pos) - rank(b.Pos); d != 0 {
			return d
		}
		return a.Pos.Line - b.Pos.Line
	})
}
