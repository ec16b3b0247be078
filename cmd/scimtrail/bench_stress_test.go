//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runBenchBinary runs the built binary's "bench" with args, under a hang
// guard that interrupts it (so it stops its children and removes its
// files), and returns its exit code and output.
func runBenchBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"bench"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bench %v: still running after the hang guard\n%s", args, errOut.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("bench %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// readJSON decodes the JSON file a bench command wrote with --json.
func readJSON[T any](t *testing.T, path string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// markdownTables reads every Markdown table of out: its rows, each a map
// from column heading to cell.
func markdownTables(t *testing.T, out string) [][]map[string]string {
	t.Helper()
	var tables [][]map[string]string
	var head []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			head = nil
			continue
		}
		if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "|--:") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if head == nil {
			head = cells
			tables = append(tables, nil)
			continue
		}
		if len(cells) != len(head) {
			t.Fatalf("row of %d cells under %d headings: %s", len(cells), len(head), line)
		}
		row := map[string]string{}
		for i, h := range head {
			row[h] = cells[i]
		}
		tables[len(tables)-1] = append(tables[len(tables)-1], row)
	}
	return tables
}

// TestBenchSoak_BrokerOutageLosesNoRecord runs a short soak through the
// real binary: a row per slice, the outage's rows marked down, every
// record read back from Kafka and exit status 0. Nothing is compared with
// a time: the machine's load decides those.
func TestBenchSoak_BrokerOutageLosesNoRecord(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "soak.json")
	code, out, errOut := runBenchBinary(t, "soak", "--duration", "6s", "--rate", "200", "--interval", "2s",
		"--outage-at", "2s", "--outage", "2s", "--json", jsonPath)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	tables := markdownTables(t, out)
	if len(tables) != 2 {
		t.Fatalf("%d tables, want the rows and the totals:\n%s", len(tables), out)
	}
	var brokers []string
	for _, row := range tables[0] {
		if row["phase"] == "load" {
			brokers = append(brokers, row["broker"])
			if row["req/s"] == "—" || row["RssAnon MiB"] == "" {
				t.Errorf("a load row without its figures: %v", row)
			}
		}
	}
	if strings.Join(brokers, ",") != "up,down,up" {
		t.Errorf("load rows with the broker %v, want up, down, up:\n%s", brokers, out)
	}
	if last := tables[0][len(tables[0])-1]; last["phase"] != "drained" || last["spool records"] != "0" {
		t.Errorf("last row %v, want the spool drained", last)
	}
	totals := tables[1][0]
	if totals["missing"] != "0" || totals["forwarded"] == "0" || totals["forwarded"] != totals["distinct ids"] {
		t.Errorf("totals %v, want every forwarded request's record in Kafka", totals)
	}
	if !strings.Contains(out, "\nVerdict: no record lost:") {
		t.Errorf("no verdict of no record lost:\n%s", out)
	}

	rep := readJSON[soakReport](t, jsonPath)
	if !rep.Passed || !rep.Drained || rep.Missing != 0 || rep.Forwarded == 0 || rep.DistinctIDs != rep.Forwarded ||
		rep.PeakBacklogRecords == 0 || rep.CaughtUpS == nil || len(rep.Rows) != len(tables[0]) {
		t.Errorf("--json: passed %v drained %v forwarded %d distinct %d missing %d peak backlog %d caught up %v rows %d",
			rep.Passed, rep.Drained, rep.Forwarded, rep.DistinctIDs, rep.Missing, rep.PeakBacklogRecords, rep.CaughtUpS, len(rep.Rows))
	}
}

