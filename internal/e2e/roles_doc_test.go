package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vrs-federation/vrs/internal/identity"
)

// The role table in docs/certificates.md sits between these markers and is
// generated from the servers' Policies, so the documentation cannot drift
// from what the servers enforce.
const (
	roleTableBegin = "<!-- role-table:begin: generated from the servers' Policies by internal/e2e/roles_doc_test.go; " +
		"do not edit, run VRS_UPDATE_DOCS=1 go test ./internal/e2e -run TestRoleTableDoc -->"
	roleTableEnd = "<!-- role-table:end -->"
)

// roleDocPath is docs/certificates.md, relative to this package.
var roleDocPath = filepath.Join("..", "..", "docs", "certificates.md")

// roleDocRoles is the column order of the role table.
var roleDocRoles = []identity.Role{
	identity.RoleHub, identity.RoleNode, identity.RoleAgency, identity.RolePartner, identity.RoleOperator,
}

// roleDocPorts describes each port for the table headings.
var roleDocPorts = map[azPort]string{
	azHubAPI:     "Hub API (`vrs-hub serve --api-listen`; gRPC, gRPC-Web and Connect)",
	azNodeAPI:    "Node API (`vrs-node serve --api-listen`; gRPC, gRPC-Web and Connect)",
	azFederation: "Federation link (`vrs-hub serve --federation-listen`; gRPC)",
}

// roleTable renders the authorization tables of every port: one row per
// RPC the port serves (from the .proto descriptors, so RPCs no policy
// mentions show up as refused to everyone) and one column per role.
func roleTable() string {
	policies := azPolicies()
	var b strings.Builder
	for _, port := range azPorts {
		pol := policies[port]
		fmt.Fprintf(&b, "\n#### %s\n\n", roleDocPorts[port])
		b.WriteString("| RPC |")
		for _, r := range roleDocRoles {
			fmt.Fprintf(&b, " %s |", r)
		}
		b.WriteString("\n|---|")
		for range roleDocRoles {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, proc := range azProcedures() {
			if proc.port != port {
				continue
			}
			fmt.Fprintf(&b, "| `%s` |", strings.TrimPrefix(proc.name, "/"))
			rule, listed := pol.Rules[proc.name]
			for _, r := range roleDocRoles {
				cell := "—"
				switch {
				case !listed || !slices.Contains(rule.Roles, r):
				case rule.SameCountry:
					cell = "own state"
				default:
					cell = "yes"
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// TestRoleTableDoc fails if the role table in docs/certificates.md differs
// from the Policies; with VRS_UPDATE_DOCS=1 it rewrites the table instead.
func TestRoleTableDoc(t *testing.T) {
	doc, err := os.ReadFile(roleDocPath)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte(roleTableBegin))
	end := bytes.Index(doc, []byte(roleTableEnd))
	if begin < 0 || end < begin {
		t.Fatalf("%s: role table markers not found; put\n%s\n%s\nwhere the table belongs", roleDocPath, roleTableBegin, roleTableEnd)
	}
	start := begin + len(roleTableBegin)
	want := roleTable()
	if string(doc[start:end]) == want {
		return
	}
	if os.Getenv("VRS_UPDATE_DOCS") == "1" {
		out := slices.Concat(doc[:start], []byte(want), doc[end:])
		if err := os.WriteFile(roleDocPath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the role table in %s", roleDocPath)
		return
	}
	t.Errorf("the role table in %s differs from the Policies; run VRS_UPDATE_DOCS=1 go test ./internal/e2e -run TestRoleTableDoc\nwant:%s", roleDocPath, want)
}
