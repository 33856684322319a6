package main

import (
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/hub"
	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
)

func newServeCmd(g *cli.Globals) *cobra.Command {
	var (
		cfg         hub.Config
		files       identity.Files
		reciprocity bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: federation server, hub API and web UI",
		Long: `Runs the hub until SIGINT or SIGTERM, then drains gracefully.

Nodes attach to --federation-listen with node certificates; operators and
partners use the hub API on --api-listen with their certificates; the web UI
on --ui-listen is plain HTTP and must stay on loopback (put an authenticating
reverse proxy in front for remote use). Certificates, key, CA and CRL are
re-read when their files change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			logging.InstallGRPC(log)
			cfg.TLS = files
			cfg.NoReciprocity = !reciprocity
			cfg.Log = log
			cfg.Version = cli.Version
			h, err := hub.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return h.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory of the hub's store")
	f.StringVar(&cfg.FederationListen, "federation-listen", "0.0.0.0:7443", "address nodes attach to (mTLS)")
	f.StringVar(&cfg.APIListen, "api-listen", "0.0.0.0:8443", "hub API address (mTLS)")
	f.StringVar(&cfg.UIListen, "ui-listen", "127.0.0.1:8080", "web UI address, loopback only; empty disables the UI")
	cli.AddIdentityFlags(f, "hub", &files, &cfg.RateLimit, 200, 400)
	f.BoolVar(&reciprocity, "reciprocity", true, "a state-bound partner reads a regional product only if its state contributed")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat", 10*time.Second, "heartbeat interval on the federation link")
	cli.MarkRequired(cmd, "data-dir", "cert", "key", "ca")
	return cmd
}
