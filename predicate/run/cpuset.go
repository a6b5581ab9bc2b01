package run

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoCPUSet is returned (wrapped) when Spec.CPUs is set and no cpuset
// cgroup can confine the tree to them. The error says why, and what the
// user can do about it on this machine (see cpusetWayOut).
var ErrNoCPUSet = errors.New("no writable cpuset cgroup to give runs cores of their own")

func cpuSetError(why string) error {
	return fmt.Errorf("run: %w (%s)", ErrNoCPUSet, why)
}

// cpusetWayOut says what gives sxbisect a cpuset on the machine that hs
// describes, "" when nothing would.
//
// In cgroup v2 sxbisect needs a cgroup of its own (one that holds no other
// processes) whose cgroup.controllers lists cpuset: systemd-run --scope
// -p Delegate=yes makes one. systemd's user@.service delegates only pids,
// memory and cpu to a user's systemd, so for a user that is enough only
// once an administrator has added cpuset to the delegation.
func cpusetWayOut(hs hierarchies) string {
	if hs.v2 == nil || !hasWord(filepath.Join(hs.v2.mount, "cgroup.controllers"), "cpuset") {
		if hs.cpusetV1 != nil && hs.euid != 0 {
			return "run sxbisect as root, which may write cgroup v1's cpuset hierarchy"
		}
		return ""
	}
	if hs.euid == 0 {
		if hs.systemd {
			return "run sxbisect under systemd-run --scope -p Delegate=yes, which gives it a cgroup of its own with the cpuset controller"
		}
		return "run sxbisect alone in a cgroup of its own, whose parent has cpuset in cgroup.subtree_control"
	}
	manager := ""
	if hs.systemd && hs.v2.mountRoot == "/" {
		manager = filepath.Join(hs.v2.mount, "user.slice", fmt.Sprintf("user-%d.slice", hs.euid), fmt.Sprintf("user@%d.service", hs.euid))
	}
	switch {
	case manager == "" || !fileExists(manager):
		return "run sxbisect as root, or alone in a cgroup delegated to you with the cpuset controller"
	case !hasWord(filepath.Join(manager, "cgroup.controllers"), "cpuset"):
		return fmt.Sprintf("systemd does not delegate cpuset to user@%d.service (its default is Delegate=pids memory cpu): "+
			"an administrator can add it (a file /etc/systemd/system/user@.service.d/cpuset.conf with [Service] and Delegate=pids memory cpu cpuset, "+
			"systemctl daemon-reload, a new login), then run sxbisect under systemd-run --user --scope -p Delegate=yes; or run sxbisect as root", hs.euid)
	default:
		return "run sxbisect under systemd-run --user --scope -p Delegate=yes, which gives it a cgroup of its own with the cpuset controller"
	}
}

type cpusKey struct{}

// WithCPUs returns a context whose runs are confined to cpus unless their
// Spec says otherwise (see Spec.CPUs). Predicates start their runs with
// the context they are given, so whoever calls a predicate chooses the
// cores of every run it starts, without the predicate knowing.
func WithCPUs(ctx context.Context, cpus []int) context.Context {
	return context.WithValue(ctx, cpusKey{}, slices.Clone(cpus))
}

// cpusFrom returns the cores WithCPUs put in ctx, nil for none.
func cpusFrom(ctx context.Context) []int {
	cpus, _ := ctx.Value(cpusKey{}).([]int)
	return cpus
}

// AllowedCPUs returns the cores this process may run on (its affinity,
// which its own cpuset bounds), in order.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("run: reading this process's cores: %w", err)
	}
	return cpusOf(&set), nil
}

func cpusOf(set *unix.CPUSet) []int {
	var cpus []int
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}

// CheckCPUSet reports whether runs can be confined to cpus here: it makes
// the cgroups of a run on them, starts a process in them and removes them
// again. The error wraps ErrNoCPUSet, with the reason, when no cpuset
// cgroup can be had.
func CheckCPUSet(cpus []int) error {
	box, err := newContainer(Spec{CPUs: cpus})
	if err != nil {
		return err
	}
	defer box.release()
	return startsAProcess(box)
}

// startsAProcess starts a process that exits at once in box and waits
// for it. A cgroup can be made where no process can be put: clone3 may be
// refused (a seccomp filter, as in containers), or the cgroup not be a
// valid domain. Every run would then fail, so the check must start one.
func startsAProcess(box container) error {
	cmd, err := box.start(func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "exit 0") })
	if err != nil {
		if errors.Is(err, ErrNoCPUSet) {
			return err
		}
		return cpuSetError("starting a process on the cores failed: " + err.Error())
	}
	err = cmd.Wait()
	box.signal(syscall.SIGKILL)
	box.account()
	if err != nil {
		return cpuSetError("a process on the cores failed: " + err.Error())
	}
	return nil
}

