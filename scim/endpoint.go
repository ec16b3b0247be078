package scim

import (
	"net/url"
	"strings"

	"github.com/scimtrail/scimtrail/schema"
)

// Endpoint is what a request path says about the SCIM resource it targets.
type Endpoint struct {
	// ResourceType is schema.ResourceUser, schema.ResourceGroup, or empty
	// for any other path (ServiceProviderConfig, Bulk, non-SCIM paths).
	ResourceType string
	// ID is the resource id from the path, empty for the collection.
	ID string
	// Search is true for POST …/.search.
	Search bool
}

// ParseEndpoint finds /Users or /Groups in path, under any base prefix
// (/scim/v2/Users/42, /tenant/a/Groups). Only a collection, a collection's
// .search, or one resource id may follow; anything deeper is not a SCIM
// resource path. The first match from the left wins, so an id that is itself
// "Users" is read as an id. The endpoint names are matched in their RFC case
// first, and in any case only when that finds nothing, so a base path such
// as /tenants/users/ does not hide the endpoint after it.
func ParseEndpoint(path string) Endpoint {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if ep, ok := findEndpoint(segs, func(seg, name string) bool { return seg == name }); ok {
		return ep
	}
	ep, _ := findEndpoint(segs, strings.EqualFold)
	return ep
}

func findEndpoint(segs []string, match func(seg, name string) bool) (Endpoint, bool) {
	for i, seg := range segs {
		rt := ""
		switch {
		case match(seg, "Users"):
			rt = schema.ResourceUser
		case match(seg, "Groups"):
			rt = schema.ResourceGroup
		default:
			continue
		}
		switch rest := segs[i+1:]; len(rest) {
		case 0:
			return Endpoint{ResourceType: rt}, true
		case 1:
			if rest[0] == ".search" {
				return Endpoint{ResourceType: rt, Search: true}, true
			}
			id, err := url.PathUnescape(rest[0])
			if err != nil || id == "" {
				id = rest[0]
			}
			return Endpoint{ResourceType: rt, ID: id}, true
		}
	}
	return Endpoint{}, false
}
