// Package run is the one way sxbisect starts the processes it measures: a
// build, a test, a plugin. Each runs with sh -c, with a timeout that takes
// down the whole tree, and comes back as a Measurement.
//
// A run ends when its main process exits. Whatever that process left
// behind (a background job, a daemon) is killed with SIGKILL at that
// moment, so that it cannot disturb the next step, and its hold on the
// output pipe does not keep the run alive.
//
// # Containment
//
// Wall time alone misleads: on a busy machine a test can take 30 times as
// long while using the same CPU, and a process killed with SIGKILL (exit
// 137) may have been the machine's OOM victim rather than the suite's
// fault. So each run gets cgroups of its own where it can, which see every
// process of the tree whatever it does (setsid, double fork), and count
// the CPU and peak memory of all of them, including children that nobody
// waited for. Measurement.Mode says which of these a run had:
//
//   - cgroup v2: a child cgroup of the one sxbisect runs in (or, for root,
//     of its parent) gives the tree's CPU (cpu.stat), its CPU pressure
//     (cpu.pressure), a kill that misses nothing (cgroup.kill), and with
//     the memory controller the peak (memory.peak), the limit (memory.max)
//     and its OOM kills (memory.events). The main process is created
//     inside it (clone3 with CLONE_INTO_CGROUP).
//   - cgroup v1: the memory controller's hierarchy for memory
//     (memory.limit_in_bytes and memsw, max_usage_in_bytes, oom_control),
//     cpuacct's for CPU, and killing pid by pid until none is left. The
//     main process is forked by a thread moved into the cgroups for the
//     fork, since v1 cannot create a process elsewhere than its parent.
//     On a hybrid machine, where the controllers sit in v1 and the unified
//     hierarchy has none, v2 is used for CPU, pressure and kill and v1
//     for memory: "cgroup v2 (cpu, kill, pressure) + cgroup v1 memory".
//   - process group, where no cgroup can be created (not root, nothing
//     delegated): the tree is the main process's group, CPU is what wait4
//     reports (orphaned descendants are missed), and peak memory is
//     sampled from the members' resident sets and high-water marks. A
//     MemoryLimit is then refused rather than silently not enforced.
//
// wait4's peak resident set is not the tree's alone: at an exec the
// kernel keeps in the process's figure the high-water mark of the memory
// it had before, which for a child of a Go program is the program's. So
// it counts only above sxbisect's own high-water mark; below, the
// sampled high-water marks of the processes give the largest (see
// Measurement.MaxRSS).
//
// # Cores
//
// Spec.CPUs (or WithCPUs, through the context) confines a whole tree to
// some cores, so that runs measured side by side, and builds beside them,
// do not take turns on one core: a cpuset cgroup holds the tree, in the
// unified hierarchy where the cpuset controller can be enabled in the
// parent of the run's cgroup (as for memory, sxbisect moves itself into a
// leaf when that is what stands in the way), else in cgroup v1's cpuset
// hierarchy, next to the other v1 cgroups. The kernel keeps every process
// of the tree on those cores whatever it does (setsid, sched_setaffinity);
// the memory nodes are the parent's. The main process starts on them too:
// the thread that forks it is put on them for the fork, which also covers
// kernels that do not apply a cpuset to a process cloned into it. Where no
// cpuset can be had, Run refuses the run (ErrNoCPUSet), as it refuses a
// memory limit it cannot enforce: a run said to have its cores to itself
// must have them. Measurement.CPUs and Mode ("... + cgroup v1 (memory,
// cpuset)") say what it had. CheckCPUSet tells beforehand, by starting a
// process on the cores.
//
// In cgroup v2 sxbisect enables cpuset (and memory) only in its own
// cgroup, the one delegated to it: a controller enabled in a cgroup of
// systemd's would be taken away again when systemd next sets that cgroup
// up, from under a running run. Its own cgroup must hold no processes but
// sxbisect's, which then move into a leaf, and list cpuset in
// cgroup.controllers: systemd-run --scope -p Delegate=yes (with --user
// for a user) gives such a cgroup, but systemd's user@.service delegates
// only pids, memory and cpu to a user unless an administrator adds
// cpuset. ErrNoCPUSet says which of these is missing here, where cpuset
// stops on the way down the hierarchy, and the way out.
//
// Nothing is mounted: Run uses the hierarchies that are there. Its cgroups
// are named sxbisect-<pid>-<n> and removed after each run; those of an
// sxbisect that died without cleaning up are removed by the next one.
//
// Around each run the machine's load average, its CPU pressure and its
// count of OOM kills are read too, so that a slow or killed run can be
// told apart from a busy or starved machine.
package run

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
	// tree (its cgroup, or its process group) gets SIGTERM, then SIGKILL
	// after Grace.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL (default 5s), after a
	// timeout and after the context is cancelled alike.
	Grace time.Duration
	// LogPath, when set, is created or truncated and receives the run's
	// output (stdout and stderr interleaved, in the order written), up to
	// LogCap.
	LogPath string
	// LogCap bounds the log: when the output is longer, the log keeps its
	// first and its last LogCap/2 bytes, with a line between them that
	// says how many were dropped (Measurement.LogDropped). The last half
	// is held in memory until the run ends. 0 means DefaultLogCap (16
	// MiB); a negative cap keeps everything.
	LogCap int64
	// TailBytes is how much of the output's end Measurement.Tail keeps
	// (default 4096).
	TailBytes int
	// MemoryLimit, when non-zero, confines the whole tree to that many
	// bytes (a cgroup's memory limit); when the kernel's OOM killer acts
	// inside it, Measurement.OOMKilled is set. Where no cgroup can be had,
	// Run refuses a limit rather than run unconfined (see Mode).
	MemoryLimit int64
	// OnOutput, when set, is given the output as it comes, so that a
	// predicate can watch for markers while the test still runs: in
	// blocks of whole lines (each ends with a newline, but for a last line
	// without one; a line longer than 64 KiB may come in pieces), in order,
	// from a goroutine of its own. A block is valid only during the call.
	// The test never waits for OnOutput: the output reaches it through a
	// bounded buffer (8 MiB, taken as output comes), and when OnOutput
	// falls that far behind the output, what does not fit is dropped for
	// it, never held up. skipped is how many bytes were dropped before
	// the block (the lines cut by the drop included), 0 when none; a last
	// call with no lines reports a drop at the end. Measurement.Unwatched
	// is their total. Run returns after the last call.
	OnOutput func(lines []byte, skipped int64)
	// Containment chooses how the tree is contained (default: the best
	// the machine offers).
	Containment Containment
	// Nice, when above 0, lowers the tree's CPU priority by that much (as
	// nice(1) does), so that a build made ahead of time yields to a
	// measured run.
	Nice int
	// CPUs, when set, confines the whole tree to these cores (a cpuset
	// cgroup, with the memory nodes of its parent), so that what runs on
	// the other cores does not disturb it: each must be one sxbisect may
	// run on (AllowedCPUs). Where no cpuset can be had, Run refuses the
	// run (ErrNoCPUSet). Unset, the cores WithCPUs put in the context are
	// used, if any.
	CPUs []int

	// hierarchies narrows the cgroup hierarchies a run may use, so that
	// tests can take the paths of machines other than theirs.
	hierarchies hierarchyChoice
}

