// Package node assembles a state's sovereign node: the record store and the
// engine's in-memory projection of it, the sharing agreement, the audit
// log, the answerer that applies disclosure control and signs, the link
// that dials out to the hub, and the node API for the state's own agencies.
// cmd/vrs-node parses flags into a Config and calls New and Run; tests start
// nodes the same way.
package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/server"
	"github.com/vrs-federation/vrs/node/agreement"
	"github.com/vrs-federation/vrs/node/answerer"
	"github.com/vrs-federation/vrs/node/api"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/disclosure"
	"github.com/vrs-federation/vrs/node/engine"
	"github.com/vrs-federation/vrs/node/federation"
	"github.com/vrs-federation/vrs/node/store"
	"github.com/vrs-federation/vrs/node/ui"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// Config is everything a node needs; cmd/vrs-node fills it from flags.
type Config struct {
	// DataDir holds the node's Badger store (records, audit log, secret).
	DataDir string
	// Country is the node's state, ISO 3166-1 alpha-3; it must match the
	// node certificate.
	Country string
	// HubAddr is the hub's federation address; the node dials out to it.
	// Empty runs the node without a hub (records and API only).
	HubAddr string
	// APIListen serves the node API (mTLS, the state's agency certificates).
	APIListen string
	// UIListen serves the node's own web pages (overview, agreement,
	// preview, transparency); loopback only. Empty disables them.
	UIListen string
	// TLS names the node's certificate, key, the federation CA and an
	// optional CRL; all are reloaded when they change.
	TLS identity.Files
	// AgreementPath is the sharing agreement (HCL); reloaded on change or
	// Reload.
	AgreementPath string
	// RateLimit per caller identity on the API.
	RateLimit identity.RateLimit
	// ReconnectMax caps the wait between attempts to reach the hub, and so
	// how long the node stays away after the hub is back; zero means
	// federation.DefaultBackoffMax (5 s).
	ReconnectMax time.Duration
	// Version is the software version announced to the hub.
	Version string
	// Log is the root logger.
	Log hclog.Logger
}

// Node is an assembled node, its API listener bound.
type Node struct {
	cfg       Config
	log       hclog.Logger
	db        *kv.DB
	src       *identity.Source
	store     *store.Store
	engine    *engine.Engine
	audit     *audit.Log
	agreement *agreement.Holder
	answerer  *answerer.Answerer
	link      *federation.Client
	api       *server.HTTP
	ui        *server.HTTP
}

