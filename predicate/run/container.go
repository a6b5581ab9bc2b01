package run

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// container is where the process tree of one run lives. It starts the
// main process inside itself, reaches every process of the tree at once,
// and may know more than wait4 about what the tree used. cgroupTree is the
// container of choice; processGroup is what remains without a writable
// cgroup.
type container interface {
	// start starts the command newCmd makes inside the container. It may
	// call newCmd more than once (an exec.Cmd cannot be started twice) and
	// returns the command that runs.
	start(newCmd func() *exec.Cmd) (*exec.Cmd, error)
	// signal sends sig to every process still in the container; a
	// container that is already empty is not an error.
	signal(sig syscall.Signal)
	// account waits (briefly) for the tree to be gone after its last
	// SIGKILL and returns what the container measured of it.
	account() treeUsage
	// mode describes the container for Measurement.Mode; it is final
	// once start has returned.
	mode() string
	// release frees what the container holds, after the run.
	release()
}

// treeUsage is what a container measured of the whole tree, beyond wait4.
type treeUsage struct {
	// treeCPU is set when user and sys are the tree's.
	treeCPU   bool
	user, sys time.Duration
	// peakMemory is the tree's peak in bytes, 0 when unknown; peakIsTree
	// is set when a cgroup kept it (rather than sampling). largestProcess
	// is the largest high-water mark of a process seen by sampling.
	peakMemory     int64
	peakIsTree     bool
	largestProcess int64
	// oomKills counts the tree's processes killed by an OOM killer;
	// oomKillsKnown is false on kernels that do not count them.
	oomKills      int64
	oomKillsKnown bool
	// limitReached is set when the tree reached its memory limit.
	limitReached bool
	// pressureStall is the time some process of the tree waited for a CPU,
	// when pressureKnown.
	pressureKnown bool
	pressureStall time.Duration
}

// Containment chooses how a run is contained and measured.
type Containment int

const (
	// ContainBest uses the best the machine offers: cgroups where they can
	// be created (v2, v1, or v2 with v1 memory), else a process group.
	ContainBest Containment = iota
	// ContainProcessGroup uses a process group even where cgroups could be
	// had, as on a machine without them. A MemoryLimit is then refused.
	ContainProcessGroup
)

// newContainer chooses the container for s and sets it up, creating and
// limiting its cgroups.
func newContainer(s Spec) (container, error) {
	if s.MemoryLimit < 0 {
		return nil, fmt.Errorf("run: negative memory limit %d", s.MemoryLimit)
	}
	if len(s.CPUs) > 0 {
		if err := checkCPUs(s.CPUs); err != nil {
			return nil, err
		}
	}
	if s.Containment == ContainProcessGroup {
		if s.MemoryLimit > 0 {
			return nil, memoryLimitError("process-group containment was asked for")
		}
		if len(s.CPUs) > 0 {
			return nil, cpuSetError("process-group containment was asked for")
		}
		return &processGroup{why: "cgroups not used"}, nil
	}
	tree, whyNot := newCgroupTree(s.hierarchies, s.CPUs)
	if tree == nil {
		if why, ok := strings.CutPrefix(whyNot, noCPUSet); ok || len(s.CPUs) > 0 {
			return nil, cpuSetError(why)
		}
		if s.MemoryLimit > 0 {
			return nil, memoryLimitError(whyNot)
		}
		return &processGroup{why: "no writable cgroup"}, nil
	}
	if s.MemoryLimit > 0 {
		if !tree.hasMemory() {
			tree.release()
			return nil, memoryLimitError(tree.whyNoMemory())
		}
		if err := tree.setMemoryLimit(s.MemoryLimit); err != nil {
			tree.release()
			return nil, fmt.Errorf("run: setting the memory limit: %w", err)
		}
	}
	return tree, nil
}

// ErrNoMemoryLimit is returned (wrapped) when Spec.MemoryLimit is set and
// no cgroup can enforce it.
var ErrNoMemoryLimit = errors.New("--memory-limit needs a writable cgroup with the memory controller: run as root, or under systemd-run --user --scope -p Delegate=yes")

func memoryLimitError(why string) error {
	return fmt.Errorf("run: %w (%s)", ErrNoMemoryLimit, why)
}

// processGroup puts the main process at the head of a new process group.
// The group is the unit that timeouts and cleanup kill; it also keeps the
// tree out of the terminal's foreground group, so a Ctrl-C reaches only
// sxbisect, which then tears the tree down in order (SIGTERM, grace,
// SIGKILL) instead of the tree dying halfway through a write. cgroupTree
// uses one for that last reason too.
//
// Its limits as a container: a process that calls setsid or setpgid
// leaves the group and escapes both signals and cleanup; wait4 only counts
// descendants that were waited for; and the group's memory is known only
// by sampling its members' resident sets.
type processGroup struct {
	pgid int
	// why says why there is no cgroup, for the mode.
	why  string
	peak *peakSampler
}

func (g *processGroup) prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

func (g *processGroup) start(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	cmd := newCmd()
	g.prepare(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g.pgid = cmd.Process.Pid
	pgid := g.pgid
	g.peak = startPeakSampler(groupSampleInterval, func() []int { return groupMembers(pgid) }, nil)
	return cmd, nil
}

// groupSampleInterval is how often the process group's memory is sampled;
// finding the members means reading every process's stat file, so less
// often than a cgroup's.
const groupSampleInterval = 50 * time.Millisecond

func (g *processGroup) signal(sig syscall.Signal) {
	if g.pgid <= 0 {
		return
	}
	// While any member is alive the kernel does not hand the group's id
	// out as a new pid, so the negative pid cannot reach a stranger. The
	// errors leave nothing to do: ESRCH means the group is already empty,
	// EPERM a member that changed credentials (a setuid program), which is
	// out of reach like a process that left the group.
	_ = syscall.Kill(-g.pgid, sig)
}

func (g *processGroup) account() treeUsage {
	var u treeUsage
	if g.peak != nil {
		u.peakMemory, u.largestProcess = g.peak.finish()
	}
	return u
}

func (g *processGroup) mode() string {
	return "process group (" + g.why + ": CPU of orphaned descendants not measured, tree peak memory sampled)"
}

func (g *processGroup) release() {
	if g.peak != nil {
		g.peak.finish()
	}
}
