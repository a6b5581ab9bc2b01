package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCPUListsReadAndWrittenAsTheKernelDoes(t *testing.T) {
	t.Parallel()
	for text, want := range map[string][]int{
		"":            nil,
		"0":           {0},
		"0-3,6\n":     {0, 1, 2, 3, 6},
		" 5,1-2,2,7 ": {1, 2, 5, 7},
	} {
		got, err := ParseCPUs(text)
		require.NoError(t, err, text)
		assert.Equal(t, want, got, text)
	}
	for _, bad := range []string{"a", "3-1", "-1", "1,,2", "0-"} {
		_, err := ParseCPUs(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "0-3,6,8-9", FormatCPUs([]int{9, 0, 1, 2, 3, 6, 8, 2}))
	assert.Equal(t, "", FormatCPUs(nil))
}

// cpuSetModes are the cgroup modes that can confine a run to cpus here;
// a mode that cannot is skipped with the reason.
func cpuSetModes(t *testing.T, cpus []int) []testMode {
	t.Helper()
	if err := CheckCPUSet(cpus); err != nil {
		require.ErrorIs(t, err, ErrNoCPUSet)
		t.Skipf("no writable cpuset here, so runs take turns instead (the process-group mode): %v", err)
	}
	var modes []testMode
	for _, mode := range availableModes(t) {
		if !mode.cgroup {
			continue
		}
		s := Spec{CPUs: cpus}
		mode.apply(&s)
		box, err := newContainer(s)
		if err != nil {
			t.Logf("%s cannot confine a run to cores: %v", mode.name, err)
			continue
		}
		box.release()
		modes = append(modes, mode)
	}
	return modes
}

// The whole tree of a run given cores sees only them, a process that left
// the process group (setsid) and one that asks for every core included.
func TestRunOnCPUsConfinesTheWholeTree(t *testing.T) {
	t.Parallel()
	allowed, err := AllowedCPUs()
	require.NoError(t, err)
	targets := [][]int{{0}}
	if last := allowed[len(allowed)-1]; last != 0 {
		targets = append(targets, []int{last})
	}
	taskset := ""
	if _, err := exec.LookPath("taskset"); err == nil {
		// Fails inside the cpuset; the grep then runs where it is.
		taskset = "taskset -c " + FormatCPUs(allowed) + " "
	}
	command := `grep Cpus_allowed_list /proc/self/status > main.txt
		setsid sh -c 'grep Cpus_allowed_list /proc/self/status > escaped.tmp; mv escaped.tmp escaped.txt' &
		(` + taskset + `grep Cpus_allowed_list /proc/self/status || grep Cpus_allowed_list /proc/self/status) > asked.txt 2>/dev/null
		while [ ! -e escaped.txt ]; do sleep 0.01; done`
	for _, cpus := range targets {
		for _, mode := range cpuSetModes(t, cpus) {
			t.Run(mode.name+"-"+FormatCPUs(cpus), func(t *testing.T) {
				t.Parallel()
				m, dir, _ := runMode(t, mode, Spec{Command: command, CPUs: cpus, Timeout: 20 * time.Second})
				require.Equal(t, 0, m.ExitCode, m.Tail)
				assert.Equal(t, FormatCPUs(cpus), m.CPUs)
				assert.Contains(t, m.Mode, "cpuset")
				for _, f := range []string{"main.txt", "escaped.txt", "asked.txt"} {
					data, err := os.ReadFile(filepath.Join(dir, f))
					require.NoError(t, err)
					_, list, _ := strings.Cut(strings.TrimSpace(string(data)), ":")
					assert.Equal(t, FormatCPUs(cpus), strings.TrimSpace(list), f)
				}
			})
		}
	}
}

// Predicates do not know of cores: the context carries them to every run
// started with it, and Spec.CPUs wins over it.
func TestCPUsComeWithTheContext(t *testing.T) {
	t.Parallel()
	allowed, err := AllowedCPUs()
	require.NoError(t, err)
	cpus := allowed[len(allowed)-1:]
	cpuSetModes(t, cpus)
	ctx := WithCPUs(context.Background(), cpus)
	dir := t.TempDir()
	var started Started
	ctx = WithStartHook(ctx, func(s Started) { started = s })
	m, err := Run(ctx, Spec{Command: "grep Cpus_allowed_list /proc/self/status", Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, FormatCPUs(cpus), m.CPUs)
	assert.Contains(t, m.Tail, "\t"+FormatCPUs(cpus)+"\n")
	// The cpuset is among the run's cgroups, which are gone afterwards.
	require.NotEmpty(t, started.Cgroups)
	for _, c := range started.Cgroups {
		assert.NoDirExists(t, c)
	}

	m, err = Run(ctx, Spec{Command: "true", Dir: dir, CPUs: allowed[:1]})
	require.NoError(t, err)
	assert.Equal(t, FormatCPUs(allowed[:1]), m.CPUs)
}

// A run is not said to have cores it did not have.
func TestCPUsThatCannotBeHadAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Run(context.Background(), Spec{Command: "true", Dir: dir, CPUs: []int{0}, Containment: ContainProcessGroup})
	assert.ErrorIs(t, err, ErrNoCPUSet)
	allowed, err := AllowedCPUs()
	require.NoError(t, err)
	beyond := allowed[len(allowed)-1] + 1
	_, err = Run(context.Background(), Spec{Command: "true", Dir: dir, CPUs: []int{beyond}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not one this process may run on")
	assert.False(t, errors.Is(err, ErrNoCPUSet))
}

// Forking from a thread put on the run's cores leaves the thread as it
// was, so that the goroutines that run there later are not confined: the
// helper starts runs on one core and reports its threads' cores.
func TestStartOnCPUsLeavesTheThreadsAsTheyWere(t *testing.T) {
	t.Parallel()
	allowed, err := AllowedCPUs()
	require.NoError(t, err)
	if len(allowed) < 2 {
		t.Skip("needs two cores, to tell one from all")
	}
	one := allowed[len(allowed)-1:]
	cpuSetModes(t, one)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "threads-after-runs", FormatCPUs(one))
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	lists := strings.Fields(string(out))
	require.NotEmpty(t, lists)
	for _, list := range lists {
		assert.Equal(t, FormatCPUs(allowed), list)
	}
}

// threadsAfterRuns is the helper's threads-after-runs CPUS: it starts runs
// on CPUS and prints the cores of each of its threads, one a line.
func threadsAfterRuns(list string) int {
	cpus, err := ParseCPUs(list)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "sxbisect-threads-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for range 10 {
		if _, err := Run(context.Background(), Spec{Command: "true", Dir: dir, CPUs: cpus}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, task := range tasks {
		data, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "status"))
		if err != nil {
			continue // a thread that ended meanwhile
		}
		for _, line := range strings.Split(string(data), "\n") {
			if list, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				fmt.Println(strings.TrimSpace(list))
			}
		}
	}
	return 0
}
