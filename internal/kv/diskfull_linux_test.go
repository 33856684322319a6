package kv

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/vrs-federation/vrs/internal/testfs"
)

// TestDiskFull fills a small filesystem: writes end with ErrDiskFull (not
// a SIGBUS from Badger's memory-mapped files), every write that returned
// nil is there after a reopen, and once the filesystem grows the store
// takes writes again.
func TestDiskFull(t *testing.T) {
	dir := testfs.Small(t, 96)
	opts := Options{Dir: dir + "/db", MemTableMB: 8, BlockCacheMB: 4, IndexCacheMB: 4, MinFreeMB: 32}
	db, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 8<<10) // random: compression must not save the test
	acked := 0
	for ; acked < 100_000; acked++ {
		rand.Read(value)
		err = db.Put(fmt.Appendf(nil, "k%06d", acked), value)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("after %d writes: err = %v, want ErrDiskFull", acked, err)
	}
	t.Logf("refused after %d acknowledged writes: %v", acked, err)
	b := db.NewBatch()
	for i := range 2 * batchCheckEvery {
		if err = b.Put(fmt.Appendf(nil, "b%06d", i), value); err != nil {
			break
		}
	}
	b.Cancel()
	if !errors.Is(err, ErrDiskFull) {
		t.Errorf("batch on a full disk: err = %v, want ErrDiskFull", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}

	testfs.Grow(t, dir, 256)
	db, err = Open(opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	for i := range acked {
		if _, err := db.Get(fmt.Appendf(nil, "k%06d", i)); err != nil {
			t.Fatalf("acknowledged write %d lost: %v", i, err)
		}
	}
	if err := db.Put([]byte("after"), value); err != nil {
		t.Errorf("write after the disk grew: %v", err)
	}
}
