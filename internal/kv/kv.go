// Package kv is the narrow seam between VRS and Badger. Node and hub each
// keep their own data in a kv.DB; neither sees Badger types, and Badger's
// ErrKeyNotFound becomes ErrNotFound here.
//
// The options are chosen for a small server (2 cores, a few hundred MB for
// the process): see Options for the memory budget.
package kv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/logging"
)

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = errors.New("not found")

// Options configures a DB.
type Options struct {
	// Dir is the data directory. Ignored when InMemory.
	Dir string
	// InMemory keeps everything in memory (tests that say so only).
	InMemory bool
	// BlockCacheMB is Badger's block cache; default 32 MB. Values are
	// compressed, so the cache mostly serves index and hot blocks.
	BlockCacheMB int64
	// IndexCacheMB bounds the table index cache; default 16 MB.
	IndexCacheMB int64
	// MemTableMB is the size of each of the two memtables; default 32 MB.
	MemTableMB int64
	// Logger receives Badger's own logging.
	Logger hclog.Logger
	// UnsyncedWrites commits without waiting for the disk. A commit then
	// survives a crash of the process (it is in the operating system's page
	// cache) but not of the machine, until the next Sync. It is for bulk
	// loads that call Sync at their own commit points; a server that
	// acknowledges writes to clients keeps it false.
	UnsyncedWrites bool
	// ValueThreshold is the size in bytes from which a value is kept in
	// Badger's value log, the LSM tree holding only its key and a pointer
	// to it; smaller values stay in the tree. 0 keeps every value in the
	// tree (Badger's largest threshold, 1 MB). Large values in the tree
	// are copied into memtables, compressed into level-0 tables and
	// compressed again by every compaction; in the value log they are
	// written once, but not compressed (only tables are): a caller that
	// sets it compresses its large values itself. The space of replaced
	// and deleted values in the value log comes back through RunGC.
	ValueThreshold int
	// MinFreeMB is the free space (in MB) the filesystem holding Dir must
	// keep: below it writes fail with ErrDiskFull instead of being
	// attempted. Badger writes its logs and tables through memory maps,
	// where a full disk is not an error but a SIGBUS that kills the
	// process; the headroom lets the flushes and compactions already under
	// way finish. Default 4×MemTableMB (128 MB); negative turns the check
	// off.
	MinFreeMB int64
}

// ErrDiskFull is returned by writes when the store's filesystem has less
// free space than Options.MinFreeMB. Nothing of the refused write is
// stored; the store stays usable for reads, and for writes once space is
// freed.
var ErrDiskFull = errors.New("disk full")

// DB is an open store.
type DB struct {
	db      *badger.DB
	log     hclog.Logger
	dir     string // "" in memory
	synced  bool   // every commit is synced: Sync has nothing to do
	minFree int64  // bytes; 0: no check
}

// Open opens (creating if needed) the store.
//
// The memory budget is roughly 2×MemTableMB + BlockCacheMB + IndexCacheMB,
// about 112 MB with the defaults, rather than Badger's 256 MB block cache
// and 64 MB memtables ×5. Writes are synced (SyncWrites) so an acknowledged
// write survives a crash, unless UnsyncedWrites.
func Open(o Options) (*DB, error) {
	log := o.Logger
	if log == nil {
		log = logging.Discard()
	}
	def := func(v, d int64) int64 {
		if v <= 0 {
			return d
		}
		return v
	}
	const mb = 1 << 20
	bo := badger.DefaultOptions(o.Dir).
		WithInMemory(o.InMemory).
		WithSyncWrites(!o.InMemory && !o.UnsyncedWrites).
		// Not WithLoggingLevel: it replaces the logger with Badger's own,
		// which writes to standard error. hclog's level filters instead
		// (logging.Badger sends Badger's info lines to debug).
		WithLogger(logging.Badger{L: log}).
		WithCompression(options.ZSTD).
		WithZSTDCompressionLevel(1).
		WithBlockCacheSize(def(o.BlockCacheMB, 32) * mb).
		WithIndexCacheSize(def(o.IndexCacheMB, 16) * mb).
		WithMemTableSize(def(o.MemTableMB, 32) * mb).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithValueLogFileSize(256 * mb).
		WithMetricsEnabled(false)
	if o.ValueThreshold > 0 {
		bo = bo.WithValueThreshold(int64(o.ValueThreshold))
	}
	if o.InMemory {
		bo = bo.WithDir("").WithValueDir("")
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", o.Dir, err)
	}
	d := &DB{db: db, log: log, synced: o.InMemory || !o.UnsyncedWrites}
	if !o.InMemory {
		d.dir = o.Dir
		if o.MinFreeMB >= 0 {
			d.minFree = def(o.MinFreeMB, 4*def(o.MemTableMB, 32)) * mb
		}
	}
	return d, nil
}

