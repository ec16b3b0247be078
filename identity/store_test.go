package identity_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/scimtrail/scimtrail/identity"
	"github.com/scimtrail/scimtrail/schema"
	"github.com/scimtrail/scimtrail/scim"
)

func open(t *testing.T, path string) *identity.Store {
	t.Helper()
	s, err := identity.Open(path, identity.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func user(id string) scim.Identity {
	active := true
	return scim.Identity{
		Type:       schema.ResourceUser,
		ID:         id,
		UserName:   "u" + id + "@example.com",
		Email:      "u" + id + "@example.com",
		ExternalID: "ext-" + id,
		Active:     &active,
	}
}

func group(id string) scim.Identity {
	return scim.Identity{
		Type:         schema.ResourceGroup,
		ID:           id,
		DisplayName:  "Group " + id,
		Members:      []string{"a", "b"},
		MembersKnown: true,
	}
}

func mustGet(t *testing.T, s *identity.Store, typ, id string) (scim.Identity, bool) {
	t.Helper()
	got, ok, err := s.Get(t.Context(), typ, id)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", typ, id, err)
	}
	return got, ok
}

func TestStore_PutGetDelete(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "id.db"))

	u, g := user("42"), group("42") // same id, different types: distinct entries
	for _, ident := range []scim.Identity{u, g} {
		if err := s.Put(ctx, ident); err != nil {
			t.Fatalf("Put(%+v): %v", ident, err)
		}
	}
	if got, ok := mustGet(t, s, schema.ResourceUser, "42"); !ok || !reflect.DeepEqual(got, u) {
		t.Fatalf("Get user = %+v, %v; want %+v, true", got, ok, u)
	}
	if got, ok := mustGet(t, s, schema.ResourceGroup, "42"); !ok || !reflect.DeepEqual(got, g) {
		t.Fatalf("Get group = %+v, %v; want %+v, true", got, ok, g)
	}
	if n := s.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}

	// Put replaces.
	u2 := u
	u2.Email = "new@example.com"
	u2.Active = nil
	if err := s.Put(ctx, u2); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustGet(t, s, schema.ResourceUser, "42"); !reflect.DeepEqual(got, u2) {
		t.Fatalf("after replace Get = %+v, want %+v", got, u2)
	}

	if err := s.Delete(ctx, schema.ResourceUser, "42"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, s, schema.ResourceUser, "42"); ok {
		t.Fatal("deleted user still found")
	}
	if _, ok := mustGet(t, s, schema.ResourceGroup, "42"); !ok {
		t.Fatal("deleting the user removed the group of the same id")
	}
	if err := s.Delete(ctx, schema.ResourceUser, "never-existed"); err != nil {
		t.Fatalf("Delete unknown: %v", err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

func TestStore_UnknownReturnsFalse(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	got, ok, err := s.Get(t.Context(), schema.ResourceUser, "nope")
	if err != nil || ok || !reflect.DeepEqual(got, scim.Identity{}) {
		t.Fatalf("Get unknown = %+v, %v, %v; want zero, false, nil", got, ok, err)
	}
}

func TestStore_IDWithSlashDoesNotCollide(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	if err := s.Put(ctx, user("a/b")); err != nil {
		t.Fatal(err)
	}
	if got, ok := mustGet(t, s, schema.ResourceUser, "a/b"); !ok || got.ID != "a/b" {
		t.Fatalf("Get a/b = %+v, %v", got, ok)
	}
	if got, ok, err := s.Get(ctx, "USER/a", "b"); err == nil || ok {
		t.Fatalf("Get(USER/a, b) = %+v, %v, %v; want an error, not the USER a/b entry", got, ok, err)
	}
}

func TestStore_PutRejectsInvalidIdentity(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	for _, ident := range []scim.Identity{
		{Type: "", ID: "1"},
		{Type: schema.ResourceUser, ID: ""},
		{Type: "USER/x", ID: "1"},
	} {
		if err := s.Put(t.Context(), ident); err == nil || !strings.HasPrefix(err.Error(), "identity: put") {
			t.Errorf("Put(%+v) = %v, want an identity: put error", ident, err)
		}
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("Len = %d after rejected puts, want 0", n)
	}
}

func TestStore_SurvivesRestart(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "id.db")
	s, err := identity.Open(path, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]scim.Identity{}
	for i := range 100 {
		u := user(fmt.Sprint(i))
		want[u.ID] = u
		if err := s.Put(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, schema.ResourceUser, "7"); err != nil {
		t.Fatal(err)
	}
	delete(want, "7")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s2 := open(t, path)
	if n := s2.Len(); n != len(want) {
		t.Fatalf("Len after reopen = %d, want %d", n, len(want))
	}
	for id, u := range want {
		if got, ok := mustGet(t, s2, schema.ResourceUser, id); !ok || !reflect.DeepEqual(got, u) {
			t.Fatalf("after reopen Get(%s) = %+v, %v; want %+v", id, got, ok, u)
		}
	}
	if _, ok := mustGet(t, s2, schema.ResourceUser, "7"); ok {
		t.Fatal("deleted identity came back after reopen")
	}
}

func TestStore_ClosedReturnsErrClosed(t *testing.T) {
	ctx := t.Context()
	s, err := identity.Open(filepath.Join(t.TempDir(), "id.db"), identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, schema.ResourceUser, "1"); !errors.Is(err, identity.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	if err := s.Put(ctx, user("1")); !errors.Is(err, identity.ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if err := s.Delete(ctx, schema.ResourceUser, "1"); !errors.Is(err, identity.ErrClosed) {
		t.Errorf("Delete after Close = %v, want ErrClosed", err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len after Close = %d, want 0", n)
	}

	var zero identity.Store
	if _, _, err := zero.Get(ctx, schema.ResourceUser, "1"); !errors.Is(err, identity.ErrClosed) {
		t.Errorf("zero Store Get = %v, want ErrClosed", err)
	}
	if err := zero.Close(); err != nil {
		t.Errorf("zero Store Close = %v, want nil", err)
	}
}

func TestStore_CancelledContext(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, user("1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled ctx = %v, want context.Canceled", err)
	}
	if n := s.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0: a cancelled Put must not write", n)
	}
}

func TestStore_ConcurrentUse(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("%d-%d", w, i)
				if err := s.Put(ctx, user(id)); err != nil {
					errs <- err
					return
				}
				got, ok, err := s.Get(ctx, schema.ResourceUser, id)
				if err != nil || !ok || got.ID != id {
					errs <- fmt.Errorf("Get(%s) = %+v, %v, %v", id, got, ok, err)
					return
				}
				_ = s.Len()
				if i%2 == 0 {
					if err := s.Delete(ctx, schema.ResourceUser, id); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, want := s.Len(), workers*perWorker/2; n != want {
		t.Fatalf("Len = %d, want %d", n, want)
	}
}

func TestOpen_CorruptFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.db")
	garbage := []byte(strings.Repeat("not a bbolt database\n", 1000))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := identity.Open(path, identity.Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a corrupt file succeeded")
	}
	if !strings.HasPrefix(err.Error(), "identity: open "+path+": ") {
		t.Errorf("error %q lacks the identity: open <path> context", err)
	}
	if !errors.Is(err, berrors.ErrInvalid) && !errors.Is(err, berrors.ErrChecksum) {
		t.Errorf("error %v does not wrap bbolt's ErrInvalid/ErrChecksum", err)
	}
}

func TestOpen_LockedFileTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.db")
	_ = open(t, path) // holds the lock
	s, err := identity.Open(path, identity.Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, berrors.ErrTimeout) {
		t.Errorf("error %v does not wrap bbolt's ErrTimeout", err)
	}
	if !strings.HasPrefix(err.Error(), "identity: open "+path+": ") {
		t.Errorf("error %q lacks the identity: open <path> context", err)
	}
}

func TestOpen_MissingDirectoryIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "id.db")
	if _, err := identity.Open(path, identity.Options{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open in a missing directory = %v, want a wrapped not-exist error", err)
	}
}

func TestOpen_FileMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.db")
	_ = open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("file mode %v is readable by others", perm)
	}
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "identity-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	s, err := identity.Open(filepath.Join(dir, "identities.db"), identity.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	_ = s.Put(ctx, scim.Identity{Type: schema.ResourceUser, ID: "2819c223", Email: "bjensen@example.com"})
	got, ok, _ := s.Get(ctx, schema.ResourceUser, "2819c223")
	fmt.Println(got.Email, ok)
	// Output: bjensen@example.com true
}

