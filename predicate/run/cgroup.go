package run

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupTree contains a run in cgroups of its own: one in the unified
// hierarchy (v2) where it can be had, and v1 memory and cpuacct cgroups for
// what v2 cannot give. Every process of the tree is in them whatever it
// does (setsid, double fork), so the tree is killed whole and its CPU and
// memory are counted whole.
type cgroupTree struct {
	v2        *v2Run // nil without a usable v2 hierarchy
	memoryV1  *v1Run // only when v2 has no memory controller
	cpuacctV1 *v1Run // only without v2
	// cpus are the cores the tree is confined to (Spec.CPUs), none for
	// any; the v2 cgroup does it when cpusV2 is set, else cpusetV1.
	cpus     []int
	cpusV2   bool
	cpusetV1 *v1Run
	// peak samples the tree's memory where no cgroup keeps a high-water
	// mark; nil otherwise.
	peak *peakSampler
	// pg only sets up the process group, which keeps the tree out of the
	// terminal's foreground group; signals go through the cgroups.
	pg processGroup
	// allowV1 is false when the run may not use v1 hierarchies.
	allowV1 bool
	// memoryLimit is the limit set, 0 for none.
	memoryLimit int64
	// memoryProblems say why v1 gave no memory cgroup.
	memoryProblems []string
}

// limitSlack is how close to its limit a v1 memory cgroup's high-water
// mark must come to count as having reached it.
const limitSlack = 1 << 20

// v2Run is a run's cgroup in the unified hierarchy. cpu.stat, cpu.pressure
// and cgroup.kill come with every v2 cgroup, without any controller; the
// memory files need the memory controller, enabled in the parent.
type v2Run struct {
	dir string
	fd  *os.File // for clone3's CLONE_INTO_CGROUP
	// ownsParent is set when the parent of dir is sxbisect's own cgroup
	// (or the root), where sxbisect may enable controllers. Otherwise dir
	// is beside sxbisect's cgroup, in one that belongs to whoever made it
	// (systemd's slice); a controller enabled there behind its back would
	// be taken away again when systemd next sets the slice up, from under
	// a running run.
	ownsParent bool
	memory     bool // memory.max and friends exist
	kill       bool // cgroup.kill exists (Linux 5.14)
	// pressure is set when cpu.pressure can be read (PSI is compiled in
	// and enabled).
	pressure bool
	// noMemory says why memory is not set.
	noMemory string
}

// v1Run is a run's cgroup in one v1 hierarchy.
type v1Run struct {
	h   *hierarchy
	dir string
	// controller is the one this cgroup is for, as /proc/self/cgroup
	// names it.
	controller string
}

// newCgroupTree creates the run's cgroups, confined to cpus when there
// are any. It returns nil and the reason when none can be had; a tree
// that cannot be confined to cpus is released, and the reason starts
// with noCPUSet.
func newCgroupTree(choice hierarchyChoice, cpus []int) (*cgroupTree, string) {
	hs, err := readHierarchies()
	if err != nil {
		return nil, err.Error()
	}
	return newCgroupTreeIn(hs, choice, cpus)
}

