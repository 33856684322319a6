package agreement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/audit"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
)

// HolderConfig configures a Holder.
type HolderConfig struct {
	// Path is the agreement file.
	Path string
	// Country is the node's country (ISO 3166-1 alpha-3).
	Country string
	// Audit records every load; required.
	Audit *audit.Log
	// Log receives a line per load and per rejected reload.
	Log hclog.Logger
	// Clock stamps LoadedAt; default time.Now.
	Clock func() time.Time
	// PollInterval is how often Run looks at the file; default 5 s.
	PollInterval time.Duration
	// OnChange, when set, is called after a reload put a new agreement in
	// force (not for the first load), e.g. to tell the hub.
	OnChange func(*Agreement)
}

// Holder holds the agreement in force and swaps it atomically on reload.
// A reload that fails validation keeps the previous agreement.
type Holder struct {
	cfg     HolderConfig
	log     hclog.Logger
	current atomic.Pointer[Agreement]
	mu      sync.Mutex // serializes reloads
	badHash string     // last rejected contents, reported once
	badErr  error
}

// NewHolder loads the agreement file and records the load in the audit
// log; an invalid file is an error.
func NewHolder(ctx context.Context, cfg HolderConfig) (*Holder, error) {
	if cfg.Audit == nil {
		return nil, errors.New("agreement holder: no audit log")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	h := &Holder{cfg: cfg, log: cfg.Log}
	if h.log == nil {
		h.log = logging.Discard()
	}
	h.log = h.log.Named("agreement")
	if _, err := h.load(ctx, true); err != nil {
		return nil, err
	}
	return h, nil
}

// Current returns the agreement in force.
func (h *Holder) Current() *Agreement { return h.current.Load() }

// Reload reads the file again. An unchanged file is left as is; a changed,
// valid file replaces the agreement and is audited; an invalid one is
// logged, returned as an error, and the previous agreement stays.
func (h *Holder) Reload() error {
	_, err := h.load(context.Background(), false)
	return err
}

func (h *Holder) load(ctx context.Context, first bool) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	src, err := os.ReadFile(h.cfg.Path)
	if err != nil {
		if !first {
			h.log.Error("agreement reload failed; keeping the agreement in force", "path", h.cfg.Path, "error", err)
		}
		return false, fmt.Errorf("read agreement: %w", err)
	}
	sum := sha256.Sum256(src)
	hash := hex.EncodeToString(sum[:])
	if old := h.current.Load(); old != nil && old.Hash == hash {
		return false, nil
	}
	if hash == h.badHash {
		return false, h.badErr
	}
	a, err := Parse(h.cfg.Path, src, h.cfg.Country)
	if err != nil {
		err = fmt.Errorf("agreement: %w", err)
		if !first {
			h.log.Error("agreement reload rejected; keeping the agreement in force", "error", err)
		}
		h.badHash, h.badErr = hash, err
		return false, err
	}
	a.LoadedAt = h.cfg.Clock().UTC()
	verb := "loaded"
	if !first {
		verb = "reloaded"
	}
	_, err = h.cfg.Audit.Append(ctx, &nodev1.AuditEntry{
		AgreementVersion: a.Version,
		AgreementHash:    a.Hash,
		Decision:         nodev1.AuditDecision_AUDIT_DECISION_AGREEMENT_LOADED,
		Reason:           fmt.Sprintf("agreement %s version %d %s from %s", a.Name, a.Version, verb, h.cfg.Path),
	})
	if err != nil {
		// Not audited means not in force: the log must show what applied.
		return false, fmt.Errorf("audit agreement load: %w", err)
	}
	h.current.Store(a)
	h.log.Info("agreement "+verb, "name", a.Name, "version", a.Version, "hash", a.Hash,
		"measures", len(a.Measures), "extracts", len(a.Extracts))
	if !first && h.cfg.OnChange != nil {
		h.cfg.OnChange(a)
	}
	return true, nil
}

// Run reloads the agreement when the process gets SIGHUP and when the
// file's contents change (checked every PollInterval, which also catches
// editors that replace the file), until ctx ends.
func (h *Holder) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(h.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			h.log.Info("SIGHUP: reloading the agreement")
			_ = h.Reload() // logged inside; the old agreement stays
		case <-t.C:
			_ = h.Reload()
		}
	}
}
