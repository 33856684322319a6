// Package identity is where VRS decides who is calling. Every certificate in
// the federation carries one SPIFFE ID in its URI SAN; the role, the country
// and the name come from that verified ID and from nowhere else. Servers put
// the caller's ID in the request context; handlers read it with FromContext
// and never touch certificates.
package identity

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/vrs-federation/vrs/internal/codes"
)

// Role is what a certificate's holder is in the federation.
type Role string

// The roles of DESIGN §9.
const (
	// RoleHub is the CAU hub: spiffe://<td>/hub.
	RoleHub Role = "hub"
	// RoleNode is a state's node: spiffe://<td>/node/<ISO3>.
	RoleNode Role = "node"
	// RolePartner is a partner system or analyst: spiffe://<td>/partner/<name>.
	RolePartner Role = "partner"
	// RoleOperator is a CAU hub operator: spiffe://<td>/operator/<name>.
	RoleOperator Role = "operator"
	// RoleAgency is a national agency or partner system of one state:
	// spiffe://<td>/agency/<ISO3>/<name>.
	RoleAgency Role = "agency"
)

// Roles lists every role, in a stable order.
var Roles = []Role{RoleHub, RoleNode, RolePartner, RoleOperator, RoleAgency}

// ID is a parsed SPIFFE ID.
type ID struct {
	// TrustDomain, e.g. "vrs.local".
	TrustDomain string
	// Role of the holder.
	Role Role
	// Country is the ISO 3166-1 alpha-3 code for node and agency IDs; a
	// partner may be bound to a state with a name of the form ISO3-... (see
	// BoundCountry).
	Country string
	// Name for partner, operator and agency IDs.
	Name string
}

var (
	countryRE = regexp.MustCompile(`^[A-Z]{3}$`)
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	tdRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,252}$`)
)

// ValidName reports whether s may be used as a partner, operator or agency
// name: lowercase letters, digits, '.', '_' and '-', at most 63 characters.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ValidCountry reports whether s has the form of an ISO 3166-1 alpha-3 code.
func ValidCountry(s string) bool { return countryRE.MatchString(s) }

// ValidTrustDomain reports whether s may be used as a trust domain name.
func ValidTrustDomain(s string) bool { return tdRE.MatchString(s) }

// String returns the SPIFFE ID URI.
func (id ID) String() string { return id.URL().String() }

// URL returns the SPIFFE ID as a URL, for a certificate's URI SAN.
func (id ID) URL() *url.URL {
	var path string
	switch id.Role {
	case RoleHub:
		path = "/hub"
	case RoleNode:
		path = "/node/" + id.Country
	case RoleAgency:
		path = "/agency/" + id.Country + "/" + id.Name
	default:
		path = "/" + string(id.Role) + "/" + id.Name
	}
	return &url.URL{Scheme: "spiffe", Host: id.TrustDomain, Path: path}
}

// Validate checks the ID's parts.
func (id ID) Validate() error {
	if !ValidTrustDomain(id.TrustDomain) {
		return fmt.Errorf("trust domain %q: want lowercase letters, digits, '.' and '-'", id.TrustDomain)
	}
	switch id.Role {
	case RoleHub:
		if id.Country != "" || id.Name != "" {
			return fmt.Errorf("hub id takes no country or name")
		}
	case RoleNode:
		if !ValidCountry(id.Country) || id.Name != "" {
			return fmt.Errorf("node id: country %q: want three capital letters (ISO 3166-1 alpha-3)", id.Country)
		}
	case RoleAgency:
		if !ValidCountry(id.Country) {
			return fmt.Errorf("agency id: country %q: want three capital letters (ISO 3166-1 alpha-3)", id.Country)
		}
		if !ValidName(id.Name) {
			return fmt.Errorf("agency id: name %q: want lowercase letters, digits, '.', '_' or '-'", id.Name)
		}
	case RolePartner, RoleOperator:
		if id.Country != "" {
			return fmt.Errorf("%s id takes no country", id.Role)
		}
		if !ValidName(id.Name) {
			return fmt.Errorf("%s id: name %q: want lowercase letters, digits, '.', '_' or '-'", id.Role, id.Name)
		}
	default:
		return fmt.Errorf("unknown role %q", id.Role)
	}
	return nil
}

// Parse parses and validates a SPIFFE ID such as spiffe://vrs.local/node/THA.
func Parse(s string) (ID, error) {
	u, err := url.Parse(s)
	if err != nil {
		return ID{}, fmt.Errorf("spiffe id %q: %w", s, err)
	}
	if u.Scheme != "spiffe" || u.Host == "" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" {
		return ID{}, fmt.Errorf("spiffe id %q: want spiffe://<trust-domain>/<path>", s)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	id := ID{TrustDomain: u.Host, Role: Role(parts[0])}
	switch {
	case id.Role == RoleHub && len(parts) == 1:
	case id.Role == RoleNode && len(parts) == 2:
		id.Country = parts[1]
	case id.Role == RoleAgency && len(parts) == 3:
		id.Country, id.Name = parts[1], parts[2]
	case (id.Role == RolePartner || id.Role == RoleOperator) && len(parts) == 2:
		id.Name = parts[1]
	default:
		return ID{}, fmt.Errorf("spiffe id %q: unknown path %q", s, u.Path)
	}
	if err := id.Validate(); err != nil {
		return ID{}, fmt.Errorf("spiffe id %q: %w", s, err)
	}
	return id, nil
}

// BoundCountry returns the state a partner or agency certificate belongs to,
// for reciprocity: an agency's country, or for a partner named "iso3-..."
// (e.g. "tha-immigration") the upper-cased prefix when it is an ISO 3166-1
// country code ("ext-research" is bound to no state). ok is false for
// identities bound to no state.
func (id ID) BoundCountry() (string, bool) {
	switch id.Role {
	case RoleAgency, RoleNode:
		return id.Country, true
	case RolePartner:
		if i := strings.IndexByte(id.Name, '-'); i == 3 {
			c := strings.ToUpper(id.Name[:3])
			if codes.IsCountry(c) {
				return c, true
			}
		}
	}
	return "", false
}

type ctxKey struct{}

// NewContext returns ctx carrying the caller's verified ID.
func NewContext(ctx context.Context, id ID) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller's verified ID, put there by the server's
// TLS layer. ok is false when the call did not come with a verified
// certificate.
func FromContext(ctx context.Context) (ID, bool) {
	id, ok := ctx.Value(ctxKey{}).(ID)
	return id, ok
}
