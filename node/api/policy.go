package api

import (
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/server"
	"github.com/vrs-federation/vrs/proto/vrs/node/v1/nodev1connect"
)

// Policy is the node API's authorization table for the node of country:
// only agency certificates of that same country reach records, the
// agreement, previews and the audit log. The hub, other states' agencies,
// partners and CAU operators are denied: the node API is the state's own.
func Policy(country string) *identity.Policy {
	var (
		own    = identity.Rule{Roles: []identity.Role{identity.RoleAgency}, SameCountry: true}
		anyone = identity.Rule{Roles: identity.Roles}
	)
	rules := map[string]identity.Rule{
		nodev1connect.RecordServiceUpsertIncidentsProcedure: own,
		nodev1connect.RecordServiceGetIncidentProcedure:     own,
		nodev1connect.RecordServiceListIncidentsProcedure:   own,
		nodev1connect.RecordServiceDeleteIncidentProcedure:  own,

		nodev1connect.AgreementServiceGetAgreementProcedure: own,
		nodev1connect.AgreementServicePreviewProcedure:      own,

		nodev1connect.AuditServiceListEntriesProcedure: own,
		nodev1connect.AuditServiceVerifyProcedure:      own,
	}
	for _, p := range server.HealthProcedures {
		rules[p] = anyone
	}
	for _, p := range server.ReflectionProcedures {
		rules[p] = own
	}
	return &identity.Policy{Server: "node-api", Country: country, Rules: rules}
}
