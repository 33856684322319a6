package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/pki"
)

// newPKICmd is `vrs-hub pki`: the federation CA kept by the CAU (DESIGN §10).
func newPKICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Manage the federation's certificate authority",
		Long: "Manage the federation's certificate authority: create it, issue certificates,\n" +
			"sign requests made by states (whose keys never leave them) and revoke certificates.\n" +
			"See docs/certificates.md.",
	}
	cmd.AddCommand(newPKIInitCmd(), newPKIIssueCmd(), newPKISignCmd(), newPKIRevokeCmd())
	return cmd
}

func newPKIInitCmd() *cobra.Command {
	var (
		dir, td          string
		caYears, days    int
		dnsNames, ipList []string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the CA, the hub certificate and an empty revocation list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, a := range ipList {
				if net.ParseIP(a) == nil {
					return fmt.Errorf("--ip %q: not an IP address", a)
				}
			}
			hosts := append(append([]string(nil), dnsNames...), ipList...)
			if err := pki.Init(dir, td, caYears, days, hosts...); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range []string{pki.CAFile, pki.CAKeyFile, pki.HubFile, pki.HubKeyFile, pki.CRLFile} {
				fmt.Fprintln(out, "wrote", filepath.Join(dir, f))
			}
			fmt.Fprintf(out, "trust domain %s; keep %s offline if you can\n", td, filepath.Join(dir, pki.CAKeyFile))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "PKI directory (created if missing)")
	f.StringVar(&td, "trust-domain", pki.DefaultTrustDomain, "SPIFFE trust domain of the federation")
	f.IntVar(&caYears, "ca-years", pki.DefaultCAYears, "validity of the CA certificate in years")
	f.IntVar(&days, "leaf-days", pki.DefaultLeafDays, "validity of the hub certificate in days")
	f.StringArrayVar(&dnsNames, "dns", nil, "extra DNS name for the hub certificate (repeatable)")
	f.StringArrayVar(&ipList, "ip", nil, "extra IP address for the hub certificate (repeatable)")
	cli.MarkRequired(cmd, "dir")
	return cmd
}

// idFlags are the mutually exclusive flags naming whom a certificate is for.
type idFlags struct {
	hub                             bool
	node, partner, operator, agency string
}

func (f *idFlags) add(cmd *cobra.Command, withHub bool) {
	fl := cmd.Flags()
	if withHub {
		fl.BoolVar(&f.hub, "hub", false, "a hub certificate (use with --out to renew the hub's)")
	}
	fl.StringVar(&f.node, "node", "", "a state's node: ISO 3166-1 alpha-3 code, e.g. THA")
	fl.StringVar(&f.partner, "partner", "", "a partner system or analyst: NAME")
	fl.StringVar(&f.operator, "operator", "", "a CAU hub operator: NAME")
	fl.StringVar(&f.agency, "agency", "", "a national agency or partner system of one state: ISO3/NAME")
}

// id returns the identity the flags name; the trust domain is left empty
// for the CA to fill in.
func (f *idFlags) id() (identity.ID, error) {
	var ids []identity.ID
	if f.hub {
		ids = append(ids, identity.ID{Role: identity.RoleHub})
	}
	if f.node != "" {
		ids = append(ids, identity.ID{Role: identity.RoleNode, Country: f.node})
	}
	if f.partner != "" {
		ids = append(ids, identity.ID{Role: identity.RolePartner, Name: f.partner})
	}
	if f.operator != "" {
		ids = append(ids, identity.ID{Role: identity.RoleOperator, Name: f.operator})
	}
	if f.agency != "" {
		country, name, ok := strings.Cut(f.agency, "/")
		if !ok {
			return identity.ID{}, fmt.Errorf("--agency %q: want ISO3/NAME, e.g. THA/police", f.agency)
		}
		ids = append(ids, identity.ID{Role: identity.RoleAgency, Country: country, Name: name})
	}
	switch len(ids) {
	case 0:
		return identity.ID{}, errors.New("name the holder: one of --node, --partner, --operator, --agency")
	case 1:
		return ids[0], nil
	default:
		return identity.ID{}, errors.New("name one holder only: --node, --partner, --operator and --agency exclude each other")
	}
}

