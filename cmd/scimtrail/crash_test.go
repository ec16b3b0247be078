package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/scimtrail/scimtrail/internal/scimtest"
)

// running is the real binary started by startBinary.
type running struct {
	cmd           *exec.Cmd
	listen, admin string
}

// startBinary runs "scimtrail proxy" with args (plus loopback listeners
// and JSON logs) and waits for its start-up line.
func startBinary(t *testing.T, args ...string) *running {
	t.Helper()
	args = append([]string{"proxy", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	var started struct{ Listen, Admin string }
	cmd := startProcess(t, buildBinary(t), args, func(line []byte) bool {
		return json.Unmarshal(line, &started) == nil && started.Listen != ""
	})
	return &running{cmd: cmd, listen: started.Listen, admin: started.Admin}
}

// startProcess starts bin with args, waits for the stderr line that
// started accepts, and keeps draining stderr so the process never blocks
// on it. The process is killed when the test ends, if still running.
func startProcess(t *testing.T, bin string, args []string, started func(line []byte) bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill() // only the process this test started
			cmd.Wait()
		}
	})
	lines := bufio.NewScanner(stderr)
	up := false
	for !up && lines.Scan() {
		up = started(lines.Bytes())
	}
	if !up {
		t.Fatalf("no start-up line; exit: %v", cmd.Wait())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return cmd
}

// kill9 ends the process with SIGKILL: no deferred code, no drain.
func (r *running) kill9(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r.cmd.Wait()
}

// Records of requests the IdP saw answered survive the process ending
// while the broker is down, by kill -9 or by SIGTERM whose grace runs out:
// the next start, on the same spool, delivers them all.
func TestBinary_StopWhileBrokerDownLosesNothing(t *testing.T) {
	for _, how := range []string{"kill -9", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			backend := httptest.NewServer(scimtest.NewBackend(scimtest.Options{}))
			defer backend.Close()
			port := freePort(t)
			args := []string{"--upstream", backend.URL, "--state-dir", t.TempDir(), "--kafka-brokers", brokerAddr(port),
				"--idp", "okta=user-agent:Okta SCIM Client", "--shutdown-timeout", "500ms"}

			first := startBinary(t, args...)
			const n = 300
			for i, code := range createUsers(t, "http://"+first.listen, 0, n) {
				if code != http.StatusCreated {
					t.Fatalf("request %d answered %d", i, code)
				}
			}
			if how == "kill -9" {
				first.kill9(t)
			} else {
				if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				// Records kept for the next start are not a failed shutdown.
				if err := first.cmd.Wait(); err != nil {
					t.Fatalf("exit after SIGTERM with the broker down: %v, want status 0", err)
				}
			}

			startBroker(t, port, "")
			second := startBinary(t, args...)
			got := emails(t, consume(t, brokerAddr(port), func(rs []*kgo.Record) bool {
				return len(missing(emails(t, rs), 0, n)) == 0
			}))
			if m := missing(got, 0, n); len(m) > 0 {
				t.Fatalf("%d records lost, first %s", len(m), m[0])
			}
			want := `scimtrail_sink_records_delivered_total{sink="kafka"} ` + strconv.Itoa(n)
			waitFor(t, "the second process to report the delivery", func() bool {
				return strings.Contains(httpGet(t, "http://"+second.admin+"/metrics"), want)
			})
			second.kill9(t)
		})
	}
}
