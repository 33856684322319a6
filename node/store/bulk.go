package store

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/node/validate"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// BulkLoad writes a whole file's incidents atomically, without the size
// limit of one Badger transaction. It is the offline importer's path: the
// node is stopped and nothing else writes.
//
// The batch is validated first (a *ValidationError and nothing written if
// any incident is invalid). Then chunks of incidents are staged — compared
// with what is stored (created, updated or unchanged) and encoded — on
// every CPU but one, while the chunk before is being written. If nothing
// changed, nothing is written at all.
//
// Atomicity comes from an undo log, not from one transaction:
//
//  1. before the first change, the marker rec/m/import=<id> is committed:
//     from here on, a crash is rolled back by the next Open;
//  2. for each chunk, its undo entries (each changed reference, its
//     previous value or none for a new one, and its new detected_on) are
//     committed under rec/u/<id>/ and synced before its records and index
//     entries are queued on a kv.Batch, so every record or index entry on
//     disk has its undo entry (and the marker) on disk;
//  3. the batch is flushed and synced, then the marker is deleted and the
//     new count committed in one transaction, synced: the load is now
//     complete and durable;
//  4. the undo log is deleted (leftovers are deleted at the next Open).
//
// The syncs matter on a DB opened with kv.Options.UnsyncedWrites (see
// OpenDataDirBulk), where a machine crash may keep later writes and lose
// earlier ones; on a synced DB they cost nothing. Between them, records and
// index entries may reach the disk in any order and any subset: the undo
// entry names both the old and the new index entry, so a rollback removes
// whichever survived.
//
// An error rolls back at once; a crash is rolled back by Open. Either way
// the store holds exactly the records it held before.
func (s *Store) BulkLoad(ctx context.Context, incs []*recordv1.Incident) (UpsertResult, error) {
	var res UpsertResult
	if len(incs) == 0 {
		return res, nil
	}
	if errs := s.validateParallel(incs); len(errs) > 0 {
		return res, &ValidationError{Errors: errs}
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	l := &loader{s: s, id: hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(s.now().UnixNano())))}
	err := l.run(ctx, incs)
	if err == nil && l.marked {
		err = l.commit()
	}
	if err != nil {
		if l.batch != nil {
			l.batch.Cancel()
		}
		if l.marked {
			if rerr := s.recover(); rerr != nil {
				s.log.Error("bulk load rollback failed; it will be retried at the next open", "error", rerr)
			}
		} else {
			s.deleteUndo()
		}
		return UpsertResult{}, fmt.Errorf("bulk load: %w", err)
	}
	if l.marked {
		s.deleteUndo() // the load is complete; the undo log is garbage now
	}
	s.count.Add(int64(l.res.Created))
	for _, c := range l.changes {
		s.notify(c.old, c.new)
	}
	res = l.res
	s.log.Debug("bulk load", "created", res.Created, "updated", res.Updated, "unchanged", res.Unchanged)
	return res, nil
}

// bulkChunk is how many incidents are staged and written together.
const bulkChunk = 4096

// loader is one bulk load in progress.
type loader struct {
	s       *Store
	id      string
	marked  bool // the import marker is committed
	batch   *kv.Batch
	undoSeq uint32
	res     UpsertResult
	changes []obsChange // for observers, only when there are any
}

type obsChange struct{ old, new *recordv1.Incident }

type stagedChunk struct {
	items []staged
	err   error
}

// run stages chunks concurrently (at most one per CPU ahead of the writer)
// and writes them in order.
func (l *loader) run(ctx context.Context, incs []*recordv1.Incident) error {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel below: deferred calls run last-in first-out
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	size := l.s.chunk
	n := (len(incs) + size - 1) / size
	futures := make([]chan stagedChunk, n)
	for i := range futures {
		futures[i] = make(chan stagedChunk, 1)
	}
	now := timestamppb.New(l.s.now().UTC())
	// The count is exact, so an empty store needs no reads: the first
	// import of a node is the large one.
	empty := l.s.count.Load() == 0
	ahead := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	wg.Go(func() {
		for k := range n {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				return
			}
			chunk := incs[k*size : min((k+1)*size, len(incs))]
			wg.Go(func() {
				items, err := l.s.stage(ctx, chunk, now, empty)
				futures[k] <- stagedChunk{items: items, err: err}
			})
		}
	})
	for k := range n {
		var sc stagedChunk
		select {
		case sc = <-futures[k]:
		case <-ctx.Done():
			return ctx.Err()
		}
		<-ahead
		if sc.err != nil {
			return sc.err
		}
		if err := l.write(sc.items); err != nil {
			return err
		}
	}
	return nil
}

