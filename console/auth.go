package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// maxCachedLogins bounds the cache of successful basic-auth checks. A
// browser sends the same credential with every page and asset, and bcrypt
// at cost 10 takes 50–100 ms, so without the cache each page would cost a
// second of CPU. Only successes are cached: a guesser pays bcrypt every
// time.
const maxCachedLogins = 256

// authenticator checks a request's credential. It is safe for concurrent
// use; only the login cache changes after newAuthenticator.
type authenticator struct {
	tokens [][sha256.Size]byte
	users  map[string][]byte // name → bcrypt hash
	// dummy is compared against when the name is unknown, so an unknown
	// name costs what a known one does and timing does not list users.
	dummy []byte
	// key keys the cache's HMAC: the cache keeps no password, and, the
	// key being random per authenticator, its entries cannot be matched
	// against digests computed elsewhere.
	key []byte

	mu     sync.Mutex
	logins map[[sha256.Size]byte]struct{}
	// checks bounds the bcrypt comparisons running at once: each costs
	// tens of milliseconds of CPU, and in proxy mode that CPU is the
	// proxy's. A login waits up to checkWait for a slot, then is refused,
	// so a flood of guesses neither takes the CPU nor locks every user
	// out at once.
	checks    chan struct{}
	checkWait time.Duration
}

// maxConcurrentChecks is how many bcrypt comparisons may run at once.
const maxConcurrentChecks = 2

// newAuthenticator builds the checker of a validated cfg.
func newAuthenticator(cfg Config) (*authenticator, error) {
	a := &authenticator{
		users:     make(map[string][]byte, len(cfg.Users)),
		key:       make([]byte, 32),
		logins:    make(map[[sha256.Size]byte]struct{}),
		checks:    make(chan struct{}, maxConcurrentChecks),
		checkWait: time.Second,
	}
	if _, err := rand.Read(a.key); err != nil {
		return nil, fmt.Errorf("console: login cache key: %w", err)
	}
	for _, d := range cfg.TokenSHA256 {
		var sum [sha256.Size]byte
		if _, err := hex.Decode(sum[:], []byte(strings.TrimSpace(d))); err != nil {
			return nil, fmt.Errorf("console: %q: %w", keyToken, err)
		}
		a.tokens = append(a.tokens, sum)
	}
	cost := 0
	for _, line := range cfg.Users {
		name, hash, err := parseUser(line)
		if err != nil {
			return nil, fmt.Errorf("console: %q: %w", keyUser, err)
		}
		a.users[name] = hash
		if c, _ := bcrypt.Cost(hash); c > cost {
			cost = c
		}
	}
	if len(a.users) > 0 {
		secret := make([]byte, 18)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("console: dummy password: %w", err)
		}
		var err error
		if a.dummy, err = bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(secret)), cost); err != nil {
			return nil, fmt.Errorf("console: dummy hash: %w", err)
		}
	}
	return a, nil
}

// allow reports whether r carries a valid credential, and which scheme
// it tried ("" when it carried none) so failures can be logged without
// logging what was sent.
func (a *authenticator) allow(r *http.Request) (ok bool, scheme string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, ""
	}
	if s, token, found := strings.Cut(h, " "); found && strings.EqualFold(s, "Bearer") {
		return a.token(strings.TrimSpace(token)), "bearer"
	}
	name, password, found := r.BasicAuth()
	if !found {
		return false, "other"
	}
	return a.login(name, password), "basic"
}

// token compares the token's digest with every configured one in
// constant time: no early exit tells how many bytes matched, or which.
func (a *authenticator) token(token string) bool {
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for i := range a.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], a.tokens[i][:])
	}
	return match == 1
}

// login checks a basic-auth pair, from the cache when it succeeded before.
func (a *authenticator) login(name, password string) bool {
	if len(a.users) == 0 {
		return false
	}
	mac := hmac.New(sha256.New, a.key)
	// The name holds no ':' (basic auth splits at the first), so
	// name:password names one pair only.
	mac.Write([]byte(name + ":" + password))
	var k [sha256.Size]byte
	mac.Sum(k[:0])
	a.mu.Lock()
	_, hit := a.logins[k]
	a.mu.Unlock()
	if hit {
		return true
	}
	wait := time.NewTimer(a.checkWait)
	defer wait.Stop()
	select {
	case a.checks <- struct{}{}:
		defer func() { <-a.checks }()
	case <-wait.C:
		return false // a flood of guesses; a real user retries
	}
	hash, known := a.users[name]
	if !known {
		bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		return false
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.logins) >= maxCachedLogins {
		// Evict an arbitrary entry (map order is random): cheap, and an
		// evicted login only pays bcrypt once more.
		for old := range a.logins {
			delete(a.logins, old)
			break
		}
	}
	a.logins[k] = struct{}{}
	a.mu.Unlock()
	return true
}
