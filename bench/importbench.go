package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/store"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// importResult is the import scenario's outcome.
type importResult struct {
	n          int
	batch      int
	store, raw time.Duration
	storeCPU   time.Duration
	rawCPU     time.Duration
	storeBytes int64
	rawBytes   int64
}

// runImport writes the incidents twice, each time into a fresh Badger
// directory under tmp opened as vrs-node import opens it
// (store.OpenDataDirBulk): once through store.BulkLoad in batches of batch
// incidents (the offline importer's path), once as a raw kv.Batch of the
// same records already serialised and compressed as the store keeps them
// (the store's ceiling: no validation, no classification, no undo log, no
// date index, no encoding or compression in the timed part). Only the writes and the final Close are timed: decoding the corpus
// into each batch, and the raw path's serialisation, happen with the clock
// stopped. Close is timed because Badger finishes flushing and compacting
// in the background, so leaving it out would leave out part of the work.
func runImport(ctx context.Context, tmp string, data *corpus, batch int) (importResult, error) {
	r := importResult{n: len(data.recs), batch: batch}

	dir, err := os.MkdirTemp(tmp, "vrs-bench-store-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	db, err := store.OpenDataDirBulk(dir, logging.Discard())
	if err != nil {
		return r, err
	}
	s, err := store.Open(db, logging.Discard())
	if err != nil {
		_ = db.Close()
		return r, err
	}
	err = data.chunks(batch, func(b []*recordv1.Incident) error {
		cpu0, start := cpuTime(), time.Now()
		res, err := s.BulkLoad(ctx, b)
		r.store += time.Since(start)
		r.storeCPU += cpuTime() - cpu0
		if err != nil {
			return fmt.Errorf("bulk load: %w", err)
		}
		if res.Created != len(b) {
			return fmt.Errorf("bulk load created %d of %d", res.Created, len(b))
		}
		return nil
	})
	cpu0, start := cpuTime(), time.Now()
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	r.store += time.Since(start)
	r.storeCPU += cpuTime() - cpu0
	if err != nil {
		return r, err
	}
	r.storeBytes = dirSize(dir)
	_ = os.RemoveAll(dir)

	rawDir, err := os.MkdirTemp(tmp, "vrs-bench-raw-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(rawDir)
	rdb, err := store.OpenDataDirBulk(rawDir, logging.Discard())
	if err != nil {
		return r, err
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := make([][]byte, 0, batch)
	vals := make([][]byte, 0, batch)
	err = data.chunks(batch, func(b []*recordv1.Incident) error {
		keys, vals = keys[:0], vals[:0]
		for _, inc := range b {
			// The very bytes the store keeps (encoded and compressed),
			// made with the clock stopped.
			v, err := s.StoredValue(inc, now)
			if err != nil {
				return err
			}
			keys = append(keys, []byte("rec/i/"+inc.GetNationalRef()))
			vals = append(vals, v)
		}
		cpu0, start := cpuTime(), time.Now()
		wb := rdb.NewBatch()
		for i := range keys {
			if err := wb.Put(keys[i], vals[i]); err != nil {
				wb.Cancel()
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
		r.raw += time.Since(start)
		r.rawCPU += cpuTime() - cpu0
		return nil
	})
	cpu0, start = cpuTime(), time.Now()
	if cerr := rdb.Close(); err == nil && cerr != nil {
		err = cerr
	}
	r.raw += time.Since(start)
	r.rawCPU += cpuTime() - cpu0
	if err != nil {
		return r, fmt.Errorf("raw write: %w", err)
	}
	r.rawBytes = dirSize(rawDir)
	return r, nil
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
