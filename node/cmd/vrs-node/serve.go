package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node"
	"github.com/vrs-federation/vrs/node/federation"
)

func newServeCmd(g *cli.Globals) *cobra.Command {
	var (
		cfg   node.Config
		files identity.Files
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the node: answer the hub under the agreement and serve the node API",
		Long: `Runs the node until SIGINT or SIGTERM, then drains gracefully.

The node dials out to the hub at --hub (the state opens no inbound port for
the federation) and reconnects with backoff whenever the link drops. The
state's agencies use the node API on --api-listen with agency certificates
of this country. SIGHUP re-reads the agreement file (it is also picked up
when the file changes); certificates, key, CA and CRL are re-read when their
files change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			logging.InstallGRPC(log)
			cfg.TLS = files
			cfg.Log = log
			cfg.Version = cli.Version
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			n, err := node.New(ctx, cfg)
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if err := n.ReloadAgreement(); err != nil {
							log.Error("agreement reload refused; the previous agreement stays in force", "error", err)
						}
					}
				}
			}()
			return n.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory of the node's store")
	f.StringVar(&cfg.Country, "country", "", "this node's state, ISO 3166-1 alpha-3 (must match the certificate)")
	f.StringVar(&cfg.HubAddr, "hub", "", "the hub's federation address; empty runs without a hub")
	f.StringVar(&cfg.APIListen, "api-listen", "127.0.0.1:9443", "node API address (mTLS)")
	f.StringVar(&cfg.UIListen, "ui-listen", "", "the node's own web pages (transparency, preview), loopback only; empty disables them")
	f.StringVar(&cfg.AgreementPath, "agreement", "", "the sharing agreement (HCL)")
	f.DurationVar(&cfg.ReconnectMax, "reconnect-max", federation.DefaultBackoffMax, "longest wait between attempts to reach the hub (jittered)")
	cli.AddIdentityFlags(f, "node", &files, &cfg.RateLimit, 100, 200)
	cli.MarkRequired(cmd, "data-dir", "country", "cert", "key", "ca", "agreement")
	return cmd
}
