package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/kv"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// richIncident is an incident large enough (about 2 KB) that its stored
// value goes to the value log, compressed.
func richIncident(ref, date string) *recordv1.Incident {
	inc := incident(ref, date)
	for i := range 40 {
		inc.Migrants = append(inc.Migrants, &recordv1.Person{
			Citizenship: []string{"MMR", "AFG", "LKA"}[i%3], Sex: recordv1.Sex_SEX_MALE, Age: proto.Int32(int32(18 + i)),
			FullName: "Migrant Name " + strings.Repeat("x", i%7),
		})
	}
	return inc
}

// oldValue is a stored value as versions before compression wrote it:
// the plain deterministic encoding of the StoredIncident.
func oldValue(t *testing.T, inc *recordv1.Incident, version int64, at time.Time) []byte {
	t.Helper()
	ts := timestamppb.New(at)
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(&nodev1.StoredIncident{Incident: inc, Version: version, CreatedAt: ts, UpdatedAt: ts})
	if err != nil {
		t.Fatal(err)
	}
	if v[0] == valueFormatPacked {
		t.Fatal("a plain value starts with the packed marker")
	}
	return v
}

func TestCodecPackUnpack(t *testing.T) {
	c, err := newCodec()
	if err != nil {
		t.Fatal(err)
	}
	now := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	rich, err := marshalStored(richIncident("R", "2026-01-01"), 1, now, now)
	if err != nil {
		t.Fatal(err)
	}
	small, err := marshalStored(&recordv1.Incident{NationalRef: "S"}, 1, now, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		raw    []byte
		packed bool // compressing pays
	}{
		{"rich incident", rich, true},
		{"small incident", small, false},
		{"empty", []byte{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := c.pack(tt.raw)
			if got := len(v) > 0 && v[0] == valueFormatPacked; got != tt.packed {
				t.Fatalf("packed = %v, want %v (%d bytes from %d)", got, tt.packed, len(v), len(tt.raw))
			}
			if tt.packed && len(v) >= len(tt.raw)/2 {
				t.Fatalf("packed %d bytes into %d", len(tt.raw), len(v))
			}
			raw, err := c.unpack(v)
			if err != nil || !bytes.Equal(raw, tt.raw) {
				t.Fatalf("unpack: %v", err)
			}
		})
	}
	// A damaged packed value is an error, not a panic or garbage.
	v := c.pack(rich)
	for _, bad := range [][]byte{{valueFormatPacked}, v[:len(v)/2], append([]byte{valueFormatPacked, 1, 2, 3}, v[4:]...)} {
		if _, err := c.unpack(bad); !errors.Is(err, errCorrupt) {
			t.Fatalf("unpack of a damaged value: %v", err)
		}
	}
}

