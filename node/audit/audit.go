// Package audit is the node's tamper-evident audit log: an append-only,
// hash-chained sequence of entries in the node's kv store, one per answer,
// refusal, failure and agreement load (DESIGN §6 rule 4).
//
// Layout (keys under the "aud/" prefix):
//
//	aud/e/<sequence, 8 bytes big-endian>  deterministic protobuf of the entry
//	aud/t/<task id>                       sequence of the first entry for the task
//
// Each entry's hash is hex SHA-256 of the deterministic protobuf
// serialization of the entry with its hash field empty; that serialization
// includes previous_hash, so every entry commits to the whole chain before
// it. Verify walks the chain from the first entry and reports the first
// entry that was edited, deleted or moved. Removing entries at the end
// cannot be seen from inside the log: record the head hash elsewhere.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/kv"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
)

// ErrNotFound is returned by FindTask when no entry records the task.
var ErrNotFound = errors.New("audit entry not found")

// GenesisHash is the previous_hash of the first entry: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

var (
	entryPrefix = []byte("aud/e/")
	taskPrefix  = []byte("aud/t/")
)

// Log is an open audit log. Appends are serialized; reads may run
// concurrently with them.
type Log struct {
	db    *kv.DB
	clock func() time.Time

	mu   sync.Mutex
	seq  uint64
	head string
}

// Option adjusts a Log.
type Option func(*Log)

// WithClock sets the clock that timestamps entries (tests).
func WithClock(c func() time.Time) Option { return func(l *Log) { l.clock = c } }

// Open opens the log kept in db and finds its head.
func Open(db *kv.DB, opts ...Option) (*Log, error) {
	l := &Log{db: db, clock: time.Now, head: GenesisHash}
	for _, o := range opts {
		o(l)
	}
	err := db.View(func(tx kv.Txn) error {
		return tx.ScanReverse(entryPrefix, func(_, v []byte) (bool, error) {
			e := &nodev1.AuditEntry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return false, fmt.Errorf("last entry: %w", err)
			}
			l.seq, l.head = e.GetSequence(), e.GetHash()
			return false, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return l, nil
}

func entryKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, entryPrefix...), seq)
}

func taskKey(id string) []byte { return append(append([]byte{}, taskPrefix...), id...) }