// newCgroupTreeIn is newCgroupTree in the hierarchies hs.
func newCgroupTreeIn(hs hierarchies, choice hierarchyChoice, cpus []int) (*cgroupTree, string) {
	switch choice {
	case onlyV1:
		hs.v2 = nil
	case onlyV2:
		hs.memoryV1, hs.cpuacctV1, hs.cpusetV1 = nil, nil, nil
	}
	t := &cgroupTree{allowV1: choice != onlyV2, cpus: cpus}
	var problems []string
	noV2 := "" // why the v2 hierarchy gave no cgroup
	if hs.v2 != nil {
		v2, err := newV2Run(hs.v2, hs.euid)
		if err != nil {
			noV2 = err.Error()
			problems = append(problems, "cgroup v2: "+noV2)
		}
		t.v2 = v2
	}
	if (t.v2 == nil || !t.v2.memory) && hs.memoryV1 != nil {
		v1, err := newV1Run(hs.memoryV1, "memory")
		if err != nil {
			problems = append(problems, "cgroup v1 memory: "+err.Error())
			t.memoryProblems = append(t.memoryProblems, "cgroup v1 memory: "+err.Error())
		}
		t.memoryV1 = v1
	}
	if t.v2 == nil && hs.cpuacctV1 != nil {
		v1, err := newV1Run(hs.cpuacctV1, "cpuacct")
		if err != nil {
			problems = append(problems, "cgroup v1 cpuacct: "+err.Error())
		}
		t.cpuacctV1 = v1
	}
	if len(cpus) > 0 {
		if why := t.confine(hs, noV2); why != "" {
			t.release()
			return nil, noCPUSet + why
		}
	}
	if t.v2 == nil && t.memoryV1 == nil && t.cpuacctV1 == nil && t.cpusetV1 == nil {
		if len(problems) == 0 {
			problems = append(problems, "no cgroup hierarchy is mounted")
		}
		return nil, strings.Join(problems, "; ")
	}
	return t, ""
}

// noCPUSet starts the reason newCgroupTree gives when it could make
// cgroups but none to confine the tree to its cores.
const noCPUSet = "no cpuset: "

// confine confines the tree to t.cpus: through its v2 cgroup where the
// cpuset controller can be had there, else in a v1 cpuset cgroup. noV2
// says why the v2 hierarchy gave the tree no cgroup, if it did not. It
// returns "" when done, else why not and what the user can do about it.
func (t *cgroupTree) confine(hs hierarchies, noV2 string) string {
	var problems []string
	switch {
	case t.v2 != nil:
		err := confineV2(t.v2, t.cpus)
		if err == nil {
			t.cpusV2 = true
			return ""
		}
		problems = append(problems, "cgroup v2: "+err.Error())
	case noV2 != "":
		problems = append(problems, "cgroup v2: "+noV2)
	}
	if hs.cpusetV1 != nil {
		r, err := newCPUSetV1(hs.cpusetV1, t.cpus)
		if err == nil {
			t.cpusetV1 = r
			return ""
		}
		problems = append(problems, "cgroup v1 cpuset: "+err.Error())
	}
	if len(problems) == 0 {
		problems = append(problems, "no cpuset hierarchy is mounted")
	}
	if way := cpusetWayOut(hs); way != "" {
		problems = append(problems, way)
	}
	return strings.Join(problems, "; ")
}

// newV2Run creates the run's cgroup in the unified hierarchy h; euid is
// the user sxbisect runs as.
//
// A v2 cgroup that has controllers enabled for its children may hold no
// processes itself ("no internal processes"), except the root. Without
// controllers a child can be made anywhere we may write, and it already
// gives CPU, pressure and kill. For the memory controller the parent of the
// run's cgroup must have it enabled, and this is tried in turn:
//
//  1. Our own cgroup, if it already has memory enabled for its children
//     (the root), or can: it holds no processes but sxbisect and sxbisect's
//     descendants (as under systemd-run --scope -p Delegate=yes), which
//     then move into a leaf of their own, sxbisect-<pid>, so that the run
//     cgroups can be its siblings.
//  2. For root, our parent, if it has memory enabled: the runs become
//     siblings of our cgroup. This is how root gets memory limits from a
//     login session, whose scope holds the shell too. Others stay inside
//     what was delegated to them. The parent is not sxbisect's: the
//     controllers enabled there are used as they are, and sxbisect writes
//     no cgroup.subtree_control of it (see v2Run.ownsParent).
//  3. Our own cgroup without the memory controller.
//
// A threaded cgroup (cgroup.type "threaded", "domain threaded", "domain
// invalid") cannot hold a run's cgroup: a child made there is a domain
// that no process may enter, so it is refused here, before a run would
// fail to start in it.
func newV2Run(h *hierarchy, euid int) (*v2Run, error) {
	base, isRoot := v2Base(h)
	if !isRoot {
		if kind, err := readFileTrimmed(filepath.Join(base, "cgroup.type")); err == nil && kind != "domain" {
			return nil, fmt.Errorf("%s is a %q cgroup (cgroup.type), in which runs cannot have cgroups of their own", base, kind)
		}
	}
	noMemory := enableControllerV2(base, "memory", isRoot)
	if noMemory != "" && !isRoot && base != h.mount && euid == 0 {
		parent := filepath.Dir(base)
		if hasWord(filepath.Join(parent, "cgroup.subtree_control"), "memory") {
			if dir, err := makeRunCgroup(parent); err == nil {
				sweepStaleCgroups(parent)
				return openV2Run(dir, "", false)
			}
		}
	}
	sweepStaleCgroups(base)
	dir, err := makeRunCgroup(base)
	if err != nil {
		return nil, err
	}
	return openV2Run(dir, noMemory, true)
}

