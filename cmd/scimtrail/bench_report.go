//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// benchRow is one target under one step. Pointers are nil where a figure
// does not apply (no CPU for direct, no allocations for nginx, no ratio
// without an httputil row).
type benchRow struct {
	Target string `json:"target"`
	Step   string `json:"step"`
	// Requests is how many were answered in the measured time.
	Requests  int64   `json:"requests"`
	ReqPerSec float64 `json:"req_per_s"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p99_9_ms"`
	// AddedP50Ms and AddedP99Ms are over direct in the same step.
	AddedP50Ms *float64 `json:"added_p50_ms,omitempty"`
	AddedP99Ms *float64 `json:"added_p99_ms,omitempty"`
	// CPUMicrosPerReq is the proxy process's user and system CPU over the
	// step, its sinks' delivery included, per answered request.
	CPUMicrosPerReq     *float64 `json:"cpu_us_per_req,omitempty"`
	CPUVsHTTPUtil       *float64 `json:"cpu_vs_httputil,omitempty"`
	ReqPerSecVsHTTPUtil *float64 `json:"req_per_s_vs_httputil,omitempty"`
	AllocsPerReq        *float64 `json:"allocs_per_req,omitempty"`
	// SyscallsPerReq counts the proxy's read and write system calls,
	// sockets and files, per answered request.
	SyscallsPerReq *float64 `json:"syscalls_per_req,omitempty"`
	// PeakRSSMiB is the proxy's VmHWM during the step.
	PeakRSSMiB      *float64 `json:"peak_rss_mib,omitempty"`
	Non2xx          int64    `json:"non_2xx"`
	TransportErrors int64    `json:"transport_errors"`
	Unsent          int64    `json:"unsent"`
	// LoadCPUPercent is the bench process's CPU (load generator, upstream,
	// broker, receiver) as a share of the CPUs it may use: near 100, the
	// load side, not the proxy, set the pace.
	LoadCPUPercent float64 `json:"load_cpu_percent"`
	// DrainMs is how long scimtrail's sinks took, after the step, to have
	// every record.
	DrainMs *float64 `json:"drain_ms,omitempty"`
}

func (r benchRow) errors() int64 { return r.Non2xx + r.TransportErrors + r.Unsent }

// benchReport is a whole run, as printed and as written with --json.
type benchReport struct {
	Command  string     `json:"command"`
	Started  time.Time  `json:"started"`
	Machine  string     `json:"machine"`
	Layout   string     `json:"layout"`
	Upstream string     `json:"upstream"`
	Load     string     `json:"load"`
	Targets  string     `json:"targets"`
	Notes    []string   `json:"notes,omitempty"`
	Rows     []benchRow `json:"rows"`
}

// machine is the report's machine line: CPUs, Go, scimtrail's version and
// the Go runtime settings passed to the proxies.
func machine() string {
	cpuModel := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpuModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	env := ""
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"} {
		if v, ok := os.LookupEnv(k); ok {
			env += fmt.Sprintf(", %s=%s", k, v)
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s, scimtrail %s%s",
		runtime.NumCPU(), cpuModel, runtime.GOOS, runtime.GOARCH, runtime.Version(), buildVersion(), env)
}

func (b *bench) report(began time.Time, rows []benchRow) *benchReport {
	patch, user := benchPatch(0), benchUser(0)
	openConns := fmt.Sprintf("%d", b.opts.openConns)
	rep := &benchReport{
		Command: "scimtrail bench" + shellArgs(b.opts.args),
		Started: began.UTC().Truncate(time.Second),
		Machine: machine(),
		Layout:  b.layout.describe("upstream, Kafka broker and OTLP receiver"),
		Upstream: fmt.Sprintf("a fixed-answer SCIM handler in the bench process (not internal/scimtest's backend, whose decoding and single lock "+
			"would make the upstream the limit): PATCH /scim/v2/Users/{id} of %d users → 200 with the %d-byte user", benchUsers, len(user)),
		Load: fmt.Sprintf("an Okta-shaped PATCH of %d bytes with a bearer token, users in turn, on keep-alive HTTP/1.1 connections; "+
			"cN: closed loop, N connections; openR: open loop at R req/s over up to %s connections, latency from each request's scheduled send time; "+
			"%s per step after %s of warm-up", len(patch), openConns, b.opts.duration, b.opts.warmup),
		Targets: "direct: the upstream itself (latency only); httputil: a plain httputil.ReverseProxy with a tuned Transport and a BufferPool; " +
			"nginx: one process, proxy_pass with keep-alive, a JSON access log with $request_body; " +
			"scimtrail-off: capture, derivation, identity cache and spool, records to stdout = /dev/null (the cheapest sink); " +
			"-file: --log-file in " + fsName(b.tmp) + "; -kafka: a kfake broker in the bench process; -otlp: an OTLP/gRPC receiver in the bench process that decodes and drops; " +
			"-all: file, Kafka and OTLP at once",
		Notes: b.notes,
		Rows:  rows,
	}
	for _, r := range rows {
		if r.errors() > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s %s: %d non-2xx, %d transport errors, %d not sent", r.Target, r.Step, r.Non2xx, r.TransportErrors, r.Unsent))
		}
	}
	return rep
}

