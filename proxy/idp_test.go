package proxy_test

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/scimtrail/scimtrail/proxy"
)

func TestIdPs_Identify(t *testing.T) {
	idps, err := proxy.ParseIdPs([]string{
		"okta=token-sha256:" + sha256Hex([]byte("okta-token")),
		"okta=token-sha256:" + sha256Hex([]byte("okta-rotated")),
		"entra=user-agent:microsoft.aad.provisioning",
		"onelogin=path-prefix:/onelogin",
		"legacy=path-prefix:/v1/",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, auth, ua, want string
	}{
		{"token", "/Users", "Bearer okta-token", "", "okta"},
		{"second token of the same IdP", "/Users", "Bearer okta-rotated", "", "okta"},
		{"scheme in any case", "/Users", "bEaReR okta-token", "", "okta"},
		{"token wins over a later user agent", "/onelogin/Users", "Bearer okta-token", "Microsoft.AAD.Provisioning", "okta"},
		{"wrong token falls through", "/Users", "Bearer okta-token2", "Microsoft.AAD.Provisioning/1.0", "entra"},
		{"basic auth is not a bearer token", "/Users", "Basic b2t0YS10b2tlbg==", "", proxy.UnknownIdP},
		{"token prefix does not match", "/Users", "Bearer okta-toke", "", proxy.UnknownIdP},
		{"user agent ignores case", "/Users", "", "MICROSOFT.AAD.PROVISIONING", "entra"},
		{"path prefix itself", "/onelogin", "", "", "onelogin"},
		{"path below the prefix", "/onelogin/Groups/7", "", "", "onelogin"},
		{"path prefix respects segments", "/oneloginx/Users", "", "", proxy.UnknownIdP},
		{"prefix ending in a slash", "/v1/Users", "", "", "legacy"},
		{"nothing matches", "/Users", "", "curl/8.5", proxy.UnknownIdP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://scim.example"+tc.path, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			r.Header.Set("User-Agent", tc.ua)
			if got := idps.Identify(r); got != tc.want {
				t.Errorf("Identify = %q, want %q", got, tc.want)
			}
		})
	}
	if got, want := idps.Names(), []string{"okta", "entra", "onelogin", "legacy", proxy.UnknownIdP}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
}

func TestIdPs_NilIdentifiesNobody(t *testing.T) {
	var idps proxy.IdPs
	r := httptest.NewRequest("GET", "http://scim.example/Users", nil)
	if got := idps.Identify(r); got != proxy.UnknownIdP {
		t.Errorf("Identify = %q", got)
	}
	if got := idps.Names(); !slices.Equal(got, []string{proxy.UnknownIdP}) {
		t.Errorf("Names = %q", got)
	}
}
