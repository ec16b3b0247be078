//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// benchLayout is where the bench's processes run.
type benchLayout struct {
	// taskset is the path of taskset when proxies run under it, "" when
	// nothing is pinned.
	taskset string
	// proxyCPU is the CPU the proxies are pinned to; benchCPUs the bench's
	// own (load generator, upstream, broker, receiver), as lists ("1-3").
	proxyCPU, benchCPUs string
	// benchCPUCount is how many CPUs the bench process may use.
	benchCPUCount int
	// note says why nothing is pinned.
	note string
	// restore puts the bench's threads back on the CPUs they had.
	restore func()
}

// describe is the layout line of the report; bench names what runs in the
// bench process beside the load generator ("upstream and Kafka broker").
func (l benchLayout) describe(bench string) string {
	if l.taskset == "" {
		return fmt.Sprintf("not pinned (%s): the proxy, the load generator and its %s share the machine's %d CPUs, so CPU figures compare, they do not isolate the proxy", l.note, bench, l.benchCPUCount)
	}
	return fmt.Sprintf("proxy on CPU %s (`taskset -c %s`); load generator, %s on CPU %s (the bench process)",
		l.proxyCPU, l.proxyCPU, bench, l.benchCPUs)
}

// proxyCommand is the command line that runs argv pinned, or argv itself.
func (l benchLayout) proxyCommand(argv []string) []string {
	if l.taskset == "" {
		return argv
	}
	return append([]string{l.taskset, "-c", l.proxyCPU}, argv...)
}

// pinBench gives the proxies the first CPU this process may use and keeps
// the bench on the others, when taskset exists, there are two CPUs or more
// and pin is set.
func pinBench(pin bool) (benchLayout, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return benchLayout{}, fmt.Errorf("cpu affinity: %w", err)
	}
	cpus := cpuList(allowed)
	l := benchLayout{benchCPUCount: len(cpus), restore: func() {}}
	taskset, lookErr := exec.LookPath("taskset")
	switch {
	case !pin:
		l.note = "--pin=false"
		return l, nil
	case lookErr != nil:
		l.note = "no taskset on PATH"
		return l, nil
	case len(cpus) < 2:
		l.note = "only one CPU"
		return l, nil
	}
	var rest unix.CPUSet
	for _, c := range cpus[1:] {
		rest.Set(c)
	}
	if err := setAllThreads(rest); err != nil {
		return benchLayout{}, err
	}
	l.restore = func() { _ = setAllThreads(allowed) }
	want := formatCPUs(cpus[1:])
	got, err := allowedList()
	if err != nil || got != want {
		l.restore()
		return benchLayout{}, fmt.Errorf("pinning the bench to CPU %s did not take: Cpus_allowed_list %q (%v)", want, got, err)
	}
	l.taskset, l.proxyCPU, l.benchCPUs, l.benchCPUCount = taskset, strconv.Itoa(cpus[0]), want, len(cpus)-1
	return l, nil
}

// setAllThreads sets the affinity of every thread of this process. Go
// runs goroutines on threads it already has and makes new ones from them,
// which inherit their affinity; so once each existing thread is set, every
// later one is. Threads started while this runs are caught by the next
// pass.
func setAllThreads(set unix.CPUSet) error {
	for range 10 {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("cpu affinity: %w", err)
		}
		changed := false
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			var cur unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &cur); err != nil {
				continue // the thread has exited
			}
			if cur == set {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("cpu affinity of thread %d: %w", tid, err)
			}
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return errors.New("cpu affinity: threads kept appearing; gave up after 10 passes")
}

func cpuList(set unix.CPUSet) []int {
	var out []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out
}

// formatCPUs writes CPUs as the kernel does in Cpus_allowed_list: "0-1,4".
func formatCPUs(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, strconv.Itoa(cpus[i])+"-"+strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// allowedList is this process's Cpus_allowed_list from /proc.
func allowedList() (string, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no Cpus_allowed_list in /proc/self/status")
}