// Hash returns the hex SHA-256 of e's canonical bytes: its deterministic
// protobuf serialization with the hash field empty.
func Hash(e *nodev1.AuditEntry) (string, error) {
	c := proto.Clone(e).(*nodev1.AuditEntry)
	c.Hash = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// AnswerHash returns the hex SHA-256 of answer bytes, or "" for none.
func AnswerHash(answer []byte) string {
	if len(answer) == 0 {
		return ""
	}
	sum := sha256.Sum256(answer)
	return hex.EncodeToString(sum[:])
}

// Append writes e as the next entry, setting its sequence, time,
// previous_hash, answer_hash and hash, and returns the entry as stored.
// It returns once the entry is durably written.
func (l *Log) Append(ctx context.Context, e *nodev1.AuditEntry) (*nodev1.AuditEntry, error) {
	return l.AppendFunc(ctx, func(uint64, time.Time) (*nodev1.AuditEntry, error) { return e, nil })
}

// AppendFunc is Append for entries that must know their own sequence
// number and time before they exist, such as a signed answer that names its
// audit entry: build is called with both while appends are held, and its
// entry is written with them. An error from build is returned as is and
// nothing is written.
func (l *Log) AppendFunc(ctx context.Context, build func(seq uint64, at time.Time) (*nodev1.AuditEntry, error)) (*nodev1.AuditEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seq, at := l.seq+1, l.clock().UTC()
	e, err := build(seq, at)
	if err != nil {
		return nil, err
	}
	e = proto.Clone(e).(*nodev1.AuditEntry)
	e.Sequence = seq
	e.Time = timestamppb.New(at)
	e.PreviousHash = l.head
	e.AnswerHash = AnswerHash(e.GetAnswer())
	if e.Hash, err = Hash(e); err != nil {
		return nil, fmt.Errorf("audit entry: %w", err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit entry: %w", err)
	}
	err = l.db.Update(func(tx kv.Txn) error {
		if err := tx.Put(entryKey(seq), b); err != nil {
			return err
		}
		if id := e.GetTaskId(); id != "" {
			// The first entry for a task is the one re-deliveries repeat.
			if _, err := tx.Get(taskKey(id)); errors.Is(err, kv.ErrNotFound) {
				return tx.Put(taskKey(id), binary.BigEndian.AppendUint64(nil, seq))
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write audit entry %d: %w", seq, err)
	}
	l.seq, l.head = seq, e.Hash
	return e, nil
}

// Head returns the last sequence number and hash (0 and GenesisHash when
// empty).
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Get returns the entry with that sequence number.
func (l *Log) Get(seq uint64) (*nodev1.AuditEntry, error) {
	v, err := l.db.Get(entryKey(seq))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read audit entry %d: %w", seq, err)
	}
	e := &nodev1.AuditEntry{}
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("read audit entry %d: %w", seq, err)
	}
	return e, nil
}

// FindTask returns the first entry recorded for a task id, or ErrNotFound.
func (l *Log) FindTask(taskID string) (*nodev1.AuditEntry, error) {
	if taskID == "" {
		return nil, ErrNotFound
	}
	v, err := l.db.Get(taskKey(taskID))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find task: %w", err)
	}
	if len(v) != 8 {
		return nil, fmt.Errorf("find task: corrupt index entry")
	}
	return l.Get(binary.BigEndian.Uint64(v))
}

// List returns up to limit entries from sequence from on (from 0 is the
// start), in sequence order.
func (l *Log) List(from uint64, limit int) ([]*nodev1.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []*nodev1.AuditEntry
	err := l.db.View(func(tx kv.Txn) error {
		return tx.Scan(entryPrefix, entryKey(from), func(_, v []byte) (bool, error) {
			e := &nodev1.AuditEntry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return false, fmt.Errorf("entry after %d: %w", len(out), err)
			}
			out = append(out, e)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return out, nil
}

// Verify walks the whole chain. It reports the first entry whose key,
// sequence, link to its predecessor, answer hash or own hash is wrong:
// an edited entry fails its hash, a deleted one leaves a gap, a moved one
// has the wrong sequence or link.
func (l *Log) Verify() (*nodev1.VerifyResponse, error) {
	res := &nodev1.VerifyResponse{Ok: true, HeadHash: GenesisHash}
	want := uint64(1)
	prev := GenesisHash
	bad := func(seq uint64, format string, a ...any) (bool, error) {
		res.Ok = false
		res.FirstBadSequence = seq
		res.Problem = fmt.Sprintf("entry %d: ", seq) + fmt.Sprintf(format, a...)
		return false, nil
	}
	err := l.db.View(func(tx kv.Txn) error {
		return tx.Scan(entryPrefix, nil, func(k, v []byte) (bool, error) {
			if len(k) != len(entryPrefix)+8 {
				return bad(want, "malformed key")
			}
			keySeq := binary.BigEndian.Uint64(k[len(entryPrefix):])
			if keySeq != want {
				return bad(want, "missing (next entry found is %d)", keySeq)
			}
			e := &nodev1.AuditEntry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return bad(want, "unreadable: %v", err)
			}
			if e.GetSequence() != keySeq {
				return bad(want, "holds sequence %d: entries were moved", e.GetSequence())
			}
			if e.GetPreviousHash() != prev {
				return bad(want, "previous_hash does not match entry %d", want-1)
			}
			if e.GetAnswerHash() != AnswerHash(e.GetAnswer()) {
				return bad(want, "answer_hash does not match the answer bytes")
			}
			h, err := Hash(e)
			if err != nil {
				return false, err
			}
			if h != e.GetHash() {
				return bad(want, "hash mismatch: the entry was edited")
			}
			res.Entries++
			prev = e.GetHash()
			want++
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	if res.Ok {
		res.HeadHash = prev
	}
	return res, nil
}