// New opens the store, rebuilds the engine's projection, loads the
// agreement and identity, and binds the API listener.
func New(ctx context.Context, cfg Config) (n *Node, err error) {
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	if cfg.RateLimit.PerSecond == 0 {
		cfg.RateLimit = identity.RateLimit{PerSecond: 100, Burst: 200}
	}
	log := cfg.Log
	// The deferred close must see the node even when a failing step has
	// already set the result to nil.
	nd := &Node{cfg: cfg, log: log}
	n = nd
	defer func() {
		if err != nil {
			nd.close()
		}
	}()

	n.src, err = identity.NewSource(cfg.TLS, log.Named("identity"))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if id := n.src.ID(); id.Role != identity.RoleNode || id.Country != cfg.Country {
		return nil, fmt.Errorf("identity: certificate %s is not the node certificate of %s", id, cfg.Country)
	}
	n.db, err = store.OpenDataDir(cfg.DataDir, log.Named("badger"))
	if err != nil {
		return nil, err
	}
	n.store, err = store.Open(n.db, log.Named("store"))
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n.engine = engine.New()
	if err := n.store.Scan(n.engine.Add); err != nil {
		return nil, fmt.Errorf("rebuild engine: %w", err)
	}
	n.store.AddObserver(n.engine)
	log.Info("records loaded", "incidents", n.store.Count(), "took", time.Since(start).Round(time.Millisecond))

	n.audit, err = audit.Open(n.db)
	if err != nil {
		return nil, err
	}
	n.agreement, err = agreement.NewHolder(ctx, agreement.HolderConfig{
		Path: cfg.AgreementPath, Country: cfg.Country, Audit: n.audit, Log: log,
		// Tell the hub what the node now enforces (the link exists by the
		// time a reload can happen: reloads start with Run).
		OnChange: func(*agreement.Agreement) {
			if n.link != nil {
				n.link.Rehello()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	secret, err := disclosure.LoadOrCreateSecret(n.db)
	if err != nil {
		return nil, err
	}
	n.answerer, err = answerer.New(answerer.Config{
		Country:         cfg.Country,
		Agreement:       n.agreement,
		Engine:          n.engine,
		Audit:           n.audit,
		Signer:          n.src.Signer,
		Secret:          secret,
		Log:             log.Named("answerer"),
		SoftwareVersion: cfg.Version,
	})
	if err != nil {
		return nil, err
	}
	if cfg.HubAddr != "" {
		n.link, err = federation.New(federation.Config{
			HubAddr: cfg.HubAddr,
			DialOptions: identity.GRPCDialOptions(n.src, func(id identity.ID) bool {
				return id.Role == identity.RoleHub
			}),
			Answerer:   n.answerer,
			Log:        log.Named("federation"),
			BackoffMax: cfg.ReconnectMax,
		})
		if err != nil {
			return nil, err
		}
	}

	mux := server.Mux(n.apiServices()...)
	n.api, err = server.Listen(server.Config{
		Name:    "api",
		Addr:    cfg.APIListen,
		TLS:     n.src.ServerTLS(),
		Handler: n.src.HTTPMiddleware(mux, api.Policy(cfg.Country), log.Named("api"), cfg.RateLimit),
		Log:     log,
	})
	if err != nil {
		return nil, err
	}
	if cfg.UIListen != "" {
		uiCfg := ui.Config{
			Country: cfg.Country, Records: n.store, Counter: n.engine,
			Agreement: n.agreement, Preview: n.answerer, Audit: n.audit, Log: log.Named("ui"),
		}
		if n.link != nil {
			uiCfg.Connected = n.link.Connected
		}
		handler, err := ui.New(uiCfg)
		if err != nil {
			return nil, err
		}
		n.ui, err = server.Listen(server.Config{Name: "ui", Addr: cfg.UIListen, Handler: handler, Log: log})
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// UIAddr is the bound UI address, or "" without a UI.
func (n *Node) UIAddr() string {
	if n.ui == nil {
		return ""
	}
	return n.ui.Addr()
}

func (n *Node) apiServices() []server.Service {
	var svcs []server.Service
	path, h := nodev1connect.NewRecordServiceHandler(api.NewRecordService(n.store, n.log.Named("records")), server.HandlerOptions()...)
	svcs = append(svcs, server.Service{Name: nodev1connect.RecordServiceName, Path: path, Handler: h})
	path, h = nodev1connect.NewAgreementServiceHandler(api.NewAgreementService(n.agreement, n.answerer), server.HandlerOptions()...)
	svcs = append(svcs, server.Service{Name: nodev1connect.AgreementServiceName, Path: path, Handler: h})
	path, h = nodev1connect.NewAuditServiceHandler(api.NewAuditService(n.audit), server.HandlerOptions()...)
	svcs = append(svcs, server.Service{Name: nodev1connect.AuditServiceName, Path: path, Handler: h})
	return svcs
}

// APIAddr is the bound API address.
func (n *Node) APIAddr() string { return n.api.Addr() }

// Connected reports whether the link to the hub is up.
func (n *Node) Connected() bool { return n.link != nil && n.link.Connected() }

// Run serves until ctx ends or a part fails, then stops every part and
// closes the store.
func (n *Node) Run(ctx context.Context) error {
	defer n.close()
	tasks := []func(context.Context) error{
		n.src.Run,
		func(ctx context.Context) error { return n.db.RunGC(ctx, 10*time.Minute) },
		n.agreement.Run,
		n.api.Run,
	}
	if n.link != nil {
		tasks = append(tasks, n.link.Run)
	}
	if n.ui != nil {
		tasks = append(tasks, n.ui.Run)
	}
	n.log.Info("node started", "country", n.cfg.Country, "api", n.APIAddr(), "ui", n.UIAddr(), "hub", n.cfg.HubAddr,
		"agreement", n.agreement.Current().Summary().GetHash())
	err := server.RunAll(ctx, tasks...)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	n.log.Info("node stopped")
	return err
}

func (n *Node) close() {
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			n.log.Error("close store", "error", err)
		}
		n.db = nil
	}
}

// ReloadAgreement re-reads the agreement file now (cmd/vrs-node calls it on
// SIGHUP). An invalid file keeps the agreement in force.
func (n *Node) ReloadAgreement() error { return n.agreement.Reload() }
