// Package store keeps a node's incident records in Badger (through
// internal/kv), under the key prefix "rec/". The kv.DB is shared with the
// node's other parts (audit log, secrets), which use other prefixes.
//
// Layout:
//
//	rec/i/<national_ref>              StoredIncident, deterministic binary protobuf, zstd-compressed (encoding.go)
//	rec/d/<detected_on><national_ref> empty: the index behind List's date filters
//	rec/m/count                       number of incidents, big-endian uint64
//	rec/m/import                      marker of a bulk load in progress (see BulkLoad)
//	rec/u/<import id>/<seq>           undo log of that bulk load
//
// Writes are serialised by one mutex: Upsert and Delete are one Badger
// transaction each, and observers (the aggregate engine's projections) see
// every committed change in commit order.
package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/validate"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// MaxBatch is the most incidents one Upsert accepts.
const MaxBatch = 10000

// List page sizes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Errors the store returns; the node API maps them to RPC codes.
var (
	// ErrNotFound: no incident has that national_ref.
	ErrNotFound = errors.New("incident not found")
	// ErrBatchTooLarge: the batch has more than MaxBatch incidents or does
	// not fit in one Badger transaction.
	ErrBatchTooLarge = errors.New("batch too large")
	// ErrInvalid: an argument other than an incident is wrong (an empty
	// national_ref, a malformed page token or filter date).
	ErrInvalid = errors.New("invalid argument")
)

// ValidationError lists every problem found in a batch; nothing was written.
type ValidationError struct {
	// Errors has one entry per invalid field, Index set to the incident's
	// position in the batch.
	Errors []validate.FieldError
}

// Error lists every field error.
func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.Error()
	}
	return fmt.Sprintf("%d invalid field(s): %s", len(e.Errors), strings.Join(msgs, "; "))
}

// Observer sees every committed change in commit order. It is called under
// the store's write lock, after commit. old is nil on create; new is nil on
// delete. The messages are the store's own copies, shared by all observers:
// observers must not modify them, and must not call back into the Store.
type Observer interface {
	Apply(old, new *recordv1.Incident)
}

// UpsertResult counts what a write did.
type UpsertResult struct{ Created, Updated, Unchanged int }

// ListOptions selects a page of incidents.
type ListOptions struct {
	// PageSize is at most MaxPageSize; 0 means DefaultPageSize.
	PageSize int
	// PageToken is a previous page's next token; empty for the first page.
	PageToken string
	// DetectedFrom and DetectedTo are inclusive YYYY-MM-DD bounds; empty for none.
	DetectedFrom, DetectedTo string
	// TransportMode keeps only incidents with this mode; unspecified for any.
	TransportMode recordv1.TransportMode
}

// Config configures a Store.
type Config struct {
	// DB is the node's key-value store.
	DB *kv.DB
	// Logger defaults to a discarding logger.
	Logger hclog.Logger
	// Now is the clock for created_at/updated_at and for validation;
	// default time.Now.
	Now func() time.Time
}

// Store is the node's record store.
type Store struct {
	db    *kv.DB
	log   hclog.Logger
	now   func() time.Time
	codec *codec // packs and unpacks stored values

	mu        sync.Mutex // serialises writes and observer calls
	observers []Observer
	count     atomic.Int64
	chunk     int // BulkLoad's chunk size (bulkChunk; smaller in tests)
}

// Open opens the record store in db with the system clock, finishing the
// rollback of a bulk load that a crash interrupted.
func Open(db *kv.DB, log hclog.Logger) (*Store, error) {
	return New(Config{DB: db, Logger: log})
}

// New opens the record store described by c; see Open.
func New(c Config) (*Store, error) {
	if c.DB == nil {
		return nil, errors.New("store: no db")
	}
	cd, err := newCodec()
	if err != nil {
		return nil, fmt.Errorf("open record store: %w", err)
	}
	s := &Store{db: c.DB, log: c.Logger, now: c.Now, codec: cd, chunk: bulkChunk}
	if s.log == nil {
		s.log = logging.Discard()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("open record store: %w", err)
	}
	n, err := s.loadCount()
	if err != nil {
		return nil, fmt.Errorf("open record store: %w", err)
	}
	s.count.Store(n)
	return s, nil
}

// AddObserver registers o for every later change.
func (s *Store) AddObserver(o Observer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observers = append(s.observers, o)
}

// Count is the number of incidents stored.
func (s *Store) Count() int { return int(s.count.Load()) }