// hierarchyChoice says which cgroup hierarchies a run may use.
type hierarchyChoice int

const (
	anyHierarchy hierarchyChoice = iota
	onlyV1                       // as on a machine without the unified hierarchy
	onlyV2                       // as on a machine without v1 controllers
)

const (
	defaultGrace     = 5 * time.Second
	defaultTailBytes = 4096
)

// Measurement is what one run did.
type Measurement struct {
	Start time.Time `json:"start"`
	// Wall runs from the start to the exit of the main process.
	Wall time.Duration `json:"wall_ns"`
	// User and Sys are CPU times: of the whole tree when TreeCPU is set,
	// else of the process and the descendants it waited for (wait4).
	User time.Duration `json:"user_ns"`
	Sys  time.Duration `json:"sys_ns"`
	// MaxRSS is the peak resident set size in bytes of the largest process
	// of the tree: wait4's, of the main process and the descendants it
	// waited for, when that is above sxbisect's own high-water mark, else
	// the largest that sampling saw (0 when none: a run too short to
	// sample). wait4's figure below it means nothing: the kernel counts in
	// a child's the high-water mark of the memory it had before its exec,
	// which for a child of sxbisect is sxbisect's.
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
	// Mode says how the run was contained and measured: which cgroups
	// gave what, such as "cgroup v2 (cpu, memory, kill, pressure)" or
	// "cgroup v2 (cpu, kill, pressure) + cgroup v1 (memory, cpuset)", or
	// "process group (...)" with what is then not measured.
	Mode string `json:"mode,omitempty"`
	// CPUs lists the cores the tree was confined to ("1", "2-3"), as the
	// kernel writes them; "" when it could run on any.
	CPUs string `json:"cpus,omitempty"`
	// TreeCPU is set when User and Sys cover the whole process tree
	// (a cgroup's accounting) rather than what wait4 saw.
	TreeCPU bool `json:"tree_cpu,omitempty"`
	// PeakMemory is the peak memory of the whole tree in bytes: the memory
	// cgroup's high-water mark, which counts the page cache the tree
	// filled as well as its processes' memory, but not pages of shared
	// files already cached by others. Without a memory cgroup it is the
	// larger of MaxRSS and the sampled sum of the members' resident sets,
	// which misses short peaks; 0 when a run was too short to be sampled.
	PeakMemory int64 `json:"peak_memory_bytes,omitempty"`
	// OOMKilled is set when the kernel's OOM killer killed a process of
	// the tree because the tree reached its memory limit (Spec.MemoryLimit,
	// or a limit the tree set inside itself).
	OOMKilled bool `json:"oom_killed,omitempty"`
	// MachineOOM is set, when OOMKilled is not, if an OOM killer acted
	// outside our limit during the run: it killed a process of the tree
	// without the tree having reached its limit. Without a memory cgroup
	// to count the tree's kills, a kill anywhere on the machine during a
	// run that died by SIGKILL (or exited 137) counts. It says a failure
	// may be the machine's, not the commit's.
	MachineOOM bool `json:"machine_oom,omitempty"`
	// LoadBefore and LoadAfter are the machine's 1-minute load averages
	// around the run (-1 if unknown). CPUPressure is the share of the
	// run's wall time in which some runnable task waited for a CPU (PSI
	// "some", 0..1): of the tree's tasks when Mode lists pressure, else of
	// the machine's; -1 where the kernel gives no pressure information.
	LoadBefore  float64 `json:"load_before"`
	LoadAfter   float64 `json:"load_after"`
	CPUPressure float64 `json:"cpu_pressure"`
	// LogError says why LogPath is incomplete ("" when it is not); the run
	// itself goes on when the log cannot be written, as a full disk must
	// not turn into a verdict.
	LogError string `json:"log_error,omitempty"`
	// LogDropped is how many bytes of output the log left out for
	// Spec.LogCap.
	LogDropped int64 `json:"log_dropped_bytes,omitempty"`
	// Unwatched is how many bytes of output Spec.OnOutput did not see,
	// because it fell behind the test.
	Unwatched int64 `json:"unwatched_bytes,omitempty"`
}

