package scimtest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/scimtrail/scimtrail/internal/scimtest"
)

// ExampleRun replays Entra's traffic against an in-memory backend served
// under /scim/entra.
func ExampleRun() {
	backend := scimtest.NewBackend(scimtest.Options{Token: "t0ken"})
	srv := httptest.NewServer(backend)
	defer srv.Close()

	results, err := scimtest.Run(context.Background(), srv.Client(),
		map[string]string{"entra": srv.URL + "/scim/entra"},
		map[string]string{"entra": "t0ken"},
		scimtest.EntraCycle())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Println(r.Status, r.Step.Method, r.Step.Name)
	}
	g := backend.Groups()[0]
	fmt.Println(g["displayName"], g["members"])
	// Output:
	// 200 GET entra: look up dana before create
	// 201 POST entra: create user dana
	// 200 GET entra: look up erin before create
	// 201 POST entra: create user erin
	// 200 PATCH entra: update dana's attributes
	// 200 GET entra: look up group Sales before create
	// 201 POST entra: create group Sales
	// 200 PATCH entra: add dana and erin to Sales
	// 200 PATCH entra: remove dana from Sales
	// 200 PATCH entra: deactivate dana
	// 200 GET entra: read back dana
	// 204 DELETE entra: delete user dana
	// Sales [map[display:erin@contoso.com value:00000000-0000-4000-8000-000000000002]]
}
