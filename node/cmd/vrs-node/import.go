package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/node/importer"
	"github.com/vrs-federation/vrs/node/store"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// newImportCmd is `vrs-node import --data-dir D FILE...`, the offline
// import straight into the store of a stopped node, or `vrs-node import
// --api ADDR --cert F --key F --ca F FILE...`, the online import through a
// running node's API.
func newImportCmd(g *cli.Globals) *cobra.Command {
	var (
		dataDir string
		dryRun  bool
		api     string
		files   identity.Files
		batch   int
	)
	cmd := &cobra.Command{
		Use:   "import (--data-dir D | --api ADDR --cert F --key F --ca F | --dry-run) FILE...",
		Short: "Import incidents from .jsonl, .csv or .xlsx files into a node's store",
		Long: `Import incidents from files into the node's record store, either offline
(--data-dir: the node must be stopped, the store is opened directly) or online
(--api: through the running node's API, with an agency certificate of the
node's country).

Formats (see docs/import.md): .jsonl, one protojson Incident per line; .csv,
NAME.csv with its companions NAME.persons.csv and NAME.documents.csv; .xlsx, a
workbook made with 'vrs-node template'.

A file with any invalid line is not written at all: every problem is listed
with its line and field, and the command exits with status 1. Offline, each
file is written all or nothing. Online, a file is sent in batches: each
acknowledged batch is stored for good, so a failure half-way leaves the
file's first batches stored (the command says how many incidents); sending
the same file again is safe, since importing an incident again changes
nothing.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			online := api != ""
			switch {
			case online && dataDir != "":
				return errors.New("--data-dir and --api exclude each other: offline into a stopped node, or online through a running one")
			case dataDir == "" && !online && !dryRun:
				return errors.New("--data-dir (node stopped) or --api (node running) is required, or --dry-run to only check the files")
			case online && (files.Cert == "" || files.Key == "" || files.CA == ""):
				return errors.New("--api needs --cert, --key and --ca (an agency certificate of the node's country)")
			}
			log, err := g.Logger()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			progress := terminal(os.Stderr)
			cfg := importer.Config{Logger: log.Named("import"), DryRun: dryRun, Progress: progress}
			switch {
			case dryRun:
			case online:
				sink, err := newAPISink(api, files, batch, log)
				if err != nil {
					return err
				}
				if progress != nil {
					sink.Progress = func(done, total int) {
						fmt.Fprintf(progress, "\rsent %d of %d incidents   ", done, total)
						if done == total {
							fmt.Fprint(progress, "\r\033[K")
						}
					}
				}
				cfg.Sink = sink
			default:
				// Unsynced commits with syncs at BulkLoad's commit points:
				// see docs/import.md, "How the offline import writes".
				db, err := store.OpenDataDirBulk(dataDir, log.Named("badger"))
				if errors.Is(err, store.ErrLocked) {
					return fmt.Errorf("%s is in use by a running node: stop the node first, or send the file to its API with --api", dataDir)
				}
				if err != nil {
					return err
				}
				defer db.Close()
				st, err := store.Open(db, log.Named("store"))
				if err != nil {
					return err
				}
				cfg.Sink = importer.StoreSink{Store: st}
			}
			return runImport(ctx, importer.New(cfg), paths, cmd.OutOrStdout(), cmd.ErrOrStderr(), dryRun)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "the stopped node's data directory (offline import)")
	f.BoolVar(&dryRun, "dry-run", false, "read and check the files, write nothing")
	f.StringVar(&api, "api", "", "the running node's API address, host:port (online import)")
	f.StringVar(&files.Cert, "cert", "", "with --api: your agency certificate (PEM)")
	f.StringVar(&files.Key, "key", "", "with --api: its private key (PEM)")
	f.StringVar(&files.CA, "ca", "", "with --api: the federation CA certificate (PEM)")
	f.StringVar(&files.CRL, "crl", "", "with --api: the federation CRL (PEM), optional")
	f.IntVar(&batch, "batch", importer.APIBatchSize, "with --api: incidents per request (each one atomic)")
	return cmd
}

// newAPISink connects to the node API at addr over mTLS (gRPC protocol on
// HTTP/2). The server must present the node certificate of the agency's
// own country: records are never sent to another state's node.
func newAPISink(addr string, files identity.Files, batch int, log hclog.Logger) (importer.APISink, error) {
	if batch <= 0 || batch > store.MaxBatch {
		return importer.APISink{}, fmt.Errorf("--batch must be between 1 and %d", store.MaxBatch)
	}
	src, err := identity.NewSource(files, log.Named("identity"))
	if err != nil {
		return importer.APISink{}, err
	}
	own := src.ID()
	if own.Role != identity.RoleAgency {
		return importer.APISink{}, fmt.Errorf("certificate %s is not an agency certificate", own)
	}
	hc := src.HTTPClient(func(id identity.ID) bool {
		return id.Role == identity.RoleNode && id.Country == own.Country
	})
	client := nodev1connect.NewRecordServiceClient(hc, "https://"+addr, connect.WithGRPC())
	return importer.APISink{Client: client, BatchSize: batch}, nil
}

// runImport imports each file on its own and reports on out (results) and
// errOut (problems). It fails when any file was not imported.
func runImport(ctx context.Context, im *importer.Importer, files []string, out, errOut io.Writer, dryRun bool) error {
	failed := 0
	for _, path := range files {
		res, err := im.Import(ctx, path)
		for _, p := range res.Problems {
			fmt.Fprintln(errOut, p.Error())
		}
		if err != nil {
			failed++
			if errors.Is(err, importer.ErrInvalidFile) {
				fmt.Fprintf(errOut, "%s: %d problem(s) in %d incident(s)\n", path, len(res.Problems), res.Incidents)
			} else {
				fmt.Fprintln(errOut, err)
			}
			var pe *importer.PartialError
			switch {
			case res.Acknowledged > 0:
				w := res.Written
				fmt.Fprintf(errOut, "%s: stopped: the node acknowledged the first %d of %d incidents (%d created, %d updated, %d unchanged) and keeps them; "+
					"the rest was not written, except perhaps the batch in flight. Sending the file again is safe.\n",
					path, res.Acknowledged, res.Incidents, w.Created, w.Updated, w.Unchanged)
			case errors.As(err, &pe):
				fmt.Fprintf(errOut, "%s: stopped before the node acknowledged any incident; sending the file again is safe\n", path)
			default:
				fmt.Fprintf(errOut, "%s: nothing of this file was imported\n", path)
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}
		name := filepath.Base(path)
		if dryRun {
			fmt.Fprintf(out, "%s: %d incidents, no problems (dry run: nothing written)\n", name, res.Incidents)
			continue
		}
		w := res.Written
		fmt.Fprintf(out, "%s: %d incidents: %d created, %d updated, %d unchanged\n", name, res.Incidents, w.Created, w.Updated, w.Unchanged)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d file(s) not imported", failed, len(files))
	}
	return nil
}

// newTemplateCmd is `vrs-node template --out F.xlsx`.
func newTemplateCmd() *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "template --out FILE.xlsx",
		Short: "Write the Excel workbook agencies fill in for 'vrs-node import'",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeFileAtomic(out, force, importer.WriteTemplate)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the workbook to write (.xlsx)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	cli.MarkRequired(cmd, "out")
	return cmd
}

// writeFileAtomic writes path through a temporary file in the same
// directory, so a failure never leaves half a file behind.
func writeFileAtomic(path string, force bool, write func(io.Writer) error) error {
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("%s exists (use --force to overwrite)", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if err := write(tmp); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// terminal returns f when it is a terminal (for progress lines), else nil.
func terminal(f *os.File) io.Writer {
	if isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()) {
		return f
	}
	return nil
}