// TestBenchBurst_EverySinkHasEveryUser runs a short initial sync through
// the real binary: each of the 500 users created once and found in the
// file, in Kafka and in OTLP.
func TestBenchBurst_EverySinkHasEveryUser(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "burst.json")
	code, out, errOut := runBenchBinary(t, "burst", "--users", "500", "--conns", "8", "--json", jsonPath)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	tables := markdownTables(t, out)
	if len(tables) != 2 || len(tables[0]) != 1 {
		t.Fatalf("want a table of timings and one of sinks:\n%s", out)
	}
	if run := tables[0][0]; run["users"] != "500" || run["created"] != "500" || run["errors"] != "0" {
		t.Errorf("run %v, want 500 users created without error", run)
	}
	var sinks []string
	for _, s := range tables[1] {
		sinks = append(sinks, s["sink"])
		if s["users"] != "500" || s["missing"] != "0" {
			t.Errorf("sink %s: %s users, %s missing; want 500 and 0", s["sink"], s["users"], s["missing"])
		}
	}
	if strings.Join(sinks, ",") != "file,kafka,otlp" {
		t.Errorf("sinks %v, want file, kafka, otlp", sinks)
	}
	if !strings.Contains(out, "\nVerdict: every record delivered: 500 users created") {
		t.Errorf("no verdict of every record delivered:\n%s", out)
	}

	rep := readJSON[burstReport](t, jsonPath)
	if !rep.Passed || rep.Created != 500 || len(rep.Sinks) != 3 || rep.AnsweredS <= 0 || rep.DeliveredS < rep.AnsweredS {
		t.Errorf("--json: passed %v created %d sinks %d answered %v s delivered %v s", rep.Passed, rep.Created, len(rep.Sinks), rep.AnsweredS, rep.DeliveredS)
	}
	for _, s := range rep.Sinks {
		if s.Users != 500 || s.Records < 500 {
			t.Errorf("--json: sink %s: %d users from %d records", s.Sink, s.Users, s.Records)
		}
	}
}

func TestBenchSoakAndBurst_RefuseBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"soak", "--duration", "0s"}, `"duration" and "interval" must be positive`},
		{[]string{"soak", "--interval", "-1s"}, `"duration" and "interval" must be positive`},
		{[]string{"soak", "--duration", "70s", "--interval", "30s"}, `"duration" (1m10s) must be a whole number of "interval" (30s)`},
		{[]string{"soak", "--rate", "0"}, `"rate" must be above 0`},
		{[]string{"soak", "--outage", "-5s"}, `"outage" must not be negative`},
		{[]string{"soak", "--outage-at", "0s"}, `"outage-at" must be positive`},
		{[]string{"soak", "--outage-at", "45s"}, `"outage-at" (45s) and "outage" (5m0s) must be whole numbers of "interval" (30s)`},
		{[]string{"soak", "--duration", "4m", "--outage-at", "1m", "--outage", "5m"}, `the outage (5m0s from 1m0s) must end by the end of the load`},
		{[]string{"soak", "--drain-timeout", "0s"}, `"drain-timeout" must be positive`},
		{[]string{"soak", "extra"}, `unexpected argument "extra"`},
		{[]string{"burst", "--users", "0"}, `"users" must be 1 to 10000000`},
		{[]string{"burst", "--conns", "0"}, `"conns" must be 1 to 4096`},
		{[]string{"burst", "--drain-timeout", "-1m"}, `"drain-timeout" must be positive`},
		{[]string{"burst", "extra"}, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), append([]string{"bench"}, c.args...), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
	for _, c := range []struct {
		why  string
		args []string
	}{
		{"the defaults, the issue's 10-minute soak", nil},
		{"no outage: when it would have been does not matter", []string{"--outage", "0", "--outage-at", "7s"}},
		{"an outage to the end of the load", []string{"--duration", "6s", "--interval", "2s", "--outage-at", "2s", "--outage", "4s"}},
	} {
		var stderr bytes.Buffer
		if _, code := parseSoakFlags(c.args, &stderr); code >= 0 {
			t.Errorf("soak %v (%s): exit %d, %s; want it accepted", c.args, c.why, code, stderr.String())
		}
	}
	if _, code := parseBurstFlags(nil, new(bytes.Buffer)); code >= 0 {
		t.Errorf("burst with the defaults: exit %d, want them accepted", code)
	}
}

func TestBench_HelpNamesSoakAndBurst(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if help := stderr.String(); !strings.Contains(help, "scimtrail bench soak") || !strings.Contains(help, "scimtrail bench burst") {
		t.Fatalf("bench -h does not name soak and burst:\n%s", help)
	}
	for sub, flags := range map[string][]string{
		"soak":  {"-duration", "-rate", "-interval", "-outage-at", "-outage", "-drain-timeout", "-pin", "-json"},
		"burst": {"-users", "-conns", "-drain-timeout", "-pin", "-json"},
	} {
		stderr.Reset()
		if code := run(t.Context(), []string{"bench", sub, "-h"}, &stdout, &stderr); code != 0 {
			t.Fatalf("bench %s -h: exit %d", sub, code)
		}
		help := stderr.String()
		if !strings.Contains(help, "Usage: scimtrail bench "+sub) {
			t.Errorf("bench %s -h: no usage line:\n%s", sub, help)
		}
		for _, f := range flags {
			if !strings.Contains(help, "  "+f+" ") && !strings.Contains(help, "  "+f+"\n") {
				t.Errorf("bench %s -h: no %s:\n%s", sub, f, help)
			}
		}
	}
}
