// Package hub assembles the CAU hub: the node registry, the federation
// server the nodes dial into, federated runs and their merge, schedules, the
// regional picture, the hub API and the web UI. cmd/vrs-hub parses flags
// into a Config and calls New and Run; tests start hubs the same way.
package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/vrs-federation/vrs/hub/api"
	"github.com/vrs-federation/vrs/hub/export"
	"github.com/vrs-federation/vrs/hub/federation"
	"github.com/vrs-federation/vrs/hub/merge"
	"github.com/vrs-federation/vrs/hub/picture"
	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/hub/runs"
	"github.com/vrs-federation/vrs/hub/schedule"
	"github.com/vrs-federation/vrs/hub/store"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/internal/server"
	federationv1 "github.com/vrs-federation/vrs/proto/vrs/federation/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// Config is everything a hub needs; cmd/vrs-hub fills it from flags.
type Config struct {
	// DataDir holds the hub's Badger store.
	DataDir string
	// FederationListen is where nodes attach (mTLS, node certificates).
	FederationListen string
	// APIListen serves the hub API (mTLS, operators and partners).
	APIListen string
	// UIListen serves the web UI; loopback only. Empty disables it.
	UIListen string
	// TLS names the hub's certificate, key, the federation CA and an
	// optional CRL; all are reloaded when they change.
	TLS identity.Files
	// NoReciprocity lets a state-bound partner read regional products its
	// state did not contribute to. The zero value keeps reciprocity on.
	NoReciprocity bool
	// HeartbeatInterval on the federation link; default 10 s.
	HeartbeatInterval time.Duration
	// RateLimit per caller identity on the API.
	RateLimit identity.RateLimit
	// Version is the software version reported to nodes.
	Version string
	// Log is the root logger.
	Log hclog.Logger
}

// Hub is an assembled hub, its listeners bound.
type Hub struct {
	cfg      Config
	log      hclog.Logger
	db       *kv.DB
	src      *identity.Source
	registry *registry.Registry
	runs     *runs.Manager
	fed      *federation.Server
	sched    *schedule.Scheduler
	picture  picture.Definition
	fedLn    net.Listener
	grpc     *grpc.Server
	api      *server.HTTP
	ui       *server.HTTP
}

