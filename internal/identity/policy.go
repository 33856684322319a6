package identity

import (
	"fmt"
	"slices"
)

// Rule says who may call one procedure.
type Rule struct {
	// Roles that may call it.
	Roles []Role
	// SameCountry additionally requires the caller to belong to the
	// server's own country (Policy.Country), as its BoundCountry: on a
	// node API, an agency certificate for THA reaches only the THA node.
	SameCountry bool
}

// Policy is one server's authorization table (DESIGN §9): full procedure
// name, e.g. "/vrs.node.v1.RecordService/UpsertIncidents", to the rule for
// it. Anything not in the table is denied.
type Policy struct {
	// Server names the server in denial messages and logs, e.g. "node-api".
	Server string
	// Country is the server's own state for SameCountry rules; empty on
	// the hub, where a SameCountry rule therefore denies everyone.
	Country string
	// Rules maps full procedure names to rules.
	Rules map[string]Rule
}

// DeniedError is returned by Authorize: who was refused what. It never
// carries request payload.
type DeniedError struct {
	Caller    ID
	Procedure string
	Reason    string
}

// Error implements error.
func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s may not call %s: %s", e.Caller, e.Procedure, e.Reason)
}

// Authorize returns nil if id may call procedure, and a *DeniedError
// otherwise. The default is deny: an unknown procedure, a nil policy or an
// empty rule refuses everyone.
func (p *Policy) Authorize(id ID, procedure string) error {
	deny := func(reason string) error {
		return &DeniedError{Caller: id, Procedure: procedure, Reason: reason}
	}
	if p == nil {
		return deny("no policy")
	}
	r, ok := p.Rules[procedure]
	if !ok {
		return deny("procedure not in the policy")
	}
	if !slices.Contains(r.Roles, id.Role) {
		return deny("role " + string(id.Role) + " not allowed")
	}
	if r.SameCountry {
		c, ok := id.BoundCountry()
		if !ok || p.Country == "" || c != p.Country {
			return deny("not of this server's country")
		}
	}
	return nil
}

// Procedures returns the policy's procedure names, for documentation (the
// role table in docs is generated from the servers' policies).
func (p *Policy) Procedures() []string {
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(p.Rules))
	for k := range p.Rules {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
