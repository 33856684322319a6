package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrs-federation/vrs/internal/codes"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/logging"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// apiFlags are how a client command reaches the hub API: its address and
// the caller's certificate (an operator's or a partner's).
type apiFlags struct {
	api, cert, key, ca string
}

func (f *apiFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.api, "api", "127.0.0.1:8443", "hub API address")
	cmd.Flags().StringVar(&f.cert, "cert", "", "your certificate (PEM), e.g. operator-NAME.pem")
	cmd.Flags().StringVar(&f.key, "key", "", "your private key (PEM)")
	cmd.Flags().StringVar(&f.ca, "ca", "", "the federation CA certificate (PEM)")
	_ = cmd.MarkFlagRequired("cert")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("ca")
}

// hubClients are connect clients for the hub API over mTLS (gRPC protocol).
type hubClients struct {
	nodes   hubv1connect.NodeServiceClient
	queries hubv1connect.QueryServiceClient
	reports hubv1connect.ReportServiceClient
}

func (f *apiFlags) clients() (*hubClients, error) {
	src, err := identity.NewSource(identity.Files{Cert: f.cert, Key: f.key, CA: f.ca}, logging.Discard())
	if err != nil {
		return nil, err
	}
	hc := src.HTTPClient(func(id identity.ID) bool { return id.Role == identity.RoleHub })
	base := "https://" + f.api
	opts := []connect.ClientOption{connect.WithGRPC()}
	return &hubClients{
		nodes:   hubv1connect.NewNodeServiceClient(hc, base, opts...),
		queries: hubv1connect.NewQueryServiceClient(hc, base, opts...),
		reports: hubv1connect.NewReportServiceClient(hc, base, opts...),
	}, nil
}

func newNodesCmd() *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the states' nodes the hub knows (a client of the hub API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.clients()
			if err != nil {
				return err
			}
			res, err := c.nodes.ListNodes(cmd.Context(), connect.NewRequest(&hubv1.ListNodesRequest{}))
			if err != nil {
				return err
			}
			printNodes(cmd.OutOrStdout(), res.Msg.GetNodes())
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func printNodes(w io.Writer, nodes []*hubv1.Node) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tNAME\tCONNECTED\tLAST SEEN\tVERSION\tAGREEMENT\tCERTIFICATE EXPIRES")
	for _, n := range nodes {
		name, _ := codes.CountryName(n.GetCountry())
		agreement := "-"
		if a := n.GetAgreement(); a != nil {
			agreement = fmt.Sprintf("%s v%d (%.8s)", a.GetName(), a.GetVersion(), a.GetHash())
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", n.GetCountry(), name, n.GetConnected(),
			n.GetLastSeen().AsTime().Format(time.DateTime), n.GetSoftwareVersion(), agreement,
			n.GetCertificateNotAfter().AsTime().Format(time.DateOnly))
	}
	_ = tw.Flush()
}

