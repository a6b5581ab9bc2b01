// Package run is the one way sxbisect starts the processes it measures: a
// build, a test, a plugin. Each runs with sh -c in its own process group,
// with a timeout that takes down the whole tree, and comes back as a
// Measurement.
//
// A run ends when its main process exits. Whatever that process left
// behind in its group (a background job, a daemon that did not call
// setsid) is killed with SIGKILL at that moment, so that it cannot disturb
// the next step, and its hold on the output pipe does not keep the run
// alive.
package run

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Spec describes one run.
type Spec struct {
	// Command is run with /bin/sh -c, with stdin from /dev/null.
	Command string
	// Dir is the working directory; it must exist.
	Dir string
	// Env is added to the process's environment (KEY=VALUE); an entry here
	// overrides the same key inherited from sxbisect.
	Env []string
	// Timeout, when non-zero, bounds the run's wall time; at expiry the whole
	// process group gets SIGTERM, then SIGKILL after Grace.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL (default 5s), after a
	// timeout and after the context is cancelled alike.
	Grace time.Duration
	// LogPath, when set, is created or truncated and receives the run's
	// whole output (stdout and stderr interleaved, in the order written).
	LogPath string
	// TailBytes is how much of the output's end Measurement.Tail keeps
	// (default 4096).
	TailBytes int
	// MemoryLimit, when non-zero, confines the whole tree to that many
	// bytes (a cgroup's memory limit); when the kernel's OOM killer acts
	// inside it, Measurement.OOMKilled is set. Where no cgroup can be had,
	// Run refuses a limit rather than run unconfined (see Mode).
	MemoryLimit int64
	// OnOutput, when set, is called with each line of output as it comes
	// (without the newline), from one goroutine, in order. It lets a
	// predicate watch for markers while the test still runs.
	OnOutput func(line string)
}

const (
	defaultGrace     = 5 * time.Second
	defaultTailBytes = 4096
)

// Measurement is what one run did.
type Measurement struct {
	Start time.Time `json:"start"`
	// Wall runs from the start to the exit of the main process.
	Wall time.Duration `json:"wall_ns"`
	// User and Sys are CPU times of the process and the descendants it
	// waited for (wait4 rusage).
	User time.Duration `json:"user_ns"`
	Sys  time.Duration `json:"sys_ns"`
	// MaxRSS is the peak resident set size in bytes of the largest process.
	MaxRSS int64 `json:"max_rss_bytes"`
	// ExitCode is the exit status, or -1 when the process died by a signal.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed the process ("" if none), such
	// as "SIGKILL".
	Signal string `json:"signal,omitempty"`
	// TimedOut is set when our timeout fired.
	TimedOut bool `json:"timed_out,omitempty"`
	// Tail is the end of the output. It starts on a UTF-8 boundary when
	// the output was cut.
	Tail string `json:"tail,omitempty"`
	// Mode says how the run was contained and measured: "cgroup v2",
	// "cgroup v1", or "process group" with what is then not measured.
	Mode string `json:"mode,omitempty"`
	// TreeCPU is set when User and Sys cover the whole process tree
	// (a cgroup's accounting) rather than what wait4 saw.
	TreeCPU bool `json:"tree_cpu,omitempty"`
	// PeakMemory is the peak memory of the whole tree in bytes (the
	// cgroup's high-water mark), or MaxRSS of the largest process where
	// there is no cgroup.
	PeakMemory int64 `json:"peak_memory_bytes,omitempty"`
	// OOMKilled is set when the kernel's OOM killer killed a process of
	// the tree because of Spec.MemoryLimit. An OOM kill that was not
	// caused by our limit (the machine ran out) does not set it;
	// MachineOOM says that happened during the run.
	OOMKilled  bool `json:"oom_killed,omitempty"`
	MachineOOM bool `json:"machine_oom,omitempty"`
	// LoadBefore and LoadAfter are the 1-minute load averages around the
	// run; CPUPressure is the share of the run's wall time in which some
	// runnable task waited for a CPU (PSI "some", 0..1), -1 where the
	// kernel has no pressure information.
	LoadBefore  float64 `json:"load_before"`
	LoadAfter   float64 `json:"load_after"`
	CPUPressure float64 `json:"cpu_pressure"`
	// LogError says why LogPath is incomplete ("" when it is not); the run
	// itself goes on when the log cannot be written, as a full disk must
	// not turn into a verdict.
	LogError string `json:"log_error,omitempty"`
}