// hostFlags are the SAN and validity flags of issue and sign.
type hostFlags struct {
	dns, ips []string
	days     int
	out      string
}

func (h *hostFlags) add(cmd *cobra.Command, outHelp string) {
	f := cmd.Flags()
	f.StringArrayVar(&h.dns, "dns", nil, "server DNS name (repeatable); hub and node certificates also get localhost")
	f.StringArrayVar(&h.ips, "ip", nil, "server IP address (repeatable); hub and node certificates also get 127.0.0.1")
	f.IntVar(&h.days, "days", pki.DefaultLeafDays, "validity in days")
	f.StringVar(&h.out, "out", "", outHelp)
}

func (h *hostFlags) options() (pki.IssueOptions, error) {
	o := pki.IssueOptions{DNS: h.dns, Days: h.days, Out: h.out}
	for _, a := range h.ips {
		ip := net.ParseIP(a)
		if ip == nil {
			return o, fmt.Errorf("--ip %q: not an IP address", a)
		}
		o.IPs = append(o.IPs, ip)
	}
	return o, nil
}

func newPKIIssueCmd() *cobra.Command {
	var (
		dir   string
		who   idFlags
		hosts hostFlags
	)
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Make a key and a certificate for a node, partner, operator or agency",
		Long: "Make a key and a certificate signed by the CA. Prefer `pki sign` for states:\n" +
			"with it the state's private key never leaves the state.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := who.id()
			if err != nil {
				return err
			}
			opts, err := hosts.options()
			if err != nil {
				return err
			}
			cert, key, err := pki.Issue(dir, id, opts)
			if err != nil {
				return err
			}
			td, err := pki.TrustDomain(dir)
			if err != nil {
				return err
			}
			id.TrustDomain = td
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "wrote", cert)
			fmt.Fprintln(out, "wrote", key)
			fmt.Fprintln(out, "identity", id)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "PKI directory made by pki init")
	who.add(cmd, true)
	hosts.add(cmd, "certificate file (the key goes next to it as NAME-key.pem); default DIR/<holder>.pem")
	cli.MarkRequired(cmd, "dir")
	return cmd
}

func newPKISignCmd() *cobra.Command {
	var (
		dir, csr string
		who      idFlags
		hosts    hostFlags
	)
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a certificate request made elsewhere (vrs-node csr)",
		Long: "Sign a certificate request. The identity comes from the flags, never from the\n" +
			"request: a request asking for a different SPIFFE ID is refused.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := who.id()
			if err != nil {
				return err
			}
			opts, err := hosts.options()
			if err != nil {
				return err
			}
			cert, err := pki.Sign(dir, csr, id, opts)
			if err != nil {
				return err
			}
			td, err := pki.TrustDomain(dir)
			if err != nil {
				return err
			}
			id.TrustDomain = td
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "wrote", cert)
			fmt.Fprintln(out, "identity", id)
			fmt.Fprintf(out, "send %s and %s back to the requester\n", cert, filepath.Join(dir, pki.CAFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "PKI directory made by pki init")
	cmd.Flags().StringVar(&csr, "csr", "", "certificate request file (PEM)")
	who.add(cmd, false)
	hosts.add(cmd, "certificate file; default DIR/<holder>.pem")
	cli.MarkRequired(cmd, "dir", "csr")
	return cmd
}

func newPKIRevokeCmd() *cobra.Command {
	var dir, cert string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a certificate: add it to the CRL (DIR/crl.pem)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.Revoke(dir, cert); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "revoked", cert)
			fmt.Fprintln(out, "wrote", filepath.Join(dir, pki.CRLFile))
			fmt.Fprintln(out, "distribute the CRL to every hub and node; they reload it on their own")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "PKI directory made by pki init")
	cmd.Flags().StringVar(&cert, "cert", "", "certificate file to revoke (PEM)")
	cli.MarkRequired(cmd, "dir", "cert")
	return cmd
}
