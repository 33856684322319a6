// Package store is the hub's persistence seam: protobuf values in the hub's
// Badger store (internal/kv) under a few key spaces. Each key space belongs
// to one package (registry, runs, schedules); this package only knows how
// keys are spelt, so two packages never collide on a prefix.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/kv"
)

// ErrNotFound is returned when a key is absent. It is kv.ErrNotFound, so
// errors.Is works against either.
var ErrNotFound = kv.ErrNotFound

// Store reads and writes protobuf values in the hub's kv.DB.
type Store struct {
	db *kv.DB
}

// New wraps an open kv.DB. The caller keeps ownership of db and closes it.
func New(db *kv.DB) *Store { return &Store{db: db} }

// DB returns the underlying database, for backups and value-log GC.
func (s *Store) DB() *kv.DB { return s.db }

// Txn is one read or read-write transaction.
type Txn struct {
	t kv.Txn
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(Txn) error) error {
	return s.db.View(func(t kv.Txn) error { return fn(Txn{t: t}) })
}

// Update runs fn in a read-write transaction; it commits when fn returns nil.
func (s *Store) Update(fn func(Txn) error) error {
	return s.db.Update(func(t kv.Txn) error { return fn(Txn{t: t}) })
}

// Get decodes the value at key into m; ErrNotFound when absent.
func (t Txn) Get(key []byte, m proto.Message) error {
	b, err := t.t.Get(key)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// Put encodes m at key.
func (t Txn) Put(key []byte, m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return t.t.Put(key, b)
}

// PutRaw stores bytes as they are (index entries, signed answers kept as sent).
func (t Txn) PutRaw(key, value []byte) error { return t.t.Put(key, value) }

// GetRaw returns the bytes at key; ErrNotFound when absent.
func (t Txn) GetRaw(key []byte) ([]byte, error) { return t.t.Get(key) }

// Delete removes key; deleting an absent key is not an error.
func (t Txn) Delete(key []byte) error { return t.t.Delete(key) }

// Scan calls fn for every key under prefix from start (nil: the first) in
// key order, until fn returns false or an error. The slices are only valid
// during the call.
func (t Txn) Scan(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	return t.t.Scan(prefix, start, fn)
}

// Get decodes the value at key into m outside any explicit transaction.
func (s *Store) Get(key []byte, m proto.Message) error {
	return s.View(func(t Txn) error { return t.Get(key, m) })
}

// Put encodes m at key in its own transaction.
func (s *Store) Put(key []byte, m proto.Message) error {
	return s.Update(func(t Txn) error { return t.Put(key, m) })
}

// Key spaces. Every hub key starts with "hub/" so a backup of the store is
// self-describing; each package uses only its own prefixes.
var (
	// NodePrefix holds one hubv1.Node per country (registry).
	NodePrefix = []byte("hub/node/")
	// RunPrefix holds one hubv1.Run per run id (runs).
	RunPrefix = []byte("hub/run/")
	// RunIndexPrefix orders runs newest first (runs).
	RunIndexPrefix = []byte("hub/runidx/")
	// TaskPrefix holds one federationv1.Task per task id (runs).
	TaskPrefix = []byte("hub/task/")
	// AnswerPrefix holds each accepted signed federationv1.Answer as received
	// (runs), so the hub can show what a node actually sent.
	AnswerPrefix = []byte("hub/answer/")
	// SchedulePrefix is reserved for schedules.
	SchedulePrefix = []byte("hub/schedule/")
)

func join(prefix []byte, s string) []byte {
	k := make([]byte, 0, len(prefix)+len(s))
	return append(append(k, prefix...), s...)
}

// NodeKey is the registry key of a country's node.
func NodeKey(country string) []byte { return join(NodePrefix, country) }

// RunKey is the key of a run.
func RunKey(id string) []byte { return join(RunPrefix, id) }

// TaskKey is the key of a task.
func TaskKey(id string) []byte { return join(TaskPrefix, id) }

// AnswerKey is the key of the accepted answer to a task.
func AnswerKey(taskID string) []byte { return join(AnswerPrefix, taskID) }

// RunIndexKey orders runs newest first: the creation time is stored inverted
// so a forward scan from the prefix meets the newest run first.
func RunIndexKey(created time.Time, id string) []byte {
	k := make([]byte, 0, len(RunIndexPrefix)+8+len(id))
	k = append(k, RunIndexPrefix...)
	k = binary.BigEndian.AppendUint64(k, ^uint64(created.UnixNano()))
	return append(k, id...)
}

// RunIndexID returns the run id of an index key.
func RunIndexID(key []byte) (string, error) {
	if len(key) < len(RunIndexPrefix)+8 {
		return "", errors.New("short run index key")
	}
	return string(key[len(RunIndexPrefix)+8:]), nil
}
