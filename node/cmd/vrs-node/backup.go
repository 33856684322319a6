package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/kv"
	"github.com/vrs-federation/vrs/node/store"
)

// newBackupCmd is `vrs-node backup --data-dir D --out FILE`.
func newBackupCmd(g *cli.Globals) *cobra.Command {
	var (
		dataDir, out string
		force        bool
	)
	cmd := &cobra.Command{
		Use:   "backup --data-dir D --out FILE",
		Short: "Write a full backup of a stopped node's store (records, audit log, secrets)",
		Long: `Write a full backup of the node's store: records, audit log and node
secrets. The node must be stopped. The file holds personal data: keep it
as safe as the data directory itself. Restore it with 'vrs-node restore'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			n, err := backupDataDir(dataDir, out, force, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s written to %s (%d incidents)\n", dataDir, out, n)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "the node's data directory")
	f.StringVar(&out, "out", "", "the backup file to write")
	f.BoolVar(&force, "force", false, "overwrite an existing backup file")
	cli.MarkRequired(cmd, "data-dir", "out")
	return cmd
}

// newRestoreCmd is `vrs-node restore --data-dir D --in FILE`.
func newRestoreCmd(g *cli.Globals) *cobra.Command {
	var dataDir, in string
	cmd := &cobra.Command{
		Use:   "restore --data-dir D --in FILE",
		Short: "Restore a backup into an empty data directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.Logger()
			if err != nil {
				return err
			}
			n, err := restoreDataDir(dataDir, in, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s (%d incidents)\n", in, dataDir, n)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "the data directory to restore into; its store must not exist yet")
	f.StringVar(&in, "in", "", "the backup file")
	cli.MarkRequired(cmd, "data-dir", "in")
	return cmd
}

// openExisting opens the store of a data directory that must already hold
// one, explaining a lock held by a running node.
func openExisting(dataDir string, log hclog.Logger) (*kv.DB, *store.Store, error) {
	if _, err := os.Stat(store.DBDir(dataDir)); err != nil {
		return nil, nil, fmt.Errorf("no node store in %s: %w", dataDir, err)
	}
	db, err := store.OpenDataDir(dataDir, log.Named("badger"))
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, fmt.Errorf("%s is in use by a running node: stop it first", dataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(db, log.Named("store"))
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return db, st, nil
}

// backupDataDir writes a backup of dataDir's store to out and returns the
// number of incidents in it.
func backupDataDir(dataDir, out string, force bool, log hclog.Logger) (int, error) {
	db, st, err := openExisting(dataDir, log)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	err = writeFileAtomic(out, force, func(w io.Writer) error { return db.Backup(w) })
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return st.Count(), nil
}

// restoreDataDir loads the backup in into dataDir, whose store must not
// exist yet (or be an empty directory): a restore never merges into or
// overwrites live data. It returns the number of incidents restored.
func restoreDataDir(dataDir, in string, log hclog.Logger) (int, error) {
	dir := store.DBDir(dataDir)
	entries, err := os.ReadDir(dir)
	existed := err == nil
	switch {
	case err == nil && len(entries) > 0:
		return 0, fmt.Errorf("%s already holds a store: restore only into an empty data directory", dataDir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return 0, err
	}
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	db, err := store.OpenDataDir(dataDir, log.Named("badger"))
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) {
		_ = db.Close()
		// Leave the directory as empty as it was, so the restore can be retried.
		if existed {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				_ = os.RemoveAll(dir + string(os.PathSeparator) + e.Name())
			}
		} else {
			_ = os.RemoveAll(dir)
		}
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := loadBackup(db, f); err != nil {
		return fail(err)
	}
	st, err := store.Open(db, log.Named("store"))
	if err != nil {
		return fail(err)
	}
	n := st.Count()
	if err := db.Close(); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return n, nil
}

// loadBackup restores r into db. Badger's loader trusts the length prefixes
// of the stream and panics on a file that is not a backup, so the panic
// becomes an error here.
func loadBackup(db *kv.DB, r io.Reader) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("not a vrs-node backup, or a damaged one (%v)", p)
		}
	}()
	return db.Restore(r)
}
