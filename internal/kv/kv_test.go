package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestGetPutNotFound(t *testing.T) {
	db := open(t)
	if _, err := db.Get([]byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if err := db.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	v, err := db.Get([]byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("got %q, %v", v, err)
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	db := open(t)
	boom := errors.New("boom")
	err := db.Update(func(tx Txn) error {
		if err := tx.Put([]byte("a"), []byte("1")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("want boom, got %v", err)
	}
	if _, err := db.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("write of a failed transaction is visible: %v", err)
	}
}

func TestScanOrderAndStart(t *testing.T) {
	db := open(t)
	for i := range 5 {
		if err := db.Put(fmt.Appendf(nil, "p/%d", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Put([]byte("q/0"), nil); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	err := db.View(func(tx Txn) error {
		return tx.Scan([]byte("p/"), []byte("p/2"), func(k, _ []byte) (bool, error) {
			got = append(got, bytes.Clone(k))
			return len(got) < 2, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]) != "p/2" || string(got[1]) != "p/3" {
		t.Fatalf("got %q", got)
	}
	var last string
	err = db.View(func(tx Txn) error {
		return tx.ScanReverse([]byte("p/"), func(k, _ []byte) (bool, error) {
			last = string(k)
			return false, nil
		})
	})
	if err != nil || last != "p/4" {
		t.Fatalf("reverse scan: %q %v", last, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("k"), []byte("durable")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Get([]byte("k")); err != nil || string(v) != "durable" {
		t.Fatalf("after reopen: %q %v", v, err)
	}
}

func TestBackupRestore(t *testing.T) {
	src := open(t)
	for i := range 100 {
		if err := src.Put(fmt.Appendf(nil, "k%03d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst := open(t)
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	v, err := dst.Get([]byte("k042"))
	if err != nil || string(v) != "v42" {
		t.Fatalf("restored: %q %v", v, err)
	}
}

func TestSync(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		n    int
	}{
		{"synced", Options{}, 50},
		{"unsynced", Options{UnsyncedWrites: true}, 50},
		// 8 MB memtables (the least Badger allows): the 18 MB written below
		// rotate through two, so
		// Sync meets logs of memtables waiting to be flushed.
		{"unsynced small memtables", Options{UnsyncedWrites: true, MemTableMB: 8}, 600},
		// The values in the value log, the tree holding pointers to them.
		{"unsynced value log", Options{UnsyncedWrites: true, ValueThreshold: 1024}, 600},
		{"in memory", Options{InMemory: true, UnsyncedWrites: true}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if !o.InMemory {
				o.Dir = t.TempDir()
			}
			db, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			val := bytes.Repeat([]byte("v"), 30000)
			n := tt.n
			b := db.NewBatch()
			for i := range n {
				if err := b.Put(fmt.Appendf(nil, "k/%05d", i), val); err != nil {
					t.Fatal(err)
				}
				if i%25 == 0 {
					// Sync while the batch is still committing in the background.
					if err := db.Sync(); err != nil {
						t.Fatalf("sync during batch: %v", err)
					}
				}
			}
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := db.Put([]byte("last"), []byte("1")); err != nil {
				t.Fatal(err)
			}
			if err := db.Sync(); err != nil {
				t.Fatal(err)
			}
			if o.InMemory {
				_ = db.Close()
				return
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			count := 0
			err = db.View(func(tx Txn) error {
				return tx.Scan([]byte("k/"), nil, func(_, v []byte) (bool, error) {
					if !bytes.Equal(v, val) {
						return false, errors.New("wrong value")
					}
					count++
					return true, nil
				})
			})
			if err != nil || count != n {
				t.Fatalf("after reopen: %d keys, %v; want %d", count, err, n)
			}
			if v, err := db.Get([]byte("last")); err != nil || string(v) != "1" {
				t.Fatalf("last: %q, %v", v, err)
			}
		})
	}
}

// TestValueThreshold checks where values go: with a threshold, values of
// at least that size are in the value log (.vlog files), and read back
// the same, after a reopen too; without one, they stay in the tree.
func TestValueThreshold(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		inLog     bool
	}{
		{"default", 0, false},
		{"256 bytes", 256, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir(), ValueThreshold: tt.threshold, UnsyncedWrites: true}
			db, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			val := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%04d", i), 100) } // 400 bytes
			b := db.NewBatch()
			for i := range n {
				if err := b.Put(fmt.Appendf(nil, "k/%05d", i), val(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Put([]byte("small"), []byte("s")); err != nil {
				t.Fatal(err)
			}
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := db.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			var vlog int64
			ents, err := os.ReadDir(o.Dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if filepath.Ext(e.Name()) == ".vlog" {
					info, err := e.Info()
					if err != nil {
						t.Fatal(err)
					}
					vlog += info.Size()
				}
			}
			if got := vlog >= n*400; got != tt.inLog {
				t.Fatalf("value log holds %d bytes for %d values of 400 bytes; in the log: %v, want %v", vlog, n, got, tt.inLog)
			}
			db, err = Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, i := range []int{0, 1234, n - 1} {
				if v, err := db.Get(fmt.Appendf(nil, "k/%05d", i)); err != nil || !bytes.Equal(v, val(i)) {
					t.Fatalf("k/%05d after reopen: %v", i, err)
				}
			}
			if v, err := db.Get([]byte("small")); err != nil || string(v) != "s" {
				t.Fatalf("small after reopen: %q %v", v, err)
			}
		})
	}
}
