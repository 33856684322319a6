package registry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/kv"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

func open(t *testing.T, dir string) (*registry.Registry, *kv.DB) {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(registry.Config{Store: store.New(db)})
	if err != nil {
		t.Fatal(err)
	}
	return r, db
}

func TestPersistsAllButConnection(t *testing.T) {
	dir := t.TempDir()
	r, db := open(t, dir)
	notAfter := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	hello := &federationv1.Hello{SoftwareVersion: "1.2.3", Country: "THA", Agreement: &queryv1.AgreementSummary{Name: "cau", Version: 3, Hash: "abc"}}
	if err := r.Attached("THA", hello, notAfter); err != nil {
		t.Fatal(err)
	}
	if err := r.Attached("MYS", &federationv1.Hello{Country: "MYS"}, notAfter); err != nil {
		t.Fatal(err)
	}
	if err := r.Seen("THA"); err != nil {
		t.Fatal(err)
	}
	if err := r.Detached("MYS"); err != nil {
		t.Fatal(err)
	}
	n, err := r.Get("THA")
	if err != nil {
		t.Fatal(err)
	}
	if !n.GetConnected() || n.GetConnectedSince() == nil || n.GetSoftwareVersion() != "1.2.3" || n.GetAgreementHash() != "abc" ||
		!n.GetCertificateNotAfter().AsTime().Equal(notAfter) || n.GetName() != "Thailand" || n.GetLastSeen() == nil {
		t.Errorf("THA: %v", n)
	}
	if got := r.Countries(); len(got) != 2 || got[0] != "MYS" || got[1] != "THA" {
		t.Errorf("countries: %v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r2, db2 := open(t, dir)
	defer db2.Close()
	list := r2.List()
	if len(list) != 2 || list[0].GetCountry() != "MYS" || list[1].GetCountry() != "THA" {
		t.Fatalf("after restart: %v", list)
	}
	tha := list[1]
	if tha.GetConnected() || tha.GetConnectedSince() != nil || r2.Connected("THA") {
		t.Errorf("restarted registry shows THA connected: %v", tha)
	}
	if tha.GetSoftwareVersion() != "1.2.3" || tha.GetAgreement().GetVersion() != 3 || !tha.GetCertificateNotAfter().AsTime().Equal(notAfter) {
		t.Errorf("THA lost fields: %v", tha)
	}
	if _, err := r2.Get("IDN"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

// TestSeenWritesAtMostOncePerInterval: signs of life update the served
// last-seen time at once but reach the disk at most once per
// SeenPersistInterval, and a detach writes the latest.
func TestSeenWritesAtMostOncePerInterval(t *testing.T) {
	dir := t.TempDir()
	db, err := kv.Open(kv.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r, err := registry.New(registry.Config{Store: store.New(db), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Attached("THA", &federationv1.Hello{Country: "THA"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	stored := func() time.Time {
		t.Helper()
		r2, err := registry.New(registry.Config{Store: store.New(db), Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		n, err := r2.Get("THA")
		if err != nil {
			t.Fatal(err)
		}
		return n.GetLastSeen().AsTime()
	}
	attached := now
	now = now.Add(registry.SeenPersistInterval / 2)
	if err := r.Seen("THA"); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Get("THA"); !n.GetLastSeen().AsTime().Equal(now) {
		t.Errorf("served last seen %v, want %v", n.GetLastSeen().AsTime(), now)
	}
	if got := stored(); !got.Equal(attached) {
		t.Errorf("stored last seen %v within the interval, want the attach time %v", got, attached)
	}
	now = attached.Add(registry.SeenPersistInterval)
	if err := r.Seen("THA"); err != nil {
		t.Fatal(err)
	}
	if got := stored(); !got.Equal(now) {
		t.Errorf("stored last seen %v after the interval, want %v", got, now)
	}
	now = now.Add(time.Second)
	if err := r.Seen("THA"); err != nil {
		t.Fatal(err)
	}
	if err := r.Detached("THA"); err != nil {
		t.Fatal(err)
	}
	if got := stored(); !got.Equal(now) {
		t.Errorf("stored last seen %v after detach, want %v", got, now)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
