package scim_test

import (
	"testing"

	"github.com/scimtrail/scimtrail/scim"
)

func TestParseEndpoint(t *testing.T) {
	for path, want := range map[string]scim.Endpoint{
		"/Users":                         {ResourceType: "USER"},
		"/scim/v2/Users/":                {ResourceType: "USER"},
		"/scim/v2/Users/2819c223-7f76":   {ResourceType: "USER", ID: "2819c223-7f76"},
		"/scim/v2/Groups/g%201":          {ResourceType: "GROUP", ID: "g 1"},
		"/tenant/a/Groups/.search":       {ResourceType: "GROUP", Search: true},
		"/scim/v2/Users/Users":           {ResourceType: "USER", ID: "Users"},
		"/scim/Users/v2/Users":           {ResourceType: "USER"},
		"/scim/v2/Users/42/extra":        {},
		"/tenants/users/Users":           {ResourceType: "USER"},
		"/scim/v2/users/42":              {ResourceType: "USER", ID: "42"},
		"/scim/v2/ServiceProviderConfig": {},
		"/":                              {},
		"":                               {},
	} {
		if got := scim.ParseEndpoint(path); got != want {
			t.Errorf("ParseEndpoint(%q) = %+v, want %+v", path, got, want)
		}
	}
}

func TestRecord_RedactsPasswordAnyCase(t *testing.T) {
	r := scim.NewRedactor("pin")
	for name, secret := range map[string]bool{
		"password": true, "PASSWORD": true, "urn:ietf:params:scim:schemas:core:2.0:User:password": true,
		"name.Password": true, "PIN": true, "userName": false, "passwordHint": false,
	} {
		if got := r.IsSecret(name); got != secret {
			t.Errorf("IsSecret(%q) = %v, want %v", name, got, secret)
		}
	}
}

func TestRecord_RedactsSecretQueryParameters(t *testing.T) {
	r := scim.NewRedactor()
	for raw, want := range map[string]string{
		"access_token=abc123&count=1":    "access_token=%5BREDACTED%5D&count=1",
		"filter=userName%20eq%20%22a%22": "filter=userName%20eq%20%22a%22",
		"Password=x&access%5Ftoken=y&z":  "Password=%5BREDACTED%5D&access%5Ftoken=%5BREDACTED%5D&z",
		"":                               "",
	} {
		if got := r.Query(raw); got != want {
			t.Errorf("Query(%q) = %q, want %q", raw, got, want)
		}
	}
}