// Close flushes and closes the store.
func (d *DB) Close() error { return d.db.Close() }

// Sync makes every write committed so far durable. On a store opened
// without UnsyncedWrites (or in memory) each commit was already synced and
// Sync does nothing.
//
// Badger's own Sync covers only the active memtable's write-ahead log and
// the value log. A memtable that filled up and is waiting to be flushed to a
// table keeps an unsynced log of its own, and Badger replays each log on
// its own after a crash: a later log could survive while an earlier one is
// lost. So Sync also fsyncs every write-ahead log and value-log file in the
// directory, and the directory itself (new files' entries). Tables (.sst)
// are synced by Badger when they are written. The value log lives in the
// same directory (Badger's ValueDir is Dir), so values kept there (see
// ValueThreshold) are covered too, including a value-log file that
// filled up and was replaced by a new one since the last Sync.
func (d *DB) Sync() error {
	if d.synced {
		return nil
	}
	if err := d.db.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	if runtime.GOOS == "windows" {
		// Files opened for reading cannot be flushed there; VRS servers run
		// on Linux, and Windows is only a development platform.
		return nil
	}
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); ext != ".mem" && ext != ".vlog" {
			continue
		}
		// A memtable flushed meanwhile has had its log deleted: nothing to sync.
		if err := syncPath(filepath.Join(d.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sync store: %w", err)
		}
	}
	if err := syncPath(d.dir); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	return nil
}

// syncPath fsyncs a file or directory. Pages Badger wrote through a shared
// memory map are in the page cache like any other write, so fsync on a
// descriptor of the same file writes them out.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// Txn is a read or read-write transaction.
type Txn struct{ t *badger.Txn }

// Get returns a copy of the value under key, or ErrNotFound.
func (t Txn) Get(key []byte) ([]byte, error) {
	it, err := t.t.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

// Put sets key to value.
func (t Txn) Put(key, value []byte) error { return t.t.Set(key, value) }

// Delete removes key.
func (t Txn) Delete(key []byte) error { return t.t.Delete(key) }

// Scan calls fn for every key with the prefix, in key order, starting at
// start (or the prefix when start is nil), until fn returns false or an
// error. The slices are valid only during the call.
func (t Txn) Scan(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := t.t.NewIterator(opts)
	defer it.Close()
	if start == nil {
		start = prefix
	}
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		var cont bool
		err := item.Value(func(v []byte) error {
			var err error
			cont, err = fn(item.Key(), v)
			return err
		})
		if err != nil {
			return err
		}
		if !cont {
			return nil
		}
	}
	return nil
}

// ScanReverse is Scan in descending key order, starting from the last key
// with the prefix.
func (t Txn) ScanReverse(prefix []byte, fn func(key, value []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.Reverse = true
	it := t.t.NewIterator(opts)
	defer it.Close()
	seek := append(append([]byte{}, prefix...), 0xFF, 0xFF, 0xFF, 0xFF)
	for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		var cont bool
		err := item.Value(func(v []byte) error {
			var err error
			cont, err = fn(item.Key(), v)
			return err
		})
		if err != nil {
			return err
		}
		if !cont {
			return nil
		}
	}
	return nil
}

