package identity_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/scimtrail/scimtrail/identity"
	"github.com/scimtrail/scimtrail/scim"
)

// BenchmarkStore_PutNew is a Put of a new identity, as on each POST of an
// initial sync: held in memory, written by the writer in groups.
func BenchmarkStore_PutNew(b *testing.B) {
	s, err := identity.Open(filepath.Join(b.TempDir(), "id.db"), identity.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := scim.Identity{Type: "USER", ID: fmt.Sprintf("7f3c9a10-5b2e-4d61-9a8e-%012d", i), UserName: fmt.Sprintf("user%d@example.com", i), Email: fmt.Sprintf("user%d@example.com", i), ExternalID: "00u8bench"}
		if err := s.Put(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
