package run

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoCPUSet is returned (wrapped) when Spec.CPUs is set and no cpuset
// cgroup can confine the tree to them.
var ErrNoCPUSet = errors.New("no writable cpuset cgroup to give runs cores of their own: run as root, or under systemd-run --user --scope -p Delegate=yes with the cpuset controller")

func cpuSetError(why string) error {
	return fmt.Errorf("run: %w (%s)", ErrNoCPUSet, why)
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
// the cgroups of a run on them and removes them again. The error wraps
// ErrNoCPUSet, with the reason, when no cpuset cgroup can be had.
func CheckCPUSet(cpus []int) error {
	box, err := newContainer(Spec{CPUs: cpus})
	if err != nil {
		return err
	}
	box.release()
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

// confineV2 confines the v2 run cgroup dir to cpus: the cpuset controller
// is enabled in its parent, which is sxbisect's own cgroup or the one the
// memory controller led to (see newV2Run), and cpuset.mems is left empty,
// which means the parent's.
func confineV2(dir string, cpus []int) error {
	parent := filepath.Dir(dir)
	isRoot := !fileExists(filepath.Join(parent, "cgroup.type"))
	if why := enableControllerV2(parent, "cpuset", isRoot); why != "" {
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
