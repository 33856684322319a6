package agreement

import (
	"testing"
	"time"

	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/node/audit"
)

func openAudit(t *testing.T) *audit.Log {
	t.Helper()
	db, err := kv.Open(kv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := audit.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitABit() { time.Sleep(5 * time.Millisecond) }