// v2Base returns the cgroup where sxbisect makes its runs' cgroups in h:
// its own, or the one it left for its leaf (see newV2Run). isRoot is set
// for the real root, which alone lacks cgroup.type; a container's root (a
// cgroup namespace) is bound by the no-internal-processes rule like any
// other cgroup.
func v2Base(h *hierarchy) (base string, isRoot bool) {
	own := h.ownDir()
	if !fileExists(filepath.Join(own, "cgroup.type")) {
		return own, true
	}
	if filepath.Base(own) == ownLeafName() {
		return filepath.Dir(own), false
	}
	return own, false
}

// openV2Run opens the new cgroup dir; noMemory says why it may lack the
// memory controller, and ownsParent whether its parent is sxbisect's own
// cgroup.
func openV2Run(dir, noMemory string, ownsParent bool) (*v2Run, error) {
	fd, err := os.Open(dir)
	if err != nil {
		_ = os.Remove(dir)
		return nil, err
	}
	r := &v2Run{
		dir:        dir,
		fd:         fd,
		ownsParent: ownsParent,
		memory:     fileExists(filepath.Join(dir, "memory.max")),
		kill:       fileExists(filepath.Join(dir, "cgroup.kill")),
	}
	if !r.memory {
		r.noMemory = cmp.Or(noMemory, "no memory controller in "+dir)
	}
	_, err = os.ReadFile(filepath.Join(dir, "cpu.pressure"))
	r.pressure = err == nil
	return r, nil
}

// ownLeafName is the cgroup sxbisect moves itself into when it must empty
// its own cgroup (see newV2Run).
func ownLeafName() string { return runCgroupPrefix + strconv.Itoa(os.Getpid()) }

// enableControllerV2 makes sure base, sxbisect's own cgroup (or the
// root), has controller (memory, cpuset) enabled for its children, moving
// sxbisect and its descendants into a leaf if that is what stands in the
// way. It returns "" when base's children get it, else why not.
func enableControllerV2(base, controller string, isRoot bool) string {
	control := filepath.Join(base, "cgroup.subtree_control")
	if hasWord(control, controller) {
		return ""
	}
	if !hasWord(filepath.Join(base, "cgroup.controllers"), controller) {
		return controllerNotAvailable(base, controller)
	}
	err := writeFile(control, "+"+controller)
	if err == nil {
		return ""
	}
	if isRoot || !errors.Is(err, syscall.EBUSY) {
		return fmt.Sprintf("cannot enable the %s controller in %s: %v", controller, base, err)
	}
	// A process forked while we move the others keeps base busy; a second
	// round catches it.
	for range 2 {
		if why := moveOurselvesToLeaf(base); why != "" {
			return why + ", so it cannot have the " + controller + " controller enabled for sxbisect's runs"
		}
		if writeFile(control, "+"+controller) == nil {
			return ""
		}
	}
	return base + " stays busy, so it cannot have the " + controller + " controller enabled"
}