// TestStore_MemoryAgreesWithTheFile: identities kept decoded in memory
// are what the file says: after Put, Delete, reopening, beyond the
// memory's bound, and a caller changing what it got changes nothing.
func TestStore_MemoryAgreesWithTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.db")
	s, err := identity.Open(path, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 10000 // more than the memory keeps
	for i := range n {
		id := scim.Identity{Type: "GROUP", ID: fmt.Sprint(i), DisplayName: fmt.Sprint("g", i), Members: []string{"a"}, MembersKnown: true}
		if err := s.Put(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		got, ok, err := s.Get(ctx, "GROUP", fmt.Sprint(i))
		if err != nil || !ok || got.DisplayName != fmt.Sprint("g", i) {
			t.Fatalf("Get(%d) = %+v, %v, %v", i, got, ok, err)
		}
		got.Members[0] = "changed by the caller"
		again, _, _ := s.Get(ctx, "GROUP", fmt.Sprint(i))
		if again.Members[0] != "a" {
			t.Fatalf("a caller's change reached the store: %v", again.Members)
		}
	}
	if err := s.Delete(ctx, "GROUP", "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, "GROUP", "1"); ok {
		t.Error("Get after Delete found the identity")
	}
	if err := s.Put(ctx, scim.Identity{Type: "GROUP", ID: "2", DisplayName: "renamed"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = identity.Open(path, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, ok, _ := s.Get(ctx, "GROUP", "2"); !ok || got.DisplayName != "renamed" {
		t.Errorf("after reopening: %+v, %v", got, ok)
	}
	if _, ok, _ := s.Get(ctx, "GROUP", "1"); ok {
		t.Error("after reopening, the deleted identity is back")
	}
}

// A few identities deleted and created again, many times over, keep the
// memory bounded and right.
func TestStore_ChurnKeepsMemoryRight(t *testing.T) {
	s, err := identity.Open(filepath.Join(t.TempDir(), "identity.db"), identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for round := range 3000 {
		id := fmt.Sprint(round % 10)
		if err := s.Put(ctx, scim.Identity{Type: "USER", ID: id, UserName: fmt.Sprint("u", round)}); err != nil {
			t.Fatal(err)
		}
		if round%3 == 0 {
			if err := s.Delete(ctx, "USER", id); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(ctx, "USER", id); ok {
				t.Fatalf("round %d: deleted %s still found", round, id)
			}
		} else if got, ok, _ := s.Get(ctx, "USER", id); !ok || got.UserName != fmt.Sprint("u", round) {
			t.Fatalf("round %d: Get(%s) = %+v, %v", round, id, got, ok)
		}
	}
}

// An id too long for a file key is refused by its own Put: held with the
// others, it would fail every group it is written in, and no identity
// would reach the file again.
func TestStore_TooLongIDRefusedAlone(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	long := user(strings.Repeat("x", 40000))
	if err := s.Put(ctx, long); err == nil || !strings.HasPrefix(err.Error(), "identity: put") {
		t.Fatalf("Put of a 40,000-byte id = %v, want an identity: put error", err)
	}
	if _, ok := mustGet(t, s, schema.ResourceUser, long.ID); ok {
		t.Fatal("a refused identity is found")
	}
	if err := s.Put(ctx, user("1")); err != nil {
		t.Fatalf("Put after the refused one: %v", err)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1: the other identities must still be written", n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// A Get that reads the file while a Delete of the same identity is on its
// way must not bring the identity back into memory for good.
func TestStore_GetDuringDeleteDoesNotResurrect(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "id.db"))
	for round := range 300 {
		id := fmt.Sprint(round)
		if err := s.Put(ctx, user(id)); err != nil {
			t.Fatal(err)
		}
		_ = s.Len() // in the file
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _, _ = s.Get(ctx, schema.ResourceUser, id)
				}
			})
		}
		if err := s.Delete(ctx, schema.ResourceUser, id); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		_ = s.Len() // the Delete is in the file
		if got, ok := mustGet(t, s, schema.ResourceUser, id); ok {
			t.Fatalf("round %d: deleted identity found again: %+v", round, got)
		}
	}
}

// Puts of one identity from several goroutines leave memory and the file
// agreeing on whichever came last.
func TestStore_ConcurrentPutsOfOneIdentityAgree(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "id.db")
	s, err := identity.Open(path, identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const rounds, writers = 200, 4
	for round := range rounds {
		id := fmt.Sprint(round)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				u := user(id)
				u.Email = fmt.Sprintf("w%d@example.com", w)
				_ = s.Put(ctx, u)
			})
		}
		wg.Wait()
	}
	inMemory := map[string]string{}
	for round := range rounds {
		got, _ := mustGet(t, s, schema.ResourceUser, fmt.Sprint(round))
		inMemory[got.ID] = got.Email
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	for id, email := range inMemory {
		if got, _ := mustGet(t, s2, schema.ResourceUser, id); got.Email != email {
			t.Fatalf("identity %s: %s in memory, %s in the file", id, email, got.Email)
		}
	}
}
