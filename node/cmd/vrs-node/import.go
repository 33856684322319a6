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

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/node/importer"
	"github.com/vrs-federation/vrs/node/store"
)

// newImportCmd is `vrs-node import --data-dir D FILE...`: the offline
// import, straight into the store of a stopped node.
func newImportCmd(g *cli.Globals) *cobra.Command {
	var (
		dataDir string
		dryRun  bool
	)
	cmd := &cobra.Command{
		Use:   "import --data-dir D FILE...",
		Short: "Import incidents from .jsonl, .csv or .xlsx files into a stopped node's store",
		Long: `Import incidents from files into the node's record store. The node must be
stopped: the store is opened directly.

Formats (see docs/import.md): .jsonl, one protojson Incident per line; .csv,
NAME.csv with its companions NAME.persons.csv and NAME.documents.csv; .xlsx, a
workbook made with 'vrs-node template'.

Each file is all or nothing: if any line is invalid, nothing of that file is
written, every problem is listed with its line and field, and the command
exits with status 1. Importing the same file again changes nothing.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if dataDir == "" && !dryRun {
				return errors.New("--data-dir is required (or --dry-run to only check the files)")
			}
			log, err := g.Logger()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			cfg := importer.Config{Logger: log.Named("import"), DryRun: dryRun, Progress: terminal(os.Stderr)}
			if !dryRun {
				db, err := store.OpenDataDir(dataDir, log.Named("badger"))
				if errors.Is(err, store.ErrLocked) {
					return fmt.Errorf("%s is in use by a running node: stop the node first, or send the file to its API", dataDir)
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
			return runImport(ctx, importer.New(cfg), files, cmd.OutOrStdout(), cmd.ErrOrStderr(), dryRun)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "the node's data directory")
	f.BoolVar(&dryRun, "dry-run", false, "read and check the files, write nothing")
	return cmd
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
				fmt.Fprintf(errOut, "%s: %d problem(s) in %d incident(s); nothing of this file was imported\n", path, len(res.Problems), res.Incidents)
			} else {
				fmt.Fprintln(errOut, err)
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