// controllerNotAvailable says why controller is missing from dir's
// cgroup.controllers: which ancestor has it but does not pass it down (top
// down, each cgroup.subtree_control must name it), or that the top of the
// hierarchy lacks it.
func controllerNotAvailable(dir, controller string) string {
	for child := dir; ; {
		parent := filepath.Dir(child)
		if parent == child || !fileExists(filepath.Join(parent, "cgroup.controllers")) {
			return fmt.Sprintf("the %s controller is not available in cgroup v2 here: %s, the top of the hierarchy, lacks it (it is bound to cgroup v1, not built in, or not given to this container)", controller, child)
		}
		if hasWord(filepath.Join(parent, "cgroup.controllers"), controller) {
			if child == dir {
				return fmt.Sprintf("the %s controller is not available in %s: its parent does not pass it down (cgroup.subtree_control)", controller, dir)
			}
			return fmt.Sprintf("the %s controller is not available in %s: %s does not pass it down (cgroup.subtree_control)", controller, dir, parent)
		}
		child = parent
	}
}

// moveOurselvesToLeaf moves the processes of base, sxbisect's own cgroup,
// into base/sxbisect-<pid> when all of them are sxbisect or its
// descendants. Processes of others stay where they are, and then so do we.
// It returns "" when done, else why not.
func moveOurselvesToLeaf(base string) string {
	self := os.Getpid()
	pids := readPids(filepath.Join(base, "cgroup.procs"))
	if !slices.Contains(pids, self) {
		// Not our cgroup: a leaf of ours has no business there.
		return base + " is not sxbisect's own cgroup"
	}
	var others []string
	for _, pid := range pids {
		if !descendsFrom(pid, self) {
			others = append(others, describeProcess(pid))
		}
	}
	if len(others) > 0 {
		if len(others) > 3 {
			others = append(others[:3], fmt.Sprintf("%d more", len(others)-3))
		}
		return fmt.Sprintf("%s holds processes other than sxbisect's (%s)", base, strings.Join(others, ", "))
	}
	leaf := filepath.Join(base, ownLeafName())
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Sprintf("cannot make the leaf %s: %v", leaf, err)
	}
	for _, pid := range pids {
		// A descendant that has exited meanwhile cannot be moved; that is
		// fine.
		if err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(pid)); err != nil && pid == self {
			return fmt.Sprintf("cannot move sxbisect into %s: %v", leaf, err)
		}
	}
	return ""
}

// descendsFrom reports whether pid is ancestor or one of its descendants,
// by their parents in /proc. A process whose parent exited was handed to
// init (or a subreaper) and no longer counts.
func descendsFrom(pid, ancestor int) bool {
	for range 64 {
		if pid == ancestor {
			return true
		}
		if pid <= 1 {
			return false
		}
		pid = parentPid(pid)
	}
	return false
}

// describeProcess names a process for people: "bash (pid 4242)".
func describeProcess(pid int) string {
	name, err := readFileTrimmed("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil || name == "" {
		return "pid " + strconv.Itoa(pid)
	}
	return fmt.Sprintf("%s (pid %d)", name, pid)
}

