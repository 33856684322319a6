package importer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readCSV reads NAME.csv (incidents) with its companions NAME.persons.csv
// and NAME.documents.csv when they exist next to it.
func readCSV(ctx context.Context, path string, o Options, prog *progress) (*File, error) {
	base := strings.TrimSuffix(path, path[len(path)-len(".csv"):])
	for _, t := range []string{TablePersons, TableDocuments} {
		if strings.HasSuffix(strings.ToLower(base), "."+t) {
			main := base[:len(base)-len(t)-1] + ".csv"
			return nil, fmt.Errorf("%s: %w: this is the %s table of %s; import that file, which reads this one with it", path, ErrFormat, t, main)
		}
	}
	incidents, err := readCSVTable(ctx, path, TableIncidents, prog)
	if err != nil {
		return nil, err
	}
	companion := func(t string) (*sheet, error) {
		p := base + "." + t + ".csv"
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return readCSVTable(ctx, p, t, prog)
	}
	persons, err := companion(TablePersons)
	if err != nil {
		return nil, err
	}
	documents, err := companion(TableDocuments)
	if err != nil {
		return nil, err
	}
	return buildTables(path, incidents, persons, documents, o.Now), nil
}

// readCSVTable reads one CSV file: RFC 4180, UTF-8 with or without a byte
// order mark, comma- or semicolon-separated (spreadsheets in many locales
// save with ';'), a header row first.
func readCSVTable(ctx context.Context, path, table string, prog *progress) (*sheet, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil {
		prog.total += st.Size()
	}
	br := bufio.NewReaderSize(fh, 1<<20)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	first, _ := br.Peek(4096)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	cr := csv.NewReader(&countingReader{r: br, n: &prog.read})
	if bytes.Count(first, []byte{';'}) > bytes.Count(first, []byte{','}) {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	s := &sheet{name: table}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %w: %w", path, pe.StartLine, ErrFormat, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		if s.header == nil {
			s.header = row
			s.head = Pos{File: path, Line: line}
			continue
		}
		s.rows = append(s.rows, row)
		s.pos = append(s.pos, Pos{File: path, Line: line})
		if len(s.rows)%4096 == 0 {
			prog.update(prog.read, len(s.rows))
		}
	}
	if s.header == nil {
		return nil, fmt.Errorf("%s: %w: empty file (the first row must name the columns)", path, ErrFormat)
	}
	return s, nil
}

// countingReader counts bytes read, for progress.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}
