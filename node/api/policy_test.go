package api

import (
	"testing"

	"github.com/vrs-federation/vrs/internal/identity"
	nodev1 "github.com/vrs-federation/vrs/proto/vrs/node/v1"
)

// TestPolicyCoversEveryRPC fails when a node API RPC has no authorization
// entry.
func TestPolicyCoversEveryRPC(t *testing.T) {
	p := Policy("THA")
	svcs := nodev1.File_vrs_node_v1_node_proto.Services()
	for i := range svcs.Len() {
		svc := svcs.Get(i)
		for j := range svc.Methods().Len() {
			proc := "/" + string(svc.FullName()) + "/" + string(svc.Methods().Get(j).Name())
			if _, ok := p.Rules[proc]; !ok {
				t.Errorf("%s has no entry in the node API policy", proc)
			}
		}
	}
}

func TestPolicyCountryScope(t *testing.T) {
	p := Policy("THA")
	td := "vrs.local"
	cases := []struct {
		id identity.ID
		ok bool
	}{
		{identity.ID{TrustDomain: td, Role: identity.RoleAgency, Country: "THA", Name: "police"}, true},
		{identity.ID{TrustDomain: td, Role: identity.RoleAgency, Country: "MYS", Name: "police"}, false},
		{identity.ID{TrustDomain: td, Role: identity.RoleHub}, false},
		{identity.ID{TrustDomain: td, Role: identity.RoleNode, Country: "THA"}, false},
		{identity.ID{TrustDomain: td, Role: identity.RoleOperator, Name: "alice"}, false},
		{identity.ID{TrustDomain: td, Role: identity.RolePartner, Name: "tha-immigration"}, false},
	}
	for _, c := range cases {
		err := p.Authorize(c.id, "/vrs.node.v1.RecordService/GetIncident")
		if (err == nil) != c.ok {
			t.Errorf("%s: err=%v, want allowed=%v", c.id, err, c.ok)
		}
	}
}