// TestOldValuesStillRead writes records in the format of earlier versions
// (plain, uncompressed) straight into a DB, then uses them through every
// path of the store: a data directory written before compression works
// without a migration.
func TestOldValuesStillRead(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := newClock()
	created := c.Now().Add(-24 * time.Hour)
	a, b, d := richIncident("A", "2026-01-01"), richIncident("B", "2026-01-02"), incident("D", "2026-01-03")
	olds := map[string][]byte{"A": oldValue(t, a, 3, created), "B": oldValue(t, b, 1, created), "D": oldValue(t, d, 1, created)}
	db := openDB(t, dir)
	err := db.Update(func(tx kv.Txn) error {
		for ref, v := range olds {
			if err := tx.Put(recKey(ref), v); err != nil {
				return err
			}
		}
		for _, inc := range []*recordv1.Incident{a, b, d} {
			if err := tx.Put(dateKey(inc.GetDetectedOn(), inc.GetNationalRef()), nil); err != nil {
				return err
			}
		}
		return tx.Put(countKey, encodeCount(3))
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{DB: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(ref string) []byte {
		t.Helper()
		v, err := db.Get(recKey(ref))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Reads.
	got, err := s.Get(ctx, "A")
	if err != nil || !proto.Equal(got.GetIncident(), a) || got.GetVersion() != 3 {
		t.Fatalf("get of an old value: %v %v", got, err)
	}
	page, _, err := s.List(ctx, ListOptions{DetectedFrom: "2026-01-02"})
	if err != nil || len(page) != 2 || !proto.Equal(page[0].GetIncident(), b) {
		t.Fatalf("list of old values: %v %v", page, err)
	}
	var scanned int
	if err := s.Scan(func(*recordv1.Incident) error { scanned++; return nil }); err != nil || scanned != 3 {
		t.Fatalf("scan of old values: %d %v", scanned, err)
	}

	// Unchanged incidents are recognised in the old form and not written.
	c.Advance(time.Hour)
	if res, err := s.Upsert(ctx, []*recordv1.Incident{a}); err != nil || res != (UpsertResult{Unchanged: 1}) {
		t.Fatalf("upsert of an unchanged incident: %+v %v", res, err)
	}
	if res, err := s.BulkLoad(ctx, []*recordv1.Incident{a, b, d}); err != nil || res != (UpsertResult{Unchanged: 3}) {
		t.Fatalf("bulk load of unchanged incidents: %+v %v", res, err)
	}
	for ref, v := range olds {
		if !bytes.Equal(raw(ref), v) {
			t.Fatalf("%s was rewritten though unchanged", ref)
		}
	}

	// A change replaces an old value with a packed one and keeps the
	// bookkeeping.
	a2 := proto.Clone(a).(*recordv1.Incident)
	a2.DetectedOn = "2026-02-01"
	if res, err := s.BulkLoad(ctx, []*recordv1.Incident{a2}); err != nil || res != (UpsertResult{Updated: 1}) {
		t.Fatalf("bulk load of a change: %+v %v", res, err)
	}
	if v := raw("A"); v[0] != valueFormatPacked {
		t.Fatal("changed record not stored packed")
	}
	got, err = s.Get(ctx, "A")
	if err != nil || got.GetVersion() != 4 || !got.GetCreatedAt().AsTime().Equal(created) || !proto.Equal(got.GetIncident(), a2) {
		t.Fatalf("after the change: %v %v", got, err)
	}

	// Delete reads the old value for its index entry.
	if ok, err := s.Delete(ctx, "D"); !ok || err != nil {
		t.Fatalf("delete of an old value: %v %v", ok, err)
	}
	if page, _, _ := s.List(ctx, ListOptions{DetectedFrom: "2026-01-03", DetectedTo: "2026-01-03"}); len(page) != 0 {
		t.Fatalf("index entry of the deleted old value left: %v", page)
	}

	// A rollback puts an old value back byte for byte.
	b2 := proto.Clone(b).(*recordv1.Incident)
	b2.DetectedOn = "2026-03-01"
	crashAfterRecords(t, s, db, []*recordv1.Incident{b2}, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	t.Cleanup(func() { _ = db.Close() })
	s, err = New(Config{DB: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw("B"), olds["B"]) {
		t.Fatal("rollback did not restore the old value")
	}
	page, _, err = s.List(ctx, ListOptions{DetectedFrom: "2026-01-02", DetectedTo: "2026-01-02"})
	if err != nil || len(page) != 1 || page[0].GetIncident().GetNationalRef() != "B" {
		t.Fatalf("index after rollback: %v %v", page, err)
	}
}

// crashAfterRecords does steps 1 and 2 of BulkLoad for file, writes every
// record (damage replaces a record's new value, keyed by reference), and
// stops as a crash would. The caller closes db and reopens.
func crashAfterRecords(t *testing.T, s *Store, db *kv.DB, file []*recordv1.Incident, damage map[string][]byte) {
	t.Helper()
	items, err := s.stage(t.Context(), file, timestamppb.New(s.now()), false)
	if err != nil {
		t.Fatal(err)
	}
	var changed []*staged
	for i := range items {
		if items[i].action != actUnchanged {
			changed = append(changed, &items[i])
		}
	}
	const id = "00000000000000ff"
	if err := db.Put(importKey, []byte(id)); err != nil {
		t.Fatal(err)
	}
	for i, v := range encodeUndo(changed) {
		if err := db.Put(undoKey(id, uint32(i)), v); err != nil {
			t.Fatal(err)
		}
	}
	b := db.NewBatch()
	for _, it := range changed {
		ref := it.inc.GetNationalRef()
		v := it.encoded
		if d, ok := damage[ref]; ok {
			v = d
		}
		_ = b.Put(recKey(ref), v)
		_ = b.Put(dateKey(it.inc.GetDetectedOn(), ref), nil)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestRollbackUnreadableRecord: after a machine crash, a record of the
// unfinished load may point into the value log at bytes that never
// reached the disk. The rollback must not need to read it.
func TestRollbackUnreadableRecord(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := newClock()
	s, db := openStore(t, dir, c)
	if _, err := s.Upsert(ctx, []*recordv1.Incident{richIncident("A", "2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	a2, n := richIncident("A", "2026-02-01"), richIncident("N", "2026-02-02")
	garbage := []byte{valueFormatPacked, 0xde, 0xad, 0xbe, 0xef}
	crashAfterRecords(t, s, db, []*recordv1.Incident{a2, n}, map[string][]byte{"A": garbage, "N": garbage})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir, c)
	after := dump(t, s2)
	if len(after) != 1 || !proto.Equal(after["A"], before["A"]) || s2.Count() != 1 {
		t.Fatalf("after rollback: %v, count %d", after, s2.Count())
	}
	for _, f := range []ListOptions{{DetectedFrom: "2026-02-01"}, {DetectedTo: "2026-01-01"}} {
		page, _, err := s2.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if f.DetectedTo != "" {
			want = 1
		}
		if len(page) != want {
			t.Fatalf("index after rollback, %+v: %d entries, want %d", f, len(page), want)
		}
	}
}

// TestRollbackLostValueLogTail is a machine crash during an unsynced bulk
// load as Badger sees it after restart: the tree points into the value log
// at a record whose bytes never reached the disk (Badger then logs the key
// and returns an empty value). The rollback restores the store without
// reading that record: the logger fails the test if Badger logs an error.
func TestRollbackLostValueLogTail(t *testing.T) {
	ctx := t.Context()
	dataDir := t.TempDir()
	db, err := OpenDataDirBulk(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	s, err := New(Config{DB: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, []*recordv1.Incident{richIncident("A", "2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	crashAfterRecords(t, s, db, []*recordv1.Incident{richIncident("A", "2026-02-01"), richIncident("N", "2026-02-02")}, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Cut the last value (N's) off the value log.
	ents, err := os.ReadDir(DBDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	var last string
	var size int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && filepath.Ext(e.Name()) == ".vlog" && info.Size() > size {
			last, size = filepath.Join(DBDir(dataDir), e.Name()), info.Size()
		}
	}
	if err := os.Truncate(last, size-100); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	db, err = OpenDataDir(dataDir, hclog.New(&hclog.LoggerOptions{Output: &logged, Level: hclog.Error}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err = New(Config{DB: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	after := dump(t, s)
	if len(after) != 1 || !proto.Equal(after["A"], before["A"]) || s.Count() != 1 {
		t.Fatalf("after rollback: %v, count %d", after, s.Count())
	}
	if _, err := db.Get(recKey("N")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("cut record after rollback: %v", err)
	}
	if logged.Len() > 0 {
		t.Fatalf("the rollback read a lost value:\n%s", logged.String())
	}
}
