package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vrs-federation/vrs/internal/cli"
	"github.com/vrs-federation/vrs/internal/logging"
	"github.com/vrs-federation/vrs/node/audit"
	"github.com/vrs-federation/vrs/node/store"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
)

// errChainBroken makes audit verify exit 1 after it printed the problem.
var errChainBroken = errors.New("audit log verification failed")

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the node's tamper-evident audit log (node stopped)",
	}
	cmd.AddCommand(newAuditListCmd(), newAuditVerifyCmd())
	return cmd
}

func openAudit(dataDir string) (*audit.Log, func(), error) {
	if _, err := os.Stat(store.DBDir(dataDir)); err != nil {
		return nil, nil, fmt.Errorf("no node store in %s: %w", dataDir, err)
	}
	db, err := store.OpenDataDir(dataDir, logging.Discard())
	if err != nil {
		return nil, nil, err
	}
	l, err := audit.Open(db)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return l, func() { _ = db.Close() }, nil
}

func newAuditListCmd() *cobra.Command {
	var (
		dataDir string
		from    uint64
		limit   int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Print audit entries in sequence order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, closeDB, err := openAudit(dataDir)
			if err != nil {
				return err
			}
			defer closeDB()
			return listEntries(cmd.OutOrStdout(), l, from, limit, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "the node's data directory")
	f.Uint64Var(&from, "from", 0, "first sequence number to print")
	f.IntVar(&limit, "limit", 0, "print at most this many entries (0: all)")
	f.BoolVar(&asJSON, "json", false, "print one protojson entry per line (answers base64)")
	cli.MarkRequired(cmd, "data-dir")
	return cmd
}

func listEntries(w io.Writer, l *audit.Log, from uint64, limit int, asJSON bool) error {
	var tw *tabwriter.Writer
	if !asJSON {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tDECISION\tREQUESTER\tTASK\tAGREEMENT\tDETAIL\tHASH")
	}
	printed := 0
	for {
		page := 500
		if limit > 0 {
			page = min(page, limit-printed)
		}
		if page <= 0 {
			break
		}
		es, err := l.List(from, page)
		if err != nil {
			return err
		}
		for _, e := range es {
			if asJSON {
				b, err := protojson.Marshal(e)
				if err != nil {
					return err
				}
				fmt.Fprintln(w, string(b))
			} else {
				detail := e.GetReason()
				if detail == "" && e.GetAggregate() != nil {
					detail = "measure " + e.GetAggregate().GetMeasure()
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\tv%d %s\t%s\t%s\n", e.GetSequence(),
					e.GetTime().AsTime().Format("2006-01-02T15:04:05Z"), decisionName(e.GetDecision()),
					dash(e.GetRequester()), dash(e.GetTaskId()), e.GetAgreementVersion(), short(e.GetAgreementHash()),
					dash(detail), short(e.GetHash()))
			}
			printed++
		}
		if len(es) < page {
			break
		}
		from = es[len(es)-1].GetSequence() + 1
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func decisionName(d nodev1.AuditDecision) string {
	switch d {
	case nodev1.AuditDecision_AUDIT_DECISION_DISCLOSED:
		return "DISCLOSED"
	case nodev1.AuditDecision_AUDIT_DECISION_REFUSED:
		return "REFUSED"
	case nodev1.AuditDecision_AUDIT_DECISION_FAILED:
		return "FAILED"
	case nodev1.AuditDecision_AUDIT_DECISION_AGREEMENT_LOADED:
		return "AGREEMENT_LOADED"
	}
	return d.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(h string) string {
	if _, err := hex.DecodeString(h); err != nil || len(h) < 12 {
		return dash(h)
	}
	return h[:12]
}

func newAuditVerifyCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; exit 1 if any entry was edited, deleted or moved",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, closeDB, err := openAudit(dataDir)
			if err != nil {
				return err
			}
			defer closeDB()
			v, err := l.Verify()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !v.GetOk() {
				fmt.Fprintf(out, "BROKEN: %s\n%d entries verified before entry %d; do not trust entries from %d on.\n",
					v.GetProblem(), v.GetEntries(), v.GetFirstBadSequence(), v.GetFirstBadSequence())
				return fmt.Errorf("%w: %s", errChainBroken, v.GetProblem())
			}
			fmt.Fprintf(out, "OK: %d entries, chain intact\nhead hash %s (record it elsewhere to detect truncation)\n", v.GetEntries(), v.GetHeadHash())
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the node's data directory")
	cli.MarkRequired(cmd, "data-dir")
	return cmd
}
