package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/vrs-federation/vrs/hub"
	"github.com/vrs-federation/vrs/hub/export"
	"github.com/vrs-federation/vrs/hub/registry"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/identity/identitytest"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
	recordv1 "github.com/vrs-federation/vrs/proto/vrs/record/v1"
)

// extAgreementTHA offers the extract "sea-routes"; extAgreementMYS offers
// aggregates only.
const extAgreementTHA = `
agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = "none"
  max_group_by = 2
  period_floor = "month"
  measure "migrants" { dimensions = ["period.month", "transport_mode"] }

  extract "sea-routes" {
    fields = {
      "period"            = "month"
      "route.origin"      = "country"
      "route.destination" = "country"
      "transport_mode"    = "as_is"
      "migrants"          = "band"
    }
    quasi_identifiers = ["period", "route.origin", "route.destination"]
    k = 3
  }
}
`

const extAgreementMYS = `
agreement "cau-regional" {
  version      = 1
  recipients   = ["spiffe://vrs.local/hub"]
  min_cell     = 5
  rounding     = "none"
  max_group_by = 2
  period_floor = "month"
  measure "migrants" { dimensions = ["period.month", "transport_mode"] }
}
`

// The hub's registry is what export.RegistryColumns is meant to read.
var _ export.NodeLister = (*registry.Registry)(nil)

// extK is the k of extAgreementTHA's extract.
const extK = 3

// extQI are the quasi-identifier columns of extAgreementTHA's extract.
var extQI = []string{"period", "route.origin", "route.destination"}

// extIncidents are country's records: every never-shared field holds a
// canary. Groups by (month, origin, destination): 7 in June LKA→AUS and 4
// in August AFG→AUS (published), 2 in July MMR→MYS (fewer than k:
// withheld).
func extIncidents(country string) []*recordv1.Incident {
	var out []*recordv1.Incident
	add := func(n int, on, origin, dest string, migrants int) {
		for range n {
			inc := canaryIncident(country, len(out))
			inc.DetectedOn = on
			inc.Route.Origin, inc.Route.Destination = origin, dest
			for len(inc.Migrants) < migrants {
				inc.Migrants = append(inc.Migrants, proto.CloneOf(inc.Migrants[0]))
			}
			out = append(out, inc)
		}
	}
	add(7, "2025-06-15", "LKA", "AUS", 1)
	add(2, "2025-07-03", "MMR", "MYS", 3)
	add(4, "2025-08-21", "AFG", "AUS", 12)
	return out
}