// Keys.
var (
	recPrefix   = []byte("rec/i/")
	datePrefix  = []byte("rec/d/")
	countKey    = []byte("rec/m/count")
	importKey   = []byte("rec/m/import")
	undoPrefix  = []byte("rec/u/")
	marshalOpts = proto.MarshalOptions{Deterministic: true}
)

func recKey(ref string) []byte {
	return append(slices.Clip(recPrefix), ref...)
}

// dateKey is the index entry; detected_on is validated to be exactly ten
// bytes, so no separator is needed before the reference.
func dateKey(date, ref string) []byte {
	k := make([]byte, 0, len(datePrefix)+len(date)+len(ref))
	k = append(k, datePrefix...)
	k = append(k, date...)
	return append(k, ref...)
}

func encodeCount(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func (s *Store) validator() validate.Validator { return validate.Validator{Now: s.now} }

// Upsert creates or replaces incidents by national_ref in one atomic
// transaction. The batch is validated first: if any incident is invalid,
// the error is a *ValidationError and nothing is written. An incident
// identical to the stored one is counted Unchanged and not written, so
// repeating a batch changes nothing.
func (s *Store) Upsert(ctx context.Context, incs []*recordv1.Incident) (UpsertResult, error) {
	var res UpsertResult
	if len(incs) == 0 {
		return res, nil
	}
	if len(incs) > MaxBatch {
		return res, fmt.Errorf("%w: %d incidents, at most %d per batch", ErrBatchTooLarge, len(incs), MaxBatch)
	}
	if errs := s.validator().Batch(incs); len(errs) > 0 {
		return res, &ValidationError{Errors: errs}
	}
	// Our own copies: the caller may reuse its messages, and observers get
	// messages nobody else holds.
	news := make([]*recordv1.Incident, len(incs))
	for i, inc := range incs {
		news[i] = proto.Clone(inc).(*recordv1.Incident)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := timestamppb.New(s.now().UTC())
	olds := make([]*recordv1.Incident, len(news))
	changed := make([]bool, len(news))
	var bytesWritten int
	count := s.count.Load()
	err := s.db.Update(func(tx kv.Txn) error {
		res = UpsertResult{}
		bytesWritten = 0
		for i, inc := range news {
			if err := ctx.Err(); err != nil {
				return err
			}
			ref := inc.GetNationalRef()
			key := recKey(ref)
			prev, err := tx.Get(key)
			exists := err == nil
			if err != nil && !errors.Is(err, kv.ErrNotFound) {
				return err
			}
			w, err := s.codec.plan(inc, prev, exists, now)
			if err != nil {
				return err
			}
			switch w.action {
			case actUnchanged:
				res.Unchanged++
				continue
			case actCreate:
				res.Created++
				if err := tx.Put(dateKey(inc.GetDetectedOn(), ref), nil); err != nil {
					return err
				}
			case actUpdate:
				res.Updated++
				olds[i] = w.old
				if od := w.old.GetDetectedOn(); od != inc.GetDetectedOn() {
					if err := tx.Delete(dateKey(od, ref)); err != nil {
						return err
					}
					if err := tx.Put(dateKey(inc.GetDetectedOn(), ref), nil); err != nil {
						return err
					}
				}
			}
			data := w.encoded
			bytesWritten += len(data)
			changed[i] = true
			if err := tx.Put(key, data); err != nil {
				return err
			}
		}
		if res.Created > 0 {
			return tx.Put(countKey, encodeCount(count+int64(res.Created)))
		}
		return nil
	})
	if errors.Is(err, kv.ErrTooBig) {
		return UpsertResult{}, fmt.Errorf("%w: %d incidents (%d bytes) do not fit in one transaction, send smaller batches: %w",
			ErrBatchTooLarge, len(incs), bytesWritten, kv.ErrTooBig)
	}
	if err != nil {
		return UpsertResult{}, fmt.Errorf("upsert: %w", err)
	}
	// A no-op on the node's store, which syncs every commit; on a store
	// opened for bulk loading it keeps an acknowledged Upsert durable.
	if err := s.db.Sync(); err != nil {
		return UpsertResult{}, fmt.Errorf("upsert: %w", err)
	}
	s.count.Add(int64(res.Created))
	for i, inc := range news {
		if changed[i] {
			s.notify(olds[i], inc)
		}
	}
	s.log.Debug("upsert", "created", res.Created, "updated", res.Updated, "unchanged", res.Unchanged)
	return res, nil
}

// notify calls every observer; the caller holds s.mu.
func (s *Store) notify(old, new *recordv1.Incident) {
	for _, o := range s.observers {
		o.Apply(old, new)
	}
}

// Get returns the incident with that national_ref, or ErrNotFound.
func (s *Store) Get(ctx context.Context, nationalRef string) (*nodev1.StoredIncident, error) {
	if nationalRef == "" {
		return nil, fmt.Errorf("%w: national_ref is required", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := s.db.Get(recKey(nationalRef))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get incident: %w", err)
	}
	var si nodev1.StoredIncident
	if err := s.codec.unmarshal(data, &si); err != nil {
		return nil, err
	}
	return &si, nil
}

// Delete removes the incident with that national_ref and reports whether
// there was one.
func (s *Store) Delete(ctx context.Context, nationalRef string) (bool, error) {
	if nationalRef == "" {
		return false, fmt.Errorf("%w: national_ref is required", ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var old *recordv1.Incident
	count := s.count.Load()
	err := s.db.Update(func(tx kv.Txn) error {
		key := recKey(nationalRef)
		prev, err := tx.Get(key)
		if errors.Is(err, kv.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var si nodev1.StoredIncident
		if err := s.codec.unmarshal(prev, &si); err != nil {
			return err
		}
		if err := tx.Delete(key); err != nil {
			return err
		}
		if err := tx.Delete(dateKey(si.GetIncident().GetDetectedOn(), nationalRef)); err != nil {
			return err
		}
		old = si.GetIncident()
		return tx.Put(countKey, encodeCount(count-1))
	})
	if err == nil {
		err = s.db.Sync() // as in Upsert
	}
	if err != nil {
		return false, fmt.Errorf("delete incident: %w", err)
	}
	if old == nil {
		return false, nil
	}
	s.count.Add(-1)
	s.notify(old, nil)
	return true, nil
}

// Scan calls fn for every incident in national_ref order, in one
// consistent snapshot, until fn returns an error. It is how projections are
// rebuilt at start; each incident is a fresh message fn may keep.
func (s *Store) Scan(fn func(*recordv1.Incident) error) error {
	return s.db.View(func(tx kv.Txn) error {
		return tx.Scan(recPrefix, nil, func(_, v []byte) (bool, error) {
			var si nodev1.StoredIncident
			if err := s.codec.unmarshal(v, &si); err != nil {
				return false, err
			}
			inc := si.GetIncident()
			if inc == nil {
				inc = &recordv1.Incident{}
			}
			return true, fn(inc)
		})
	})
}

// List returns a page of incidents in national_ref order and the token of
// the next page ("" on the last page). With a date filter it walks the
// detected_on index instead of every record.
func (s *Store) List(ctx context.Context, o ListOptions) ([]*nodev1.StoredIncident, string, error) {
	size := o.PageSize
	switch {
	case size < 0:
		return nil, "", fmt.Errorf("%w: page size %d is negative", ErrInvalid, size)
	case size == 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	after, err := decodeToken(o.PageToken)
	if err != nil {
		return nil, "", err
	}
	for _, d := range []struct{ name, v string }{{"detected_from", o.DetectedFrom}, {"detected_to", o.DetectedTo}} {
		if _, ok := validate.ParseDate(d.v); d.v != "" && !ok {
			return nil, "", fmt.Errorf("%w: %s: %q is not a YYYY-MM-DD date", ErrInvalid, d.name, d.v)
		}
	}
	if o.TransportMode != 0 && o.TransportMode.Descriptor().Values().ByNumber(o.TransportMode.Number()) == nil {
		return nil, "", fmt.Errorf("%w: transport_mode: %d is not a TransportMode value", ErrInvalid, o.TransportMode)
	}

	// Collect one more than a page, to know whether there is a next one.
	var page []*nodev1.StoredIncident
	keep := func(v []byte) (bool, error) {
		var si nodev1.StoredIncident
		if err := s.codec.unmarshal(v, &si); err != nil {
			return false, err
		}
		if o.TransportMode != 0 && si.GetIncident().GetTransportMode() != o.TransportMode {
			return true, nil
		}
		page = append(page, &si)
		return len(page) <= size, nil
	}
	err = s.db.View(func(tx kv.Txn) error {
		if o.DetectedFrom == "" && o.DetectedTo == "" {
			var start []byte
			if after != "" {
				// The smallest key after recKey(after).
				start = append(recKey(after), 0)
			}
			return tx.Scan(recPrefix, start, func(_, v []byte) (bool, error) {
				if err := ctx.Err(); err != nil {
					return false, err
				}
				return keep(v)
			})
		}
		refs, err := s.refsDetected(ctx, tx, o.DetectedFrom, o.DetectedTo, after)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			v, err := tx.Get(recKey(ref))
			if err != nil {
				return fmt.Errorf("index entry without record: %w", err)
			}
			more, err := keep(v)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list incidents: %w", err)
	}
	next := ""
	if len(page) > size {
		page = page[:size]
		next = encodeToken(page[size-1].GetIncident().GetNationalRef())
	}
	return page, next, nil
}

// refsDetected returns, sorted, the references of incidents detected in
// [from, to] (either bound may be empty) that sort after the given one.
func (s *Store) refsDetected(ctx context.Context, tx kv.Txn, from, to, after string) ([]string, error) {
	var start []byte
	if from != "" {
		start = append(slices.Clip(datePrefix), from...)
	}
	var refs []string
	err := tx.Scan(datePrefix, start, func(k, _ []byte) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		rest := k[len(datePrefix):]
		if len(rest) < len(validate.DateLayout) {
			return true, nil
		}
		date := string(rest[:len(validate.DateLayout)])
		if to != "" && date > to {
			return false, nil
		}
		if ref := string(rest[len(validate.DateLayout):]); ref > after {
			refs = append(refs, ref)
		}
		return true, nil
	})
	slices.Sort(refs)
	return refs, err
}

// Page tokens are opaque to clients: a version tag and the last reference
// returned, base64url-encoded.
const tokenTag = "r1:"

func encodeToken(ref string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenTag + ref))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), tokenTag) || len(b) == len(tokenTag) {
		return "", fmt.Errorf("%w: malformed page token", ErrInvalid)
	}
	return string(b[len(tokenTag):]), nil
}

// loadCount reads the stored count, or counts the records when there is
// none (a store written before the count key existed).
func (s *Store) loadCount() (int64, error) {
	v, err := s.db.Get(countKey)
	if err == nil && len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	if err != nil && !errors.Is(err, kv.ErrNotFound) {
		return 0, fmt.Errorf("read count: %w", err)
	}
	var n int64
	err = s.db.View(func(tx kv.Txn) error {
		return tx.Scan(recPrefix, nil, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}

// ErrLocked is returned by OpenDataDir when another process (a running
// node) holds the store.
var ErrLocked = errors.New("the store is in use by another process (is the node running? stop it, or import through its API)")

// DBDir is where a node keeps its Badger files inside its data directory.
func DBDir(dataDir string) string { return filepath.Join(dataDir, "db") }

// recordValueThreshold is kv.Options.ValueThreshold of a node's store:
// records (compressed: about 670 bytes on average for the heavy synthetic
// incidents of internal/synth) go to Badger's value log, which writes them
// once, instead of being copied through memtables and recompressed by
// every compaction of the LSM tree; keys, index entries, counters, secrets
// and small records stay in the tree. Audit entries above it go to the
// value log too, uncompressed.
const recordValueThreshold = 256

// OpenDataDir opens the key-value store of a node data directory, every
// commit synced. It returns ErrLocked when a running node holds it.
func OpenDataDir(dataDir string, log hclog.Logger) (*kv.DB, error) {
	return openDataDir(kv.Options{Dir: DBDir(dataDir), Logger: log, ValueThreshold: recordValueThreshold})
}

// OpenDataDirBulk is OpenDataDir for the offline importer: commits are not
// synced one by one (kv.Options.UnsyncedWrites); BulkLoad syncs at the
// points its undo log needs, and Upsert and Delete sync before returning.
//
// Its memtables stay the node's size, though larger ones would make an
// import cheaper: after a crash, Badger replays a memtable's log into a
// memtable of the size the opener asks for, and aborts the process when
// it does not fit, so a node started after an import with larger memtables
// was cut off could not open its store.
func OpenDataDirBulk(dataDir string, log hclog.Logger) (*kv.DB, error) {
	return openDataDir(kv.Options{Dir: DBDir(dataDir), Logger: log, UnsyncedWrites: true, ValueThreshold: recordValueThreshold})
}

func openDataDir(o kv.Options) (*kv.DB, error) {
	db, err := kv.Open(o)
	if err != nil {
		// Badger does not wrap the lock error, so the message is all there is.
		if strings.Contains(err.Error(), "directory lock") {
			return nil, fmt.Errorf("%s: %w", o.Dir, ErrLocked)
		}
		return nil, err
	}
	return db, nil
}
