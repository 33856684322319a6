// Command vrs-node runs a state's sovereign node of VRS Federation: its
// records, its sharing agreement, its audit log and its link to the hub.
// Logic lives in importable packages; this file only assembles the
// subcommands.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vrs-node:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	g := &cli.Globals{Name: "vrs-node"}
	root := &cobra.Command{
		Use:           "vrs-node",
		Short:         "A state's VRS Federation node: keeps the records, enforces the sharing agreement, answers the hub",
		Version:       cli.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.AddFlags(root)
	root.AddCommand(
		newVersionCmd(),
		newCSRCmd(),
		newAuditCmd(),
		newServeCmd(g),
		newSynthCmd(),
		newImportCmd(g),
		newTemplateCmd(),
		newBackupCmd(g),
		newRestoreCmd(g),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the software version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "vrs-node", cli.Version)
		},
	}
}