// Run runs s.Command and measures it. It returns an error only when the
// process could not be started (or a MemoryLimit cannot be enforced), or,
// together with what was measured, when ctx was cancelled before the
// process exited; in that case the tree has been torn down like after a
// timeout.
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
	if len(s.CPUs) == 0 {
		s.CPUs = cpusFrom(ctx)
	}
	box, err := newContainer(s)
	if err != nil {
		return Measurement{}, err
	}
	defer box.release()
	out, err := newOutputCapture(s.LogPath, s.LogCap, tailBytes, s.OnOutput)
	if err != nil {
		return Measurement{}, err
	}

	newCmd := func() *exec.Cmd {
		cmd := exec.Command("/bin/sh", "-c", s.Command)
		if s.Nice > 0 {
			// Set before the shell starts anything, so that no child
			// escapes it (nice(1) is coreutils', on every Linux).
			cmd = exec.Command("nice", "-n", strconv.Itoa(s.Nice), "/bin/sh", "-c", s.Command)
		}
		cmd.Dir = s.Dir
		cmd.Env = append(os.Environ(), s.Env...)
		cmd.Stdin = nil // /dev/null
		cmd.Stdout = out.childEnd()
		cmd.Stderr = out.childEnd()
		return cmd
	}
	before := sampleMachine()
	m := Measurement{Start: time.Now()}
	announceCgroups(ctx, box)
	cmd, err := box.start(newCmd)
	if err != nil {
		out.abandon()
		return Measurement{}, fmt.Errorf("run: cannot start %q in %s: %w", s.Command, s.Dir, err)
	}
	out.started()
	announceStart(ctx, cmd.Process.Pid, box)

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

	// Leftovers of the tree die now, before the output is drained: their
	// end of the pipe closes as they exit, which lets the drain finish.
	box.signal(syscall.SIGKILL)
	out.finish()
	usage := box.account()
	after := sampleMachine()

	state := cmd.ProcessState
	if state == nil {
		// Wait failed without reaping; not expected on Linux.
		return m, fmt.Errorf("run: waiting for %q: %w", s.Command, waitErr)
	}
	fillFromState(&m, state)
	m.Mode = box.mode()
	m.CPUs = FormatCPUs(s.CPUs)
	if m.MaxRSS <= ownPeak() {
		// Perhaps our own; see Measurement.MaxRSS.
		m.MaxRSS = 0
	}
	fillFromUsage(&m, usage, before, after)
	m.TimedOut = cause == stopTimeout
	m.Tail = out.tail.String()
	if out.logErr != nil {
		m.LogError = out.logErr.Error()
	}
	if out.log != nil {
		m.LogDropped = out.log.dropped
	}
	if out.watch != nil {
		m.Unwatched = out.watch.unwatched
	}
	if cause == stopCancelled {
		return m, ctx.Err()
	}
	return m, nil
}