// extNewCluster is relNewCluster with the hub's web UI on a loopback port
// and a partner bound to each state.
func extNewCluster(t *testing.T) (*relCluster, map[string]*http.Client) {
	t.Helper()
	c := &relCluster{
		t: t, pki: identitytest.New(t), hubDir: t.TempDir(), hubLog: &relLogBuf{},
		nodes: map[string]*relNode{}, agencies: map[string]*http.Client{},
	}
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() {
			t.Logf("hub log (tail):\n%s", relTail(c.hubLog.String()))
			for _, cc := range c.order {
				t.Logf("node %s log (tail):\n%s", cc, relTail(c.nodes[cc].log.String()))
			}
		}
	})
	h, err := hub.New(hub.Config{
		DataDir:          c.hubDir,
		FederationListen: "127.0.0.1:0",
		APIListen:        "127.0.0.1:0",
		UIListen:         "127.0.0.1:0",
		// As vrs-hub serve defaults it (hub.Config's zero value is off).
		TLS:               c.pki.Files(t, c.pki.Hub()),
		HeartbeatInterval: time.Second,
		Version:           "ext",
		Log:               hclog.New(&hclog.LoggerOptions{Name: "hub", Output: c.hubLog, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatalf("hub: %v", err)
	}
	c.hub = h
	c.fedAddr, c.apiAddr = h.FederationAddr(), h.APIAddr()
	c.hubPart = relRun(h.Run)
	toHub := func(id identity.ID) bool { return id.Role == identity.RoleHub }
	c.operator = c.client(c.pki.Operator("ext"), toHub)
	c.partner = c.client(c.pki.Partner("research"), toHub)
	bound := map[string]*http.Client{}
	for _, cc := range []string{"THA", "MYS"} {
		bound[cc] = c.client(c.pki.Partner(strings.ToLower(cc)+"-research"), toHub)
	}
	return c, bound
}

// extHaystacks are what the hub and its clients hold about a run, as text
// and bytes, for the canary search.
func extHaystacks(t *testing.T, run *hubv1.Run) map[string][]byte {
	t.Helper()
	wire, err := proto.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"run (wire)": wire, "run (json)": []byte(protojson.Format(run))}
}

// extNoCanary fails the test for every canary found in any haystack.
func extNoCanary(t *testing.T, haystacks map[string][]byte) {
	t.Helper()
	for name, h := range haystacks {
		for _, c := range canaries {
			if bytes.Contains(bytes.ToLower(h), bytes.ToLower([]byte(c))) {
				t.Errorf("canary %q found in %s", c, name)
			}
		}
	}
}

// extExport exports the run through the hub API with client hc.
func extExport(ctx context.Context, hc *http.Client, api, runID string, f hubv1.ExportFormat) (*hubv1.ExportResponse, error) {
	cl := hubv1connect.NewReportServiceClient(hc, "https://"+api, connect.WithGRPC())
	res, err := cl.Export(ctx, connect.NewRequest(&hubv1.ExportRequest{RunId: runID, Format: f}))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// extRowsKey renders rows comparably: country, pseudonym and values.
func extRowsKey(rs []*hubv1.RegionalRow) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.GetCountry() + "|" + r.GetRow().GetPseudonym() + "|" + strings.Join(r.GetRow().GetValues(), "|")
	}
	slices.Sort(out)
	return out
}