// write commits one chunk's undo entries, then queues its records.
func (l *loader) write(items []staged) error {
	var changed []*staged
	for i := range items {
		switch items[i].action {
		case actCreate:
			l.res.Created++
		case actUpdate:
			l.res.Updated++
		default:
			l.res.Unchanged++
			continue
		}
		changed = append(changed, &items[i])
	}
	if len(changed) == 0 {
		return nil
	}
	if !l.marked {
		if err := l.s.db.Put(importKey, []byte(l.id)); err != nil {
			return err
		}
		l.marked = true
		l.batch = l.s.db.NewBatch()
	}
	for _, v := range encodeUndo(changed) {
		key := undoKey(l.id, l.undoSeq)
		l.undoSeq++
		if err := l.s.db.Update(func(tx kv.Txn) error { return tx.Put(key, v) }); err != nil {
			return fmt.Errorf("write undo log: %w", err)
		}
	}
	// The marker and these undo entries must be on disk before any of the
	// chunk's records can be: the batch may commit them at any moment.
	if err := l.s.db.Sync(); err != nil {
		return fmt.Errorf("write undo log: %w", err)
	}
	observe := len(l.s.observers) > 0
	for _, it := range changed {
		ref := it.inc.GetNationalRef()
		date := it.inc.GetDetectedOn()
		if err := l.batch.Put(recKey(ref), it.encoded); err != nil {
			return err
		}
		if observe {
			l.changes = append(l.changes, obsChange{old: it.old, new: proto.Clone(it.inc).(*recordv1.Incident)})
		}
		if it.old != nil && it.old.GetDetectedOn() == date {
			continue
		}
		if it.old != nil {
			if err := l.batch.Delete(dateKey(it.old.GetDetectedOn(), ref)); err != nil {
				return err
			}
		}
		if err := l.batch.Put(dateKey(date, ref), nil); err != nil {
			return err
		}
	}
	return nil
}

// commit flushes the records and commits the load.
func (l *loader) commit() error {
	if err := l.batch.Flush(); err != nil {
		l.batch = nil
		return err
	}
	l.batch = nil
	// Every record on disk before the marker goes: a marker deleted with
	// records still in flight would leave a half-imported file.
	if err := l.s.db.Sync(); err != nil {
		return err
	}
	count := l.s.count.Load() + int64(l.res.Created)
	err := l.s.db.Update(func(tx kv.Txn) error {
		if err := tx.Delete(importKey); err != nil {
			return err
		}
		return tx.Put(countKey, encodeCount(count))
	})
	if err != nil {
		return err
	}
	// The clerk is told the file is imported: make it so after a crash too.
	return l.s.db.Sync()
}

type action uint8

const (
	actUnchanged action = iota
	actCreate
	actUpdate
)

// staged is one incident of a bulk load, classified and encoded.
type staged struct {
	inc     *recordv1.Incident
	action  action
	oldRaw  []byte             // the stored value before (as stored), for the undo log
	old     *recordv1.Incident // decoded oldRaw
	encoded []byte             // the new stored value (packed)
}

// validateParallel is validate.Batch spread over the CPUs.
func (s *Store) validateParallel(incs []*recordv1.Incident) []validate.FieldError {
	v := s.validator()
	parts := make([][]validate.FieldError, runtime.GOMAXPROCS(0))
	parallel(len(incs), len(parts), func(w, lo, hi int) {
		for i := lo; i < hi; i++ {
			for _, e := range v.Incident(incs[i]) {
				e.Index = i
				parts[w] = append(parts[w], e)
			}
		}
	})
	errs := slices.Concat(parts...)
	seen := make(map[string]int, len(incs))
	for i, inc := range incs {
		ref := inc.GetNationalRef()
		if first, ok := seen[ref]; ok && ref != "" {
			errs = append(errs, validate.FieldError{Path: "national_ref", Rule: fmt.Sprintf("duplicate of incidents[%d]", first), Index: i})
			continue
		}
		seen[ref] = i
	}
	// In batch order, as validate.Batch reports them.
	slices.SortStableFunc(errs, func(a, b validate.FieldError) int { return a.Index - b.Index })
	return errs
}

