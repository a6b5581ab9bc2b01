package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Started names the process tree of a run while it runs, so that a caller
// can write it down durably and, should sxbisect itself be killed with
// SIGKILL in the middle, kill what is left of the tree later with
// KillLeftovers. A tree left running would go on past its own timeout and
// share the worktree with the same test started again by a resumed
// session.
type Started struct {
	// PID is the main process, the leader of the tree's process group; 0
	// when the hook is told before the fork (see WithStartHook).
	PID int `json:"pid"`
	// StartTicks is the main process's start time in clock ticks since
	// boot (/proc/PID/stat), which tells it apart from a later process
	// that got the same id.
	StartTicks uint64 `json:"start_ticks"`
	// BootID is the kernel's boot id: after a reboot nothing is left.
	BootID string `json:"boot_id"`
	// Cgroups are the run's cgroup directories, which hold every process
	// of the tree whatever it did (setsid, double fork); none without
	// cgroups.
	Cgroups []string `json:"cgroups,omitempty"`
}

type startHookKey struct{}

// WithStartHook returns a context whose runs call hook once their main
// process has started, before waiting for it. Predicates start their runs
// with the context they are given, so whoever calls a predicate learns of
// every process tree it starts, without the predicate knowing.
//
// A run in cgroups calls hook a first time before the fork, with its
// cgroups and no PID: its processes are in them from their first
// instruction, and a caller killed right after the fork, before it could
// write down the process, has already written down where it is (a test
// that ran for a few milliseconds longer than its coordinator was seen
// left running for its whole length).
func WithStartHook(ctx context.Context, hook func(Started)) context.Context {
	return context.WithValue(ctx, startHookKey{}, hook)
}

// announceCgroups tells the context's hook, if any, of a run's cgroups
// before its main process starts (see WithStartHook).
func announceCgroups(ctx context.Context, box container) {
	hook, _ := ctx.Value(startHookKey{}).(func(Started))
	t, ok := box.(*cgroupTree)
	if hook == nil || !ok {
		return
	}
	if dirs := t.dirs(); len(dirs) > 0 {
		hook(Started{BootID: bootID(), Cgroups: dirs})
	}
}

// announceStart tells the context's hook, if any, that a run started.
func announceStart(ctx context.Context, pid int, box container) {
	hook, _ := ctx.Value(startHookKey{}).(func(Started))
	if hook == nil {
		return
	}
	s := Started{PID: pid, BootID: bootID()}
	s.StartTicks, _ = processStartTicks(pid)
	if t, ok := box.(*cgroupTree); ok {
		s.Cgroups = t.dirs()
	}
	hook(s)
}

// dirs are the tree's cgroup directories.
func (t *cgroupTree) dirs() []string {
	var out []string
	if t.v2 != nil {
		out = append(out, t.v2.dir)
	}
	for _, r := range t.v1Runs() {
		out = append(out, r.dir)
	}
	return out
}

// KillLeftovers kills whatever is left of the run s names, and returns how
// many processes it signalled. Its cgroups are emptied (cgroup.kill, else
// SIGKILL to each member until none is left) and removed; without them,
// the process group is killed, but only while its members are provably of
// that run: started no earlier than its main process, in the same boot.
// Nothing is left of a run after a reboot, and a run whose tree is gone
// is not an error.
func KillLeftovers(s Started) (int, error) {
	if s.BootID != "" && s.BootID != bootID() {
		return 0, nil
	}
	killed := 0
	var errs []string
	for _, dir := range s.Cgroups {
		n, err := emptyCgroup(dir)
		killed += n
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(s.Cgroups) == 0 && s.PID > 0 {
		killed += killGroupOf(s)
	}
	if len(errs) > 0 {
		return killed, fmt.Errorf("killing what is left of process %d: %s", s.PID, strings.Join(errs, "; "))
	}
	return killed, nil
}

// emptyCgroup kills every process of a run's cgroup and removes it.
func emptyCgroup(dir string) (int, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	killed := 0
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := readPids(filepath.Join(dir, "cgroup.procs"))
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return killed, fmt.Errorf("cgroup %s still holds %d processes", dir, len(pids))
		}
		if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) != nil {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		killed = max(killed, len(pids))
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return killed, err
	}
	return killed, nil
}

// killGroupOf kills the members of s's process group that started no
// earlier than its main process did: a process id and a group id are
// reused, but not with an earlier start time in the same boot.
func killGroupOf(s Started) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := readProcStat(pid)
		// A zombie is dead already; it waits for its parent.
		if !ok || st.pgrp != s.PID || st.start < s.StartTicks || st.state == "Z" {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed
}

// processStartTicks reads a process's start time, in clock ticks since
// boot.
func processStartTicks(pid int) (uint64, bool) {
	st, ok := readProcStat(pid)
	return st.start, ok
}

// procStat is what leftovers need of /proc/PID/stat.
type procStat struct {
	state string // "R", "S", "Z", ...
	pgrp  int
	start uint64 // clock ticks since boot
}

// readProcStat reads /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so the fields are counted after its last ')'.
func readProcStat(pid int) (procStat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	// After ") ": state(3) ppid(4) pgrp(5) ... starttime(22).
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return procStat{}, false
	}
	pgrp, err1 := strconv.Atoi(fields[2])
	start, err2 := strconv.ParseUint(fields[19], 10, 64)
	return procStat{state: fields[0], pgrp: pgrp, start: start}, err1 == nil && err2 == nil
}

// bootID is the kernel's id of this boot, "" where it cannot be read.
func bootID() string {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
