//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs
// cgo). A tick is 10 ms, so a step's CPU is known to within 10 ms.
const clockTicks = 100

// benchChild is a process the bench started: a proxy under test. Its
// listen and admin addresses come from its JSON start-up line on stderr.
type benchChild struct {
	name          string
	cmd           *exec.Cmd
	listen, admin string
	out           *lineTail
	done          chan struct{} // closed once the process has exited
}

// startTimeout bounds the wait for a child's start-up line.
const startTimeout = 30 * time.Second

// startChild starts argv with env, its stdout discarded (the records of
// scimtrail-off go there), in a process group of its own so that a Ctrl-C
// reaches the bench, which then stops it, and killed by the kernel should
// the bench die first. It returns once ready says the child is serving.
// ready nil waits for a JSON line with "listen" (and "admin") on stderr.
func startChild(ctx context.Context, name string, argv, env []string, ready func(context.Context, *benchChild) error) (*benchChild, error) {
	c := &benchChild{name: name, out: newLineTail(), done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = c.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	if ready == nil {
		ready = waitStartLine
	}
	rctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := ready(rctx, c); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s did not start: %w%s", name, err, c.out.describe())
	}
	return c, nil
}

// waitStartLine waits for the first JSON line on stderr with "listen".
func waitStartLine(ctx context.Context, c *benchChild) error {
	select {
	case line := <-c.out.first:
		var started struct{ Listen, Admin string }
		if err := json.Unmarshal(line, &started); err != nil {
			return err
		}
		c.listen, c.admin = started.Listen, started.Admin
		return nil
	case <-c.done:
		return fmt.Errorf("exited: %v", c.cmd.ProcessState)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitDial waits until addr takes connections.
func waitDial(addr string) func(context.Context, *benchChild) error {
	return func(ctx context.Context, c *benchChild) error {
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				c.listen = addr
				return nil
			}
			select {
			case <-c.done:
				return fmt.Errorf("exited: %v", c.cmd.ProcessState)
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", addr, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (c *benchChild) pid() int { return c.cmd.Process.Pid }

// stop ends the child by its PID: SIGTERM, then SIGKILL if it has not
// exited within 5 s. Safe to call twice.
func (c *benchChild) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
}

// exited reports an early exit of the child, with its last lines.
func (c *benchChild) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited: %v%s", c.name, c.cmd.ProcessState, c.out.describe())
	default:
		return nil
	}
}

// lineTail keeps a child's start-up line (sent on first) and its last
// lines.
type lineTail struct {
	first chan []byte
	mu    sync.Mutex
	buf   []byte
	lines []string
	sent  bool
}

func newLineTail() *lineTail { return &lineTail{first: make(chan []byte, 1)} }

const tailLines = 20

func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		line := bytes.Clone(t.buf[:i])
		t.buf = t.buf[i+1:]
		if !t.sent && isStartLine(line) {
			t.first <- line
			t.sent = true
		}
		if len(t.lines) == tailLines {
			t.lines = t.lines[1:]
		}
		t.lines = append(t.lines, string(line))
	}
	if len(t.buf) > 64<<10 { // a line that never ends
		t.buf = t.buf[:0]
	}
	return len(p), nil
}

// isStartLine says whether line is a JSON log line with a "listen" address:
// the start-up line of scimtrail and of the httputil mode.
func isStartLine(line []byte) bool {
	var started struct{ Listen string }
	return bytes.HasPrefix(line, []byte("{")) && json.Unmarshal(line, &started) == nil && started.Listen != ""
}

// describe is the last lines, for an error message.
func (t *lineTail) describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; its last lines:\n  " + strings.Join(t.lines, "\n  ")
}

// procTicks is the CPU time, user and system, of process pid and its
// threads (dead ones too), in clock ticks.
func procTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// the last ')'. utime and stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return utime + stime, nil
}

// procSyscalls is how many read and write system calls process pid has
// made (syscr + syscw of /proc/PID/io): each costs a switch into the
// kernel, and on loopback a write carries the receiver's TCP work too.
func procSyscalls(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return 0, err
	}
	var n int64
	found := 0
	for line := range strings.Lines(string(b)) {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "syscr" && name != "syscw") {
			continue
		}
		c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc io %s: %w", name, err)
		}
		n += c
		found++
	}
	if found != 2 {
		return 0, errors.New("no syscr and syscw in /proc io")
	}
	return n, nil
}

func ticksToDuration(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }

// peakRSS is VmHWM, the process's peak resident set, in bytes.
func peakRSS(pid int) (int64, error) {
	m, err := procStatus(pid, "VmHWM")
	return m["VmHWM"], err
}

// procStatus reads the named memory fields of /proc/PID/status ("VmHWM",
// "RssAnon", "RssFile"…), in bytes; a name it does not find is an error.
func procStatus(pid int, names ...string) (map[string]int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(names))
	for line := range strings.Lines(string(b)) {
		name, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc status %s: %w", name, err)
		}
		out[name] = kb << 10
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("no %s in /proc status", n)
		}
	}
	return out, nil
}

// resetPeakRSS sets VmHWM back to the current resident set, so the next
// read is the peak of what follows.
func resetPeakRSS(pid int) error {
	return os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
}

// scrapeMetrics reads the named samples from a Prometheus text endpoint,
// each summed over its labels (a counter by reason, say); a name it does
// not find is absent from the map.
func scrapeMetrics(ctx context.Context, client *http.Client, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		end := strings.IndexAny(line, "{ ")
		if end < 0 || !want[line[:end]] {
			continue
		}
		name := line[:end]
		// Label values may hold spaces: the value follows the last '}'.
		value := line[end:]
		if i := strings.LastIndexByte(value, '}'); i >= 0 {
			value = value[i+1:]
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] += v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return out, nil
}

// childEnv is the bench's environment for a proxy, less what would change
// its configuration behind the bench's back: the OTEL_* variables fill
// unset --otlp-* flags. GOGC, GOMEMLIMIT and GODEBUG pass, for
// experiments; the report shows them.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
