package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vrs-federation/vrs/internal/synth"
)

func newSynthCmd() *cobra.Command {
	var (
		o        synth.Options
		out      string
		from, to string
	)
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Write synthetic but plausible incidents as JSON Lines (for demos, tests and benchmarks)",
		Long: `Writes --records synthetic incidents reported by --country as JSON Lines
(one protojson vrs.record.v1.Incident per line), ready for vrs-node import.
The same --seed always gives the same records. Personal fields carry
obviously synthetic values.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if from != "" {
				if o.From, err = time.Parse(time.DateOnly, from); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			}
			if to != "" {
				if o.To, err = time.Parse(time.DateOnly, to); err != nil {
					return fmt.Errorf("--to: %w", err)
				}
			}
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				bw := bufio.NewWriterSize(f, 1<<20)
				if err := synth.Write(bw, o); err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return err
				}
				return f.Close()
			}
			return synth.Write(cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Country, "country", "", "reporting country, ISO 3166-1 alpha-3")
	f.IntVar(&o.Records, "records", 1000, "number of incidents")
	f.Int64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVar(&from, "from", "", "first detection date, YYYY-MM-DD (default: three full years back)")
	f.StringVar(&to, "to", "", "last detection date, YYYY-MM-DD")
	f.StringVarP(&out, "out", "o", "-", "output file; - for standard output")
	_ = cmd.MarkFlagRequired("country")
	return cmd
}