// View runs fn in a read-only transaction.
func (d *DB) View(fn func(Txn) error) error {
	return d.db.View(func(t *badger.Txn) error { return fn(Txn{t}) })
}

// ErrTooBig is returned by Update when a transaction exceeds Badger's
// in-memory transaction limit; split the work into smaller batches.
var ErrTooBig = errors.New("transaction too big")

// Update runs fn in a read-write transaction and commits it (durably, unless
// the store is in memory or opened with UnsyncedWrites: then at the next
// Sync). Either all of fn's writes happen or none.
func (d *DB) Update(fn func(Txn) error) error {
	if err := d.checkSpace(); err != nil {
		return err
	}
	err := d.db.Update(func(t *badger.Txn) error { return fn(Txn{t}) })
	if errors.Is(err, badger.ErrTxnTooBig) {
		return ErrTooBig
	}
	return err
}

// Get is a one-key read.
func (d *DB) Get(key []byte) ([]byte, error) {
	var v []byte
	err := d.View(func(t Txn) error {
		var err error
		v, err = t.Get(key)
		return err
	})
	return v, err
}

// Put is a one-key write.
func (d *DB) Put(key, value []byte) error {
	return d.Update(func(t Txn) error { return t.Put(key, value) })
}

// Batch writes many keys without the single-transaction size limit. It is
// not atomic as a whole: use it for bulk loads whose atomicity is ensured
// another way, and Update otherwise.
type Batch struct {
	wb *badger.WriteBatch
	d  *DB
	n  int // writes queued since the last free-space check
}

// batchCheckEvery is how many queued writes a Batch makes between two
// free-space checks (a statfs each).
const batchCheckEvery = 1024

// NewBatch starts a batch.
func (d *DB) NewBatch() *Batch { return &Batch{wb: d.db.NewWriteBatch(), d: d} }

// Put queues a write. A full batch is written while queueing, so the free
// space is checked every batchCheckEvery writes too; after ErrDiskFull the
// batch must be cancelled.
func (b *Batch) Put(key, value []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	return b.wb.Set(key, value)
}

// Delete queues a delete.
func (b *Batch) Delete(key []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	return b.wb.Delete(key)
}

// Flush writes everything queued and waits for it.
func (b *Batch) Flush() error {
	if err := b.d.checkSpace(); err != nil {
		return err
	}
	return b.wb.Flush()
}

func (b *Batch) check() error {
	if b.n++; b.n < batchCheckEvery {
		return nil
	}
	b.n = 0
	return b.d.checkSpace()
}

// checkSpace returns ErrDiskFull when the store's filesystem has less
// free space than the store keeps in reserve.
func (d *DB) checkSpace() error {
	if d.minFree <= 0 {
		return nil
	}
	free, ok := freeBytes(d.dir)
	if !ok || free >= d.minFree {
		return nil
	}
	return fmt.Errorf("%w: %d MB free on the filesystem of %s, the store keeps %d MB in reserve",
		ErrDiskFull, free>>20, d.dir, d.minFree>>20)
}

// Cancel discards the batch.
func (b *Batch) Cancel() { b.wb.Cancel() }

// Backup writes a full backup stream to w (Badger's backup format).
func (d *DB) Backup(w interface{ Write([]byte) (int, error) }) error {
	_, err := d.db.Backup(w, 0)
	return err
}

// Restore loads a backup stream into an empty store.
func (d *DB) Restore(r interface{ Read([]byte) (int, error) }) error {
	return d.db.Load(r, 256)
}

// RunGC reclaims value-log space every interval until ctx ends. It is a
// long-running task: run it alongside the servers.
func (d *DB) RunGC(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// Rewrite value-log files while at least half of one is garbage.
			for {
				err := d.db.RunValueLogGC(0.5)
				if err != nil {
					if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
						d.log.Warn("value log gc", "error", err)
					}
					break
				}
			}
		}
	}
}
