package api

import (
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/server"
	"github.com/vrs-federation/vrs/proto/vrs/hub/v1/hubv1connect"
)

// Policy is the hub API's authorization table: every procedure the API
// port serves, with the roles that may call it. Anything not listed is
// denied. Operators run the hub; partners and analysts read the regional
// products (subject to reciprocity in ReportService). Nodes, the hub itself
// and national agencies have no business on this port.
func Policy() *identity.Policy {
	var (
		readers  = identity.Rule{Roles: []identity.Role{identity.RoleOperator, identity.RolePartner}}
		operator = identity.Rule{Roles: []identity.Role{identity.RoleOperator}}
		anyone   = identity.Rule{Roles: identity.Roles}
	)
	rules := map[string]identity.Rule{
		hubv1connect.NodeServiceListNodesProcedure: readers,
		hubv1connect.NodeServiceGetNodeProcedure:   readers,

		hubv1connect.QueryServiceSubmitQueryProcedure: operator,
		hubv1connect.QueryServiceGetRunProcedure:      readers,
		hubv1connect.QueryServiceWatchRunProcedure:    readers,
		hubv1connect.QueryServiceListRunsProcedure:    readers,

		hubv1connect.ScheduleServiceCreateScheduleProcedure: operator,
		hubv1connect.ScheduleServiceListSchedulesProcedure:  operator,
		hubv1connect.ScheduleServicePauseScheduleProcedure:  operator,
		hubv1connect.ScheduleServiceResumeScheduleProcedure: operator,
		hubv1connect.ScheduleServiceDeleteScheduleProcedure: operator,

		hubv1connect.ReportServiceGetRegionalPictureProcedure: readers,
		hubv1connect.ReportServiceExportProcedure:             readers,
	}
	// Health and reflection reveal nothing but the service names; any
	// verified member of the federation may use them.
	for _, p := range server.HealthProcedures {
		rules[p] = anyone
	}
	for _, p := range server.ReflectionProcedures {
		rules[p] = anyone
	}
	return &identity.Policy{Server: "hub-api", Rules: rules}
}
