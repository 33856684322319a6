package importer

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/vrs-federation/vrs/node/validate"
)

// neverShared lists, per table, the columns whose values must never be
// quoted back: a problem list is shown and pasted around, and DESIGN §4
// keeps these fields inside the node's own records.
var neverShared = map[string][]string{
	TableIncidents: {"place_name", "conveyance", "embarkation", "notes"},
	TablePersons:   {"full_name", "document_number", "date_of_birth"},
}

// canaries are planted in the never-shared columns of the fuzz seeds. Each
// is shorter than what short() quotes, so a leak would show it whole.
var canaries = []string{"CANARY-PLACE", "CANARY-CONVEYANCE", "CANARY-EMBARK", "CANARY-NOTES", "CANARY-NAME", "CANARY-DOCNO", "CANARY-DOB"}

// canarySheets is a workbook whose rows carry a canary in every
// never-shared column and are invalid elsewhere, so the reader has every
// reason to talk about those rows.
func canarySheets() sheetData {
	return sheetData{
		TableIncidents: {
			{"national_ref", "detected_on", "country", "place_name", "conveyance", "embarkation", "notes", "deaths", "transport_mode"},
			{"C-1", "2026-02-30", "ZZZ", "CANARY-PLACE", "CANARY-CONVEYANCE", "CANARY-EMBARK", "CANARY-NOTES", "-1", "BOAT"},
			{"C-2", "2026-01-01", "THA", "CANARY-PLACE", "CANARY-CONVEYANCE", "CANARY-EMBARK", "CANARY-NOTES", "x"},
			{"C-2", "2099-01-01"},
		},
		TablePersons: {
			{"national_ref", "group", "age", "full_name", "document_number", "date_of_birth", "citizenship", "sex"},
			{"C-1", "migrant", "abc", "CANARY-NAME", "CANARY-DOCNO", "CANARY-DOB", "QQQ", "X"},
			{"C-2", "suspect", "130", "CANARY-NAME", "CANARY-DOCNO", "CANARY-DOB"},
			{"C-9", "migrant", "", "CANARY-NAME", "CANARY-DOCNO", "CANARY-DOB"},
			{"C-2", "crew", "", "CANARY-NAME"},
		},
		TableDocuments: {
			{"national_ref", "type", "issuing_country", "fraud"},
			{"C-1", "PASSPORT", "QQQ", "NOPE"},
		},
	}
}