// FormatCPUs writes cores as the kernel lists them: "0-3,6".
func FormatCPUs(cpus []int) string {
	sorted := slices.Clone(cpus)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var parts []string
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(sorted[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", sorted[i], sorted[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// ParseCPUs reads a list of cores as the kernel writes it ("0-3,6", as in
// cpuset.cpus and /proc/self/status); the result is in order, without
// repeats. Blank text is no cores.
func ParseCPUs(list string) ([]int, error) {
	var cpus []int
	list = strings.TrimSpace(list)
	if list == "" {
		return nil, nil
	}
	for _, part := range strings.Split(list, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(part), "-")
		lo, err := strconv.Atoi(from)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(to)
		}
		if err != nil || lo < 0 || hi < lo {
			return nil, fmt.Errorf("%q is not a list of cores: write it as in 0-3,6", list)
		}
		for cpu := lo; cpu <= hi; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// checkCPUs makes sure that the tree may run on cpus: each is one this
// process may run on, since a cpuset cannot hand out others.
func checkCPUs(cpus []int) error {
	allowed, err := AllowedCPUs()
	if err != nil {
		return err
	}
	for _, cpu := range cpus {
		if !slices.Contains(allowed, cpu) {
			return fmt.Errorf("run: core %d is not one this process may run on (%s)", cpu, FormatCPUs(allowed))
		}
	}
	return nil
}

// confineV2 confines the v2 run cgroup r to cpus: the cpuset controller
// is enabled in its parent when that is sxbisect's own cgroup; in one the
// memory controller led to (see newV2Run) it must be enabled already.
// cpuset.mems is left empty, which means the parent's.
func confineV2(r *v2Run, cpus []int) error {
	dir := r.dir
	parent := filepath.Dir(dir)
	if !r.ownsParent {
		if !hasWord(filepath.Join(parent, "cgroup.subtree_control"), "cpuset") {
			return fmt.Errorf("the run's cgroup is in %s, which is not sxbisect's and does not have the cpuset controller enabled for its children", parent)
		}
	} else if why := enableControllerV2(parent, "cpuset", !fileExists(filepath.Join(parent, "cgroup.type"))); why != "" {
		return errors.New(why)
	}
	want := FormatCPUs(cpus)
	if err := writeFile(filepath.Join(dir, "cpuset.cpus"), want); err != nil {
		return fmt.Errorf("cannot set cpuset.cpus of %s to %s: %w", dir, want, err)
	}
	// A core the parent lacks is dropped silently in v2, and none left
	// means the parent's: only the effective list says what holds.
	got, err := readCPUs(filepath.Join(dir, "cpuset.cpus.effective"))
	if err != nil {
		return err
	}
	if FormatCPUs(got) != want {
		return fmt.Errorf("%s has cores %s, not %s, since its parent lacks some", dir, FormatCPUs(got), want)
	}
	return nil
}

// newCPUSetV1 creates the run's cgroup in cgroup v1's cpuset hierarchy h,
// on cpus and the memory nodes of its parent: a v1 cpuset takes no process
// before both are set.
func newCPUSetV1(h *hierarchy, cpus []int) (*v1Run, error) {
	r, err := newV1Run(h, "cpuset")
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(r.dir)
	mems, err := readFileTrimmed(filepath.Join(parent, "cpuset.effective_mems"))
	if err != nil || mems == "" {
		mems, err = readFileTrimmed(filepath.Join(parent, "cpuset.mems"))
	}
	if err == nil {
		err = writeFile(filepath.Join(r.dir, "cpuset.mems"), mems)
	}
	want := FormatCPUs(cpus)
	if err == nil {
		if err = writeFile(filepath.Join(r.dir, "cpuset.cpus"), want); err != nil {
			err = fmt.Errorf("cannot set cpuset.cpus of %s to %s: %w", r.dir, want, err)
		}
	}
	if err != nil {
		_ = removeCgroup(r.dir)
		return nil, err
	}
	return r, nil
}

func readCPUs(file string) ([]int, error) {
	text, err := readFileTrimmed(file)
	if err != nil {
		return nil, err
	}
	return ParseCPUs(text)
}

// onCPUs puts the calling thread, which must be locked to its goroutine,
// on cpus, and returns the affinity to restore afterwards.
func onCPUs(cpus []int) (*unix.CPUSet, error) {
	var saved, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil {
		return nil, err
	}
	for _, cpu := range cpus {
		set.Set(cpu)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("cannot run on cores %s: %w", FormatCPUs(cpus), err)
	}
	return &saved, nil
}

// restoreCPUs gives the calling thread its affinity back; nil does nothing.
func restoreCPUs(saved *unix.CPUSet) error {
	if saved == nil {
		return nil
	}
	return unix.SchedSetaffinity(0, saved)
}
