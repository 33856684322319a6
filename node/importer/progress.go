package importer

import (
	"fmt"
	"io"
	"time"
)

// progress prints one overwriting line ("\r...") at most every 200ms. It is
// meant for a terminal: callers pass a writer only when stderr is one.
type progress struct {
	w     io.Writer
	name  string
	total int64 // bytes, when known
	read  int64
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, name string) *progress { return &progress{w: w, name: name} }

func (p *progress) update(read int64, lines int) {
	if p == nil || p.w == nil {
		return
	}
	if read > 0 {
		p.read = read
	}
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	p.shown = true
	if p.total > 0 && p.read > 0 {
		fmt.Fprintf(p.w, "\rreading %s: %d rows, %d%%   ", p.name, lines, min(100, p.read*100/p.total))
		return
	}
	fmt.Fprintf(p.w, "\rreading %s: %d rows   ", p.name, lines)
}

// done clears the line.
func (p *progress) done() {
	if p == nil || p.w == nil || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
}