// Run runs s.Command and measures it. It returns an error only when the
// process could not be started, or, together with what was measured, when
// ctx was cancelled before the process exited; in that case the process
// group has been torn down like after a timeout.
func Run(ctx context.Context, s Spec) (Measurement, error) {
	if err := ctx.Err(); err != nil {
		return Measurement{}, err
	}
	// exec reports a missing Dir as "fork/exec /bin/sh: no such file or
	// directory", which points at the wrong file; say what is missing.
	if info, err := os.Stat(s.Dir); err != nil {
		return Measurement{}, fmt.Errorf("run: working directory: %w", err)
	} else if !info.IsDir() {
		return Measurement{}, fmt.Errorf("run: working directory %s is not a directory", s.Dir)
	}

	tailBytes := s.TailBytes
	if tailBytes <= 0 {
		tailBytes = defaultTailBytes
	}
	out, err := newOutputCapture(s.LogPath, tailBytes)
	if err != nil {
		return Measurement{}, err
	}

	box, err := newContainer(s)
	if err != nil {
		out.abandon()
		return Measurement{}, err
	}
	defer box.release()

	cmd := exec.Command("/bin/sh", "-c", s.Command)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = out.childEnd()
	cmd.Stderr = out.childEnd()
	if err := box.prepare(cmd); err != nil {
		out.abandon()
		return Measurement{}, err
	}

	m := Measurement{Start: time.Now()}
	if err := cmd.Start(); err != nil {
		out.abandon()
		return Measurement{}, fmt.Errorf("run: cannot start %q in %s: %w", s.Command, s.Dir, err)
	}
	box.started(cmd.Process)
	out.started()

	grace := s.Grace
	if grace <= 0 {
		grace = defaultGrace
	}
	exited := make(chan struct{})
	stopped := make(chan stopCause, 1)
	go supervise(ctx, box, s.Timeout, grace, exited, stopped)

	// cmd.Wait returns as soon as the main process is reaped: its output
	// goes to an *os.File, so exec has no copying of its own to wait for.
	waitErr := cmd.Wait()
	m.Wall = time.Since(m.Start)
	close(exited)
	cause := <-stopped

	// Leftovers of the group die now, before the output is drained: their
	// end of the pipe closes as they exit, which lets the drain finish.
	box.signal(syscall.SIGKILL)
	out.finish()

	state := cmd.ProcessState
	if state == nil {
		// Wait failed without reaping; not expected on Linux.
		return m, fmt.Errorf("run: waiting for %q: %w", s.Command, waitErr)
	}
	fillFromState(&m, state)
	box.account(&m)
	m.TimedOut = cause == stopTimeout
	m.Tail = out.tail.String()
	if out.logErr != nil {
		m.LogError = out.logErr.Error()
	}
	if cause == stopCancelled {
		return m, ctx.Err()
	}
	return m, nil
}

// stopCause says why supervise signalled the process group, if it did.
type stopCause int

const (
	stopNone stopCause = iota
	stopTimeout
	stopCancelled
)

// supervise tears the container down (SIGTERM, then SIGKILL after grace)
// when the timeout expires or ctx is cancelled before the main process
// exits. It reports on stopped what made it do so, once it has stopped
// signalling, so that Run never races it for the container.
func supervise(ctx context.Context, box container, timeout, grace time.Duration, exited <-chan struct{}, stopped chan<- stopCause) {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	var cause stopCause
	select {
	case <-exited:
		stopped <- stopNone
		return
	case <-expired:
		cause = stopTimeout
	case <-ctx.Done():
		cause = stopCancelled
	}
	box.signal(syscall.SIGTERM)
	killTimer := time.NewTimer(grace)
	defer killTimer.Stop()
	select {
	case <-exited:
		// Run kills what is left of the group itself.
	case <-killTimer.C:
		box.signal(syscall.SIGKILL)
	}
	stopped <- cause
}

// fillFromState copies exit status and wait4 rusage into m.
func fillFromState(m *Measurement, state *os.ProcessState) {
	m.ExitCode = state.ExitCode()
	if status, ok := state.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		m.ExitCode = -1
		m.Signal = SignalName(status.Signal())
	}
	if usage, ok := state.SysUsage().(*syscall.Rusage); ok {
		m.User = time.Duration(usage.Utime.Nano())
		m.Sys = time.Duration(usage.Stime.Nano())
		// Linux reports ru_maxrss in kibibytes.
		m.MaxRSS = int64(usage.Maxrss) * 1024
	}
}
