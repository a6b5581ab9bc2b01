package run

import (
	"os"
	"os/exec"
	"syscall"
)

// container is where the process tree of one run lives. It decides how the
// main process is started, reaches every process of the tree at once, and
// may know more than wait4 about what the tree used. A process group is
// the plain container; a cgroup (which sees processes that left the group
// and counts the CPU and memory of children nobody waited for) fits the
// same methods without changing Run.
type container interface {
	// prepare sets up cmd before it is started (cmd.SysProcAttr).
	prepare(cmd *exec.Cmd) error
	// started is told the main process once it runs.
	started(p *os.Process)
	// signal sends sig to every process still in the container; a
	// container that is already empty is not an error.
	signal(sig syscall.Signal)
	// account revises m, already filled from wait4, with what the
	// container measured of the whole tree, after the tree is gone.
	account(m *Measurement)
	// release frees what the container holds, after the run.
	release()
}

// newContainer chooses the container for s. Only process groups exist yet.
func newContainer(Spec) (container, error) {
	return &processGroup{}, nil
}

// processGroup puts the main process at the head of a new process group.
// The group is the unit that timeouts and cleanup kill; it also keeps the
// tree out of the terminal's foreground group, so a Ctrl-C reaches only
// sxbisect, which then tears the tree down in order (SIGTERM, grace,
// SIGKILL) instead of the tree dying halfway through a write.
//
// Its limits: a process that calls setsid or setpgid leaves the group and
// escapes both signals and cleanup, and wait4 only counts descendants that
// were waited for.
type processGroup struct {
	pgid int
}

func (g *processGroup) prepare(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	return nil
}

func (g *processGroup) started(p *os.Process) { g.pgid = p.Pid }

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

func (g *processGroup) account(*Measurement) {}

func (g *processGroup) release() {}
