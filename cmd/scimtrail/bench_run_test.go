//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBench_PrintsARowPerTargetAndStep runs the real command, briefly, and
// reads its table: one row per target and step, the figures that must be
// there present and positive. Nothing is compared with a time or a ratio:
// the machine's load decides those.
func TestBench_PrintsARowPerTargetAndStep(t *testing.T) {
	bin := buildBinary(t)
	// nginx is left out: it is optional, and an installed build may lack
	// what the generated configuration needs; the test is of the tool.
	targets := []string{"direct", "httputil", "scimtrail-off", "scimtrail-file", "scimtrail-kafka", "scimtrail-otlp", "scimtrail-all"}
	steps := []string{"c4", "open200"}
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	profiles := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "--duration", "500ms", "--warmup", "100ms",
		"--targets", strings.Join(targets, ","), "--steps", strings.Join(steps, ","), "--json", jsonPath,
		"--profile", profiles, "--proxy-flag=--spool-sync=interval")
	// On the guard, an interrupt: the bench then stops its children and
	// removes its temporary files; a kill only after that had its time.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scimtrail bench: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"Command: `scimtrail bench --duration 500ms", "- Layout: ", "| target | step | req/s |"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in the report:\n%s", want, out)
		}
	}

	rows := benchTable(t, out)
	for _, target := range targets {
		for _, step := range steps {
			row, ok := rows[target+" "+step]
			if !ok {
				t.Errorf("no row for %s %s in:\n%s", target, step, out)
				continue
			}
			positive := []string{"req/s", "p50 ms", "p99 ms", "p99.9 ms"}
			if target != "direct" {
				positive = append(positive, "peak RSS MiB", "syscalls/req")
				if step == "c4" { // thousands of requests: CPU well above one 10 ms tick
					positive = append(positive, "CPU µs/req")
				}
			}
			if target == "httputil" || strings.HasPrefix(target, "scimtrail-") {
				positive = append(positive, "allocs/req")
			}
			for _, col := range positive {
				if v, err := strconv.ParseFloat(row[col], 64); err != nil || v <= 0 {
					t.Errorf("%s %s: %s is %q, want a number > 0", target, step, col, row[col])
				}
			}
			if row["errors"] != "0" {
				t.Errorf("%s %s: %s errors; the notes say which:\n%s", target, step, row["errors"], out)
			}
			if target != "direct" && row["+p99 ms"] == "—" {
				t.Errorf("%s %s: no latency added over direct: %v", target, step, row)
			}
			if target != "direct" && step == "c4" && row["CPU ×httputil"] == "—" {
				t.Errorf("%s %s: no CPU ratio to httputil: %v", target, step, row)
			}
		}
	}
	if len(rows) != len(targets)*len(steps) {
		t.Errorf("%d rows, want %d", len(rows), len(targets)*len(steps))
	}

	// --profile: a CPU and an allocations profile per scimtrail target
	// and step, gzipped protobuf as go tool pprof reads them.
	for _, target := range targets {
		for _, step := range steps {
			for _, kind := range []string{"cpu", "allocs"} {
				path := filepath.Join(profiles, target+"-"+step+"."+kind+".pprof")
				b, err := os.ReadFile(path)
				switch {
				case !strings.HasPrefix(target, "scimtrail-"):
					if err == nil {
						t.Errorf("%s: a profile of a target that is not scimtrail", path)
					}
				case err != nil:
					t.Errorf("--profile: %v", err)
				case len(b) < 100 || b[0] != 0x1f || b[1] != 0x8b:
					t.Errorf("--profile: %s is not a gzipped profile (%d bytes)", path, len(b))
				}
			}
		}
	}

	rep := readJSON[benchReport](t, jsonPath)
	if len(rep.Rows) != len(targets)*len(steps) || rep.Command == "" || rep.Layout == "" {
		t.Fatalf("--json: %d rows, command %q, layout %q", len(rep.Rows), rep.Command, rep.Layout)
	}
	for _, r := range rep.Rows {
		if r.Requests <= 0 {
			t.Errorf("--json: %s %s: %d requests", r.Target, r.Step, r.Requests)
		}
	}
}

// benchTable reads the report's Markdown table: rows by "target step",
// each a map from column heading to cell.
func benchTable(t *testing.T, out string) map[string]map[string]string {
	t.Helper()
	tables := markdownTables(t, out)
	if len(tables) != 1 {
		t.Fatalf("%d tables in the report, want one:\n%s", len(tables), out)
	}
	rows := map[string]map[string]string{}
	for _, row := range tables[0] {
		rows[row["target"]+" "+row["step"]] = row
	}
	return rows
}

func TestBench_RefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--steps", "x32"}, `"steps": "x32" is not cN`},
		{[]string{"--steps", "c0"}, `"steps": "c0" is not cN`},
		{[]string{"--steps", "open-5"}, `"steps": "open-5" is not cN`},
		{[]string{"--targets", "direct,haproxy"}, `"targets": unknown target "haproxy"`},
		{[]string{"--duration", "0s"}, `"duration" must be positive`},
		{[]string{"--open-conns", "0"}, `"open-conns" must be 1 to 4096`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), append([]string{"bench"}, c.args...), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

func TestBench_HelpHidesTheHTTPUtilMode(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if help := stderr.String(); !strings.Contains(help, "-targets") || strings.Contains(help, serveHTTPUtilFlag) {
		t.Fatalf("help:\n%s", help)
	}
}

func TestBench_HTTPUtilModeServesOnlyLoopback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", serveHTTPUtilFlag, "127.0.0.1:0", "http://192.0.2.1:80"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, stderr %q; want 2", code, stderr.String())
	}
}

func TestFormatCPUs(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{{[]int{1}, "1"}, {[]int{1, 2, 3}, "1-3"}, {[]int{0, 2, 3, 5}, "0,2-3,5"}, {nil, ""}} {
		if got := formatCPUs(c.in); got != c.want {
			t.Errorf("formatCPUs(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