// writeMarkdown prints the report as Markdown, ready for the README: the
// command and the set-up, then one table row per step and target.
func (r *benchReport) writeMarkdown(w io.Writer) {
	writeReportHead(w, r.Command, r.Started, r.Notes, [][2]string{
		{"Machine", r.Machine}, {"Layout", r.Layout}, {"Upstream", r.Upstream}, {"Load", r.Load}, {"Targets", r.Targets},
		{"Columns", "+p50/+p99 over direct in the same step; CPU = the proxy process's utime+stime from /proc over the step " +
			"(scimtrail: until its spool is empty) per request; allocs from the process's go_memstats_mallocs_total; syscalls = its reads and writes (/proc/PID/io) per request; peak RSS = VmHWM during the step; " +
			"×httputil = the ratio to httputil in the same step; load CPU = the bench process's share of its CPUs"},
	})
	fmt.Fprint(w, "\n| target | step | req/s | p50 ms | p99 ms | p99.9 ms | +p50 ms | +p99 ms | CPU µs/req | CPU ×httputil | req/s ×httputil | allocs/req | syscalls/req | peak RSS MiB | errors | load CPU % |\n")
	fmt.Fprint(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	// Grouped by step, so the targets of one step sit side by side.
	var steps []string
	for _, row := range r.Rows {
		if !slices.Contains(steps, row.Step) {
			steps = append(steps, row.Step)
		}
	}
	for _, st := range steps {
		for _, row := range r.Rows {
			if row.Step != st {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
				row.Target, row.Step, fmtFloat(&row.ReqPerSec, 0), fmtFloat(&row.P50Ms, 3), fmtFloat(&row.P99Ms, 3), fmtFloat(&row.P999Ms, 3),
				fmtFloat(row.AddedP50Ms, 3), fmtFloat(row.AddedP99Ms, 3), fmtFloat(row.CPUMicrosPerReq, 1),
				fmtFloat(row.CPUVsHTTPUtil, 2), fmtFloat(row.ReqPerSecVsHTTPUtil, 2), fmtFloat(row.AllocsPerReq, 0),
				fmtFloat(row.SyscallsPerReq, 1), fmtFloat(row.PeakRSSMiB, 1), row.errors(), fmtFloat(&row.LoadCPUPercent, 0))
		}
	}
}

// writeReportHead writes what heads every bench report: the command and
// when it ran, the set-up a line each, then the notes.
func writeReportHead(w io.Writer, command string, started time.Time, notes []string, lines [][2]string) {
	fmt.Fprintf(w, "Command: `%s` (%s)\n\n", command, started.Format("2006-01-02 15:04 UTC"))
	for _, l := range lines {
		fmt.Fprintf(w, "- %s: %s\n", l[0], l[1])
	}
	for _, n := range notes {
		fmt.Fprintf(w, "- Note: %s\n", n)
	}
}

func (r *benchReport) writeJSON(path string) error { return writeJSONFile(path, r) }

// writeJSONFile writes a report, indented, for --json.
func writeJSONFile(path string, report any) error {
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

// shellArgs is args as a shell would take them back, each with a leading
// space.
func shellArgs(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteByte(' ')
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,/:@+", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// fsName names the file system of path, where the file sink writes and
// the spools live.
func fsName(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return path
	}
	names := map[int64]string{
		unix.EXT4_SUPER_MAGIC: "ext4", unix.TMPFS_MAGIC: "tmpfs", unix.XFS_SUPER_MAGIC: "xfs",
		unix.BTRFS_SUPER_MAGIC: "btrfs", unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return fmt.Sprintf("%s (%s)", os.TempDir(), n)
	}
	return fmt.Sprintf("%s (file system 0x%x)", os.TempDir(), st.Type)
}
