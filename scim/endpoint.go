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
// "Users" is read as an id.
func ParseEndpoint(path string) Endpoint {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, seg := range segs {
		rt := resourceTypeOf(seg)
		if rt == "" {
			continue
		}
		switch rest := segs[i+1:]; len(rest) {
		case 0:
			return Endpoint{ResourceType: rt}
		case 1:
			if rest[0] == ".search" {
				return Endpoint{ResourceType: rt, Search: true}
			}
			id, err := url.PathUnescape(rest[0])
			if err != nil || id == "" {
				id = rest[0]
			}
			return Endpoint{ResourceType: rt, ID: id}
		}
	}
	return Endpoint{}
}

func resourceTypeOf(seg string) string {
	switch {
	case strings.EqualFold(seg, "Users"):
		return schema.ResourceUser
	case strings.EqualFold(seg, "Groups"):
		return schema.ResourceGroup
	}
	return ""
}
