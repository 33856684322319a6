package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/store"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
)

func runNode(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func TestAuditListAndVerify(t *testing.T) {
	dir := t.TempDir()
	db, err := store.OpenDataDir(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []nodev1.AuditDecision{nodev1.AuditDecision_AUDIT_DECISION_AGREEMENT_LOADED, nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED, nodev1.AuditDecision_AUDIT_DECISION_REFUSED} {
		if _, err := l.Append(t.Context(), &nodev1.AuditEntry{Decision: d, TaskId: d.String(), Reason: "because"}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out, err := runNode(t, "audit", "verify", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "OK: 3 entries") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = runNode(t, "audit", "list", "--data-dir", dir, "--from", "2")
	if err != nil || !strings.Contains(out, "DISCLOSED") || !strings.Contains(out, "REFUSED") || strings.Contains(out, "AGREEMENT_LOADED") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runNode(t, "audit", "list", "--data-dir", dir, "--json")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"decision":"AUDIT_DECISION_REFUSED"`) {
		t.Fatalf("list --json: %v\n%s", err, out)
	}

	// Delete entry 2 behind the log's back.
	db, err = store.OpenDataDir(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	key := binary.BigEndian.AppendUint64([]byte("aud/e/"), 2)
	if err := db.Update(func(tx kv.Txn) error { return tx.Delete(key) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, err = runNode(t, "audit", "verify", "--data-dir", dir)
	if !errors.Is(err, errChainBroken) || !strings.Contains(out, "BROKEN: entry 2") {
		t.Fatalf("verify after deletion: %v\n%s", err, out)
	}

	if _, err := runNode(t, "audit", "verify", "--data-dir", t.TempDir()); err == nil {
		t.Fatal("verify of an empty directory succeeded")
	}
}
