package hub

import (
	"github.com/vrs-federation/vrs/hub/federation"
	"github.com/vrs-federation/vrs/internal/identity"
	"github.com/vrs-federation/vrs/internal/server"
)

// FederationPolicy is the authorization table of the federation listener
// (DESIGN §9): Attach for node certificates (federation.Policy), plus gRPC
// health Check/Watch and reflection for node and hub certificates. Nodes
// probe the hub before attaching and the hub's own probes run with its
// certificate; no other role has business on this port, so partners,
// agencies and operators cannot even learn its services. It is exported so
// the authorization tests and the generated role table use the very table
// the hub enforces.
func FederationPolicy() *identity.Policy {
	p := federation.Policy()
	probe := identity.Rule{Roles: []identity.Role{identity.RoleNode, identity.RoleHub}}
	for _, procs := range [][]string{server.HealthProcedures, server.ReflectionProcedures} {
		for _, proc := range procs {
			p.Rules[proc] = probe
		}
	}
	return p
}
