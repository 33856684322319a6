package importer

import (
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/vrs-federation/vrs/internal/codes"
)

// templateRows is how many rows of each sheet carry drop-down lists.
const templateRows = 10000

// WriteTemplate writes the Excel workbook a clerk fills in: a README sheet
// explaining every column, the incidents, persons and documents sheets with
// their header rows, drop-down lists of the allowed values (enums,
// countries, currencies, ICCS codes), text-formatted code and date columns
// (so "08051" keeps its zero and dates stay YYYY-MM-DD), and a hidden lists
// sheet the drop-downs refer to.
func WriteTemplate(w io.Writer) error {
	wb := excelize.NewFile()
	defer wb.Close()
	if err := buildTemplate(wb); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	if _, err := wb.WriteTo(w); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	return nil
}

func buildTemplate(wb *excelize.File) error {
	const readme = "README"
	if err := wb.SetSheetName("Sheet1", readme); err != nil {
		return err
	}
	tables := []struct {
		name string
		cols []column
	}{
		{TableIncidents, incidentColumns()},
		{TablePersons, personColumns()},
		{TableDocuments, documentColumns()},
	}
	for _, t := range tables {
		if _, err := wb.NewSheet(t.name); err != nil {
			return err
		}
	}
	lists, err := writeLists(wb)
	if err != nil {
		return err
	}
	bold, err := wb.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}})
	if err != nil {
		return err
	}
	text, err := wb.NewStyle(&excelize.Style{NumFmt: 49}) // "@": keep what is typed
	if err != nil {
		return err
	}
	for _, t := range tables {
		for i, c := range t.cols {
			col, _ := excelize.ColumnNumberToName(i + 1)
			if err := wb.SetCellStr(t.name, col+"1", c.name); err != nil {
				return err
			}
			width := float64(max(len(c.name), len(c.example), 12)) + 2
			if err := wb.SetColWidth(t.name, col, col, width); err != nil {
				return err
			}
			rng := fmt.Sprintf("%s2:%s%d", col, col, templateRows+1)
			if err := wb.SetColStyle(t.name, col, text); err != nil {
				return err
			}
			if dv := dropDown(c, lists, rng); dv != nil {
				if err := wb.AddDataValidation(t.name, dv); err != nil {
					return fmt.Errorf("%s.%s drop-down: %w", t.name, c.name, err)
				}
			}
		}
		last, _ := excelize.ColumnNumberToName(len(t.cols))
		if err := wb.SetCellStyle(t.name, "A1", last+"1", bold); err != nil {
			return err
		}
		if err := wb.SetPanes(t.name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return err
		}
	}
	if err := writeReadme(wb, readme, bold); err != nil {
		return err
	}
	wb.SetActiveSheet(0)
	return nil
}

// writeLists fills the hidden lists sheet with the long value lists and
// returns, per list name, the absolute range a drop-down refers to.
func writeLists(wb *excelize.File) (map[string]string, error) {
	const sheet = "lists"
	if _, err := wb.NewSheet(sheet); err != nil {
		return nil, err
	}
	var countries, citizenship, iccs []string
	for _, c := range codes.Countries() {
		countries = append(countries, c.Alpha3)
	}
	citizenship = append(append(citizenship, countries...), "XXA", "XXB", "XXC", "XXX")
	for _, c := range codes.ICCSCodes() {
		iccs = append(iccs, c.Code)
	}
	currencies := codes.Currencies()
	out := map[string]string{}
	for i, l := range []struct {
		name   string
		values []string
	}{{"country", countries}, {"citizenship", citizenship}, {"iccs", iccs}, {"currency", currencies}} {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if err := wb.SetCellStr(sheet, col+"1", l.name); err != nil {
			return nil, err
		}
		for j, v := range l.values {
			if err := wb.SetCellStr(sheet, fmt.Sprintf("%s%d", col, j+2), v); err != nil {
				return nil, err
			}
		}
		out[l.name] = fmt.Sprintf("%s!$%s$2:$%s$%d", sheet, col, col, len(l.values)+1)
	}
	return out, wb.SetSheetVisible(sheet, false)
}

// dropDown is the data validation of a column, or nil. Multi-valued
// columns get none: a drop-down holds one value.
func dropDown(c column, lists map[string]string, rng string) *excelize.DataValidation {
	if c.multi {
		return nil
	}
	dv := excelize.NewDataValidation(true)
	dv.SetSqref(rng)
	switch {
	case c.enum != nil:
		if err := dv.SetDropList(enumChoices(c.enum)); err != nil {
			return nil
		}
	case c.list == "yesno":
		_ = dv.SetDropList([]string{"yes", "no"})
	case c.list == "group":
		_ = dv.SetDropList([]string{groupMigrant, groupSuspect})
	case lists[c.list] != "":
		dv.SetSqrefDropList(lists[c.list])
	default:
		return nil
	}
	// A warning, not a stop: the importer is the real check and says why.
	dv.SetError(excelize.DataValidationErrorStyleWarning, c.name, "Pick a value from the list.")
	return dv
}

func writeReadme(wb *excelize.File, sheet string, bold int) error {
	lines := [][]string{
		{"VRS Federation: incident import workbook"},
		{""},
		{"Fill in one row per incident on the incidents sheet, one row per migrant or suspect on the persons sheet, and one row per travel document on the documents sheet."},
		{"Rows on persons and documents are linked to their incident by national_ref. Leave a cell empty when the value is not known."},
		{"Import with:  vrs-node import --data-dir DIR this-file.xlsx   (the node must be stopped; add --dry-run to only check the file)."},
		{"The whole file is imported or nothing is: every problem is listed with its sheet, row and column, e.g.  file.xlsx:persons:12: migrants[0].age: 130 is not between 0 and 120"},
		{"Importing the same file again changes nothing; a changed row replaces the incident with the same national_ref."},
		{"Lists (methods, iccs_codes, route_transit) take several values separated by ';'. Codes: countries ISO 3166-1 alpha-3 (THA), currencies ISO 4217 (USD)."},
		{"Fields marked 'never shared' stay in your node: they never leave it in any answer."},
		{""},
		{"sheet", "column", "meaning", "allowed values", "example"},
	}
	for _, t := range []struct {
		name string
		cols []column
	}{{TableIncidents, incidentColumns()}, {TablePersons, personColumns()}, {TableDocuments, documentColumns()}} {
		for _, c := range t.cols {
			allowed := ""
			switch {
			case c.enum != nil:
				allowed = strings.Join(enumChoices(c.enum), ", ")
			case c.list == "yesno":
				allowed = "yes, no"
			case c.list == "group":
				allowed = groupMigrant + ", " + groupSuspect
			case c.date:
				allowed = "YYYY-MM-DD"
			case c.list != "":
				allowed = "see the drop-down list"
			}
			lines = append(lines, []string{t.name, c.name, c.help, allowed, c.example})
		}
	}
	for i, l := range lines {
		cell := fmt.Sprintf("A%d", i+1)
		if err := wb.SetSheetRow(sheet, cell, &l); err != nil {
			return err
		}
	}
	if err := wb.SetCellStyle(sheet, "A1", "A1", bold); err != nil {
		return err
	}
	if err := wb.SetCellStyle(sheet, "A11", "E11", bold); err != nil {
		return err
	}
	for col, w := range map[string]float64{"A": 12, "B": 22, "C": 90, "D": 50, "E": 24} {
		if err := wb.SetColWidth(sheet, col, col, w); err != nil {
			return err
		}
	}
	return nil
}
