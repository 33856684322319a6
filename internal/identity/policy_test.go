package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestPolicyAuthorize(t *testing.T) {
	const upsert = "/vrs.node.v1.RecordService/UpsertIncidents"
	const list = "/vrs.hub.v1.NodeService/ListNodes"
	p := &Policy{
		Server:  "node-api",
		Country: "THA",
		Rules: map[string]Rule{
			upsert:  {Roles: []Role{RoleAgency, RolePartner}, SameCountry: true},
			list:    {Roles: []Role{RoleOperator, RolePartner}},
			"/none": {},
		},
	}
	td := "vrs.local"
	cases := []struct {
		name string
		id   ID
		proc string
		ok   bool
	}{
		{"agency of the node's state", ID{td, RoleAgency, "THA", "police"}, upsert, true},
		{"agency of another state", ID{td, RoleAgency, "IDN", "polri"}, upsert, false},
		{"partner bound to the state", ID{td, RolePartner, "", "tha-immigration"}, upsert, true},
		{"partner bound to no state", ID{td, RolePartner, "", "unodc-research"}, upsert, false},
		{"hub on a same-country rule", ID{td, RoleHub, "", ""}, upsert, false},
		{"node of the same state, role not listed", ID{td, RoleNode, "THA", ""}, upsert, false},
		{"operator", ID{td, RoleOperator, "", "alice"}, list, true},
		{"agency not listed", ID{td, RoleAgency, "THA", "police"}, list, false},
		{"unknown procedure", ID{td, RoleOperator, "", "alice"}, "/vrs.hub.v1.NodeService/DeleteEverything", false},
		{"empty rule", ID{td, RoleOperator, "", "alice"}, "/none", false},
		{"empty procedure", ID{td, RoleOperator, "", "alice"}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := p.Authorize(c.id, c.proc)
			if (err == nil) != c.ok {
				t.Fatalf("Authorize = %v, want ok %v", err, c.ok)
			}
			if err != nil {
				var d *DeniedError
				if !errors.As(err, &d) || d.Caller != c.id || d.Procedure != c.proc {
					t.Fatalf("error %#v is not a DeniedError naming caller and procedure", err)
				}
				if !strings.Contains(err.Error(), c.id.String()) {
					t.Errorf("message %q does not name the caller", err)
				}
			}
		})
	}

	var nilPolicy *Policy
	if err := nilPolicy.Authorize(ID{td, RoleHub, "", ""}, list); err == nil {
		t.Error("nil policy allowed a call")
	}
	// On the hub (no country) a same-country rule admits nobody.
	hub := &Policy{Rules: map[string]Rule{upsert: {Roles: []Role{RoleAgency}, SameCountry: true}}}
	if err := hub.Authorize(ID{td, RoleAgency, "THA", "police"}, upsert); err == nil {
		t.Error("same-country rule without a server country allowed a call")
	}
	if got := p.Procedures(); len(got) != 3 || got[0] != "/none" {
		t.Errorf("Procedures = %v", got)
	}
}
