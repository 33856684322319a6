// Command vrs-hub runs the CAU hub of VRS Federation and manages the
// federation's PKI. Logic lives in importable packages; this file only
// assembles the subcommands.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vrs-hub:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	g := &cli.Globals{Name: "vrs-hub"}
	root := &cobra.Command{
		Use:           "vrs-hub",
		Short:         "The VRS Federation hub: schedules federated queries and assembles the regional picture",
		Version:       cli.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.AddFlags(root)
	root.AddCommand(
		newVersionCmd(),
		newPKICmd(),
		newServeCmd(g),
		newNodesCmd(),
		newPictureCmd(),
	)
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the software version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "vrs-hub", cli.Version)
		},
	}
}