func newPictureCmd() *cobra.Command {
	var (
		f         apiFlags
		refresh   bool
		waitNodes int
		timeout   time.Duration
		rows      int
	)
	cmd := &cobra.Command{
		Use:   "picture",
		Short: "Print the regional picture (optionally running its queries first)",
		Long: `Prints the latest complete result of every figure of the regional picture,
with coverage: which states contributed, which suppressed cells, which were
missing. With --refresh it first waits for --wait-nodes nodes to attach, then
runs every figure's query across the federation and waits for the runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.clients()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			if refresh {
				if err := refreshPicture(ctx, c, out, waitNodes); err != nil {
					return err
				}
			}
			res, err := c.reports.GetRegionalPicture(ctx, connect.NewRequest(&hubv1.GetRegionalPictureRequest{}))
			if err != nil {
				return err
			}
			printPicture(out, res.Msg.GetPicture(), rows)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&refresh, "refresh", false, "run every figure's query now and wait for the results")
	cmd.Flags().IntVar(&waitNodes, "wait-nodes", 0, "with --refresh: first wait until this many nodes are connected")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	cmd.Flags().IntVar(&rows, "rows", 10, "rows to print per figure (largest first)")
	return cmd
}

func refreshPicture(ctx context.Context, c *hubClients, out io.Writer, waitNodes int) error {
	for waitNodes > 0 {
		res, err := c.nodes.ListNodes(ctx, connect.NewRequest(&hubv1.ListNodesRequest{}))
		var connected int
		if err == nil {
			for _, n := range res.Msg.GetNodes() {
				if n.GetConnected() {
					connected++
				}
			}
		}
		if connected >= waitNodes {
			fmt.Fprintf(out, "%d nodes connected\n", connected)
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d nodes (%d connected): %w", waitNodes, connected, ctx.Err())
		case <-time.After(300 * time.Millisecond):
		}
	}
	pic, err := c.reports.GetRegionalPicture(ctx, connect.NewRequest(&hubv1.GetRegionalPictureRequest{}))
	if err != nil {
		return err
	}
	var ids []string
	for _, fig := range pic.Msg.GetPicture().GetFigures() {
		res, err := c.queries.SubmitQuery(ctx, connect.NewRequest(&hubv1.SubmitQueryRequest{
			Query: fig.GetQuery(), Timeout: durationpb.New(time.Minute),
		}))
		if err != nil {
			return fmt.Errorf("figure %s: %w", fig.GetId(), err)
		}
		ids = append(ids, res.Msg.GetRunId())
	}
	start := time.Now()
	for _, id := range ids {
		for {
			res, err := c.queries.GetRun(ctx, connect.NewRequest(&hubv1.GetRunRequest{RunId: id}))
			if err != nil {
				return err
			}
			if res.Msg.GetRun().GetState() == hubv1.RunState_RUN_STATE_COMPLETE {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for run %s: %w", id, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(out, "%d federated runs complete in %s\n\n", len(ids), time.Since(start).Round(time.Millisecond))
	return nil
}

func printPicture(w io.Writer, pic *hubv1.RegionalPicture, rows int) {
	fmt.Fprintf(w, "REGIONAL PICTURE %q (version %d)\n", pic.GetName(), pic.GetVersion())
	for _, fig := range pic.GetFigures() {
		q := fig.GetQuery()
		fmt.Fprintf(w, "\n%s\n", fig.GetTitle())
		fmt.Fprintf(w, "  period %s to %s", q.GetPeriodFrom(), q.GetPeriodTo())
		if fig.GetRunId() == "" {
			fmt.Fprintf(w, "; no complete run yet\n")
			continue
		}
		fmt.Fprintf(w, "; run %s\n", fig.GetRunId())
		cells := append([]*hubv1.RegionalCell(nil), fig.GetCells()...)
		if len(q.GetGroupBy()) == 1 && strings.HasPrefix(q.GetGroupBy()[0], "period.") {
			sort.SliceStable(cells, func(i, j int) bool { return strings.Join(cells[i].GetKey(), "") < strings.Join(cells[j].GetKey(), "") })
		} else {
			sort.SliceStable(cells, func(i, j int) bool { return cells[i].GetValue() > cells[j].GetValue() })
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		header := append([]string{}, q.GetGroupBy()...)
		if len(header) == 0 {
			header = []string{"total"}
		}
		fmt.Fprintf(tw, "  %s\t%s\tstatus\t\n", strings.Join(header, "\t"), q.GetMeasure())
		for i, c := range cells {
			if i == rows {
				fmt.Fprintf(tw, "  … %d more cells\t\n", len(cells)-rows)
				break
			}
			key := strings.Join(c.GetKey(), "\t")
			if len(c.GetKey()) == 0 {
				key = "all"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", key, cellValue(c), cellStatus(c.GetStatus()))
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "  contributed: %s · suppressed some cells: %s · missing: %s\n",
			list(fig.GetContributors()), list(fig.GetSuppressed()), missing(fig.GetMissing()))
	}
}

func cellValue(c *hubv1.RegionalCell) string {
	switch c.GetStatus() {
	case queryv1.CellStatus_CELL_STATUS_SUPPRESSED, queryv1.CellStatus_CELL_STATUS_SUPPRESSED_SECONDARY:
		return "x"
	}
	return fmt.Sprint(c.GetValue())
}

func cellStatus(s queryv1.CellStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "CELL_STATUS_"))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func missing(states []*hubv1.StateResult) string {
	if len(states) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(states))
	for _, s := range states {
		status := strings.ToLower(strings.TrimPrefix(s.GetStatus().String(), "STATE_STATUS_"))
		if s.GetReason() != "" {
			status += ": " + s.GetReason()
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", s.GetCountry(), status))
	}
	return strings.Join(parts, ", ")
}
