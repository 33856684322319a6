package importer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vrs-federation/vrs/node/validate"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// maxLine is the longest JSON line accepted (an incident with thousands of
// persons fits easily).
const maxLine = 64 << 20

// jsonlChunk is how many lines one worker parses at a time.
const jsonlChunk = 512

type jsonlLine struct {
	line int
	data []byte
}

type jsonlResult struct {
	records  []Record
	problems []Problem
}

// readJSONL reads one protojson Incident per line. Blank lines are skipped.
// Parsing and validation run on every CPU; results keep file order.
func readJSONL(ctx context.Context, path string, o Options, prog *progress) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil {
		prog.total = st.Size()
	}
	name := path
	unmarshal := protojson.UnmarshalOptions{}
	v := validate.Validator{Now: o.Now}

	type job struct {
		seq   int
		lines []jsonlLine
	}
	jobs := make(chan job)
	var (
		mu      sync.Mutex
		results = map[int]*jsonlResult{}
		wg      sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range jobs {
				res := &jsonlResult{}
				for _, l := range j.lines {
					pos := Pos{File: name, Line: l.line}
					inc := &recordv1.Incident{}
					if err := unmarshal.Unmarshal(l.data, inc); err != nil {
						res.problems = append(res.problems, Problem{Pos: pos, Rule: "not a valid incident: " + cleanJSONError(err)})
						continue
					}
					for _, e := range v.Incident(inc) {
						res.problems = append(res.problems, Problem{Pos: pos, Path: e.Path, Rule: e.Rule})
					}
					res.records = append(res.records, Record{Incident: inc, Pos: pos})
				}
				mu.Lock()
				results[j.seq] = res
				mu.Unlock()
			}
		})
	}

	r := bufio.NewReaderSize(fh, 1<<20)
	var (
		batch   []jsonlLine
		seq     int
		lineNo  int
		readErr error
		read    int64
	)
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		line, err := readLine(r)
		if len(line) > 0 || err == nil {
			lineNo++
			read += int64(len(line)) + 1
			if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
				batch = append(batch, jsonlLine{line: lineNo, data: trimmed})
			}
		}
		if len(batch) == jsonlChunk || (err != nil && len(batch) > 0) {
			jobs <- job{seq: seq, lines: batch}
			seq++
			batch = nil
			prog.update(read, lineNo)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
			break
		}
	}
	close(jobs)
	wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	f := &File{Path: name}
	for i := range seq {
		res := results[i]
		f.Records = append(f.Records, res.records...)
		f.Problems = append(f.Problems, res.problems...)
	}
	checkDuplicates(f)
	sortProblems(f.Problems)
	return f, nil
}

// readLine returns the next line without its newline (a copy).
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("line longer than %d MiB", maxLine>>20)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if n := len(buf); n > 0 && buf[n-1] == '\n' {
			buf = buf[:n-1]
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
		}
		if len(buf) == 0 && err == nil {
			return []byte{}, nil
		}
		return buf, err
	}
}

// protobuf randomly writes a no-break space after "proto:" to keep callers
// from matching its messages exactly; this match is only cosmetic.
var protoErrPrefix = regexp.MustCompile(`^proto:[\s\x{00a0}]*(syntax error[\s\x{00a0}]*)?\(line \d+:(\d+)\):[\s\x{00a0}]*`)

// cleanJSONError shortens protojson's messages: the line is already given,
// so only the column stays.
func cleanJSONError(err error) string {
	msg := err.Error()
	if m := protoErrPrefix.FindStringSubmatch(msg); m != nil {
		prefix := "column " + m[2] + ": "
		if m[1] != "" {
			prefix += "syntax error: "
		}
		return prefix + msg[len(m[0]):]
	}
	return msg
}
