package identity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/scim"
)

func openInternal(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "id.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// within fails the test when f has not returned after a long while: a
// write that waits for room must not wait for ever.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	got := make(chan error, 1)
	go func() { got <- f() }()
	select {
	case err := <-got:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still waiting after 30s", what)
		return nil
	}
}

// fill holds maxPending writes while the writer cannot write them.
func fill(t *testing.T, s *Store) {
	t.Helper()
	for i := range maxPending {
		_ = s.Put(t.Context(), scim.Identity{Type: "USER", ID: fmt.Sprint(i)})
	}
	s.pmu.Lock()
	n := len(s.pending)
	s.pmu.Unlock()
	if n != maxPending {
		t.Fatalf("%d writes held, want %d", n, maxPending)
	}
}

// A file that refuses writes makes a Put that finds no room fail at once
// with the file's error, leaving the store as it was; it does not wait
// for room that will not come.
func TestEnqueue_FailingFileRefusesInsteadOfWaiting(t *testing.T) {
	s := openInternal(t)
	if err := s.Put(t.Context(), scim.Identity{Type: "USER", ID: "old", UserName: "old"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Len()      // in the file
	_ = s.db.Close() // every transaction fails from here on
	fill(t, s)
	for range 100 { // the writer has failed at least once
		s.pmu.Lock()
		failed := s.lastErr != nil
		s.pmu.Unlock()
		if failed {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := within(t, "Put", func() error {
		return s.Put(context.Background(), scim.Identity{Type: "USER", ID: "new"})
	})
	if err == nil {
		t.Fatal("Put with no room and a failing file returned nil")
	}
	err = within(t, "Delete", func() error { return s.Delete(context.Background(), "USER", "old") })
	if err == nil {
		t.Fatal("Delete with no room and a failing file returned nil")
	}
	if got, ok := s.recent.get("USER/old"); !ok || got.UserName != "old" {
		t.Fatalf("a refused Delete changed memory: %+v, %v", got, ok)
	}
	if _, ok := s.recent.get("USER/new"); ok {
		t.Fatal("a refused Put reached memory")
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close with unwritten identities returned nil")
	}
}

// A Put waiting for room gives up when its context ends, and one waiting
// when the store is closed gets ErrClosed; Close still writes what was
// held.
func TestEnqueue_WaitEndsWithContextAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.fmu.Lock() // the writer stalls
	fill(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = within(t, "Put", func() error { return s.Put(ctx, scim.Identity{Type: "USER", ID: "late"}) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put past its deadline = %v, want DeadlineExceeded", err)
	}
	if _, ok := s.recent.get("USER/late"); ok {
		t.Fatal("a Put that was not held reached memory")
	}
	// Replacing a held write needs no room.
	if err := s.Put(context.Background(), scim.Identity{Type: "USER", ID: "7", UserName: "again"}); err != nil {
		t.Fatalf("Put replacing a held write: %v", err)
	}

	waiting := make(chan error, 1)
	go func() { waiting <- s.Put(context.Background(), scim.Identity{Type: "USER", ID: "waits"}) }()
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	if err := within(t, "Put during Close", func() error { return <-waiting }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put waiting during Close = %v, want ErrClosed", err)
	}
	s.fmu.Unlock() // the writer writes what is held
	if err := within(t, "Close", func() error { return <-closed }); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := s2.Len(); n != maxPending {
		t.Fatalf("Len after reopening = %d, want %d", n, maxPending)
	}
	if got, ok, _ := s2.Get(context.Background(), "USER", "7"); !ok || got.UserName != "again" {
		t.Fatalf("Get(7) after reopening = %+v, %v", got, ok)
	}
}
