package importer

import (
	"context"
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// readXLSX reads a workbook with the sheets incidents, persons and
// (optionally) documents; other sheets (README, lists) are ignored. Sheet
// names are matched case-insensitively.
func readXLSX(ctx context.Context, path string, o Options, prog *progress) (*File, error) {
	wb, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrFormat, err)
	}
	defer wb.Close()
	names := map[string]string{}
	for _, n := range wb.GetSheetList() {
		names[strings.ToLower(strings.TrimSpace(n))] = n
	}
	read := func(table string) (*sheet, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		real, ok := names[table]
		if !ok {
			return nil, nil
		}
		// Raw values: a date cell is its serial number whatever its display
		// format, and sheet.cell converts it in date columns.
		rows, err := wb.GetRows(real, excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fmt.Errorf("%s: sheet %s: %w", path, real, err)
		}
		s := &sheet{name: table, serial: true, head: Pos{File: path, Sheet: table, Line: 1}}
		for i, row := range rows {
			if i == 0 {
				s.header = row
				continue
			}
			// GetRows pads the gaps before a far row with empty ones: a
			// cell at row 1048576 would otherwise cost a million rows
			// here. The tables skip blank rows anyway.
			if blankRow(row) {
				continue
			}
			s.rows = append(s.rows, row)
			s.pos = append(s.pos, Pos{File: path, Sheet: table, Line: i + 1})
		}
		prog.update(0, len(s.rows))
		return s, nil
	}
	incidents, err := read(TableIncidents)
	if err != nil {
		return nil, err
	}
	if incidents == nil || incidents.header == nil {
		return nil, fmt.Errorf("%s: %w: no %q sheet with a header row (make the workbook with vrs-node template)", path, ErrFormat, TableIncidents)
	}
	persons, err := read(TablePersons)
	if err != nil {
		return nil, err
	}
	documents, err := read(TableDocuments)
	if err != nil {
		return nil, err
	}
	if persons != nil && persons.header == nil {
		persons = nil
	}
	if documents != nil && documents.header == nil {
		documents = nil
	}
	return buildTables(path, incidents, persons, documents, o.Now), nil
}
