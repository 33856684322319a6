package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/store"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// runCmd runs vrs-node with args and returns its standard output and error.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--log-level", "error"))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func testIncidents(n int) []*recordv1.Incident {
	out := make([]*recordv1.Incident, n)
	for i := range out {
		out[i] = &recordv1.Incident{
			NationalRef:   fmt.Sprintf("IDN-%04d", i),
			DetectedOn:    time.Date(2025, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC).Format("2006-01-02"),
			DetectedAt:    &recordv1.Place{Country: "IDN", Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA},
			TransportMode: recordv1.TransportMode(1 + i%4),
			Migrants:      []*recordv1.Person{{Citizenship: "AFG", Age: proto.Int32(int32(18 + i%40)), FullName: "Synthetic Person"}},
		}
	}
	return out
}

// dumpStore returns every stored incident of a data directory by reference.
func dumpStore(t *testing.T, dataDir string) map[string]*nodev1.StoredIncident {
	t.Helper()
	db, err := store.OpenDataDir(dataDir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := store.Open(db, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*nodev1.StoredIncident{}
	o := store.ListOptions{PageSize: store.MaxPageSize}
	for {
		page, next, err := s.List(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, si := range page {
			out[si.GetIncident().GetNationalRef()] = si
		}
		if next == "" {
			break
		}
		o.PageToken = next
	}
	if len(out) != s.Count() {
		t.Fatalf("listed %d incidents, count %d", len(out), s.Count())
	}
	return out
}

func TestBackupRestore(t *testing.T) {
	src := t.TempDir()
	db, err := store.OpenDataDir(src, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(db, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	incs := testIncidents(1500)
	if _, err := s.Upsert(t.Context(), incs[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(t.Context(), incs[1000:]); err != nil {
		t.Fatal(err)
	}
	incs[3].Notes = "changed" // version 2 for one incident
	if _, err := s.Upsert(t.Context(), incs[3:4]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(t.Context(), "IDN-0007"); err != nil {
		t.Fatal(err)
	}

	// A running node (here: the open DB) holds the store.
	file := filepath.Join(t.TempDir(), "node.backup")
	if _, _, err := runCmd(t, "backup", "--data-dir", src, "--out", file); err == nil || !strings.Contains(err.Error(), "running node") {
		t.Fatalf("backup of a locked store: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	out, _, err := runCmd(t, "backup", "--data-dir", src, "--out", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1499 incidents") {
		t.Errorf("backup output %q", out)
	}
	if _, _, err := runCmd(t, "backup", "--data-dir", src, "--out", file); err == nil {
		t.Fatal("backup overwrote an existing file without --force")
	}

	dst := filepath.Join(t.TempDir(), "restored")
	out, _, err = runCmd(t, "restore", "--data-dir", dst, "--in", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "1499 incidents") {
		t.Errorf("restore output %q", out)
	}
	want, got := dumpStore(t, src), dumpStore(t, dst)
	if len(want) != 1499 || len(got) != len(want) {
		t.Fatalf("restored %d incidents, want %d", len(got), len(want))
	}
	for ref, si := range want {
		if !proto.Equal(si, got[ref]) {
			t.Fatalf("%s differs after restore:\n got %v\nwant %v", ref, got[ref], si)
		}
	}
	if got["IDN-0003"].GetVersion() != 2 {
		t.Errorf("version not restored: %v", got["IDN-0003"])
	}

	// Restoring over a store is refused.
	if _, _, err := runCmd(t, "restore", "--data-dir", dst, "--in", file); err == nil || !strings.Contains(err.Error(), "empty data directory") {
		t.Fatalf("restore into a non-empty store: %v", err)
	}
	// A broken backup leaves the target empty, so the restore can be retried.
	broken := filepath.Join(t.TempDir(), "broken.backup")
	if err := os.WriteFile(broken, []byte("not a backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	if _, _, err := runCmd(t, "restore", "--data-dir", empty, "--in", broken); err == nil {
		t.Fatal("restore of a broken backup succeeded")
	}
	if _, err := os.Stat(store.DBDir(empty)); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left a store behind: %v", err)
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "node")
	var good strings.Builder
	for _, inc := range testIncidents(50) {
		good.WriteString(`{"nationalRef":"` + inc.GetNationalRef() + `","detectedOn":"` + inc.GetDetectedOn() + `","transportMode":"TRANSPORT_MODE_SEA"}` + "\n")
	}
	goodPath := filepath.Join(dir, "good.jsonl")
	badPath := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(goodPath, []byte(good.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := `{"nationalRef":"A","detectedOn":"2025-01-01"}` + "\n" + `{"nationalRef":"B","detectedOn":"2025-01-01","migrants":[{"age":130,"fullName":"CANARY"}]}` + "\n"
	if err := os.WriteFile(badPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runCmd(t, "import", "--data-dir", dataDir, goodPath, badPath)
	if err == nil {
		t.Fatal("import with a bad file succeeded")
	}
	if !strings.Contains(out, "good.jsonl: 50 incidents: 50 created, 0 updated, 0 unchanged") {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, badPath+":2: migrants[0].age: 130 is not between 0 and 120") || strings.Contains(errOut, "CANARY") {
		t.Errorf("stderr %q", errOut)
	}
	out, _, err = runCmd(t, "import", "--data-dir", dataDir, goodPath)
	if err != nil || !strings.Contains(out, "0 created, 0 updated, 50 unchanged") {
		t.Fatalf("re-import: %q %v", out, err)
	}
	if n := len(dumpStore(t, dataDir)); n != 50 {
		t.Fatalf("%d incidents stored, want 50", n)
	}
	out, _, err = runCmd(t, "import", "--dry-run", badPath)
	if err == nil || out != "" {
		t.Fatalf("dry run of a bad file: %q %v", out, err)
	}

	xlsx := filepath.Join(dir, "t.xlsx")
	if _, _, err := runCmd(t, "template", "--out", xlsx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "template", "--out", xlsx); err == nil {
		t.Fatal("template overwrote a file without --force")
	}
	out, _, err = runCmd(t, "import", "--dry-run", xlsx)
	if err != nil || !strings.Contains(out, "t.xlsx: 0 incidents, no problems") {
		t.Fatalf("dry run of the empty template: %q %v", out, err)
	}
}
