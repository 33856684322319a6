package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/kv"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
)

func TestProtoRoundTripAndIndexOrder(t *testing.T) {
	db, err := kv.Open(kv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := store.New(db)
	if err := s.Put(store.NodeKey("THA"), &hubv1.Node{Country: "THA", SoftwareVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	n := &hubv1.Node{}
	if err := s.Get(store.NodeKey("THA"), n); err != nil || n.GetSoftwareVersion() != "1" {
		t.Fatalf("get: %v %v", n, err)
	}
	if err := s.Get(store.NodeKey("MYS"), n); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	older, newer := store.RunIndexKey(t0, "a"), store.RunIndexKey(t0.Add(time.Nanosecond), "b")
	if bytes.Compare(newer, older) >= 0 {
		t.Error("a newer run does not sort first")
	}
	if id, err := store.RunIndexID(newer); err != nil || id != "b" {
		t.Errorf("RunIndexID: %q %v", id, err)
	}
	if _, err := store.RunIndexID([]byte("x")); err == nil {
		t.Error("short key accepted")
	}
}
