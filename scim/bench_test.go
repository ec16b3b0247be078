package scim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/scimtest"
	"github.com/scimtrail/scimtrail/scim"
)

// patchExchange is a 1 KB Entra-shaped user PATCH answered with the user.
func patchExchange() *scim.Exchange {
	req := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` +
		`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},` +
		`{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},` +
		`{"op":"Replace","path":"active","value":"False"},` +
		`{"op":"Replace","value":{"name.givenName":"updatedGivenName","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"1234","title":"` +
		strings.Repeat("x", 480) + `"}}]}`
	resp := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"6764549bef60420686bc","externalId":"6c75de36-30fa-4d2d-a196-6bdcdb6b6539",` +
		`"userName":"Test_User@testuser.com","name":{"familyName":"updatedFamilyName","givenName":"updatedGivenName"},"active":false,` +
		`"emails":[{"value":"updatedEmail@microsoft.com","type":"work","primary":true}]}`
	return &scim.Exchange{Start: scimtest.GoldenStart, Duration: time.Millisecond, IdPName: "entra", Method: "PATCH",
		Path: "/scim/v2/Users/6764549bef60420686bc", StatusCode: 200, RequestBody: []byte(req), ResponseBody: []byte(resp)}
}

func BenchmarkDerive_PatchExchange(b *testing.B) {
	ex := patchExchange()
	prior := &scim.Identity{Type: "USER", ID: "6764549bef60420686bc", UserName: "Test_User@testuser.com", Email: "old@testuser.com"}
	d := scim.Deriver{Redactor: scim.NewRedactor()}
	b.SetBytes(int64(len(ex.RequestBody)))
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Derive(scim.Input{Exchange: ex, Prior: prior})
	}
}

func BenchmarkDeriveAndEncode_PatchExchange(b *testing.B) {
	ex := patchExchange()
	prior := &scim.Identity{Type: "USER", ID: "6764549bef60420686bc", UserName: "Test_User@testuser.com", Email: "old@testuser.com"}
	d := scim.Deriver{Redactor: scim.NewRedactor()}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		res := d.Derive(scim.Input{Exchange: ex, Prior: prior})
		res.Record.ID = scimtest.GoldenID
		var err error
		// As the spool and the sinks encode it.
		if buf, err = res.Record.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
