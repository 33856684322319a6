package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/pki"
)

// newCSRCmd is `vrs-node csr`: the state makes its own key and a certificate
// request for the CAU to sign, so the private key never leaves the state
// (DESIGN §9).
func newCSRCmd() *cobra.Command {
	var country, out, td string
	cmd := &cobra.Command{
		Use:   "csr",
		Short: "Make this node's private key and a certificate request for the CAU",
		Long: "Make this node's private key and a certificate request. Send only the .csr file\n" +
			"to the CAU, which signs it with `vrs-hub pki sign`; keep the key here.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			csr, key, err := pki.CreateCSR(country, out, td)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintln(w, "wrote", key, "(private key: keep it here, never send it)")
			fmt.Fprintln(w, "wrote", csr)
			fmt.Fprintf(w, "send %s to the CAU; it runs: vrs-hub pki sign --dir D --csr %s --node %s\n", csr, filepath.Base(csr), country)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&country, "country", "", "this state's ISO 3166-1 alpha-3 code, e.g. THA")
	f.StringVar(&out, "out", "", "directory for the key and the request (created if missing)")
	f.StringVar(&td, "trust-domain", pki.DefaultTrustDomain, "SPIFFE trust domain of the federation")
	cli.MarkRequired(cmd, "country", "out")
	return cmd
}
