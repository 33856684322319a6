package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node"
	"github.com/vrs-federation/vrs/node/importer"
	"github.com/vrs-federation/vrs/node/store"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// impAgreement is a minimal agreement for the node of THA; its content does
// not matter to importing.
const impAgreement = `agreement "import-test" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 10
  rounding     = "rr3"
  max_group_by = 3
  period_floor = "month"

  measure "incidents" { dimensions = ["period.year", "transport_mode"] }
}
`

// impNode is a running node of THA, without a hub.
type impNode struct {
	addr string
	stop func() // stops the node and waits for it
}

// impStartNode starts a node on dataDir and stops it when the test ends
// (or earlier, by stop).
func impStartNode(t *testing.T, p *identitytest.PKI, dataDir string) *impNode {
	t.Helper()
	agreementPath := filepath.Join(t.TempDir(), "THA.hcl")
	if err := os.WriteFile(agreementPath, []byte(impAgreement), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, node.Config{
		DataDir:       dataDir,
		Country:       "THA",
		APIListen:     "127.0.0.1:0",
		TLS:           p.Files(t, p.Node("THA")),
		AgreementPath: agreementPath,
		Version:       "test",
		Log:           logging.Discard(),
	})
	if err != nil {
		cancel()
		t.Fatalf("node: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(ctx); err != nil {
			t.Errorf("node run: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &impNode{addr: n.APIAddr(), stop: stop}
}

// impIncidents are n valid incidents of THA.
func impIncidents(n int) []*recordv1.Incident {
	out := make([]*recordv1.Incident, n)
	for i := range out {
		out[i] = &recordv1.Incident{
			NationalRef:   fmt.Sprintf("THA-%05d", i),
			DetectedOn:    fmt.Sprintf("2025-%02d-%02d", 1+i%12, 1+i%28),
			DetectedAt:    &recordv1.Place{Country: "THA", Subdivision: "TH-90", Type: recordv1.LocationType_LOCATION_TYPE_AT_SEA},
			TransportMode: recordv1.TransportMode_TRANSPORT_MODE_SEA,
			Migrants:      []*recordv1.Person{{Citizenship: "MMR", Age: proto.Int32(int32(18 + i%40)), FullName: "Synthetic Person"}},
		}
	}
	return out
}

// impWriteJSONL writes incs as a .jsonl import file.
func impWriteJSONL(t *testing.T, incs []*recordv1.Incident) string {
	t.Helper()
	var b strings.Builder
	for _, inc := range incs {
		line, err := protojson.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "incidents.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func impFlags(addr string, f identity.Files) []string {
	return []string{"--api", addr, "--cert", f.Cert, "--key", f.Key, "--ca", f.CA}
}

// TestImportOnline sends a file through a running node's API in batches,
// sends it again (nothing changes), and checks who may send.
func TestImportOnline(t *testing.T) {
	p := identitytest.New(t)
	n := impStartNode(t, p, t.TempDir())
	agency := p.Files(t, p.Agency("THA", "police"))
	path := impWriteJSONL(t, impIncidents(250))

	args := append([]string{"import", "--batch", "100"}, impFlags(n.addr, agency)...)
	out, errOut, err := runCmd(t, append(args, path)...)
	if err != nil || !strings.Contains(out, "incidents.jsonl: 250 incidents: 250 created, 0 updated, 0 unchanged") {
		t.Fatalf("import: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	out, errOut, err = runCmd(t, append(args, path)...)
	if err != nil || !strings.Contains(out, "250 incidents: 0 created, 0 updated, 250 unchanged") {
		t.Fatalf("second import: %v\nstdout %q\nstderr %q", err, out, errOut)
	}

	// An invalid file is refused before anything is sent.
	bad := impIncidents(2)
	bad[1].Migrants[0].Age = proto.Int32(130)
	badPath := impWriteJSONL(t, bad)
	_, errOut, err = runCmd(t, append(args, badPath)...)
	if err == nil || !strings.Contains(errOut, ":2: migrants[0].age: 130 is not between 0 and 120") || strings.Contains(errOut, "Synthetic") {
		t.Fatalf("bad file: %v\nstderr %q", err, errOut)
	}

	tests := []struct {
		name  string
		files identity.Files
		want  string
	}{
		// The client will not send THA's records to a node that is not THA's.
		{"agency of another state", p.Files(t, p.Agency("IDN", "police")), "stopped before the node acknowledged any incident"},
		{"not an agency", p.Files(t, p.Partner("unodc")), "not an agency certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := append([]string{"import"}, impFlags(n.addr, tt.files)...)
			_, errOut, err := runCmd(t, append(a, path)...)
			if err == nil || !strings.Contains(errOut+fmt.Sprint(err), tt.want) {
				t.Fatalf("got %v, stderr %q; want %q", err, errOut, tt.want)
			}
		})
	}
	if _, _, err := runCmd(t, "import", "--api", n.addr, "--data-dir", t.TempDir(), path); err == nil {
		t.Fatal("--api with --data-dir accepted")
	}
}

// TestImportOnlineStopsHalfway stops the node after the first batch is
// acknowledged: that batch stays stored, nothing after it is written, and
// sending the file again completes it.
func TestImportOnlineStopsHalfway(t *testing.T) {
	ctx := t.Context()
	p := identitytest.New(t)
	dataDir := t.TempDir()
	n := impStartNode(t, p, dataDir)
	agency := p.Files(t, p.Agency("THA", "police"))
	path := impWriteJSONL(t, impIncidents(250))

	sink, err := newAPISink(n.addr, agency, 100, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	sink.Progress = func(done, total int) {
		if done == 100 {
			n.stop() // the node goes away between two batches
		}
	}
	var out, errOut strings.Builder
	err = runImport(ctx, importer.New(importer.Config{Sink: sink}), []string{path}, &out, &errOut, false)
	want := "stopped: the node acknowledged the first 100 of 250 incidents (100 created, 0 updated, 0 unchanged) and keeps them"
	if err == nil || out.Len() > 0 || !strings.Contains(errOut.String(), want) {
		t.Fatalf("got %v\nstdout %q\nstderr %q\nwant %q", err, out.String(), errOut.String(), want)
	}

	// Restarted, the node has exactly the acknowledged batch.
	n = impStartNode(t, p, dataDir)
	sink, err = newAPISink(n.addr, agency, 100, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.New(importer.Config{Sink: sink}).Import(ctx, path)
	if err != nil || res.Written != (store.UpsertResult{Created: 150, Unchanged: 100}) {
		t.Fatalf("second import: %v, %+v", err, res.Written)
	}

	// Rules the node applies that the file's reader did not (a newer node,
	// say) come back as problems at their lines, after the batches before.
	bad := impIncidents(250)
	for _, inc := range bad {
		inc.ReportingAgency = "changed"
	}
	bad[120].Migrants[0].Age = proto.Int32(130) // in the second batch
	_, err = sink.Write(ctx, bad)
	var pe *importer.PartialError
	var ve *store.ValidationError
	if !errors.As(err, &pe) || pe.Acknowledged != 100 || pe.Written.Updated != 100 || !errors.As(err, &ve) {
		t.Fatalf("got %v; want a PartialError after 100 with a ValidationError", err)
	}
	if len(ve.Errors) != 1 || ve.Errors[0].Index != 120 || ve.Errors[0].Path != "migrants[0].age" {
		t.Fatalf("validation errors %+v, want incidents[120].migrants[0].age", ve.Errors)
	}
}
