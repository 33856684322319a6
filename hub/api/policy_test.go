package api

import (
	"testing"

	"connectrpc.com/connect"

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
	s := &QueryService{reciprocity: true}
	if got, err := s.forCaller(op, run); err != nil || len(got.GetStates()[0].GetCells()) != 1 {
		t.Fatalf("operator lost the states' cells: %v", err)
	}
	if got, err := s.forCaller(partner, run); err != nil || len(got.GetStates()[0].GetCells()) != 0 {
		t.Fatalf("partner sees a state's own cells: %v", err)
	}
	if len(run.GetStates()[0].GetCells()) != 1 {
		t.Fatal("forCaller changed the stored run")
	}

	// Reciprocity: a partner bound to MYS reads the run only once MYS
	// contributed; one bound to THA (which answered) reads it.
	run.States[0].Status = hubv1.StateStatus_STATE_STATUS_ANSWERED
	mys := identity.NewContext(t.Context(), identity.ID{TrustDomain: td, Role: identity.RolePartner, Name: "mys-immigration"})
	tha := identity.NewContext(t.Context(), identity.ID{TrustDomain: td, Role: identity.RolePartner, Name: "tha-immigration"})
	if _, err := s.forCaller(mys, run); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("MYS-bound partner on a run MYS did not contribute to: %v", err)
	}
	if _, err := s.forCaller(tha, run); err != nil {
		t.Fatalf("THA-bound partner on a run THA contributed to: %v", err)
	}
	if _, err := s.WithReciprocity(false).forCaller(mys, run); err != nil {
		t.Fatalf("reciprocity off: %v", err)
	}
}