// parentPid returns the parent of pid from /proc, 0 if unknown.
func parentPid(pid int) int {
	fields := procStatFields(pid)
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// newV1Run creates the run's cgroup in the v1 hierarchy h, under our own
// cgroup there. v1 allows processes next to child cgroups, so no leaf is
// needed.
func newV1Run(h *hierarchy, controller string) (*v1Run, error) {
	base := h.ownDir()
	sweepStaleCgroups(base)
	dir, err := makeRunCgroup(base)
	if err != nil {
		return nil, err
	}
	return &v1Run{h: h, dir: dir, controller: controller}, nil
}

// hasMemory reports whether a cgroup can limit and measure the tree's
// memory.
func (t *cgroupTree) hasMemory() bool {
	return t.memoryV1 != nil || (t.v2 != nil && t.v2.memory)
}

// whyNoMemory says why there is no memory cgroup.
func (t *cgroupTree) whyNoMemory() string {
	reasons := t.memoryProblems
	if t.v2 != nil && t.v2.noMemory != "" {
		reasons = append([]string{"cgroup v2: " + t.v2.noMemory}, reasons...)
	}
	if len(reasons) == 0 {
		return "no writable cgroup has the memory controller"
	}
	return strings.Join(reasons, "; ")
}

// setMemoryLimit confines the tree to limit bytes, swap included: a limit
// that swap could stretch would let a leaking test pass slowly instead of
// failing.
func (t *cgroupTree) setMemoryLimit(limit int64) error {
	t.memoryLimit = limit
	value := strconv.FormatInt(limit, 10)
	if t.v2 != nil && t.v2.memory {
		if err := writeFile(filepath.Join(t.v2.dir, "memory.max"), value); err != nil {
			return err
		}
		if swap := filepath.Join(t.v2.dir, "memory.swap.max"); fileExists(swap) {
			return writeFile(swap, "0")
		}
		return nil
	}
	if t.memoryV1 != nil {
		// memsw (memory plus swap) may not be set below the memory limit,
		// so the memory limit goes first.
		if err := writeFile(filepath.Join(t.memoryV1.dir, "memory.limit_in_bytes"), value); err != nil {
			return err
		}
		if memsw := filepath.Join(t.memoryV1.dir, "memory.memsw.limit_in_bytes"); fileExists(memsw) {
			return writeFile(memsw, value)
		}
		return nil
	}
	return errors.New("no memory cgroup")
}

func (t *cgroupTree) v1Runs() []*v1Run {
	var runs []*v1Run
	for _, r := range []*v1Run{t.memoryV1, t.cpuacctV1, t.cpusetV1} {
		if r != nil {
			runs = append(runs, r)
		}
	}
	return runs
}

// start starts the main process inside the run's cgroups, so that it is
// there before it runs a single instruction of its own.
//
// In v2, clone3 puts the child straight into the cgroup
// (SysProcAttr.CgroupFD). v1 has no such thing, and writing the pid into
// the cgroup after Start would let the child fork before it is moved. So
// the thread that forks is moved into the v1 cgroups for the fork, since a
// child starts in its parent thread's cgroups: the goroutine is locked to
// its thread, the thread's id goes into each cgroup's "tasks" file (v1
// moves single threads), cmd.Start forks, and the thread goes back. Only
// that thread moves, and only for the fork; its memory is the process's,
// which stays charged where it was.
//
// A tree confined to cores (t.cpus) starts on them the same way: the
// thread that forks is put on those cores for the fork, and the child
// inherits its affinity, in case the kernel does not apply the cpuset to
// a process cloned into it (before Linux 6.4 it did not).
//
// Should clone3 fail (a kernel before 5.7, or a seccomp filter that
// refuses it), the run goes on without the v2 cgroup.
func (t *cgroupTree) start(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	cmd := newCmd()
	err := t.startPlaced(cmd)
	if err != nil && t.v2 != nil {
		t.dropV2()
		if t.memoryLimit > 0 && !t.hasMemory() {
			return nil, memoryLimitError("the memory cgroup is in cgroup v2, and starting a process in it failed: " + err.Error())
		}
		if len(t.cpus) > 0 && t.cpusetV1 == nil {
			return nil, cpuSetError("the cpuset is in cgroup v2, and starting a process in it failed: " + err.Error())
		}
		cmd = newCmd()
		err = t.startPlaced(cmd)
	}
	if err != nil {
		return nil, err
	}
	// The members are sampled in every case, for the largest process;
	// the tree's peak comes from the memory cgroup where there is one.
	members := func() []int { return readPids(t.procsFile()) }
	var total func() int64
	if t.v2 != nil && t.v2.memory && !fileExists(filepath.Join(t.v2.dir, "memory.peak")) {
		// memory.peak came with Linux 5.19; before, memory.current is
		// polled and short peaks can be missed.
		current := filepath.Join(t.v2.dir, "memory.current")
		total = func() int64 {
			n, _ := readInt(current)
			return n
		}
	}
	t.peak = startPeakSampler(cgroupSampleInterval, members, total)
	return cmd, nil
}

// dropV2 gives up the v2 cgroup after clone3 failed.
func (t *cgroupTree) dropV2() {
	t.v2.fd.Close()
	_ = os.Remove(t.v2.dir)
	t.v2 = nil
	hs, err := readHierarchies()
	if err != nil || !t.allowV1 {
		return
	}
	// Without v2, CPU comes from cpuacct if it can be had, and the cores
	// from a v1 cpuset.
	if hs.cpuacctV1 != nil {
		if r, err := newV1Run(hs.cpuacctV1, "cpuacct"); err == nil {
			t.cpuacctV1 = r
		}
	}
	if t.cpusV2 && hs.cpusetV1 != nil {
		t.cpusV2 = false
		if r, err := newCPUSetV1(hs.cpusetV1, t.cpus); err == nil {
			t.cpusetV1 = r
		}
	}
}

func (t *cgroupTree) startPlaced(cmd *exec.Cmd) error {
	t.pg.prepare(cmd)
	if t.v2 != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(t.v2.fd.Fd())
	}
	v1 := t.v1Runs()
	if len(v1) == 0 && len(t.cpus) == 0 {
		return cmd.Start()
	}
	return startOnMovedThread(cmd, v1, t.cpus)
}