// smallWorkbook builds a workbook without the template (no README, lists
// or drop-downs): the sheets in order incidents, persons, documents, so
// their parts are xl/worksheets/sheet1.xml to sheet3.xml.
func smallWorkbook(tb testing.TB, data sheetData) []byte {
	tb.Helper()
	wb := excelize.NewFile()
	defer wb.Close()
	if err := wb.SetSheetName("Sheet1", TableIncidents); err != nil {
		tb.Fatal(err)
	}
	for _, s := range []string{TablePersons, TableDocuments} {
		if _, err := wb.NewSheet(s); err != nil {
			tb.Fatal(err)
		}
	}
	for sheet, rows := range data {
		for r, row := range rows {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := wb.SetCellValue(sheet, cell, v); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	var buf bytes.Buffer
	if _, err := wb.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// The parts of a small workbook the fuzzer may replace: the three
// worksheets and the shared strings.
var fuzzParts = []string{"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml", "xl/sharedStrings.xml"}

// unzipParts returns the named parts of a workbook, "" for a missing one.
func unzipParts(tb testing.TB, wb []byte) [][]byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(wb), int64(len(wb)))
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, len(fuzzParts))
	for i, name := range fuzzParts {
		rc, err := zr.Open(name)
		if err != nil {
			out[i] = []byte{}
			continue
		}
		out[i], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// rezip returns base with the non-empty parts replaced. Zipping here is
// what lets the fuzzer reach the XML: mutated zip bytes almost always fail
// their CRC check before excelize parses anything.
func rezip(tb testing.TB, base []byte, parts [][]byte) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(base), int64(len(base)))
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.Create(f.Name)
		if err != nil {
			tb.Fatal(err)
		}
		replaced := false
		for i, name := range fuzzParts {
			if f.Name == name && len(parts[i]) > 0 {
				if _, err := w.Write(parts[i]); err != nil {
					tb.Fatal(err)
				}
				replaced = true
			}
		}
		if replaced {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadXLSX feeds the workbook reader whole files (raw: valid
// workbooks, truncated ones, garbage) and, when raw is empty, a small valid
// workbook whose worksheet and shared-string XML the fuzzer rewrites. The
// reader must never panic or hang; it either refuses the file with an error
// that says which file or sheet, or returns problems at a sheet and row, or
// returns records that all validate. A canary planted in a never-shared
// column is never quoted in a problem.
func FuzzReadXLSX(f *testing.F) {
	dir := f.TempDir()
	base := smallWorkbook(f, goodSheets())
	canary := smallWorkbook(f, canarySheets())
	full, err := os.ReadFile(writeXLSX(f, dir, "template.xlsx", canarySheets()))
	if err != nil {
		f.Fatal(err)
	}
	var template bytes.Buffer
	if err := WriteTemplate(&template); err != nil {
		f.Fatal(err)
	}
	none := [][]byte{{}, {}, {}, {}}
	seed := func(raw []byte, parts [][]byte) { f.Add(raw, parts[0], parts[1], parts[2], parts[3]) }
	// Whole files: the template filled in, hand-built ones, and broken ones.
	seed(full, none)
	seed(canary, none)
	seed(smallWorkbook(f, badSheets()), none)
	seed(template.Bytes(), none)
	seed(base[:len(base)/2], none)
	seed(canary[:len(canary)-22], none) // the zip directory cut short
	seed([]byte("PK\x03\x04 not really a zip"), none)
	seed([]byte("national_ref,detected_on\nA,2026-01-01\n"), none)
	// XML parts spliced into the small workbook.
	seed(nil, unzipParts(f, base))
	seed(nil, unzipParts(f, canary))
	seed(nil, unzipParts(f, smallWorkbook(f, badSheets())))
	seed(nil, [][]byte{[]byte(`<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>national_ref</t></is></c><c r="XFD1048576" t="inlineStr"><is><t>notes</t></is></c></row><row r="0"><c r="A0" t="s"><v>99999</v></c></row></sheetData></worksheet>`), {}, {}, []byte(`<sst><si><t>CANARY-NAME</t></si></sst>`)})
	seed(nil, [][]byte{[]byte(`<worksheet><sheetData><row r="2"><c r="B2" t="d"><v>2026-01-01T00:00:00</v></c><c r="C2" t="e"><v>#N/A</v></c><c r="D2"><f>1/0</f></c></row></sheetData></worksheet>`), []byte("<"), {}, {}})

	f.Fuzz(func(t *testing.T, raw, incidents, persons, documents, shared []byte) {
		data := raw
		if len(raw) == 0 {
			data = rezip(t, base, [][]byte{incidents, persons, documents, shared})
		}
		p := filepath.Join(t.TempDir(), "f.xlsx")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		type result struct {
			file *File
			err  error
		}
		done := make(chan result, 1)
		go func() {
			file, err := Read(t.Context(), p, Options{Now: testNow})
			done <- result{file, err}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(20 * time.Second):
			// Generous: only a reader that loops forever gets here.
			t.Fatal("Read did not return within 20 s")
		}
		if res.err != nil {
			if !errors.Is(res.err, ErrFormat) && !strings.Contains(res.err.Error(), ": sheet ") {
				t.Fatalf("error names neither the format nor a sheet: %v", res.err)
			}
			return
		}
		file := res.file
		for _, pr := range file.Problems {
			if pr.Rule == "" || pr.Pos.Line < 1 || (pr.Pos.Sheet != TableIncidents && pr.Pos.Sheet != TablePersons && pr.Pos.Sheet != TableDocuments) {
				t.Fatalf("problem without a sheet, row or rule: %#v", pr)
			}
		}
		if len(file.Problems) == 0 {
			incs := file.Incidents()
			if errs := (validate.Validator{Now: testNow}).Batch(incs); len(errs) > 0 {
				t.Fatalf("file accepted with invalid records: %v", errs)
			}
		}
		checkCanaries(t, p, file)
	})
}

// checkCanaries fails when a problem quotes a canary that, in the workbook
// as read, sits only in never-shared data cells. A canary the fuzzer moved
// anywhere else (a header, a shared column, a sheet name) may rightly be
// quoted and is not checked.
func checkCanaries(t *testing.T, path string, file *File) {
	t.Helper()
	var msgs strings.Builder
	for _, pr := range file.Problems {
		msgs.WriteString(pr.Error())
		msgs.WriteByte('\n')
	}
	text := msgs.String()
	var quoted []string
	for _, c := range canaries {
		if strings.Contains(text, c) {
			quoted = append(quoted, c)
		}
	}
	if len(quoted) == 0 {
		return
	}
	wb, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatalf("reader accepted a workbook excelize cannot open again: %v", err)
	}
	defer wb.Close()
	for _, c := range quoted {
		if onlyNeverShared(t, wb, c) {
			t.Fatalf("a problem quotes the never-shared value %s:\n%s", c, text)
		}
	}
}

// onlyNeverShared reports whether c occurs in the tables only as (part of)
// data cells of never-shared columns.
func onlyNeverShared(t *testing.T, wb *excelize.File, c string) bool {
	t.Helper()
	for _, name := range wb.GetSheetList() {
		if strings.Contains(name, c) {
			return false
		}
		table := strings.ToLower(strings.TrimSpace(name))
		if table != TableIncidents && table != TablePersons && table != TableDocuments {
			continue
		}
		rows, err := wb.GetRows(name, excelize.Options{RawCellValue: true})
		if err != nil {
			return false
		}
		if len(rows) == 0 {
			continue
		}
		header := rows[0]
		for r, row := range rows {
			for i, v := range row {
				if !strings.Contains(v, c) {
					continue
				}
				if r == 0 || i >= len(header) || !isNeverSharedColumn(table, header, i) {
					return false
				}
			}
		}
	}
	return true
}

// isNeverSharedColumn reports whether column i is a never-shared column of
// table, bound as the reader binds it (the first of duplicate names).
func isNeverSharedColumn(table string, header []string, i int) bool {
	h := strings.ToLower(strings.TrimSpace(header[i]))
	for j := range i {
		if strings.ToLower(strings.TrimSpace(header[j])) == h {
			return false
		}
	}
	for _, n := range neverShared[table] {
		if h == n {
			return true
		}
	}
	return false
}

// TestCanarySeedIsQuiet pins the seed the canary property starts from: the
// rows with canaries have problems, and none of them quotes a canary.
func TestCanarySeedIsQuiet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.xlsx")
	if err := os.WriteFile(p, smallWorkbook(t, canarySheets()), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := Read(t.Context(), p, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Problems) < 8 {
		t.Fatalf("only %d problems: %q", len(file.Problems), messages(file.Problems))
	}
	var sawPersons bool
	for _, pr := range file.Problems {
		sawPersons = sawPersons || pr.Pos.Sheet == TablePersons
		for _, c := range canaries {
			if strings.Contains(pr.Error(), c) {
				t.Errorf("problem quotes %s: %s", c, pr.Error())
			}
		}
	}
	if !sawPersons {
		t.Fatalf("no problem on the persons sheet: %q", messages(file.Problems))
	}
}

// TestReadXLSXFarRow is what FuzzReadXLSX found: a 2 KB workbook with one
// cell at the sheet's last row made the reader hold a million padded
// empty rows (seconds and tens of MB for nothing). The row keeps its
// number.
func TestReadXLSXFarRow(t *testing.T) {
	sheet := `<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>national_ref</t></is></c></row>` +
		`<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>FAR-1</t></is></c></row></sheetData></worksheet>`
	p := filepath.Join(t.TempDir(), "far.xlsx")
	if err := os.WriteFile(p, rezip(t, smallWorkbook(t, goodSheets()), [][]byte{[]byte(sheet), {}, {}, {}}), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := Read(t.Context(), p, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Records) != 1 || file.Records[0].Pos.Line != 1048576 || file.Records[0].Incident.GetNationalRef() != "FAR-1" {
		t.Fatalf("records %+v", file.Records)
	}
	if got := messages(file.Problems); len(got) == 0 || !strings.HasSuffix(got[0], "far.xlsx:incidents:1048576: detected_on: required") {
		t.Fatalf("problems %q", got)
	}
}
