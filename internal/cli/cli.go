// Package cli holds what the vrs-hub and vrs-node commands share: the
// global flags, the root logger built from them, and HCL config files whose
// attributes stand in for flags.
package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/zclconf/go-cty/cty"

	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
)

// Version is the software version, set at build time with
// -ldflags "-X github.com/vrs-federation/vrs/internal/cli.Version=...".
var Version = "0.1.0-dev"

// Globals are the flags every subcommand has.
type Globals struct {
	Name      string
	LogLevel  string
	LogFormat string
	Config    string
}

// AddFlags registers the global flags on the root command and arranges for
// the config file to be applied before any subcommand runs.
func (g *Globals) AddFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.LogLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	pf.StringVar(&g.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text, json")
	pf.StringVar(&g.Config, "config", "", "HCL file whose attributes set flags, e.g. data_dir = \"/var/lib/vrs\" for --data-dir")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if g.Config == "" {
			return nil
		}
		return ApplyConfig(cmd, g.Config)
	}
}

// Logger builds the root logger from the global flags.
func (g *Globals) Logger() (hclog.Logger, error) {
	return logging.New(logging.Options{Name: g.Name, Level: g.LogLevel, Format: logging.Format(g.LogFormat)})
}

// ApplyConfig reads an HCL file of attributes and sets every flag of cmd
// that the command line did not set. An attribute named data_dir sets
// --data-dir; lists set repeated flags. An attribute that names no flag of
// the command is an error, so a typo does not pass silently.
func ApplyConfig(cmd *cobra.Command, path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return fmt.Errorf("config: %s", diags.Error())
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return fmt.Errorf("config: %s", diags.Error())
	}
	flags := cmd.Flags()
	for name, attr := range attrs {
		flagName := strings.ReplaceAll(name, "_", "-")
		fl := flags.Lookup(flagName)
		pos := attr.Range.Start
		where := fmt.Sprintf("%s:%d:%d", path, pos.Line, pos.Column)
		if fl == nil {
			return fmt.Errorf("%s: %s is not a flag of %q", where, name, cmd.CommandPath())
		}
		if fl.Changed {
			continue // the command line wins
		}
		v, diags := attr.Expr.Value(&hcl.EvalContext{})
		if diags.HasErrors() {
			return fmt.Errorf("%s: %s", where, diags.Error())
		}
		values, err := flagValues(v)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", where, name, err)
		}
		for _, s := range values {
			if err := flags.Set(flagName, s); err != nil {
				return fmt.Errorf("%s: %s: %w", where, name, err)
			}
		}
	}
	return nil
}

func flagValues(v cty.Value) ([]string, error) {
	if v.IsNull() {
		return nil, nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return []string{v.AsString()}, nil
	case t == cty.Bool:
		return []string{fmt.Sprint(v.True())}, nil
	case t == cty.Number:
		return []string{v.AsBigFloat().Text('f', -1)}, nil
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s, err := flagValues(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value of type %s", t.FriendlyName())
}

// MarkRequired marks flags required; with a config file they may come from
// it, so the check happens after the config is applied.
func MarkRequired(cmd *cobra.Command, names ...string) {
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		var missing []string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			for _, n := range names {
				if f.Name == n && !f.Changed {
					missing = append(missing, "--"+n)
				}
			}
		})
		if len(missing) > 0 {
			return fmt.Errorf("required flag(s) %s not set (on the command line or in --config)", strings.Join(missing, ", "))
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

// AddIdentityFlags registers --cert, --key, --ca and --crl, the files of a
// process's identity (what names the certificate, e.g. "node"), and
// --rate-limit and --rate-burst, the per-caller limit on its API.
func AddIdentityFlags(f *pflag.FlagSet, what string, files *identity.Files, limit *identity.RateLimit, perSecond float64, burst int) {
	f.StringVar(&files.Cert, "cert", "", what+" certificate (PEM)")
	f.StringVar(&files.Key, "key", "", what+" private key (PEM)")
	f.StringVar(&files.CA, "ca", "", "federation CA certificate (PEM)")
	f.StringVar(&files.CRL, "crl", "", "certificate revocation list (PEM), optional")
	f.Float64Var(&limit.PerSecond, "rate-limit", perSecond, "API requests per second per caller identity")
	f.IntVar(&limit.Burst, "rate-burst", burst, "API request burst per caller identity")
}
