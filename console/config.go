package console

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Config says who may read the console. The YAML keys are the command-line
// flag names. The zero value accepts nobody: New refuses it, so a console
// is never served without a credential. A Config is a plain value, safe to
// copy.
type Config struct {
	// TokenSHA256 are the lower-case hex SHA-256 digests of the bearer
	// tokens accepted (Authorization: Bearer <token>), for scripts and the
	// API. Only digests are configured, so a leaked config file does not
	// leak a token. Surrounding white space (a Secret file's trailing
	// newline) is ignored. Default: none.
	TokenSHA256 []string `yaml:"console-token-sha256"`
	// Users are "name:bcrypt-hash" lines as `htpasswd -nB name` prints
	// them ($2y$, $2a$ or $2b$ hashes), accepted with HTTP basic auth, for
	// browsers. Default: none.
	Users []string `yaml:"console-user"`
}

// Config keys, as the errors of Validate quote them.
const (
	keyToken = "console-token-sha256"
	keyUser  = "console-user"
)

// Enabled reports whether any credential is configured, i.e. whether the
// console is meant to be served.
func (c Config) Enabled() bool { return len(c.TokenSHA256) > 0 || len(c.Users) > 0 }

// Validate reports every malformed entry, each naming its key and 1-based
// entry number, joined with errors.Join. It never echoes a digest or a
// hash: config errors end up in logs and tickets. A Config with no entry
// is valid (and not Enabled).
func (c Config) Validate() error {
	var errs []error
	for i, d := range c.TokenSHA256 {
		if err := checkDigest(strings.TrimSpace(d)); err != nil {
			errs = append(errs, fmt.Errorf("%q entry %d: %w", keyToken, i+1, err))
		}
	}
	seen := make(map[string]int, len(c.Users))
	for i, line := range c.Users {
		name, _, err := parseUser(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q entry %d: %w", keyUser, i+1, err))
			continue
		}
		if first, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("%q entry %d: user %q is already entry %d", keyUser, i+1, name, first))
			continue
		}
		seen[name] = i + 1
	}
	return errors.Join(errs...)
}

// checkDigest accepts exactly 64 lower-case hex digits: the form
// `sha256sum` prints and the proxy's token-sha256 matcher takes.
func checkDigest(d string) error {
	if len(d) != 64 {
		return fmt.Errorf("want the token's SHA-256 as 64 lower-case hex digits, got %d characters", len(d))
	}
	for _, c := range d {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			return errors.New("want lower-case hex digits, got upper-case ones")
		default:
			return errors.New("want the token's SHA-256 as 64 lower-case hex digits, got a character that is not one")
		}
	}
	return nil
}

// parseUser splits an htpasswd line and checks its bcrypt hash, so a
// typo'd or plain-text password fails at start-up, not at the first login.
func parseUser(line string) (name string, hash []byte, err error) {
	line = strings.TrimSpace(line)
	name, h, ok := strings.Cut(line, ":")
	if !ok {
		return "", nil, errors.New(`want "name:bcrypt-hash" as htpasswd -nB name prints it, got no ':'`)
	}
	if name == "" {
		return "", nil, errors.New(`want "name:bcrypt-hash", got an empty name`)
	}
	if !strings.HasPrefix(h, "$2y$") && !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") {
		return "", nil, fmt.Errorf("user %q: want a bcrypt hash ($2y$, $2a$ or $2b$; scimtrail console-user %s or htpasswd -nB %s prints one), got something else", name, name, name)
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil || len(h) != 60 {
		return "", nil, fmt.Errorf("user %q: malformed bcrypt hash (want 60 characters, got %d)", name, len(h))
	}
	return name, []byte(h), nil
}
