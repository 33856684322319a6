package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/kv"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func openDB(t *testing.T) (*kv.DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func fill(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		_, err := l.Append(t.Context(), &nodev1.AuditEntry{
			Requester: "spiffe://vrs.local/hub",
			TaskId:    fmt.Sprintf("task-%d", i),
			Aggregate: &queryv1.AggregateQuery{Measure: "migrants"},
			Decision:  nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED,
			Answer:    []byte(fmt.Sprintf("answer %d", i)),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendChainsAndReopens(t *testing.T) {
	db, _ := openDB(t)
	l, err := Open(db, WithClock(func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }))
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 5)
	es, err := l.List(0, 0)
	if err != nil || len(es) != 5 {
		t.Fatalf("List: %d entries, %v", len(es), err)
	}
	prev := GenesisHash
	for i, e := range es {
		if e.GetSequence() != uint64(i+1) || e.GetPreviousHash() != prev || e.GetAnswerHash() != AnswerHash(e.GetAnswer()) {
			t.Fatalf("entry %d badly linked: %v", i+1, e)
		}
		prev = e.GetHash()
	}
	l2, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	if seq, head := l2.Head(); seq != 5 || head != prev {
		t.Fatalf("reopened head %d %s, want 5 %s", seq, head, prev)
	}
	fill(t, l2, 1)
	v, err := l2.Verify()
	if err != nil || !v.GetOk() || v.GetEntries() != 6 {
		t.Fatalf("Verify: %v, %v", v, err)
	}
	got, err := l2.FindTask("task-3")
	if err != nil || got.GetSequence() != 4 {
		t.Fatalf("FindTask: %v, %v", got, err)
	}
	if _, err := l2.FindTask("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FindTask(nope): %v", err)
	}
	page, err := l2.List(3, 2)
	if err != nil || len(page) != 2 || page[0].GetSequence() != 3 {
		t.Fatalf("List(3, 2): %v, %v", page, err)
	}
}

func TestConcurrentAppends(t *testing.T) {
	db, _ := openDB(t)
	l, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { fill(t, l, 5) })
	}
	wg.Wait()
	v, err := l.Verify()
	if err != nil || !v.GetOk() || v.GetEntries() != 40 {
		t.Fatalf("Verify: %v, %v", v, err)
	}
}

func rawEntry(t *testing.T, db *kv.DB, seq uint64) *nodev1.AuditEntry {
	t.Helper()
	b, err := db.Get(entryKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	e := &nodev1.AuditEntry{}
	if err := proto.Unmarshal(b, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func putRaw(t *testing.T, db *kv.DB, seq uint64, e *nodev1.AuditEntry) {
	t.Helper()
	b, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(entryKey(seq), b); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(t *testing.T, db *kv.DB)
		badSeq  uint64
		problem string
	}{
		{"edited answer", func(t *testing.T, db *kv.DB) {
			e := rawEntry(t, db, 3)
			e.Answer = []byte("something else")
			putRaw(t, db, 3, e)
		}, 3, "answer_hash"},
		{"edited answer with answer hash fixed", func(t *testing.T, db *kv.DB) {
			e := rawEntry(t, db, 3)
			e.Answer = []byte("something else")
			e.AnswerHash = AnswerHash(e.Answer)
			putRaw(t, db, 3, e)
		}, 3, "hash mismatch"},
		{"edited requester", func(t *testing.T, db *kv.DB) {
			e := rawEntry(t, db, 2)
			e.Requester = "spiffe://vrs.local/partner/x"
			putRaw(t, db, 2, e)
		}, 2, "hash mismatch"},
		{"edited and rehashed", func(t *testing.T, db *kv.DB) {
			e := rawEntry(t, db, 2)
			e.Reason = "rewritten"
			h, _ := Hash(e)
			e.Hash = h
			putRaw(t, db, 2, e)
		}, 3, "previous_hash"},
		{"deleted", func(t *testing.T, db *kv.DB) {
			if err := db.Update(func(tx kv.Txn) error { return tx.Delete(entryKey(3)) }); err != nil {
				t.Fatal(err)
			}
		}, 3, "missing"},
		{"reordered", func(t *testing.T, db *kv.DB) {
			a, b := rawEntry(t, db, 2), rawEntry(t, db, 4)
			putRaw(t, db, 2, b)
			putRaw(t, db, 4, a)
		}, 2, "moved"},
		{"reordered and renumbered", func(t *testing.T, db *kv.DB) {
			a, b := rawEntry(t, db, 2), rawEntry(t, db, 4)
			a.Sequence, b.Sequence = 4, 2
			putRaw(t, db, 2, b)
			putRaw(t, db, 4, a)
		}, 2, "previous_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openDB(t)
			l, err := Open(db)
			if err != nil {
				t.Fatal(err)
			}
			fill(t, l, 5)
			tt.tamper(t, db)
			v, err := l.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if v.GetOk() || v.GetFirstBadSequence() != tt.badSeq || !strings.Contains(v.GetProblem(), tt.problem) {
				t.Fatalf("Verify = %v, want entry %d with %q", v, tt.badSeq, tt.problem)
			}
		})
	}
}

func TestAppendFuncSeesItsSequence(t *testing.T) {
	db, _ := openDB(t)
	l, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 2)
	e, err := l.AppendFunc(t.Context(), func(seq uint64, _ time.Time) (*nodev1.AuditEntry, error) {
		return &nodev1.AuditEntry{Answer: binary.BigEndian.AppendUint64(nil, seq)}, nil
	})
	if err != nil || binary.BigEndian.Uint64(e.GetAnswer()) != 3 || e.GetSequence() != 3 {
		t.Fatalf("got %v, %v", e, err)
	}
	boom := errors.New("boom")
	if _, err := l.AppendFunc(t.Context(), func(uint64, time.Time) (*nodev1.AuditEntry, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if seq, _ := l.Head(); seq != 3 {
		t.Fatalf("failed build advanced the head to %d", seq)
	}
}