// parallel splits [0, n) into one contiguous range per worker.
func parallel(n, workers int, fn func(w, lo, hi int)) {
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Go(func() { fn(w, lo, hi) })
	}
	wg.Wait()
}

// stage classifies and encodes a chunk of incidents in one snapshot.
func (s *Store) stage(ctx context.Context, incs []*recordv1.Incident, now *timestamppb.Timestamp, empty bool) ([]staged, error) {
	items := make([]staged, len(incs))
	err := s.db.View(func(tx kv.Txn) error {
		for i := range incs {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := stageOne(s.codec, tx, empty, &items[i], incs[i], now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

func stageOne(c *codec, tx kv.Txn, empty bool, it *staged, inc *recordv1.Incident, now *timestamppb.Timestamp) error {
	it.inc = inc
	var prev []byte
	err := kv.ErrNotFound
	if !empty {
		prev, err = tx.Get(recKey(inc.GetNationalRef()))
	}
	exists := err == nil
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return err
	}
	w, err := c.plan(inc, prev, exists, now)
	if err != nil {
		return err
	}
	it.action, it.old, it.encoded = w.action, w.old, w.encoded
	if w.action == actUpdate {
		it.oldRaw = prev
	}
	return nil
}

// The undo log is chunked so that a million entries are a few hundred keys.
const undoChunkBytes = 1 << 20

func undoKey(id string, seq uint32) []byte {
	k := append([]byte{}, undoPrefix...)
	k = append(k, id...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint32(k, seq)
}

// Undo entry flags. undoNewDate was added with unsynced bulk loads, where
// a new index entry may survive a crash that loses its record; entries
// without it (written by an older version) are still read.
const (
	undoExisted byte = 1 << 0 // the previous value follows
	undoNewDate byte = 1 << 1 // the new detected_on (10 bytes) ends the entry
)

// encodeUndo encodes the undo entries of changed incidents in values of
// about undoChunkBytes. Each entry is uvarint(len ref) ref, a flag byte,
// then uvarint(len old) old when undoExisted, then the new detected_on when
// undoNewDate.
func encodeUndo(changed []*staged) [][]byte {
	var out [][]byte
	var buf []byte
	for _, it := range changed {
		ref := it.inc.GetNationalRef()
		date := it.inc.GetDetectedOn()
		buf = binary.AppendUvarint(buf, uint64(len(ref)))
		buf = append(buf, ref...)
		flag := byte(0)
		if it.oldRaw != nil {
			flag |= undoExisted
		}
		if len(date) == dateLen {
			flag |= undoNewDate
		}
		buf = append(buf, flag)
		if it.oldRaw != nil {
			buf = binary.AppendUvarint(buf, uint64(len(it.oldRaw)))
			buf = append(buf, it.oldRaw...)
		}
		if flag&undoNewDate != 0 {
			buf = append(buf, date...)
		}
		if len(buf) >= undoChunkBytes {
			out = append(out, buf)
			buf = nil
		}
	}
	if len(buf) > 0 {
		out = append(out, buf)
	}
	return out
}

type undoEntry struct {
	ref     string
	old     []byte // nil: the incident did not exist
	newDate string // the load's detected_on; "" in entries of older versions
}

// dateLen is the length of a validated detected_on, YYYY-MM-DD.
const dateLen = len("2006-01-02")

func decodeUndo(v []byte, fn func(undoEntry) error) error {
	for len(v) > 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < n+1 {
			return errors.New("corrupt undo log")
		}
		e := undoEntry{ref: string(v[k : k+int(n)])}
		v = v[k+int(n):]
		flag := v[0]
		v = v[1:]
		if flag&^(undoExisted|undoNewDate) != 0 {
			return errors.New("corrupt undo log")
		}
		if flag&undoExisted != 0 {
			n, k = binary.Uvarint(v)
			if k <= 0 || uint64(len(v)-k) < n {
				return errors.New("corrupt undo log")
			}
			e.old = append([]byte{}, v[k:k+int(n)]...)
			v = v[k+int(n):]
		}
		if flag&undoNewDate != 0 {
			if len(v) < dateLen {
				return errors.New("corrupt undo log")
			}
			e.newDate = string(v[:dateLen])
			v = v[dateLen:]
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// recover rolls back an unfinished bulk load (its marker is still there)
// and deletes any leftover undo log. Rolling back is idempotent, so a crash
// during recovery is recovered by the next Open.
func (s *Store) recover() error {
	id, err := s.db.Get(importKey)
	if errors.Is(err, kv.ErrNotFound) {
		return s.deleteUndoErr()
	}
	if err != nil {
		return fmt.Errorf("read import marker: %w", err)
	}
	prefix := append(append(append([]byte{}, undoPrefix...), id...), '/')
	var restored, removed int
	b := s.db.NewBatch()
	err = s.db.View(func(tx kv.Txn) error {
		return tx.Scan(prefix, nil, func(_, v []byte) (bool, error) {
			return true, decodeUndo(v, func(e undoEntry) error {
				key := recKey(e.ref)
				// The record is the one before the load (oldDate) or the
				// load's own (newDate): nothing else writes while the
				// marker is there. It is not read then: after a machine
				// crash the load's record may point into the value log at
				// bytes that never reached the disk, and Badger logs such
				// a read with its key, a national_ref. Entries of older
				// versions carry no new date; their records are in the
				// tree and are read.
				curDate := e.newDate
				if curDate == "" {
					var err error
					if curDate, err = s.currentDate(tx, key); err != nil {
						return err
					}
				}
				var oldDate string
				if e.old != nil {
					var si nodev1.StoredIncident
					if err := s.codec.unmarshal(e.old, &si); err != nil {
						return fmt.Errorf("undo entry: %w", err)
					}
					oldDate = si.GetIncident().GetDetectedOn()
				}
				// With the new date, this also removes a new index entry
				// that is on disk without its record (an unsynced load
				// cut by a machine crash).
				if curDate != "" && curDate != oldDate {
					if err := b.Delete(dateKey(curDate, e.ref)); err != nil {
						return err
					}
				}
				if e.old == nil {
					removed++
					return b.Delete(key)
				}
				restored++
				if err := b.Put(key, e.old); err != nil {
					return err
				}
				return b.Put(dateKey(oldDate, e.ref), nil)
			})
		})
	})
	if err != nil {
		b.Cancel()
		return fmt.Errorf("roll back unfinished import: %w", err)
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("roll back unfinished import: %w", err)
	}
	// The restored records go to disk before the marker that would have
	// the rollback run again; then the marker's removal, so that a rolled
	// back store stays rolled back.
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("roll back unfinished import: %w", err)
	}
	err = s.db.Update(func(tx kv.Txn) error { return tx.Delete(importKey) })
	if err == nil {
		err = s.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("roll back unfinished import: %w", err)
	}
	s.log.Warn("rolled back an unfinished import", "restored", restored, "removed", removed)
	return s.deleteUndoErr()
}

// currentDate is the detected_on of the record under key, "" when there
// is none.
func (s *Store) currentDate(tx kv.Txn, key []byte) (string, error) {
	cur, err := tx.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var si nodev1.StoredIncident
	if err := s.codec.unmarshal(cur, &si); err != nil {
		return "", err
	}
	return si.GetIncident().GetDetectedOn(), nil
}

// deleteUndo deletes every undo log; failures only leave garbage that the
// next Open deletes, so they are logged, not returned.
func (s *Store) deleteUndo() {
	if err := s.deleteUndoErr(); err != nil {
		s.log.Warn("delete import undo log", "error", err)
	}
}

func (s *Store) deleteUndoErr() error {
	var keys [][]byte
	err := s.db.View(func(tx kv.Txn) error {
		return tx.Scan(undoPrefix, nil, func(k, _ []byte) (bool, error) {
			keys = append(keys, append([]byte{}, k...))
			return true, nil
		})
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	b := s.db.NewBatch()
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			b.Cancel()
			return err
		}
	}
	return b.Flush()
}
