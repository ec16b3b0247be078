package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unitDirectives reads a systemd unit as name → values (a directive may
// repeat).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

// The shipped unit is hardened, runs the shipped config (which passes
// "config check"), and gives SIGTERM's two drain phases time before SIGKILL.
func TestDeploy_SystemdUnit(t *testing.T) {
	unit := filepath.Join("..", "..", "deploy", "systemd", "scimtrail.service")
	cfgPath := filepath.Join("..", "..", "deploy", "systemd", "scimtrail.yaml")
	d := unitDirectives(t, unit)
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "scimtrail", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "", "KillSignal": "SIGTERM",
		"MemoryDenyWriteExecute": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if got := d[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if got := d["ExecStart"]; len(got) != 1 || got[0] != "/usr/local/bin/scimtrail proxy --config /etc/scimtrail/scimtrail.yaml" {
		t.Errorf("ExecStart=%q", got)
	}
	if _, ok := d["ExecReload"]; ok {
		t.Error("ExecReload set, but the binary reads its config at start only")
	}

	t.Setenv("OKTA_TOKEN_SHA256", strings.Repeat("0f", 32))
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"config", "check", "--config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("the shipped config fails config check: %s", stderr.String())
	}
	c, err := parseArgs(t, "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := time.ParseDuration(d["TimeoutStopSec"][0])
	if err != nil {
		t.Fatal(err)
	}
	if stop <= 2*c.shutdownTimeout() {
		t.Errorf("TimeoutStopSec=%s leaves no room for two drain phases of %s", stop, c.shutdownTimeout())
	}

	// systemd's own checker, where the machine has it.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: its verify step is not run")
		return
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "scimtrail.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/scimtrail", bin)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", local).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