// startOnMovedThread runs cmd.Start on a thread of its own that is in the
// v1 cgroups runs, and on cpus when there are any, for the fork (see
// cgroupTree.start).
func startOnMovedThread(cmd *exec.Cmd, runs []*v1Run, cpus []int) error {
	result := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is unlocked only once it is back where it was, on
		// its own cores. If it cannot be brought back, the goroutine ends
		// locked, and the runtime then ends the thread rather than run
		// other goroutines on it.
		var saved *unix.CPUSet
		var err error
		if len(cpus) > 0 {
			saved, err = onCPUs(cpus)
		}
		var origins []threadOrigin
		if err == nil {
			origins, err = moveThread(runs)
		}
		if err == nil {
			err = cmd.Start()
		}
		// Moving back into a v1 cpuset sets the thread's affinity to
		// that cpuset's cores, so the affinity is restored after.
		if returnThread(origins) == nil && restoreCPUs(saved) == nil {
			runtime.UnlockOSThread()
		}
		result <- err
	}()
	return <-result
}

// threadOrigin is the tasks file of the cgroup a thread came from.
type threadOrigin string

// moveThread moves the calling thread into each of runs and returns where
// it came from, which it must be moved back to even on error.
func moveThread(runs []*v1Run) ([]threadOrigin, error) {
	data, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	tid := strconv.Itoa(unix.Gettid())
	var origins []threadOrigin
	for _, r := range runs {
		from := ""
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && hasController(parts[1], r.controller) {
				from = r.h.dirOf(parts[2])
			}
		}
		if from == "" {
			return origins, fmt.Errorf("cannot tell which %s cgroup this thread is in", r.controller)
		}
		if err := writeFile(filepath.Join(r.dir, "tasks"), tid); err != nil {
			return origins, fmt.Errorf("cannot move into %s: %w", r.dir, err)
		}
		origins = append(origins, threadOrigin(filepath.Join(from, "tasks")))
	}
	return origins, nil
}