// TestExtractRun runs a redacted extract through a real hub and two real
// nodes: THA offers the extract, MYS does not.
func TestExtractRun(t *testing.T) {
	c, bound := extNewCluster(t)
	c.addNodes(
		relNodeSpec{"THA", extAgreementTHA, extIncidents("THA")},
		relNodeSpec{"MYS", extAgreementMYS, extIncidents("MYS")},
	)
	ctx := t.Context()
	c.waitConnected(ctx, true, "THA", "MYS")

	res, err := c.queries().SubmitQuery(ctx, connect.NewRequest(&hubv1.SubmitQueryRequest{
		Extract: &queryv1.ExtractQuery{Extract: "sea-routes", PeriodFrom: "2025-01-01", PeriodTo: "2025-12-31"},
		States:  []string{"THA", "MYS"},
		Timeout: durationpb.New(time.Minute),
	}))
	if err != nil {
		t.Fatalf("submit extract: %v", err)
	}
	run := c.waitComplete(ctx, res.Msg.GetRunId())
	if run.GetQuery() != nil || run.GetExtract().GetExtract() != "sea-routes" {
		t.Fatalf("run query %v extract %v", run.GetQuery(), run.GetExtract())
	}

	// Column names as THA published them with its agreement.
	nodes, err := c.nodeStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var list export.NodeColumns
	for _, n := range nodes {
		list = append(list, n)
	}
	tha := relState(t, run, "THA")
	cols := list.ExtractColumns("THA", tha.GetAgreementHash(), "sea-routes")
	if want := []string{"period", "route.origin", "route.destination", "transport_mode", "migrants"}; !slices.Equal(cols, want) {
		t.Fatalf("THA's published columns %q, want %q", cols, want)
	}

	t.Run("states", func(t *testing.T) {
		if tha.GetStatus() != hubv1.StateStatus_STATE_STATUS_ANSWERED {
			t.Errorf("THA: %s", relStates(run))
		}
		if tha.GetWithheldRows() != 2 {
			t.Errorf("THA withheld %d rows, want 2 (the July group of 2 < k=%d)", tha.GetWithheldRows(), extK)
		}
		mys := relState(t, run, "MYS")
		if mys.GetStatus() != hubv1.StateStatus_STATE_STATUS_REFUSED ||
			mys.GetRefusalCode() != queryv1.RefusalCode_REFUSAL_CODE_EXTRACT_NOT_SHARED ||
			!strings.Contains(mys.GetReason(), "sea-routes") {
			t.Errorf("MYS: status %v code %v reason %q, want REFUSED EXTRACT_NOT_SHARED naming sea-routes",
				mys.GetStatus(), mys.GetRefusalCode(), mys.GetReason())
		}
	})

	t.Run("rows", func(t *testing.T) {
		if len(run.GetRows()) != 11 {
			t.Fatalf("%d rows, want 11 (7 June + 4 August)", len(run.GetRows()))
		}
		groups := map[string]int{}
		seen := map[string]bool{}
		for _, r := range run.GetRows() {
			if r.GetCountry() != "THA" {
				t.Errorf("row tagged %q: only THA answered", r.GetCountry())
			}
			vs := r.GetRow().GetValues()
			if len(vs) != len(cols) {
				t.Fatalf("row has %d values, want %d", len(vs), len(cols))
			}
			p := r.GetRow().GetPseudonym()
			if p == "" || seen[p] {
				t.Errorf("pseudonym %q empty or repeated", p)
			}
			seen[p] = true
			var key []string
			for _, q := range extQI {
				key = append(key, vs[slices.Index(cols, q)])
			}
			groups[strings.Join(key, "|")]++
		}
		for g, n := range groups {
			if n < extK {
				t.Errorf("quasi-identifier group %s has %d rows < k=%d", g, n, extK)
			}
		}
		want := map[string]int{"2025-06|LKA|AUS": 7, "2025-08|AFG|AUS": 4}
		if fmt.Sprint(groups) != fmt.Sprint(want) {
			t.Errorf("groups %v, want %v", groups, want)
		}
	})

	var csvBytes []byte
	t.Run("export", func(t *testing.T) {
		// Through the API (as deployed) and with the registry's columns.
		got, err := extExport(ctx, c.operator, c.apiAddr, run.GetId(), hubv1.ExportFormat_EXPORT_FORMAT_CSV)
		if err != nil {
			t.Fatalf("export csv: %v", err)
		}
		if got.GetContentType() != export.ContentTypeCSV || !strings.HasSuffix(got.GetFilename(), ".csv") {
			t.Errorf("content type %q file %q", got.GetContentType(), got.GetFilename())
		}
		_, _, named, err := export.Render(run, hubv1.ExportFormat_EXPORT_FORMAT_CSV, export.Options{Columns: list})
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"api": got.GetContent(), "named": named} {
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(recs) != 1+11+1 {
				t.Fatalf("%s: %d lines, want header, 11 rows and MYS's coverage line:\n%s", name, len(recs), b)
			}
			if h := recs[0]; h[0] != "country" || h[1] != "pseudonym" {
				t.Errorf("%s: header %q", name, h)
			}
			byState := map[string]int{}
			for _, r := range recs[1:] {
				byState[r[0]+" "+r[len(r)-7]]++
			}
			if want := map[string]int{"THA ANSWERED": 11, "MYS REFUSED": 1}; fmt.Sprint(byState) != fmt.Sprint(want) {
				t.Errorf("%s: lines by state %v, want %v", name, byState, want)
			}
		}
		if h := strings.SplitN(string(named), "\n", 2)[0]; !strings.HasPrefix(h, "country,pseudonym,period,route.origin,route.destination,transport_mode,migrants,") {
			t.Errorf("named header %q", h)
		}
		csvBytes = got.GetContent()
		for _, f := range []hubv1.ExportFormat{hubv1.ExportFormat_EXPORT_FORMAT_SDMX_CSV, hubv1.ExportFormat_EXPORT_FORMAT_SDMX_JSON} {
			_, err := extExport(ctx, c.operator, c.apiAddr, run.GetId(), f)
			if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "redacted extract") {
				t.Errorf("%v: err = %v, want FailedPrecondition naming the redacted extract", f, err)
			}
		}
	})

	t.Run("partners", func(t *testing.T) {
		want := extRowsKey(run.GetRows())
		read := func(hc *http.Client) (*hubv1.Run, error) {
			cl := hubv1connect.NewQueryServiceClient(hc, "https://"+c.apiAddr, connect.WithGRPC())
			r, err := cl.GetRun(ctx, connect.NewRequest(&hubv1.GetRunRequest{RunId: run.GetId()}))
			if err != nil {
				return nil, err
			}
			return r.Msg.GetRun(), nil
		}
		// MYS refused: under reciprocity its partners read nothing.
		if _, err := read(bound["MYS"]); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("MYS partner GetRun: err = %v, want PermissionDenied", err)
		}
		if _, err := extExport(ctx, bound["MYS"], c.apiAddr, run.GetId(), hubv1.ExportFormat_EXPORT_FORMAT_CSV); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("MYS partner Export: err = %v, want PermissionDenied", err)
		}
		// THA contributed, and an unbound partner is not subject to
		// reciprocity: whatever rows they see are the ones disclosed,
		// never more, and no state's cells.
		for name, hc := range map[string]*http.Client{"THA partner": bound["THA"], "unbound partner": c.partner} {
			r, err := read(hc)
			if err != nil {
				t.Errorf("%s GetRun: %v", name, err)
				continue
			}
			if got := extRowsKey(r.GetRows()); len(got) > 0 && !slices.Equal(got, want) {
				t.Errorf("%s sees rows %v, want the disclosed %v or none", name, got, want)
			}
			for _, st := range r.GetStates() {
				if len(st.GetCells()) > 0 {
					t.Errorf("%s sees %s's cells", name, st.GetCountry())
				}
			}
			t.Logf("%s reads the run with %d rows", name, len(r.GetRows()))
		}
	})

	t.Run("ui", func(t *testing.T) {
		fetch := func(path string) (int, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.hub.UIAddr()+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(b)
		}
		get := func(path string) string {
			code, body := fetch(path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", path, code, body)
			}
			return body
		}
		page := get("/")
		if !strings.Contains(page, run.GetId()) || !strings.Contains(page, "Extract sea-routes") {
			t.Errorf("UI runs table does not show extract run %s", run.GetId())
		}
		if !strings.Contains(page, "Refused") && !strings.Contains(page, "refused") {
			t.Errorf("UI runs table does not show MYS's refusal")
		}
		download := get("/api/runs/" + run.GetId() + "/export?format=csv")
		if !strings.HasPrefix(download, "country,pseudonym,") || strings.Count(download, "\n") != 1+11+1 {
			t.Errorf("UI CSV download:\n%s", download)
		}
		if code, body := fetch("/api/runs/" + run.GetId() + "/export?format=sdmx-json"); code != http.StatusBadRequest {
			t.Errorf("UI SDMX-JSON of an extract run: %d %s, want 400", code, body)
		}
		extNoCanary(t, map[string][]byte{"ui index": []byte(page), "ui run": []byte(get("/api/runs/" + run.GetId())), "ui csv": []byte(download)})
	})

	// Nothing never-shared anywhere: the run as read, the export, the
	// hub's log and, once stopped, the hub's whole store.
	haystacks := extHaystacks(t, run)
	haystacks["csv export"] = csvBytes
	c.stopAll()
	haystacks["hub log"] = []byte(c.hubLog.String())
	haystacks["hub store"] = dumpStore(t, filepath.Join(c.hubDir, "db"))
	extNoCanary(t, haystacks)
}
