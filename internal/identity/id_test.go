package identity

import (
	"context"
	"testing"
)

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{
		"spiffe://vrs.local/hub",
		"spiffe://vrs.local/node/THA",
		"spiffe://vrs.local/partner/unodc-research",
		"spiffe://vrs.local/operator/alice",
		"spiffe://vrs.local/agency/IDN/polri",
	} {
		id, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if id.String() != s {
			t.Errorf("round trip %q -> %q", s, id.String())
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"https://vrs.local/hub",
		"spiffe:///hub",
		"spiffe://vrs.local/hub/extra",
		"spiffe://vrs.local/node/tha",
		"spiffe://vrs.local/node/THAI",
		"spiffe://vrs.local/node",
		"spiffe://vrs.local/agency/THA",
		"spiffe://vrs.local/partner/Bad Name",
		"spiffe://vrs.local/admin/root",
		"spiffe://user@vrs.local/hub",
		"spiffe://vrs.local:8443/hub",
		"spiffe://vrs.local/hub?x=1",
	} {
		if id, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", s, id)
		}
	}
}

func TestBoundCountry(t *testing.T) {
	cases := []struct {
		id   ID
		want string
		ok   bool
	}{
		{ID{Role: RoleAgency, Country: "THA", Name: "police"}, "THA", true},
		{ID{Role: RolePartner, Name: "tha-immigration"}, "THA", true},
		{ID{Role: RolePartner, Name: "unodc-research"}, "", false},
		{ID{Role: RolePartner, Name: "thai"}, "", false},
		{ID{Role: RolePartner, Name: "ext-research"}, "", false},
		{ID{Role: RoleOperator, Name: "idn-x"}, "", false},
	}
	for _, c := range cases {
		got, ok := c.id.BoundCountry()
		if got != c.want || ok != c.ok {
			t.Errorf("%+v: got %q %v, want %q %v", c.id, got, ok, c.want, c.ok)
		}
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("empty context has an identity")
	}
	want := ID{TrustDomain: "vrs.local", Role: RoleHub}
	got, ok := FromContext(NewContext(context.Background(), want))
	if !ok || got != want {
		t.Fatalf("got %+v %v", got, ok)
	}
}
