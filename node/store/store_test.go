package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)} }

// openDB opens a DB in dir as OpenDataDir does (records in the value log).
func openDB(t testing.TB, dir string) *kv.DB {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: dir, Logger: logging.Discard(), ValueThreshold: recordValueThreshold})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openStore opens a store on disk in dir; the DB is closed at cleanup.
func openStore(t testing.TB, dir string, c *clock) (*Store, *kv.DB) {
	t.Helper()
	db := openDB(t, dir)
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(Config{DB: db, Logger: logging.Discard(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func incident(ref, date string) *recordv1.Incident {
	return &recordv1.Incident{
		NationalRef:   ref,
		DetectedOn:    date,
		DetectedAt:    &recordv1.Place{Country: "THA", Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA},
		IccsCodes:     []string{"08051"},
		TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
		Route:         &recordv1.Route{Origin: "MMR", Destination: "MYS"},
		Migrants: []*recordv1.Person{
			{Citizenship: "MMR", Sex: recordv1.Sex_SEX_FEMALE, Age: proto.Int32(17), FullName: "CANARY NAME"},
		},
	}
}

func TestCRUDAndVersions(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	s, _ := openStore(t, t.TempDir(), c)
	t0 := c.Now()

	res, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-02"), incident("B", "2026-01-03")})
	if err != nil {
		t.Fatal(err)
	}
	if res != (UpsertResult{Created: 2}) || s.Count() != 2 {
		t.Fatalf("first upsert: %+v count %d", res, s.Count())
	}
	got, err := s.Get(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetVersion() != 1 || !got.GetCreatedAt().AsTime().Equal(t0) || !got.GetUpdatedAt().AsTime().Equal(t0) {
		t.Fatalf("created: %v", got)
	}
	if !proto.Equal(incident("A", "2026-01-02"), got.GetIncident()) {
		t.Fatalf("stored incident differs: %v", got.GetIncident())
	}

	// An identical upsert writes nothing.
	c.Advance(time.Hour)
	res, err = s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-02")})
	if err != nil || res != (UpsertResult{Unchanged: 1}) {
		t.Fatalf("identical upsert: %+v %v", res, err)
	}
	if got, _ := s.Get(ctx, "A"); got.GetVersion() != 1 || !got.GetUpdatedAt().AsTime().Equal(t0) {
		t.Fatalf("identical upsert changed bookkeeping: %v", got)
	}

	// A changed upsert bumps the version and updated_at, keeps created_at.
	c.Advance(time.Hour)
	changed := incident("A", "2026-01-02")
	changed.Harm = &recordv1.Harm{Deaths: 2}
	res, err = s.Upsert(ctx, []*recordv1.Incident{changed, incident("C", "2026-01-04")})
	if err != nil || res != (UpsertResult{Created: 1, Updated: 1}) {
		t.Fatalf("changed upsert: %+v %v", res, err)
	}
	got, _ = s.Get(ctx, "A")
	if got.GetVersion() != 2 || !got.GetCreatedAt().AsTime().Equal(t0) || !got.GetUpdatedAt().AsTime().Equal(c.Now()) || got.GetIncident().GetHarm().GetDeaths() != 2 {
		t.Fatalf("updated: %v", got)
	}

	ok, err := s.Delete(ctx, "B")
	if err != nil || !ok {
		t.Fatalf("delete B: %v %v", ok, err)
	}
	ok, err = s.Delete(ctx, "B")
	if err != nil || ok {
		t.Fatalf("second delete B: %v %v", ok, err)
	}
	if _, err := s.Get(ctx, "B"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := s.Get(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("get empty ref: %v", err)
	}
	if s.Count() != 2 {
		t.Fatalf("count %d, want 2", s.Count())
	}
}

func TestUpsertCopiesInput(t *testing.T) {
	s, _ := openStore(t, t.TempDir(), newClock())
	inc := incident("A", "2026-01-02")
	if _, err := s.Upsert(t.Context(), []*recordv1.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	inc.Notes = "changed after the call"
	got, _ := s.Get(t.Context(), "A")
	if got.GetIncident().GetNotes() != "" {
		t.Fatal("store kept the caller's message")
	}
}

func TestAtomicBatch(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, t.TempDir(), newClock())
	bad := incident("BAD", "2026-01-02")
	bad.Migrants[0].Age = proto.Int32(130)
	bad.Harm = &recordv1.Harm{Deaths: -1}
	_, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-02"), bad, incident("A", "2026-01-05")})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	want := []string{
		"incidents[1].migrants[0].age: 130 is not between 0 and 120",
		"incidents[1].harm.deaths: -1 is negative",
		"incidents[2].national_ref: duplicate of incidents[0]",
	}
	var gotMsgs []string
	for _, e := range ve.Errors {
		gotMsgs = append(gotMsgs, e.Error())
	}
	if !slices.Equal(want, gotMsgs) {
		t.Fatalf("errors:\n got %q\nwant %q", gotMsgs, want)
	}
	if s.Count() != 0 {
		t.Fatalf("count %d after a rejected batch", s.Count())
	}
	if _, err := s.Get(ctx, "A"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("valid incident of a rejected batch was written: %v", err)
	}
}

func TestBatchTooLarge(t *testing.T) {
	// Values in the tree, not the value log: a transaction holds only the
	// pointers of the value log's, so it never gets too big with them.
	// OpenDataDir keeps records in the value log, so on a node this is a
	// defence that does not fire; the test keeps the mapping honest for a
	// store opened without a value threshold.
	db, err := kv.Open(kv.Options{Dir: t.TempDir(), Logger: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(Config{DB: db, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	incs := make([]*recordv1.Incident, MaxBatch+1)
	for i := range incs {
		incs[i] = incident(fmt.Sprintf("R%05d", i), "2026-01-02")
	}
	if _, err := s.Upsert(t.Context(), incs); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("got %v, want ErrBatchTooLarge", err)
	}
	// Within the count limit but beyond one Badger transaction. The notes
	// are random so that compressing the stored values does not shrink
	// them: 9,000 base64 characters keep about 6,750 bytes.
	incs = incs[:1000]
	r := rand.New(rand.NewPCG(1, 2))
	for _, inc := range incs {
		noise := make([]byte, 6750)
		for i := range noise {
			noise[i] = byte(r.Uint32())
		}
		inc.Notes = base64.StdEncoding.EncodeToString(noise) // 1000 × 6.75 KB
	}
	_, err = s.Upsert(t.Context(), incs)
	if !errors.Is(err, ErrBatchTooLarge) || !errors.Is(err, kv.ErrTooBig) {
		t.Fatalf("got %v, want ErrBatchTooLarge and kv.ErrTooBig", err)
	}
	if s.Count() != 0 {
		t.Fatal("a too-big batch wrote something")
	}
}

type change struct{ old, new string }

type recorder struct{ changes []change }

func (r *recorder) Apply(old, new *recordv1.Incident) {
	var c change
	if old != nil {
		c.old = old.GetNationalRef() + "@" + old.GetDetectedOn()
	}
	if new != nil {
		c.new = new.GetNationalRef() + "@" + new.GetDetectedOn()
	}
	r.changes = append(r.changes, c)
}

func TestObserverOrder(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, t.TempDir(), newClock())
	r := &recorder{}
	s.AddObserver(r)
	steps := []func() error{
		func() error {
			_, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-01"), incident("B", "2026-01-02")})
			return err
		},
		func() error { // unchanged: no call
			_, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-01")})
			return err
		},
		func() error {
			_, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-02-01")})
			return err
		},
		func() error { _, err := s.Delete(ctx, "B"); return err },
		func() error { _, err := s.Delete(ctx, "nope"); return err },
		func() error {
			_, err := s.BulkLoad(ctx, []*recordv1.Incident{incident("A", "2026-03-01"), incident("C", "2026-01-03")})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []change{
		{"", "A@2026-01-01"}, {"", "B@2026-01-02"},
		{"A@2026-01-01", "A@2026-02-01"},
		{"B@2026-01-02", ""},
		{"A@2026-02-01", "A@2026-03-01"}, {"", "C@2026-01-03"},
	}
	if !slices.Equal(want, r.changes) {
		t.Fatalf("observer calls:\n got %v\nwant %v", r.changes, want)
	}
}

func TestReopenDurability(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := newClock()
	db := openDB(t, dir)
	s, err := New(Config{DB: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-01"), incident("B", "2026-01-02")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s2, _ := openStore(t, dir, c)
	if s2.Count() != 1 {
		t.Fatalf("count after reopen %d, want 1", s2.Count())
	}
	got, err := s2.Get(ctx, "B")
	if err != nil || got.GetIncident().GetMigrants()[0].GetFullName() != "CANARY NAME" {
		t.Fatalf("after reopen: %v %v", got, err)
	}
	var refs []string
	if err := s2.Scan(func(inc *recordv1.Incident) error { refs = append(refs, inc.GetNationalRef()); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal([]string{"B"}, refs) {
		t.Fatalf("scan: %v", refs)
	}
}

func TestList(t *testing.T) {
	ctx := t.Context()
	s, _ := openStore(t, t.TempDir(), newClock())
	var incs []*recordv1.Incident
	for i := range 25 {
		inc := incident(fmt.Sprintf("R%02d", i), fmt.Sprintf("2026-01-%02d", 25-i))
		if i%3 == 0 {
			inc.TransportMode = recordv1.TransportMode_TRANSPORT_MODE_AIR
		}
		incs = append(incs, inc)
	}
	if _, err := s.Upsert(ctx, incs); err != nil {
		t.Fatal(err)
	}
	// Move one incident's date: the index must follow.
	moved := incident("R24", "2026-01-20")
	if _, err := s.Upsert(ctx, []*recordv1.Incident{moved}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		o    ListOptions
		want []string
	}{
		{"all", ListOptions{PageSize: 10}, refRange(0, 25, nil)},
		{"default page", ListOptions{}, refRange(0, 25, nil)},
		{"air", ListOptions{PageSize: 4, TransportMode: recordv1.TransportMode_TRANSPORT_MODE_AIR}, refRange(0, 25, func(i int) bool { return i%3 == 0 && i != 24 })}, // R24 was re-upserted by sea
		{"air one per page", ListOptions{PageSize: 1, TransportMode: recordv1.TransportMode_TRANSPORT_MODE_AIR}, refRange(0, 24, func(i int) bool { return i%3 == 0 })},
		// R00 is on 01-25, R05 on 01-20, R24 moved from 01-01 to 01-20.
		{"from", ListOptions{PageSize: 3, DetectedFrom: "2026-01-20"}, []string{"R00", "R01", "R02", "R03", "R04", "R05", "R24"}},
		{"to", ListOptions{PageSize: 3, DetectedTo: "2026-01-02"}, []string{"R23"}},
		{"range and mode", ListOptions{PageSize: 2, DetectedFrom: "2026-01-10", DetectedTo: "2026-01-20", TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA},
			[]string{"R05", "R07", "R08", "R10", "R11", "R13", "R14", "R24"}},
		{"empty range", ListOptions{DetectedFrom: "2026-02-01"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			o := tt.o
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatal("paging does not end")
				}
				page, next, err := s.List(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				size := o.PageSize
				if size == 0 {
					size = DefaultPageSize
				}
				if len(page) > size {
					t.Fatalf("page of %d, size %d", len(page), size)
				}
				for _, si := range page {
					got = append(got, si.GetIncident().GetNationalRef())
				}
				if next == "" {
					break
				}
				o.PageToken = next
			}
			if !slices.Equal(tt.want, got) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}

	for _, o := range []ListOptions{
		{PageToken: "not a token!"},
		{PageToken: encodeToken("")[:2]},
		{DetectedFrom: "2026-13-01"},
		{DetectedTo: "yesterday"},
		{PageSize: -1},
		{TransportMode: 42},
	} {
		if _, _, err := s.List(ctx, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("List(%+v): got %v, want ErrInvalid", o, err)
		}
	}
}

func refRange(lo, hi int, keep func(int) bool) []string {
	var out []string
	for i := lo; i < hi; i++ {
		if keep == nil || keep(i) {
			out = append(out, fmt.Sprintf("R%02d", i))
		}
	}
	return out
}

func TestBulkLoad(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	s, _ := openStore(t, t.TempDir(), c)
	if _, err := s.Upsert(ctx, []*recordv1.Incident{incident("A", "2026-01-01"), incident("B", "2026-01-02")}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	file := []*recordv1.Incident{incident("A", "2026-01-01"), incident("B", "2026-01-09"), incident("C", "2026-01-03")}
	res, err := s.BulkLoad(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if res != (UpsertResult{Created: 1, Updated: 1, Unchanged: 1}) || s.Count() != 3 {
		t.Fatalf("bulk load: %+v count %d", res, s.Count())
	}
	if b, _ := s.Get(ctx, "B"); b.GetVersion() != 2 || b.GetIncident().GetDetectedOn() != "2026-01-09" {
		t.Fatalf("B after bulk load: %v", b)
	}
	// Loading the same file again changes nothing.
	res, err = s.BulkLoad(ctx, file)
	if err != nil || res != (UpsertResult{Unchanged: 3}) {
		t.Fatalf("second bulk load: %+v %v", res, err)
	}
	// An invalid incident: nothing written.
	bad := incident("D", "2026-01-03")
	bad.Route.Origin = "ZZZ"
	_, err = s.BulkLoad(ctx, []*recordv1.Incident{incident("E", "2026-01-01"), bad})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Index != 1 {
		t.Fatalf("got %v", err)
	}
	if s.Count() != 3 {
		t.Fatal("invalid bulk load wrote something")
	}
	page, _, err := s.List(ctx, ListOptions{DetectedFrom: "2026-01-09", DetectedTo: "2026-01-09"})
	if err != nil || len(page) != 1 || page[0].GetIncident().GetNationalRef() != "B" {
		t.Fatalf("date index after bulk load: %v %v", page, err)
	}
	if page, _, _ := s.List(ctx, ListOptions{DetectedTo: "2026-01-02"}); len(page) != 1 {
		t.Fatalf("stale index entry for B: %v", page)
	}
}

// TestBulkLoadCrashRollsBack stops a bulk load after its marker and part of
// its data are written, as a crash would, and checks that the next Open
// restores exactly the records that were there before.
func TestBulkLoadCrashRollsBack(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := newClock()
	db := openDB(t, dir)
	s, err := New(Config{DB: db, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	before := []*recordv1.Incident{incident("A", "2026-01-01"), incident("B", "2026-01-02")}
	if _, err := s.Upsert(ctx, before); err != nil {
		t.Fatal(err)
	}
	snapshot := dump(t, s)

	// Steps 1 and 2 of BulkLoad, then "crash" before the commit (step 3).
	file := []*recordv1.Incident{incident("A", "2026-02-01"), incident("C", "2026-01-03"), incident("D", "2026-01-04"), incident("B", "2026-03-01")}
	items, err := s.stage(ctx, file, timestamppb.New(c.Now()), false)
	if err != nil {
		t.Fatal(err)
	}
	var changed []*staged
	for i := range items {
		changed = append(changed, &items[i])
	}
	if err := db.Put(importKey, []byte("0000000000000001")); err != nil {
		t.Fatal(err)
	}
	for i, v := range encodeUndo(changed) {
		if err := db.Put(undoKey("0000000000000001", uint32(i)), v); err != nil {
			t.Fatal(err)
		}
	}
	b := db.NewBatch()
	for _, it := range changed[:2] { // A updated (new date), C created
		_ = b.Put(recKey(it.inc.GetNationalRef()), it.encoded)
		_ = b.Put(dateKey(it.inc.GetDetectedOn(), it.inc.GetNationalRef()), nil)
	}
	// D (new) and B (new date): an unsynced load cut by a machine crash
	// may keep an index entry and lose its record.
	for _, it := range changed[2:] {
		_ = b.Put(dateKey(it.inc.GetDetectedOn(), it.inc.GetNationalRef()), nil)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s2, db2 := openStore(t, dir, c)
	after := dump(t, s2)
	if len(after) != len(snapshot) {
		t.Fatalf("after rollback: %d records, want %d", len(after), len(snapshot))
	}
	for ref, si := range snapshot {
		if !proto.Equal(si, after[ref]) {
			t.Fatalf("after rollback %s = %v, want %v", ref, after[ref], si)
		}
	}
	if s2.Count() != 2 {
		t.Fatalf("count %d", s2.Count())
	}
	// The index is back to the old dates and the undo log is gone.
	var keys []string
	err = db2.View(func(tx kv.Txn) error {
		return tx.Scan([]byte("rec/"), nil, func(k, _ []byte) (bool, error) {
			if !strings.HasPrefix(string(k), "rec/i/") {
				keys = append(keys, string(k))
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rec/d/2026-01-01A", "rec/d/2026-01-02B", "rec/m/count"}
	if !slices.Equal(want, keys) {
		t.Fatalf("keys after rollback: got %q, want %q", keys, want)
	}
}

func dump(t *testing.T, s *Store) map[string]proto.Message {
	t.Helper()
	out := map[string]proto.Message{}
	page, _, err := s.List(context.Background(), ListOptions{PageSize: MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range page {
		out[si.GetIncident().GetNationalRef()] = si
	}
	return out
}

func TestOpenDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenDataDir(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := OpenDataDir(dir, logging.Discard()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestMarshalStoredSplits(t *testing.T) {
	now := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	for _, inc := range append(synthetic(50, 9), &recordv1.Incident{}) {
		got, err := marshalStored(inc, 7, now, now)
		if err != nil {
			t.Fatal(err)
		}
		// Values written before marshalStored were the incident's own
		// encoding behind a tag and a length, then the bookkeeping: the
		// incident bytes must compare equal to those.
		incBytes, err := marshalOpts.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		tail, err := marshalOpts.Marshal(&nodev1.StoredIncident{Version: 7, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		old := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), incBytes)
		if !bytes.Equal(got, append(old, tail...)) {
			t.Fatalf("marshalStored differs from the older encoding for %s", inc.GetNationalRef())
		}
		gotInc, rev, err := splitStored(got)
		if err != nil || !bytes.Equal(gotInc, incBytes) || rev.version != 7 || !proto.Equal(rev.createdAt, now) {
			t.Fatalf("splitStored: %v %v", rev, err)
		}
	}
}

func TestBulkLoadManyChunks(t *testing.T) {
	ctx := t.Context()
	c := newClock()
	s, _ := openStore(t, t.TempDir(), c)
	s.now = time.Now // synthetic dates run up to 2025
	s.chunk = 64
	incs := synthetic(2*s.chunk+5, 5) // three chunks
	r := &recorder{}
	s.AddObserver(r)
	res, err := s.BulkLoad(ctx, incs)
	if err != nil || res.Created != len(incs) || s.Count() != len(incs) || len(r.changes) != len(incs) {
		t.Fatalf("first load: %+v %v count %d observed %d", res, err, s.Count(), len(r.changes))
	}
	// Change one incident in each chunk; the rest is unchanged.
	again := make([]*recordv1.Incident, len(incs))
	for i, inc := range incs {
		again[i] = proto.Clone(inc).(*recordv1.Incident)
		if i%s.chunk == 2 {
			again[i].DetectedOn = "2014-01-01"
		}
	}
	res, err = s.BulkLoad(ctx, again)
	if err != nil || res.Updated != 3 || res.Unchanged != len(incs)-3 || res.Created != 0 {
		t.Fatalf("second load: %+v %v", res, err)
	}
	page, _, err := s.List(ctx, ListOptions{DetectedTo: "2014-12-31"})
	if err != nil || len(page) != 3 {
		t.Fatalf("moved incidents by date: %d %v", len(page), err)
	}
	// A cancelled load writes nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.BulkLoad(cctx, synthetic(10, 99)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled load: %v", err)
	}
	if s.Count() != len(incs) {
		t.Fatal("cancelled load changed the count")
	}
}

// TestDecodeUndoFormats reads entries with and without the new date (those
// an older version wrote) and rejects truncated ones.
func TestDecodeUndoFormats(t *testing.T) {
	old := []byte("stored")
	entry := func(ref string, flag byte, old []byte, date string) []byte {
		b := binary.AppendUvarint(nil, uint64(len(ref)))
		b = append(append(b, ref...), flag)
		if old != nil {
			b = binary.AppendUvarint(b, uint64(len(old)))
			b = append(b, old...)
		}
		return append(b, date...)
	}
	tests := []struct {
		name string
		in   []byte
		want []undoEntry
		bad  bool
	}{
		{"old format, new incident", entry("A", 0, nil, ""), []undoEntry{{ref: "A"}}, false},
		{"old format, update", entry("A", 1, old, ""), []undoEntry{{ref: "A", old: old}}, false},
		{"with date", slices.Concat(entry("A", 2, nil, "2026-01-01"), entry("B", 3, old, "2026-01-02")),
			[]undoEntry{{ref: "A", newDate: "2026-01-01"}, {ref: "B", old: old, newDate: "2026-01-02"}}, false},
		{"truncated date", entry("A", 2, nil, "2026-01"), nil, true},
		{"unknown flag", entry("A", 4, nil, ""), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []undoEntry
			err := decodeUndo(tt.in, func(e undoEntry) error { got = append(got, e); return nil })
			if tt.bad {
				if err == nil {
					t.Fatal("no error for a corrupt entry")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].ref != tt.want[i].ref || !bytes.Equal(got[i].old, tt.want[i].old) || got[i].newDate != tt.want[i].newDate {
					t.Fatalf("entry %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestBulkLoadUnsynced loads through a store opened for bulk loading, then
// checks a synced reopen sees the load and a later Upsert.
func TestBulkLoadUnsynced(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := OpenDataDirBulk(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	s.chunk = 64
	incs := synthetic(200, 11)
	if _, err := s.BulkLoad(ctx, incs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, []*recordv1.Incident{incident("extra", "2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = OpenDataDir(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err = New(Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if s.Count() != len(incs)+1 {
		t.Fatalf("count %d, want %d", s.Count(), len(incs)+1)
	}
	for _, inc := range incs[:5] {
		got, err := s.Get(ctx, inc.GetNationalRef())
		if err != nil || !proto.Equal(got.GetIncident(), inc) {
			t.Fatalf("%s after reopen: %v", inc.GetNationalRef(), err)
		}
	}
}