func returnThread(origins []threadOrigin) error {
	tid := strconv.Itoa(unix.Gettid())
	var first error
	for _, o := range origins {
		if err := writeFile(string(o), tid); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func hasController(list, controller string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == controller {
			return true
		}
	}
	return false
}

// procsFile lists the tree's processes.
func (t *cgroupTree) procsFile() string {
	switch {
	case t.v2 != nil:
		return filepath.Join(t.v2.dir, "cgroup.procs")
	case t.memoryV1 != nil:
		return filepath.Join(t.memoryV1.dir, "cgroup.procs")
	case t.cpuacctV1 != nil:
		return filepath.Join(t.cpuacctV1.dir, "cgroup.procs")
	default:
		return filepath.Join(t.cpusetV1.dir, "cgroup.procs")
	}
}

// signal sends sig to every process of the tree. SIGKILL goes through
// cgroup.kill where the kernel has it, which cannot miss a process forked
// meanwhile; otherwise processes are signalled one by one, and for
// SIGKILL again until none is left.
//
// Signalling by pid read from cgroup.procs could in principle reach a
// stranger that got the pid of a process that exited meanwhile, but Linux
// hands pids out in turn, so a freed pid comes back only after the whole
// pid space has been used.
func (t *cgroupTree) signal(sig syscall.Signal) {
	if sig == syscall.SIGKILL && t.v2 != nil && t.v2.kill {
		if writeFile(filepath.Join(t.v2.dir, "cgroup.kill"), "1") == nil {
			return
		}
	}
	procs := t.procsFile()
	if sig != syscall.SIGKILL {
		for _, pid := range readPids(procs) {
			_ = syscall.Kill(pid, sig)
		}
		return
	}
	deadline := time.Now().Add(emptyTimeout)
	for {
		pids := readPids(procs)
		if len(pids) == 0 || time.Now().After(deadline) {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, sig)
		}
		sleepBriefly()
	}
}

// emptyTimeout bounds the wait for a killed tree to be gone. A process in
// uninterruptible sleep (a hung network file system) can take longer;
// then what it used last is not counted, and its cgroup stays behind.
const emptyTimeout = 2 * time.Second

// cgroupSampleInterval is how often memory is sampled where no cgroup
// keeps a high-water mark.
const cgroupSampleInterval = 20 * time.Millisecond

func sleepBriefly() { time.Sleep(time.Millisecond) }

// waitEmpty waits until the tree's processes are all gone, so that the
// counters are final and the cgroups can be removed.
func (t *cgroupTree) waitEmpty() {
	deadline := time.Now().Add(emptyTimeout)
	for !t.empty() && time.Now().Before(deadline) {
		sleepBriefly()
	}
}

func (t *cgroupTree) empty() bool {
	if t.v2 != nil {
		events, err := readKeyed(filepath.Join(t.v2.dir, "cgroup.events"))
		if err == nil {
			return events["populated"] == 0
		}
	}
	return len(readPids(t.procsFile())) == 0
}

func (t *cgroupTree) account() treeUsage {
	t.waitEmpty()
	u := treeUsage{oomKillsKnown: true}
	if t.peak != nil {
		u.peakMemory, u.largestProcess = t.peak.finish()
	}
	if t.v2 != nil {
		if stat, err := readKeyed(filepath.Join(t.v2.dir, "cpu.stat")); err == nil {
			u.treeCPU = true
			u.user = time.Duration(stat["user_usec"]) * time.Microsecond
			u.sys = time.Duration(stat["system_usec"]) * time.Microsecond
		}
		if t.v2.pressure {
			if stall, err := readPressureTotal(filepath.Join(t.v2.dir, "cpu.pressure")); err == nil {
				u.pressureKnown, u.pressureStall = true, stall
			}
		}
		if t.v2.memory {
			if peak, err := readInt(filepath.Join(t.v2.dir, "memory.peak")); err == nil {
				u.peakMemory = peak
			}
			u.peakIsTree = true
			// "max" and "oom" count the times our limit (or one set inside
			// the tree) was reached; "oom_kill" the tree's processes killed
			// by any OOM killer, the machine's included.
			events, _ := readKeyed(filepath.Join(t.v2.dir, "memory.events"))
			u.oomKills = events["oom_kill"]
			u.limitReached = events["oom"] > 0 || events["max"] > 0
		}
	}
	if t.cpuacctV1 != nil {
		u.user, u.sys, u.treeCPU = readCPUAcct(t.cpuacctV1.dir)
	}
	if t.memoryV1 != nil {
		dir := t.memoryV1.dir
		peak, err := readInt(filepath.Join(dir, "memory.max_usage_in_bytes"))
		if err == nil {
			u.peakMemory, u.peakIsTree = peak, true
		}
		control, _ := readKeyed(filepath.Join(dir, "memory.oom_control"))
		// oom_kill appeared in Linux 4.13.
		u.oomKills, u.oomKillsKnown = control["oom_kill"], hasKey(control, "oom_kill")
		// The failure counters say the limit was reached, but recent
		// kernels no longer keep them; a high-water mark at the limit says
		// the same. Usage never passes the limit, and is charged in
		// batches of pages, hence the slack.
		failures, _ := readInt(filepath.Join(dir, "memory.failcnt"))
		swapFailures, _ := readInt(filepath.Join(dir, "memory.memsw.failcnt"))
		u.limitReached = failures > 0 || swapFailures > 0 ||
			t.memoryLimit > 0 && peak >= t.memoryLimit-limitSlack
	}
	return u
}

