package console

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func newTestAuthenticator(t *testing.T, cost int) *authenticator {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), cost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAuthenticator(Config{Users: []string{"admin:" + string(hash)}})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestLogin_UnknownUserCostsABcrypt: the dummy hash has the users' cost,
// so an unknown name takes as long to refuse as a wrong password and the
// answer's timing does not list the users.
func TestLogin_UnknownUserCostsABcrypt(t *testing.T) {
	a := newTestAuthenticator(t, bcrypt.MinCost+2)
	if cost, err := bcrypt.Cost(a.dummy); err != nil || cost != bcrypt.MinCost+2 {
		t.Errorf("dummy hash cost %d (%v), want the users' %d", cost, err, bcrypt.MinCost+2)
	}
	if a.login("mallory", "right") {
		t.Error("an unknown user logged in")
	}
	if len(a.logins) != 0 {
		t.Error("a failure was cached")
	}
}

// TestLogin_CachesSuccessesOnly: a browser's every asset request skips
// bcrypt once its credential was checked; a guess never does.
func TestLogin_CachesSuccessesOnly(t *testing.T) {
	a := newTestAuthenticator(t, bcrypt.MinCost)
	for range 3 {
		if a.login("admin", "wrong") {
			t.Fatal("a wrong password logged in")
		}
	}
	if len(a.logins) != 0 {
		t.Fatal("a failure was cached")
	}
	if !a.login("admin", "right") || len(a.logins) != 1 {
		t.Fatal("a success was not cached")
	}
	// The cache holds the HMAC, and a cached pair still needs both parts.
	a.users["admin"] = []byte("$2a$04$invalidinvalidinvalidinvalidinvalidinvalidinvalidinva")
	if !a.login("admin", "right") {
		t.Error("a cached login went back to bcrypt")
	}
	if a.login("admin", "righ") || a.login("admi", "nright") {
		t.Error("a near miss matched the cache")
	}
}

// TestLogin_CacheIsBounded: bcrypt reads 72 bytes of a password, so one
// user's password followed by anything logs in, and each such pair would
// be an entry of its own; the cache stays bounded however many there are.
func TestLogin_CacheIsBounded(t *testing.T) {
	password := strings.Repeat("p", 72)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAuthenticator(Config{Users: []string{"admin:" + string(hash)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedLogins + 20 {
		if !a.login("admin", password+strconv.Itoa(i)) {
			t.Fatal("bcrypt no longer ignores bytes past 72; this test needs another way to fill the cache")
		}
	}
	if len(a.logins) != maxCachedLogins {
		t.Errorf("%d cached logins, want %d", len(a.logins), maxCachedLogins)
	}
}

func TestAllow_ChecksEachScheme(t *testing.T) {
	a, err := newAuthenticator(Config{TokenSHA256: []string{"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}) // sha256("test")
	if err != nil {
		t.Fatal(err)
	}
	for header, want := range map[string]bool{
		"Bearer test":        true,
		"BEARER  test ":      true,
		"Bearer tes":         false,
		"Bearer":             false,
		"Basic dGVzdDp0ZXN0": false, // test:test, and no users
		"test":               false,
	} {
		r := httptest.NewRequest("GET", "/ui/", nil)
		r.Header.Set("Authorization", header)
		if got, _ := a.allow(r); got != want {
			t.Errorf("%q: %v, want %v", header, got, want)
		}
	}
}

// TestLogin_GuessingFloodCannotTakeTheCPU: with every bcrypt slot taken,
// a login is refused after a short wait instead of running another
// comparison; a credential checked before is still accepted from the
// cache.
func TestLogin_GuessingFloodCannotTakeTheCPU(t *testing.T) {
	a := newTestAuthenticator(t, bcrypt.MinCost)
	a.checkWait = 10 * time.Millisecond
	if !a.login("admin", "right") {
		t.Fatal("the right password was refused")
	}
	for range maxConcurrentChecks {
		a.checks <- struct{}{} // every slot busy, as under a flood of guesses
	}
	if a.login("admin", "wrong") || a.login("nobody", "right") {
		t.Error("a login ran bcrypt with every slot taken")
	}
	if !a.login("admin", "right") {
		t.Error("a cached login was refused while the slots were taken")
	}
	for range maxConcurrentChecks {
		<-a.checks
	}
	a2 := newTestAuthenticator(t, bcrypt.MinCost)
	a2.checkWait = 10 * time.Millisecond
	for range maxConcurrentChecks {
		a2.checks <- struct{}{}
	}
	if a2.login("admin", "right") {
		t.Error("an uncached login passed without a bcrypt check")
	}
	<-a2.checks
	if !a2.login("admin", "right") {
		t.Error("the right password was refused with a slot free")
	}
}
