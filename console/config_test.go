package console_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/scimtrail/scimtrail/console"
	"github.com/scimtrail/scimtrail/registry"
)

func TestConfig_ValidateQuotesTheKeyAndNeverTheSecret(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	good := "admin:" + string(hash)
	short := digest("t")[:40]
	upper := strings.ToUpper(digest("t"))
	sha1ish := "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
	md5ish := "carol:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/"
	truncated := "dave:" + string(hash[:40])
	cases := []struct {
		name   string
		cfg    console.Config
		want   string
		secret string // must not appear in the message
	}{
		{"short digest", console.Config{TokenSHA256: []string{short}},
			`"console-token-sha256" entry 1: want the token's SHA-256 as 64 lower-case hex digits, got 40 characters`, short},
		{"upper-case digest", console.Config{TokenSHA256: []string{digest("a"), upper}},
			`"console-token-sha256" entry 2: want lower-case hex digits, got upper-case ones`, upper},
		{"the token itself", console.Config{TokenSHA256: []string{"my-secret-token-that-is-exactly-sixty-four-characters-long-xxxxx"}},
			`"console-token-sha256" entry 1: want the token's SHA-256 as 64 lower-case hex digits, got a character that is not one`, "my-secret"},
		{"no colon", console.Config{Users: []string{"admin" + string(hash)}},
			`"console-user" entry 1: want "name:bcrypt-hash" as htpasswd -nB name prints it, got no ':'`, string(hash)},
		{"empty name", console.Config{Users: []string{":" + string(hash)}},
			`"console-user" entry 1: want "name:bcrypt-hash", got an empty name`, string(hash)},
		{"plain-text password", console.Config{Users: []string{good, "bob:hunter2"}},
			`"console-user" entry 2: user "bob": want a bcrypt hash ($2y$, $2a$ or $2b$; scimtrail console-user bob or htpasswd -nB bob prints one), got something else`, "hunter2"},
		{"SHA-1 htpasswd", console.Config{Users: []string{sha1ish}},
			`"console-user" entry 1: user "alice": want a bcrypt hash ($2y$, $2a$ or $2b$; scimtrail console-user alice or htpasswd -nB alice prints one), got something else`, "W6ph5"},
		{"MD5 htpasswd", console.Config{Users: []string{md5ish}},
			`"console-user" entry 1: user "carol": want a bcrypt hash ($2y$, $2a$ or $2b$; scimtrail console-user carol or htpasswd -nB carol prints one), got something else`, "HqJZ"},
		{"truncated hash", console.Config{Users: []string{truncated}},
			`"console-user" entry 1: user "dave": malformed bcrypt hash (want 60 characters, got 40)`, string(hash[7:40])},
		{"duplicate user", console.Config{Users: []string{good, good}},
			`"console-user" entry 2: user "admin" is already entry 1`, string(hash)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil || err.Error() != c.want {
				t.Fatalf("Validate: %v\nwant %s", err, c.want)
			}
			if strings.Contains(err.Error(), c.secret) {
				t.Errorf("the message echoes the secret: %v", err)
			}
		})
	}
	// Every problem at once, joined.
	err = console.Config{TokenSHA256: []string{short}, Users: []string{"bob:hunter2"}}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two problems: %v", err)
	}
	// htpasswd -B writes $2y$; Go's bcrypt writes $2a$.
	y := "root:$2y$" + string(hash[4:])
	if err := (console.Config{TokenSHA256: []string{digest("t")}, Users: []string{good, y}}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestConfig_Enabled(t *testing.T) {
	if (console.Config{}).Enabled() {
		t.Error("the zero Config is enabled")
	}
	if !(console.Config{TokenSHA256: []string{digest("t")}}).Enabled() || !(console.Config{Users: []string{"a:b"}}).Enabled() {
		t.Error("a credential does not enable the console")
	}
}

// TestNew_RefusesAnOpenConsole: a console without credentials would serve
// identity data to anyone who reaches the admin port.
func TestNew_RefusesAnOpenConsole(t *testing.T) {
	reg, err := registry.Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := console.New(reg, console.Config{}, console.Options{}); err == nil ||
		!strings.Contains(err.Error(), `"console-user"`) || !strings.Contains(err.Error(), `"console-token-sha256"`) {
		t.Errorf("New with no credential: %v", err)
	}
	if _, err := console.New(reg, console.Config{Users: []string{"bob:hunter2"}}, console.Options{}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("New with a bad credential: %v", err)
	}
	if _, err := console.New(nil, console.Config{TokenSHA256: []string{digest("t")}}, console.Options{}); err == nil {
		t.Error("New with no registry")
	}
	if _, err := console.New(reg, console.Config{TokenSHA256: []string{digest("t")}}, console.Options{}); err != nil {
		t.Errorf("New with a token: %v", err)
	}
}
