package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/internal/scimtest"
)

// binDir holds the binary built for this test run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scimtrail-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary builds the scimtrail command once per test run.
var binary = sync.OnceValues(func() (string, error) {
	path := filepath.Join(binDir, "scimtrail")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return path, nil
})

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	path, err := binary()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	return path
}

// TestBinary_SIGTERMDrainsAndExitsZero runs the real binary, sends it a
// provisioning cycle, stops it with SIGTERM and reads the records it
// flushed: one per request, and exit status 0.
func TestBinary_SIGTERMDrainsAndExitsZero(t *testing.T) {
	backend := httptest.NewServer(scimtest.NewBackend(scimtest.Options{}))
	defer backend.Close()
	records := filepath.Join(t.TempDir(), "records.jsonl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := startBinary(t, "--upstream", backend.URL, "--log-file", records, "--state-dir", t.TempDir(),
		"--idp", "okta=user-agent:Okta SCIM Client", "--idp", "entra=path-prefix:/scim/entra")
	client := &http.Client{Transport: &http.Transport{}}
	for _, probe := range []string{"/healthz", "/readyz"} {
		resp, err := client.Get("http://" + p.admin + probe)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", probe, resp, err)
		}
		resp.Body.Close()
	}
	steps := scimtest.OktaCycle()
	if _, err := scimtest.Run(ctx, client, map[string]string{"okta": "http://" + p.listen + "/scim/v2"}, nil, steps); err != nil {
		t.Fatal(err)
	}
	client.CloseIdleConnections()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	raw, err := os.ReadFile(records)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, []byte("\n")); n != len(steps) {
		t.Fatalf("%d records after SIGTERM, want %d", n, len(steps))
	}
	if !bytes.Contains(raw, []byte(`"idp_name":"okta"`)) {
		t.Errorf("records do not name the IdP: %.300s", raw)
	}
}

func TestBinary_InvalidConfigExitsTwoWithOneLineNamingTheKey(t *testing.T) {
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "scimtrail.yaml")
	if err := os.WriteFile(cfg, []byte("upstream: ftp://127.0.0.1:21\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "proxy", "--config", cfg)
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2", err)
	}
	out := strings.TrimRight(stderr.String(), "\n")
	if strings.Contains(out, "\n") || !strings.Contains(out, `"upstream"`) {
		t.Errorf("want one line naming \"upstream\", got:\n%s", out)
	}
}

func TestBinary_HelpAndVersion(t *testing.T) {
	bin := buildBinary(t)
	help, err := exec.Command(bin, "proxy", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("proxy --help: %v", err)
	}
	for _, flag := range []string{"-upstream", "-listen", "-admin-listen", "-idp", "-log-file", "-config", "-tls-cert", "token-sha256"} {
		if !bytes.Contains(help, []byte(flag)) {
			t.Errorf("proxy --help does not mention %s", flag)
		}
	}
	v, err := exec.Command(bin, "version").Output()
	if err != nil || !bytes.HasPrefix(v, []byte("scimtrail ")) {
		t.Errorf("version: %q %v", v, err)
	}
}
