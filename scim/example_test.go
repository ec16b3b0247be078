package scim_test

import (
	"fmt"
	"time"

	"github.com/scimtrail/scimtrail/scim"
)

// A PATCH answered 204 carries no identity; what the cache knew names the
// user, and the operation (sent the way Entra ID sends it) says what changed.
func ExampleDeriver_Derive() {
	ex := &scim.Exchange{
		Start: time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC), IdPName: "entra",
		Method: "PATCH", Path: "/scim/v2/Users/5171a35d", StatusCode: 204,
		RequestBody: []byte(`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`),
	}
	prior := &scim.Identity{Type: "USER", ID: "5171a35d", UserName: "ann@example.com", ExternalID: "ann"}
	res := scim.Deriver{}.Derive(scim.Input{Exchange: ex, Prior: prior})
	r := res.Record
	fmt.Println(r.IdPName, r.Action, r.ResourceType, r.UserEmail, r.IdPResourceID, r.Outcome, *r.Active, r.Events)
	// Output: entra PATCH USER ann@example.com ann SUCCESS false [user.deactivated]
}
