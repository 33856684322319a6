package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/synth"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// dataset says which synthetic records every scenario uses: the same
// options always give the same records, so two runs (and the engine and
// SQLite within a run) see identical data.
type dataset struct {
	country  string
	seed     int64
	from, to time.Time
}

func (d dataset) options() synth.Options {
	return synth.Options{Country: d.country, Seed: d.seed, From: d.from, To: d.to}
}

// generate returns incidents first..first+n-1 of the sequence, drawn in
// parallel: each worker has its own generator, and At(i) does not depend on
// what was drawn before, so the result equals the sequential one.
func (d dataset) generate(first, n int) ([]*recordv1.Incident, error) {
	out := make([]*recordv1.Incident, n)
	workers := runtime.GOMAXPROCS(0)
	chunk := (n + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Go(func() {
			g, err := synth.New(d.options())
			if err != nil {
				errs[w] = err
				return
			}
			for i := lo; i < hi; i++ {
				out[i] = g.At(first + i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
	}
	return out, nil
}

// chunks calls fn with consecutive slices of at most size incidents until
// n have been produced. Only one chunk is alive at a time, so a scaling run
// at 5M never holds 5M records.
func (d dataset) chunks(n, size int, fn func([]*recordv1.Incident) error) error {
	for first := 0; first < n; first += size {
		incs, err := d.generate(first, min(size, n-first))
		if err != nil {
			return err
		}
		if err := fn(incs); err != nil {
			return err
		}
	}
	return nil
}

// corpus is the data set generated once and kept in memory in its
// deterministic protobuf encoding: about a third of the size of the
// decoded messages (whose names, document numbers and notes make a million
// incidents weigh about 7 GB), so the benchmark does not crowd a shared
// machine. Scenarios decode it a chunk at a time, outside their timers.
type corpus struct {
	recs     [][]byte
	migrants int64
	bytes    int64
}

// makeCorpus generates incidents 0..n-1 and encodes them.
func (d dataset) makeCorpus(n int) (*corpus, error) {
	c := &corpus{recs: make([][]byte, 0, n)}
	opts := proto.MarshalOptions{Deterministic: true}
	err := d.chunks(n, 50_000, func(incs []*recordv1.Incident) error {
		for _, inc := range incs {
			b, err := opts.Marshal(inc)
			if err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			c.recs = append(c.recs, b)
			c.migrants += int64(len(inc.GetMigrants()))
			c.bytes += int64(len(b))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// chunks decodes the corpus size incidents at a time (in parallel) and
// calls fn with each chunk.
func (c *corpus) chunks(size int, fn func([]*recordv1.Incident) error) error {
	workers := runtime.GOMAXPROCS(0)
	for lo := 0; lo < len(c.recs); lo += size {
		recs := c.recs[lo:min(lo+size, len(c.recs))]
		out := make([]*recordv1.Incident, len(recs))
		errs := make([]error, workers)
		per := (len(recs) + workers - 1) / workers
		var wg sync.WaitGroup
		for w := range workers {
			a, b := w*per, min((w+1)*per, len(recs))
			if a >= b {
				break
			}
			wg.Go(func() {
				for i := a; i < b; i++ {
					inc := &recordv1.Incident{}
					if err := proto.Unmarshal(recs[i], inc); err != nil {
						errs[w] = fmt.Errorf("decode: %w", err)
						return
					}
					out[i] = inc
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}
