package importer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/codes"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/store"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

var testNow = func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: t.TempDir(), Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := store.Open(db, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func messages(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}

// The same two incidents in every format.
func wantIncidents() []*recordv1.Incident {
	return []*recordv1.Incident{
		{
			NationalRef: "THA-1", ReportingAgency: "Royal Thai Police", DetectedOn: "2026-03-14",
			DetectedAt:    &recordv1.Place{Country: "THA", Subdivision: "TH-90", Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA, Name: "Koh Lipe"},
			IccsCodes:     []string{"08051", "07023"},
			TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
			Methods:       []recordv1.Method{recordv1.Method_METHOD_CONCEALMENT, recordv1.Method_METHOD_FRAUDULENT_DOCUMENT},
			Route:         &recordv1.Route{Origin: "MMR", Transit: []string{"THA"}, Destination: "MYS"},
			Fee:           &recordv1.Fee{AmountPerPerson: 1500, Currency: "USD", Method: recordv1.PaymentMethod_PAYMENT_METHOD_CASH},
			Harm:          &recordv1.Harm{Deaths: 1},
			Documents:     []*recordv1.Document{{Type: recordv1.DocumentType_DOCUMENT_TYPE_PASSPORT, IssuingCountry: "MYS", Fraud: recordv1.FraudType_FRAUD_TYPE_FORGED}},
			Migrants: []*recordv1.Person{
				{Citizenship: "MMR", Sex: recordv1.Sex_SEX_FEMALE, Age: proto.Int32(16), UnaccompaniedMinor: true, FullName: "Canary Name", DateOfBirth: "2010-01-02"},
				{Citizenship: "XXA", Sex: recordv1.Sex_SEX_MALE},
			},
			Suspects: []*recordv1.Person{{Citizenship: "THA", Sex: recordv1.Sex_SEX_MALE, Role: recordv1.SuspectRole_SUSPECT_ROLE_TRANSPORTER, LegalStatus: recordv1.LegalStatus_LEGAL_STATUS_ARRESTED}},
		},
		{NationalRef: "THA-2", DetectedOn: "2026-04-01", TransportMode: recordv1.TransportMode_TRANSPORT_MODE_LAND},
	}
}

func jsonl(t *testing.T, incs []*recordv1.Incident) string {
	t.Helper()
	var b strings.Builder
	for _, inc := range incs {
		line, err := protojson.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

const (
	csvIncidents = "national_ref,reporting_agency,detected_on,country,subdivision,location_type,place_name,iccs_codes,transport_mode,methods,route_origin,route_transit,route_destination,fee_amount,fee_currency,fee_method,deaths\n" +
		"THA-1,Royal Thai Police,2026-03-14,tha,TH-90,at sea,Koh Lipe,8051;07023,SEA,CONCEALMENT;fraudulent_document,MMR,THA,MYS,1500,USD,CASH,1\n" +
		"\n" +
		"THA-2,,2026-04-01,,,,,,TRANSPORT_MODE_LAND,,,,,,,,\n"
	csvPersons = "\ufeffnational_ref;group;citizenship;sex;age;unaccompanied_minor;role;legal_status;full_name;date_of_birth\n" +
		"THA-1;migrant;MMR;female;16;yes;;;Canary Name;2010-01-02\n" +
		"THA-1;suspect;THA;MALE;;;TRANSPORTER;ARRESTED;;\n" +
		"THA-1;migrants;XXA;M;;;;;;\n"
	csvDocuments = "national_ref,type,issuing_country,fraud\nTHA-1,PASSPORT,MYS,FORGED\n"
)

func TestReadGoodFiles(t *testing.T) {
	dir := t.TempDir()
	// "M" is not a Sex value: fix the CSV to the accepted spelling.
	persons := strings.Replace(csvPersons, ";M;", ";male;", 1)
	write(t, dir, "batch.persons.csv", persons)
	write(t, dir, "batch.documents.csv", csvDocuments)
	tests := map[string]string{
		"jsonl": write(t, dir, "incidents.jsonl", "\n"+jsonl(t, wantIncidents())),
		"csv":   write(t, dir, "batch.csv", csvIncidents),
		"xlsx":  writeXLSX(t, dir, "batch.xlsx", goodSheets()),
	}
	for name, path := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := Read(t.Context(), path, Options{Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Problems) > 0 {
				t.Fatalf("problems: %q", messages(f.Problems))
			}
			got := f.Incidents()
			want := wantIncidents()
			if len(got) != len(want) {
				t.Fatalf("got %d incidents, want %d", len(got), len(want))
			}
			for i := range want {
				if !proto.Equal(want[i], got[i]) {
					t.Errorf("incident %d:\n got %v\nwant %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestReadBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := jsonl(t, wantIncidents())
	badJSONL := good +
		`{"nationalRef":"THA-3","detectedOn":"2026-02-30","migrants":[{"age":130},{"citizenship":"ZZZ"}]}` + "\n" +
		`{"nationalRef":"THA-4","detectedOn":"2026-01-01","transportMode":"TRANSPORT_MODE_BOAT"}` + "\n" +
		`{not json` + "\n" +
		`{"nationalRef":"THA-1","detectedOn":"2026-01-01","fullName":"x"}` + "\n" +
		`{"nationalRef":"THA-1","detectedOn":"2026-01-01"}` + "\n"

	write(t, dir, "bad.persons.csv", "national_ref,group,age,sex,date_of_birth\nTHA-1,migrant,abc,female,\nTHA-9,migrant,,,\nTHA-1,crew,,,\nTHA-1,suspect,130,,01/02/1990\n")
	badCSV := "national_ref,detected_on,country,deaths,colour\nTHA-1,2026-13-01,THA,-1,red\n"

	tests := []struct {
		name string
		path string
		want []string
	}{
		{"jsonl", write(t, dir, "bad.jsonl", badJSONL), []string{
			`bad.jsonl:3: detected_on: "2026-02-30" is not a YYYY-MM-DD date`,
			`bad.jsonl:3: migrants[0].age: 130 is not between 0 and 120`,
			`bad.jsonl:3: migrants[1].citizenship: "ZZZ" is not an ISO 3166-1 alpha-3 or ICAO 9303 (XXA, XXB, XXC, XXX) code`,
			`bad.jsonl:4: not a valid incident: column 66: invalid value for enum field transportMode: "TRANSPORT_MODE_BOAT"`,
			`bad.jsonl:5: not a valid incident: column 2: syntax error: invalid value not`,
			`bad.jsonl:6: not a valid incident: column 50: unknown field "fullName"`,
			`bad.jsonl:7: national_ref: duplicate of bad.jsonl:1`,
		}},
		{"csv", write(t, dir, "bad.csv", badCSV), []string{
			`bad.csv:1: unknown column "colour" (the columns are national_ref, reporting_agency, detected_on, country, subdivision, location_type, place_name, iccs_codes, transport_mode, conveyance, methods, route_origin, route_transit, route_destination, embarkation, fee_amount, fee_currency, fee_method, deaths, missing, injured, notes)`,
			`bad.csv:2: detected_on: "2026-13-01" is not a YYYY-MM-DD date`,
			`bad.csv:2: harm.deaths: -1 is negative`,
			`bad.persons.csv:2: migrants[0].age: "abc" is not a whole number`,
			`bad.persons.csv:3: national_ref: no incident with this national_ref in the incidents table`,
			`bad.persons.csv:4: group: "crew" is not migrant or suspect`,
			`bad.persons.csv:5: suspects[0].age: 130 is not between 0 and 120`,
			`bad.persons.csv:5: suspects[0].date_of_birth: not a YYYY-MM-DD date`,
		}},
		{"xlsx", writeXLSX(t, dir, "bad.xlsx", badSheets()), []string{
			`bad.xlsx:incidents:3: transport_mode: "BOAT" is not one of LAND, SEA, AIR, MIXED`,
			`bad.xlsx:incidents:4: national_ref: required`,
			`bad.xlsx:incidents:5: fee.currency: required when amount_per_person is above 0`,
			`bad.xlsx:persons:3: migrants[1].citizenship: "ZZZ" is not an ISO 3166-1 alpha-3 or ICAO 9303 (XXA, XXB, XXC, XXX) code`,
			`bad.xlsx:documents:2: documents[0].issuing_country: "QQQ" is not an ISO 3166-1 alpha-3 code`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Read(t.Context(), tt.path, Options{Now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			got := messages(f.Problems)
			rel := make([]string, len(got))
			for i, m := range got {
				rel[i] = strings.ReplaceAll(m, dir+string(filepath.Separator), "")
			}
			if !slices.Equal(tt.want, rel) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(rel, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, m := range got {
				if strings.Contains(m, "Canary") || strings.Contains(m, "1990") {
					t.Errorf("problem echoes a never-shared value: %s", m)
				}
			}
		})
	}
}

func TestImportAtomicAndIdempotent(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t)
	im := New(Config{Sink: StoreSink{Store: s}, Now: testNow})
	write(t, dir, "batch.persons.csv", strings.Replace(csvPersons, ";M;", ";male;", 1))
	write(t, dir, "batch.documents.csv", csvDocuments)
	files := []string{
		write(t, dir, "incidents.jsonl", jsonl(t, wantIncidents())),
		write(t, dir, "batch.csv", csvIncidents),
		writeXLSX(t, dir, "batch.xlsx", goodSheets()),
	}
	res, err := im.Import(t.Context(), files[0])
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != (store.UpsertResult{Created: 2}) {
		t.Fatalf("first import: %+v", res.Written)
	}
	// The same incidents again, in every format: nothing changes.
	for _, p := range files {
		res, err := im.Import(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if res.Written != (store.UpsertResult{Unchanged: 2}) {
			t.Fatalf("re-import of %s: %+v", filepath.Base(p), res.Written)
		}
	}
	got, err := s.Get(t.Context(), "THA-1")
	if err != nil || got.GetVersion() != 1 {
		t.Fatalf("after re-imports: %v %v", got, err)
	}

	// One bad line: nothing of the file is written.
	bad := jsonl(t, []*recordv1.Incident{{NationalRef: "NEW-1", DetectedOn: "2026-01-01"}}) + `{"nationalRef":"NEW-2","detectedOn":"2026-01-01","harm":{"deaths":-3}}` + "\n"
	res, err = im.Import(t.Context(), write(t, dir, "bad.jsonl", bad))
	if !errors.Is(err, ErrInvalidFile) || len(res.Problems) != 1 || res.Problems[0].Pos.Line != 2 {
		t.Fatalf("bad file: %v %+v", err, res)
	}
	if s.Count() != 2 {
		t.Fatalf("a bad file wrote something: count %d", s.Count())
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	s := openStore(t)
	im := New(Config{Sink: StoreSink{Store: s}, Now: testNow, DryRun: true})
	res, err := im.Import(t.Context(), write(t, t.TempDir(), "a.jsonl", jsonl(t, wantIncidents())))
	if err != nil || res.Incidents != 2 || s.Count() != 0 {
		t.Fatalf("dry run: %+v %v count %d", res, err, s.Count())
	}
}

func TestReadRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		write(t, dir, "x.txt", "hello"),
		write(t, dir, "x.persons.csv", "national_ref,group\n"),
		write(t, dir, "empty.csv", ""),
		write(t, dir, "broken.xlsx", "not a zip"),
	} {
		if _, err := Read(t.Context(), p, Options{}); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", filepath.Base(p), err)
		}
	}
}

func TestBatchesAndProblemsFrom(t *testing.T) {
	var incs []*recordv1.Incident
	for i := range 2500 {
		incs = append(incs, &recordv1.Incident{NationalRef: fmt.Sprintf("R%d", i), DetectedOn: "2026-01-01"})
	}
	f, err := Read(t.Context(), write(t, t.TempDir(), "big.jsonl", jsonl(t, incs)), Options{Now: testNow})
	if err != nil || len(f.Problems) > 0 {
		t.Fatal(err, f.Problems)
	}
	var sizes []int
	for b := range f.Batches(1000) {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) {
		t.Fatalf("batches %v", sizes)
	}
	if n := len(slices.Collect(f.Batches(0))); n != 5 {
		t.Fatalf("%d batches of the default size, want 5", n)
	}
	if f.Records[1234].Incident.GetNationalRef() != "R1234" || f.Records[1234].Pos.Line != 1235 {
		t.Fatalf("order or line numbers lost: %+v", f.Records[1234].Pos)
	}
}

// Workbooks are generated with excelize, as a clerk's spreadsheet would be.

type sheetData map[string][][]any

func goodSheets() sheetData {
	return sheetData{
		TableIncidents: {
			{"national_ref", "reporting_agency", "detected_on", "country", "subdivision", "location_type", "place_name", "iccs_codes", "transport_mode", "methods", "route_origin", "route_transit", "route_destination", "fee_amount", "fee_currency", "fee_method", "deaths"},
			// A real date cell and a number that lost its leading zero.
			{"THA-1", "Royal Thai Police", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), "THA", "TH-90", "AT_SEA", "Koh Lipe", "08051;07023", "SEA", "CONCEALMENT;FRAUDULENT_DOCUMENT", "MMR", "THA", "MYS", 1500, "USD", "CASH", 1},
			{},
			{"THA-2", "", "2026-04-01", "", "", "", "", "", "LAND"},
		},
		TablePersons: {
			{"national_ref", "group", "citizenship", "sex", "age", "unaccompanied_minor", "role", "legal_status", "full_name", "date_of_birth"},
			{"THA-1", "migrant", "MMR", "FEMALE", 16, "yes", "", "", "Canary Name", time.Date(2010, 1, 2, 0, 0, 0, 0, time.UTC)},
			{"THA-1", "suspect", "THA", "MALE", nil, "", "TRANSPORTER", "ARRESTED"},
			{"THA-1", "migrant", "XXA", "MALE"},
		},
		TableDocuments: {
			{"national_ref", "type", "issuing_country", "fraud"},
			{"THA-1", "PASSPORT", "MYS", "FORGED"},
		},
	}
}

func badSheets() sheetData {
	return sheetData{
		TableIncidents: {
			{"national_ref", "detected_on", "transport_mode", "fee_amount"},
			{"A-1", "2026-01-01"},
			{"A-2", "2026-01-01", "BOAT"},
			{"", "2026-01-01"},
			{"A-4", "2026-01-01", "", 10},
		},
		TablePersons: {
			{"national_ref", "group", "citizenship"},
			{"A-1", "migrant", "THA"},
			{"A-1", "migrant", "ZZZ"},
		},
		TableDocuments: {
			{"national_ref", "issuing_country"},
			{"A-2", "QQQ"},
		},
	}
}

func writeXLSX(t testing.TB, dir, name string, data sheetData) string {
	t.Helper()
	// Start from the template, as a clerk would.
	var buf bytes.Buffer
	if err := WriteTemplate(&buf); err != nil {
		t.Fatal(err)
	}
	wb, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	dateStyle, err := wb.NewStyle(&excelize.Style{NumFmt: 14}) // a locale date format
	if err != nil {
		t.Fatal(err)
	}
	for sheet, rows := range data {
		// The clerk's own header replaces the template's.
		for c := range 30 {
			cell, _ := excelize.CoordinatesToCellName(c+1, 1)
			if err := wb.SetCellValue(sheet, cell, nil); err != nil {
				t.Fatal(err)
			}
		}
		for r, row := range rows {
			for c, v := range row {
				if v == nil {
					continue
				}
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := wb.SetCellValue(sheet, cell, v); err != nil {
					t.Fatal(err)
				}
				if _, ok := v.(time.Time); ok {
					if err := wb.SetCellStyle(sheet, cell, cell, dateStyle); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	p := filepath.Join(dir, name)
	if err := wb.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTemplate(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTemplate(&buf); err != nil {
		t.Fatal(err)
	}
	template := slices.Clone(buf.Bytes())
	wb, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if got := wb.GetSheetList(); !slices.Equal(got, []string{"README", TableIncidents, TablePersons, TableDocuments, "lists"}) {
		t.Fatalf("sheets %v", got)
	}
	dvs, err := wb.GetDataValidations(TableIncidents)
	if err != nil {
		t.Fatal(err)
	}
	var lists []string
	for _, dv := range dvs {
		lists = append(lists, dv.Sqref+"="+dv.Formula1)
	}
	joined := strings.Join(lists, " ")
	for _, want := range []string{`"LAND,SEA,AIR,MIXED"`, `lists!$A$2:$A$`, `"BORDER_POST,AIRPORT,SEAPORT,AT_SEA,INLAND"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("no drop-down %s in %s", want, joined)
		}
	}
	// The currency drop-down lists exactly the codes the validator accepts.
	cols, err := wb.GetCols("lists")
	if err != nil {
		t.Fatal(err)
	}
	var currencyCol []string
	for _, col := range cols {
		if len(col) > 0 && col[0] == "currency" {
			// Columns come padded to the longest one.
			currencyCol = slices.DeleteFunc(col[1:], func(v string) bool { return v == "" })
		}
	}
	want := codes.Currencies()
	if !slices.Equal(currencyCol, want) || !slices.IsSorted(want) || !slices.Contains(want, "USD") || slices.Contains(want, "XXX") {
		t.Errorf("currency list: %d codes, want the %d of codes.Currencies, sorted, with USD and without XXX", len(currencyCol), len(want))
	}
	want[0] = "changed" // a copy: the next call is unaffected
	if codes.Currencies()[0] == "changed" {
		t.Error("codes.Currencies returns its own table")
	}
	// An empty template is a valid, empty import.
	p := filepath.Join(t.TempDir(), "empty.xlsx")
	if err := os.WriteFile(p, template, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(t.Context(), p, Options{})
	if err != nil || len(f.Records) != 0 || len(f.Problems) != 0 {
		t.Fatalf("empty template: %v %v", err, f)
	}
}