// New opens the store, loads the identity and binds every listener.
func New(cfg Config) (h *Hub, err error) {
	if cfg.Log == nil {
		cfg.Log = logging.Discard()
	}
	if cfg.RateLimit.PerSecond == 0 {
		cfg.RateLimit = identity.RateLimit{PerSecond: 200, Burst: 400}
	}
	log := cfg.Log
	// The deferred close must see the hub even when a failing step has
	// already set the result to nil.
	hb := &Hub{cfg: cfg, log: log}
	h = hb
	defer func() {
		if err != nil {
			hb.close()
		}
	}()

	h.src, err = identity.NewSource(cfg.TLS, log.Named("identity"))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if id := h.src.ID(); id.Role != identity.RoleHub {
		return nil, fmt.Errorf("identity: certificate %s is not a hub certificate", id)
	}
	h.db, err = kv.Open(kv.Options{Dir: filepath.Join(cfg.DataDir, "db"), Logger: log.Named("badger")})
	if err != nil {
		return nil, err
	}
	st := store.New(h.db)
	h.registry, err = registry.New(registry.Config{Store: st, Log: log.Named("registry")})
	if err != nil {
		return nil, err
	}
	h.runs, err = runs.New(runs.Config{
		Store:     st,
		States:    h.registry.Countries,
		Merge:     merge.Merge,
		Requester: h.src.ID().String(),
		Log:       log.Named("runs"),
	})
	if err != nil {
		return nil, err
	}
	h.picture = picture.Standard()
	h.sched, err = schedule.New(schedule.Config{DB: h.db, Runs: h.runs, Log: log.Named("schedule")})
	if err != nil {
		return nil, err
	}
	h.fed, err = federation.New(federation.Config{
		Registry:          h.registry,
		Runs:              h.runs,
		HeartbeatInterval: cfg.HeartbeatInterval,
		HubVersion:        cfg.Version,
		Log:               log.Named("federation"),
	})
	if err != nil {
		return nil, err
	}

	// Federation listener: grpc-go, node certificates only.
	fedPolicy := FederationPolicy()
	// WaitForHandlers: no stream handler may touch the registry after Run
	// has closed the store.
	grpcOpts := append(identity.GRPCServerOptions(h.src, fedPolicy, log.Named("federation")), grpc.WaitForHandlers(true))
	h.grpc = grpc.NewServer(grpcOpts...)
	federationv1.RegisterFederationServer(h.grpc, h.fed)
	hs := health.NewServer()
	hs.SetServingStatus(federationv1.Federation_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(h.grpc, hs)
	reflection.Register(h.grpc)
	h.fedLn, err = net.Listen("tcp", cfg.FederationListen)
	if err != nil {
		return nil, fmt.Errorf("federation listener: %w", err)
	}

	// API listener: connect-go, operators and partners.
	mux := server.Mux(h.apiServices()...)
	h.api, err = server.Listen(server.Config{
		Name:    "api",
		Addr:    cfg.APIListen,
		TLS:     h.src.ServerTLS(),
		Handler: h.src.HTTPMiddleware(mux, api.Policy(), log.Named("api"), cfg.RateLimit),
		Log:     log,
	})
	if err != nil {
		return nil, err
	}
	if cfg.UIListen != "" {
		uiHandler, err := h.uiHandler()
		if err != nil {
			return nil, err
		}
		h.ui, err = server.Listen(server.Config{Name: "ui", Addr: cfg.UIListen, Handler: uiHandler, Log: log})
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *Hub) apiServices() []server.Service {
	var svcs []server.Service
	path, handler := hubv1connect.NewNodeServiceHandler(api.NewNodeService(h.registry), server.HandlerOptions()...)
	svcs = append(svcs, server.Service{Name: hubv1connect.NodeServiceName, Path: path, Handler: handler})
	path, handler = hubv1connect.NewQueryServiceHandler(api.NewQueryService(h.runs).WithReciprocity(!h.cfg.NoReciprocity), server.HandlerOptions()...)
	svcs = append(svcs, server.Service{Name: hubv1connect.QueryServiceName, Path: path, Handler: handler})
	path, handler = hubv1connect.NewScheduleServiceHandler(api.NewScheduleService(h.sched).WithLog(h.log.Named("schedules")), server.HandlerOptions()...)
	svcs = append(svcs, server.Service{Name: hubv1connect.ScheduleServiceName, Path: path, Handler: handler})
	opts := api.DefaultReportOptions()
	opts.Reciprocity = !h.cfg.NoReciprocity
	opts.Export.Columns = export.RegistryColumns{Nodes: h.registry}
	opts.Log = h.log.Named("reports")
	reports := api.NewReportService(h.runs, h.picture, opts)
	path, handler = hubv1connect.NewReportServiceHandler(reports, server.HandlerOptions(reports.HandlerOptions()...)...)
	svcs = append(svcs, server.Service{Name: hubv1connect.ReportServiceName, Path: path, Handler: handler})
	return svcs
}

// FederationAddr is the bound federation address.
func (h *Hub) FederationAddr() string { return h.fedLn.Addr().String() }

// APIAddr is the bound API address.
func (h *Hub) APIAddr() string { return h.api.Addr() }

// UIAddr is the bound UI address, or "" without a UI.
func (h *Hub) UIAddr() string {
	if h.ui == nil {
		return ""
	}
	return h.ui.Addr()
}

// Run serves until ctx ends or a part fails, then stops every part and
// closes the store.
func (h *Hub) Run(ctx context.Context) error {
	defer h.close()
	tasks := []func(context.Context) error{
		h.src.Run,
		func(ctx context.Context) error { return h.db.RunGC(ctx, 10*time.Minute) },
		h.runs.Run,
		h.runSchedules,
		h.serveFederation,
		h.api.Run,
	}
	if h.ui != nil {
		tasks = append(tasks, h.ui.Run)
	}
	h.log.Info("hub started", "federation", h.FederationAddr(), "api", h.APIAddr(), "ui", h.UIAddr(), "id", h.src.ID().String())
	err := server.RunAll(ctx, tasks...)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	h.log.Info("hub stopped")
	return err
}

// runSchedules makes sure the standard regional picture has its monthly
// schedules, then runs the scheduler.
func (h *Hub) runSchedules(ctx context.Context) error {
	if _, err := h.sched.EnsureStandard(ctx, h.picture); err != nil {
		return fmt.Errorf("standard picture schedules: %w", err)
	}
	return h.sched.Run(ctx)
}

func (h *Hub) serveFederation(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- h.grpc.Serve(h.fedLn) }()
	select {
	case err := <-errc:
		return fmt.Errorf("federation server: %w", err)
	case <-ctx.Done():
	}
	// Streams are long-lived: end them first so GracefulStop need not wait
	// for every node to hang up.
	h.fed.Drain()
	done := make(chan struct{})
	go func() { h.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		h.grpc.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("federation server: %w", err)
	}
	return nil
}

func (h *Hub) close() {
	if h.db != nil {
		if err := h.db.Close(); err != nil {
			h.log.Error("close store", "error", err)
		}
		h.db = nil
	}
}
