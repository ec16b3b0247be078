package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// repoRoot is the scimtrail repository, two levels above this module.
const repoRoot = "../.."

// tmpDir holds the binaries built for this test run.
var tmpDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "deploytest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// scimtrailBinary builds cmd/scimtrail once per test run, in the main
// module (its own go.mod and go.sum, as the image does, not this module's
// dependency versions). CGO_ENABLED=0 and -trimpath are the image's
// compile flags, so the Dockerfile test's build reuses the compiled
// packages and only links again.
func scimtrailBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		binaryPath = filepath.Join(tmpDir, "scimtrail")
		binaryErr = goBuild([]string{"CGO_ENABLED=0"}, []string{"-trimpath", "-o", binaryPath}, "./cmd/scimtrail")
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// goBuild runs "go build FLAGS PKG" in the main module with env added.
func goBuild(env, flags []string, pkg string) error {
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), pkg)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %v %s: %w\n%s", flags, pkg, err, out.String())
	}
	return nil
}

// configCheck runs "scimtrail config check" on config with only env in
// the environment, and returns its exit code and output.
func configCheck(t *testing.T, config string, env ...string) (int, string) {
	t.Helper()
	bin := scimtrailBinary(t)
	path := filepath.Join(t.TempDir(), "scimtrail.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "config", "check", "--config", path)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("config check: %v", err)
	return 0, ""
}

// mustPassConfigCheck fails t unless config is valid for scimtrail.
func mustPassConfigCheck(t *testing.T, source, config string, env ...string) {
	t.Helper()
	code, out := configCheck(t, config, env...)
	if code != 0 || !bytes.HasPrefix([]byte(out), []byte("ok")) {
		t.Errorf("%s: scimtrail config check: exit %d: %s\nconfig:\n%s", source, code, out, config)
	}
}
