package api

import (
	"testing"

	"github.com/vrs-federation/vrs/internal/identity"
	hubv1 "github.com/vrs-federation/vrs/proto/vrs/hub/v1"
	queryv1 "github.com/vrs-federation/vrs/proto/vrs/query/v1"
)

// TestPolicyCoversEveryRPC fails when a hub API RPC has no authorization
// entry: default deny would hide it, and the table is the documentation.
func TestPolicyCoversEveryRPC(t *testing.T) {
	p := Policy()
	svcs := hubv1.File_vrs_hub_v1_hub_proto.Services()
	for i := range svcs.Len() {
		svc := svcs.Get(i)
		for j := range svc.Methods().Len() {
			proc := "/" + string(svc.FullName()) + "/" + string(svc.Methods().Get(j).Name())
			if _, ok := p.Rules[proc]; !ok {
				t.Errorf("%s has no entry in the hub API policy", proc)
			}
		}
	}
}

func TestPolicyRoles(t *testing.T) {
	p := Policy()
	td := "vrs.local"
	op := identity.ID{TrustDomain: td, Role: identity.RoleOperator, Name: "alice"}
	partner := identity.ID{TrustDomain: td, Role: identity.RolePartner, Name: "unodc-research"}
	node := identity.ID{TrustDomain: td, Role: identity.RoleNode, Country: "THA"}
	cases := []struct {
		id   identity.ID
		proc string
		ok   bool
	}{
		{op, "/vrs.hub.v1.QueryService/SubmitQuery", true},
		{partner, "/vrs.hub.v1.QueryService/SubmitQuery", false},
		{partner, "/vrs.hub.v1.QueryService/GetRun", true},
		{node, "/vrs.hub.v1.QueryService/GetRun", false},
		{node, "/vrs.hub.v1.ReportService/GetRegionalPicture", false},
		{op, "/vrs.hub.v1.NoSuchService/Do", false},
	}
	for _, c := range cases {
		err := p.Authorize(c.id, c.proc)
		if (err == nil) != c.ok {
			t.Errorf("%s on %s: err=%v, want allowed=%v", c.id, c.proc, err, c.ok)
		}
	}
}

func TestRunStateCellsOnlyForOperators(t *testing.T) {
	run := &hubv1.Run{Id: "r1", States: []*hubv1.StateResult{{Country: "THA", Cells: []*queryv1.Cell{{Key: []string{"SEA"}, Value: 12}}}}}
	td := "vrs.local"
	op := identity.NewContext(t.Context(), identity.ID{TrustDomain: td, Role: identity.RoleOperator, Name: "alice"})
	partner := identity.NewContext(t.Context(), identity.ID{TrustDomain: td, Role: identity.RolePartner, Name: "unodc-research"})
	if got := forCaller(op, run); len(got.GetStates()[0].GetCells()) != 1 {
		t.Fatal("operator lost the states' cells")
	}
	if got := forCaller(partner, run); len(got.GetStates()[0].GetCells()) != 0 {
		t.Fatal("partner sees a state's own cells")
	}
	if len(run.GetStates()[0].GetCells()) != 1 {
		t.Fatal("forCaller changed the stored run")
	}
}