// fillFromUsage revises m, already filled from wait4, with what the
// container measured of the tree and what the machine did meanwhile.
func fillFromUsage(m *Measurement, u treeUsage, before, after machineSample) {
	m.MaxRSS = max(m.MaxRSS, u.largestProcess)
	if u.treeCPU {
		m.TreeCPU = true
		m.User, m.Sys = u.user, u.sys
	}
	if u.peakIsTree {
		// Not raised to MaxRSS: a process's resident set counts shared
		// file pages (its binary, libraries) that the cgroup does not,
		// since another cgroup read them first.
		m.PeakMemory = u.peakMemory
	} else {
		m.PeakMemory = max(u.peakMemory, m.MaxRSS)
	}
	if u.oomKillsKnown {
		m.OOMKilled = u.limitReached && u.oomKills > 0
	} else {
		// A kernel that does not count OOM kills: reaching the limit and
		// dying by SIGKILL is the best sign there is.
		m.OOMKilled = u.limitReached && m.Signal == "SIGKILL"
	}
	// A process of the tree killed by an OOM killer when the tree was
	// under its limit: the machine (or a parent cgroup) ran out. Where the
	// tree's own count is known it says so exactly, since the kernel
	// counts the victim's cgroup whatever the kind of OOM; a kill counted
	// only machine-wide may have hit anyone (another job's limit, say) and
	// counts for this run only when the run shows a kill.
	machineKills := before.oomKills >= 0 && after.oomKills > before.oomKills
	if u.oomKillsKnown {
		m.MachineOOM = !m.OOMKilled && u.oomKills > 0
	} else {
		m.MachineOOM = !m.OOMKilled && machineKills && (m.Signal == "SIGKILL" || m.ExitCode == 128+9)
	}

	m.LoadBefore, m.LoadAfter = before.load, after.load
	switch {
	case u.pressureKnown:
		m.CPUPressure = share(u.pressureStall, m.Wall)
	case before.cpuStall >= 0 && after.cpuStall >= 0:
		m.CPUPressure = share(after.cpuStall-before.cpuStall, after.at.Sub(before.at))
	default:
		m.CPUPressure = -1
	}
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