func hasKey(m map[string]int64, key string) bool {
	_, ok := m[key]
	return ok
}

// readCPUAcct reads a v1 cpuacct cgroup's user and system time:
// cpuacct.usage_user and usage_sys in nanoseconds (Linux 4.7), else
// cpuacct.stat in clock ticks, which this interface fixes at 100 a second.
func readCPUAcct(dir string) (user, sys time.Duration, ok bool) {
	u, errU := readInt(filepath.Join(dir, "cpuacct.usage_user"))
	s, errS := readInt(filepath.Join(dir, "cpuacct.usage_sys"))
	if errU == nil && errS == nil {
		return time.Duration(u), time.Duration(s), true
	}
	stat, err := readKeyed(filepath.Join(dir, "cpuacct.stat"))
	if err != nil {
		return 0, 0, false
	}
	const tick = 10 * time.Millisecond
	return time.Duration(stat["user"]) * tick, time.Duration(stat["system"]) * tick, true
}

func (t *cgroupTree) mode() string {
	var parts []string
	if t.v2 != nil {
		features := []string{"cpu"}
		if t.v2.memory {
			features = append(features, "memory")
		}
		features = append(features, "kill")
		if t.v2.pressure {
			features = append(features, "pressure")
		}
		if t.cpusV2 {
			features = append(features, "cpuset")
		}
		parts = append(parts, describeCgroup("cgroup v2", features))
	}
	var v1 []string
	if t.cpuacctV1 != nil {
		v1 = append(v1, "cpu")
	}
	if t.memoryV1 != nil {
		v1 = append(v1, "memory")
	}
	if t.cpusetV1 != nil {
		v1 = append(v1, "cpuset")
	}
	if t.v2 == nil {
		v1 = append(v1, "kill")
	}
	if len(v1) > 0 {
		parts = append(parts, describeCgroup("cgroup v1", v1))
	}
	mode := strings.Join(parts, " + ")
	var missing []string
	if t.v2 == nil && t.cpuacctV1 == nil {
		missing = append(missing, "CPU of orphaned descendants not measured")
	}
	if !t.hasMemory() {
		missing = append(missing, "no memory controller: tree peak memory sampled, no memory limit")
	}
	if len(missing) > 0 {
		mode += " (" + strings.Join(missing, "; ") + ")"
	}
	return mode
}

// describeCgroup writes "cgroup v1 memory" for one feature and
// "cgroup v2 (cpu, kill)" for several.
func describeCgroup(name string, features []string) string {
	if len(features) == 1 {
		return name + " " + features[0]
	}
	return name + " (" + strings.Join(features, ", ") + ")"
}

// release removes the run's cgroups. Run has waited for the tree to be
// gone; a cgroup that cannot be removed now is left for the sweep of a
// later sxbisect.
func (t *cgroupTree) release() {
	if t.peak != nil {
		t.peak.finish()
	}
	if t.v2 != nil {
		t.v2.fd.Close()
		_ = removeCgroup(t.v2.dir)
	}
	for _, r := range t.v1Runs() {
		_ = removeCgroup(r.dir)
	}
}
