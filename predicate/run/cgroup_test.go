package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// testMode is one way of containing a run that this machine offers.
type testMode struct {
	name  string
	apply func(*Spec)
	// cgroup is set for the cgroup modes, memory when they have a memory
	// controller.
	cgroup, memory bool
}

// availableModes lists the containments this machine can test: the process
// group always, and each cgroup variant that can be set up here.
func availableModes(t *testing.T) []testMode {
	t.Helper()
	modes := []testMode{{name: "process-group", apply: func(s *Spec) { s.Containment = ContainProcessGroup }}}
	for _, v := range []struct {
		name   string
		choice hierarchyChoice
	}{{"cgroup", anyHierarchy}, {"cgroup-v1", onlyV1}, {"cgroup-v2", onlyV2}} {
		box, err := newContainer(Spec{hierarchies: v.choice})
		require.NoError(t, err)
		tree, ok := box.(*cgroupTree)
		box.release()
		if !ok {
			continue
		}
		if v.choice == onlyV2 && tree.v2 == nil || v.choice == onlyV1 && tree.memoryV1 == nil {
			continue
		}
		choice := v.choice
		modes = append(modes, testMode{
			name:   v.name,
			apply:  func(s *Spec) { s.hierarchies = choice },
			cgroup: true,
			memory: tree.hasMemory(),
		})
	}
	return modes
}

// forEachMode runs test in parallel subtests, one per available mode.
func forEachMode(t *testing.T, test func(t *testing.T, mode testMode)) {
	t.Helper()
	for _, mode := range availableModes(t) {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			test(t, mode)
		})
	}
}

// cgroupMode returns the machine's default mode when it is a cgroup one,
// and skips the test otherwise.
func cgroupMode(t *testing.T, needMemory bool) testMode {
	t.Helper()
	var found *testMode
	for _, mode := range availableModes(t) {
		if mode.cgroup && (mode.memory || !needMemory) {
			found = &mode
			break
		}
	}
	if found == nil {
		if needMemory {
			t.Skip("no writable cgroup with the memory controller here (needs root or a delegated cgroup)")
		}
		t.Skip("no writable cgroup here (needs root or a delegated cgroup)")
	}
	return *found
}

func runMode(t *testing.T, mode testMode, s Spec) (Measurement, string, time.Duration) {
	t.Helper()
	mode.apply(&s)
	return runIn(t, s)
}

func TestModeOfThisMachine(t *testing.T) {
	t.Parallel()
	m, _, _ := runIn(t, Spec{Command: "true"})
	t.Logf("default mode here: %s", m.Mode)
	require.NotEmpty(t, m.Mode)
	for _, mode := range availableModes(t) {
		m, _, _ := runMode(t, mode, Spec{Command: "true"})
		t.Logf("%s: %s", mode.name, m.Mode)
		if mode.cgroup {
			assert.True(t, strings.HasPrefix(m.Mode, "cgroup v"), m.Mode)
			assert.True(t, m.TreeCPU || strings.Contains(m.Mode, "not measured"), m.Mode)
		}
	}
}

func TestOrphanCPUCountedOnlyByCgroup(t *testing.T) {
	t.Parallel()
	// The subshell starts the burner in the background and exits at once,
	// so nobody waits for the burner: its CPU never reaches wait4. The main
	// process waits for the burner's file, not for the burner.
	const burn = 400 * time.Millisecond
	command := fmt.Sprintf(`( %s & ); while [ ! -e done ]; do sleep 0.05; done`,
		helper(t, "burn", fmt.Sprint(burn.Milliseconds()), "done"))
	forEachMode(t, func(t *testing.T, mode testMode) {
		m, _, _ := runMode(t, mode, Spec{Command: command, Timeout: 20 * time.Second})
		require.Equal(t, 0, m.ExitCode, m.Tail)
		cpu := m.User + m.Sys
		if m.TreeCPU {
			// Half the burn is the line: wait4 sees next to none of it, and
			// cgroup v1's cpuacct, counted in coarser steps, has read
			// 343 ms of a 400 ms burn on a loaded machine.
			assert.GreaterOrEqual(t, cpu, burn/2, "the orphan's CPU is the tree's")
		} else {
			assert.False(t, mode.cgroup && !strings.Contains(m.Mode, "not measured"), m.Mode)
			assert.Less(t, cpu, burn/2, "wait4 does not see the orphan")
		}
	})
}

func TestPeakMemoryOfAllocatingChild(t *testing.T) {
	t.Parallel()
	command := helper(t, "alloc", "100")
	forEachMode(t, func(t *testing.T, mode testMode) {
		m, _, _ := runMode(t, mode, Spec{Command: command})
		require.Equal(t, 0, m.ExitCode, m.Tail)
		assert.GreaterOrEqual(t, m.PeakMemory, int64(100<<20))
		assert.Less(t, m.PeakMemory, int64(400<<20))
	})
}

// The kernel counts in a child's rusage the high-water mark of the memory
// it had before its exec: for a child of a Go program, the program's own.
// Peak memory must be the tree's, not sxbisect's. The runs are made by a
// helper process with 200 MiB of ballast, so that this one's high-water
// mark stays as it was for the other tests.
func TestPeakMemoryIsTheTreesNotOurs(t *testing.T) {
	t.Parallel()
	// 30 MiB held for a while, so that sampling sees it.
	hold := fmt.Sprintf("%s & sleep 0.3; touch await; wait", helper(t, "alloc", "30", "ready", "await"))
	forEachMode(t, func(t *testing.T, mode testMode) {
		measure := func(command string) (peak, maxRSS int64) {
			out, err := exec.Command("sh", "-c", helper(t, "ballast", "200", mode.name, command)).CombinedOutput()
			require.NoError(t, err, "%s", out)
			var exit int
			_, err = fmt.Sscanf(string(out), "peak %d max_rss %d exit %d", &peak, &maxRSS, &exit)
			require.NoError(t, err, "%s", out)
			require.Zero(t, exit, "%s", out)
			return peak, maxRSS
		}
		peak, maxRSS := measure("true")
		assert.Less(t, peak, int64(50<<20), "sh -c true")
		assert.Less(t, maxRSS, int64(50<<20), "sh -c true")
		peak, maxRSS = measure(hold)
		assert.GreaterOrEqual(t, peak, int64(30<<20))
		assert.Less(t, peak, int64(120<<20))
		assert.GreaterOrEqual(t, maxRSS, int64(30<<20))
		assert.Less(t, maxRSS, int64(120<<20))
	})
}

func TestPeakMemoryOfGrandchildren(t *testing.T) {
	t.Parallel()
	// Two children of 60 MiB, each holding its memory until the other has
	// allocated too: the tree's peak is both, more than the largest
	// process's.
	command := fmt.Sprintf("%s & %s & wait",
		helper(t, "alloc", "60", "a", "b"), helper(t, "alloc", "60", "b", "a"))
	mode := cgroupMode(t, true)
	m, _, _ := runMode(t, mode, Spec{Command: command, Timeout: 20 * time.Second})
	require.Equal(t, 0, m.ExitCode, m.Tail)
	assert.GreaterOrEqual(t, m.PeakMemory, int64(120<<20))
	assert.Greater(t, m.PeakMemory, m.MaxRSS+50<<20)
}

func TestMemoryLimitKillsInsideOurCgroup(t *testing.T) {
	t.Parallel()
	command := helper(t, "alloc", "200")
	for _, mode := range availableModes(t) {
		if !mode.memory {
			continue
		}
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			m, _, _ := runMode(t, mode, Spec{Command: command, MemoryLimit: 50 << 20})
			assert.True(t, m.ExitCode == 137 || m.Signal == "SIGKILL", "exit %d signal %q", m.ExitCode, m.Signal)
			assert.True(t, m.OOMKilled, "killed by our limit")
			assert.False(t, m.MachineOOM, "our limit, not the machine")
			// The kernel lets a task it is killing charge a little past
			// the limit, so that it can exit.
			assert.LessOrEqual(t, m.PeakMemory, int64(50<<20)+limitSlack)
			assert.NotContains(t, m.Tail, "allocated")
		})
	}
	cgroupMode(t, true) // says why nothing ran
}

func TestMemoryLimitNotReachedIsNoOOM(t *testing.T) {
	t.Parallel()
	mode := cgroupMode(t, true)
	m, _, _ := runMode(t, mode, Spec{Command: helper(t, "alloc", "10"), MemoryLimit: 200 << 20})
	require.Equal(t, 0, m.ExitCode, m.Tail)
	assert.False(t, m.OOMKilled)
	assert.GreaterOrEqual(t, m.PeakMemory, int64(10<<20))
}

func TestTimeoutKillsProcessThatCalledSetsid(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid command")
	}
	mode := cgroupMode(t, false)
	// The escapee closes the output, so only the kill can end it.
	m, dir, took := runMode(t, mode, Spec{
		Command: `setsid sh -c 'echo $$ > escaped.pid; exec sleep 30' >/dev/null 2>&1 &
			while [ ! -s escaped.pid ]; do sleep 0.01; done; sleep 30`,
		Timeout: 300 * time.Millisecond,
	})
	escaped := readPid(t, dir, "escaped.pid")
	t.Cleanup(func() { _ = syscallKill(escaped) })
	assert.True(t, m.TimedOut)
	assert.Less(t, took, 2*time.Second)
	requireDead(t, escaped)
}

func TestProcessThatCalledSetsidKilledAfterCleanExit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid command")
	}
	mode := cgroupMode(t, false)
	// Unlike in a process group, the escapee holding the output dies with
	// the tree, so the drain does not wait for it.
	m, dir, took := runMode(t, mode, Spec{Command: `setsid sh -c 'echo $$ > escaped.pid; exec sleep 30' &
		while [ ! -s escaped.pid ]; do sleep 0.01; done; echo hi`})
	escaped := readPid(t, dir, "escaped.pid")
	t.Cleanup(func() { _ = syscallKill(escaped) })
	assert.Equal(t, "hi\n", m.Tail)
	assert.Less(t, took, drainTimeout)
	requireDead(t, escaped)
}

func TestProcessGroupModeSaysWhatIsNotMeasured(t *testing.T) {
	t.Parallel()
	m, _, _ := runIn(t, Spec{Command: "true", Containment: ContainProcessGroup})
	assert.True(t, strings.HasPrefix(m.Mode, "process group ("), m.Mode)
	assert.Contains(t, m.Mode, "CPU of orphaned descendants not measured")
	assert.Contains(t, m.Mode, "peak memory")
	assert.False(t, m.TreeCPU)
}

func TestMemoryLimitRefusedWithoutCgroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Run(context.Background(), Spec{
		Command:     "touch ran",
		Dir:         dir,
		MemoryLimit: 50 << 20,
		Containment: ContainProcessGroup,
	})
	require.ErrorIs(t, err, ErrNoMemoryLimit)
	assert.Contains(t, err.Error(), "--memory-limit needs a writable cgroup")
	assert.Contains(t, err.Error(), "systemd-run --user --scope -p Delegate=yes")
	assert.NoFileExists(t, filepath.Join(dir, "ran"))

	_, err = Run(context.Background(), Spec{Command: "true", Dir: dir, MemoryLimit: -1})
	require.Error(t, err)
}

// runCgroupDirs returns the directories of the sxbisect cgroups that a
// process of a run listed in its /proc/self/cgroup (given as text).
func runCgroupDirs(t *testing.T, membership string) []string {
	t.Helper()
	hs, err := readHierarchies()
	require.NoError(t, err)
	var dirs []string
	for _, line := range strings.Split(membership, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], runCgroupPrefix) {
			continue
		}
		var h *hierarchy
		switch {
		case parts[0] == "0" && parts[1] == "":
			h = hs.v2
		case hasController(parts[1], "memory"):
			h = hs.memoryV1
		case hasController(parts[1], "cpuacct"):
			h = hs.cpuacctV1
		}
		if h != nil {
			dirs = append(dirs, h.dirOf(parts[2]))
		}
	}
	return dirs
}

func TestRunIsInItsCgroupsAndTheyAreRemoved(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode testMode) {
		if !mode.cgroup {
			t.Skip("no cgroups in this mode")
		}
		m, _, _ := runMode(t, mode, Spec{Command: "cat /proc/self/cgroup", Timeout: 5 * time.Second})
		require.Equal(t, 0, m.ExitCode, m.Tail)
		dirs := runCgroupDirs(t, m.Tail)
		t.Logf("%s: %v", m.Mode, dirs)
		// One cgroup in v2, one in each v1 controller's hierarchy.
		wantDirs := 0
		for _, part := range []string{"cgroup v2", "cgroup v1 memory", "cgroup v1 (memory", "cgroup v1 (cpu"} {
			if strings.Contains(m.Mode, part) {
				wantDirs++
			}
		}
		if strings.Contains(m.Mode, "cgroup v1 (cpu, memory") {
			wantDirs++
		}
		assert.Len(t, dirs, wantDirs, "the child was started in every cgroup of the run:\n%s", m.Tail)
		for _, dir := range dirs {
			assert.NoDirExists(t, dir)
		}
	})
}

func TestStaleCgroupsAreSwept(t *testing.T) {
	mode := cgroupMode(t, false)
	// Where the run cgroups go, learnt from a run.
	m, _, _ := runMode(t, mode, Spec{Command: "cat /proc/self/cgroup"})
	dirs := runCgroupDirs(t, m.Tail)
	require.NotEmpty(t, dirs)

	// A pid that is surely dead: a process that was waited for.
	exited := exec.Command("true")
	require.NoError(t, exited.Run())
	dead := exited.Process.Pid
	sleeper := exec.Command("sleep", "30")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	})
	var stale, alive []string
	for _, dir := range dirs {
		base := filepath.Dir(dir)
		for _, name := range []string{fmt.Sprintf("sxbisect-%d-1", dead), fmt.Sprintf("sxbisect-%d", dead)} {
			require.NoError(t, os.Mkdir(filepath.Join(base, name), 0o755))
			stale = append(stale, filepath.Join(base, name))
		}
		// A process that lives: its cgroup stays.
		live := filepath.Join(base, fmt.Sprintf("sxbisect-%d-1", sleeper.Process.Pid))
		require.NoError(t, os.Mkdir(live, 0o755))
		t.Cleanup(func() { _ = os.Remove(live) })
		alive = append(alive, live)
	}
	t.Cleanup(func() {
		for _, dir := range stale {
			_ = os.Remove(dir)
		}
	})
	runMode(t, mode, Spec{Command: "true"})
	for _, dir := range stale {
		assert.NoDirExists(t, dir)
	}
	for _, dir := range alive {
		assert.DirExists(t, dir)
	}
}

func TestLoadAndPressure(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		m, _, _ := runMode(t, mode, Spec{Command: "sleep 0.1"})
		assert.GreaterOrEqual(t, m.LoadBefore, 0.0)
		assert.GreaterOrEqual(t, m.LoadAfter, 0.0)
		if m.CPUPressure != -1 {
			assert.GreaterOrEqual(t, m.CPUPressure, 0.0)
			assert.LessOrEqual(t, m.CPUPressure, 1.0)
		}
		if strings.Contains(m.Mode, "pressure") {
			assert.NotEqual(t, -1.0, m.CPUPressure)
		}
		t.Logf("%s: load %.2f→%.2f, pressure %.3f", mode.name, m.LoadBefore, m.LoadAfter, m.CPUPressure)
	})
}

func TestOnOutputGetsLinesInOrder(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		var lines []string
		m, _, _ := runMode(t, mode, Spec{
			Command: `seq 1 5000; printf 'x\n\ny\nno newline'`,
			OnOutput: func(block []byte, skipped int64) {
				assert.Zero(t, skipped)
				lines = append(lines, splitLines(block)...)
			},
		})
		require.Equal(t, 0, m.ExitCode)
		assert.Zero(t, m.Unwatched)
		require.Len(t, lines, 5004)
		for i := range 5000 {
			require.Equal(t, fmt.Sprint(i+1), lines[i])
		}
		assert.Equal(t, []string{"x", "", "y", "no newline"}, lines[5000:])
	})
}

// splitLines cuts a block of OnOutput into its lines.
func splitLines(block []byte) []string {
	if len(block) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(block), "\n"), "\n")
}

// watchChunks offers chunks to an outputWatcher as the copying goroutine
// does, and returns the lines OnOutput got and the bytes it was told it
// missed.
func watchChunks(chunks ...string) (lines []string, skipped int64) {
	w := newOutputWatcher(func(block []byte, n int64) {
		lines = append(lines, splitLines(block)...)
		skipped += n
	})
	for _, c := range chunks {
		w.offer([]byte(c))
	}
	w.finish()
	return lines, skipped
}

func TestOutputWatcherCutsWholeLines(t *testing.T) {
	t.Parallel()
	lines, skipped := watchChunks()
	assert.Nil(t, lines)
	assert.Zero(t, skipped)
	lines, _ = watchChunks("a", "b\nc", "d\n")
	assert.Equal(t, []string{"ab", "cd"}, lines)
	lines, _ = watchChunks("\n\n", "ta", "il")
	assert.Equal(t, []string{"", "", "tail"}, lines)
	// A line without an end is not held whole: memory stays bounded.
	long := strings.Repeat("z", 3*watchBufferSize+10)
	var chunks []string
	for rest := long + "\n"; len(rest) > 0; {
		n := min(len(rest), readSize-1)
		chunks, rest = append(chunks, rest[:n]), rest[n:]
	}
	lines, _ = watchChunks(chunks...)
	require.Greater(t, len(lines), 1)
	for _, l := range lines {
		assert.LessOrEqual(t, len(l), maxLineBytes+watchBufferSize)
	}
	assert.True(t, strings.Join(lines, "") == long, "the pieces make the line")
}

// A run that prints a line costs the watcher a small buffer, and one that
// prints much gets larger ones, up to a bound of 8 MiB in all.
func TestOutputWatcherBuffersGrowWithTheOutput(t *testing.T) {
	t.Parallel()
	var lines []string
	w := newOutputWatcher(func(block []byte, _ int64) { lines = append(lines, splitLines(block)...) })
	w.offer([]byte("ok\n"))
	assert.LessOrEqual(t, cap(w.fill), 16<<10, "a line must not cost a large buffer")
	w.finish()
	assert.Equal(t, []string{"ok"}, lines)

	var all int
	for n := range watchBuffers {
		all += watchBufferSizeOf(n)
	}
	assert.LessOrEqual(t, all, 8<<20)
	assert.Greater(t, all, 8<<20-watchBufferSize, "the bound is about 8 MiB")
	assert.Equal(t, watchBufferSize, watchBufferSizeOf(watchBuffers-1))
	assert.Equal(t, watchBufferSize, watchBufferSizeOf(1000), "no overflow")
}

// A watcher that falls behind misses output, is told how much, and gets
// only whole lines after the gap; the copying goroutine never waits.
func TestOutputWatcherDropsWhatItCannotKeepUpWith(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var lines []string
	var skipped int64
	w := newOutputWatcher(func(block []byte, n int64) {
		<-release
		lines = append(lines, splitLines(block)...)
		skipped += n
	})
	// Reads of 4 lines of 16 KiB, three times as many as the buffers hold:
	// the watcher is stuck on the first block all along.
	line := strings.Repeat("x", 16<<10-1) + "\n"
	chunk := strings.Repeat(line, 4)
	var total int64
	for range 3 * watchBuffers * watchBufferSize / len(chunk) {
		w.offer([]byte(chunk))
		total += int64(len(chunk))
	}
	close(release)
	// Once the watcher has caught up, what comes is seen again: a drop of
	// whole lines cuts none.
	for len(w.free) < w.made {
		time.Sleep(time.Millisecond)
	}
	w.offer([]byte("partial"))
	w.offer([]byte(" end\nlast"))
	total += int64(len("partial end\nlast"))
	w.finish()
	assert.Equal(t, w.unwatched, skipped)
	assert.Greater(t, skipped, int64(watchBuffers*watchBufferSize))
	var seen int64
	for _, l := range lines {
		if l != "last" && l != "partial end" {
			require.Equal(t, len(line)-1, len(l), "only whole lines")
		}
		seen += int64(len(l)) + 1
	}
	assert.Equal(t, total+1, seen+skipped, "every byte is seen or counted missed (+1: the last line has no newline)")
	assert.Equal(t, []string{"partial end", "last"}, lines[len(lines)-2:])
}

// The test writes at full speed whatever the watcher does: a watcher that
// waits until the test has finished does not hold the test up, it only
// misses output.
func TestTheTestNeverWaitsForOnOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	var blocks int
	var skipped int64
	m, _, _ := runIn(t, Spec{
		Dir:     dir,
		Command: `seq 1 3000000; touch done`,
		Timeout: time.Minute,
		OnOutput: func(block []byte, n int64) {
			if blocks == 0 {
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
					if _, err := os.Stat(done); err == nil {
						break
					}
				}
			}
			blocks++
			skipped += n
		},
	})
	require.False(t, m.TimedOut, "the test waited for OnOutput")
	require.Equal(t, 0, m.ExitCode)
	assert.FileExists(t, done)
	assert.Positive(t, m.Unwatched)
	assert.Equal(t, m.Unwatched, skipped)
}

func TestLogCapKeepsTheStartAndTheEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "test.log")
	// About 1.9 MB: "first", the numbers, "last".
	command := `echo first; seq 1 250000; echo last`
	m, _, _ := runIn(t, Spec{Dir: dir, Command: command, LogPath: logPath, LogCap: 64 << 10})
	require.Equal(t, 0, m.ExitCode)
	full := "first\n" + seqOutput(250000) + "last\n"
	got, err := os.ReadFile(logPath)
	require.NoError(t, err)
	log := string(got)
	head, rest, ok := strings.Cut(log, "\n[sxbisect: ")
	require.True(t, ok, "no note of what was dropped")
	note, tail, ok := strings.Cut(rest, "\n")
	require.True(t, ok)
	assert.Equal(t, full[:32<<10], head)
	assert.Equal(t, full[len(full)-32<<10:], tail)
	dropped := int64(len(full) - 64<<10)
	assert.Equal(t, fmt.Sprintf("%d bytes of output dropped here; the log keeps the first 32768 and the last 32768 bytes (--log-cap)]", dropped), note)
	assert.Equal(t, dropped, m.LogDropped)
	assert.Less(t, len(log), 64<<10+200)

	// The default keeps 16 MiB; a negative cap, everything.
	for _, limit := range []int64{0, -1} {
		m, _, _ = runIn(t, Spec{Dir: dir, Command: command, LogPath: logPath, LogCap: limit})
		got, err = os.ReadFile(logPath)
		require.NoError(t, err)
		assert.Equal(t, len(full), len(got), "cap %d", limit)
		assert.True(t, string(got) == full, "cap %d: the whole output", limit)
		assert.Zero(t, m.LogDropped)
	}
}

// seqOutput is what seq 1 n prints.
func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}

func TestFillFromUsageTellsOOMsApart(t *testing.T) {
	t.Parallel()
	quiet := machineSample{oomKills: 5}
	busy := machineSample{oomKills: 7}
	for _, c := range []struct {
		name              string
		usage             treeUsage
		after             machineSample
		signal            string
		ours, machineWide bool
	}{
		{"our limit", treeUsage{oomKillsKnown: true, oomKills: 1, limitReached: true}, busy, "SIGKILL", true, false},
		{"machine killed in our tree", treeUsage{oomKillsKnown: true, oomKills: 1}, busy, "SIGKILL", false, true},
		// Another cgroup's OOM (another job's limit) is not this run's.
		{"machine killed elsewhere", treeUsage{oomKillsKnown: true}, busy, "", false, false},
		{"no tree count, machine killed, run killed", treeUsage{}, busy, "SIGKILL", false, true},
		{"no tree count, machine killed, run exited", treeUsage{}, busy, "", false, false},
		{"limit reached, reclaimed", treeUsage{oomKillsKnown: true, limitReached: true}, quiet, "", false, false},
		{"old kernel, limit and SIGKILL", treeUsage{limitReached: true}, quiet, "SIGKILL", true, false},
		{"nothing", treeUsage{oomKillsKnown: true}, quiet, "", false, false},
	} {
		m := Measurement{Signal: c.signal}
		fillFromUsage(&m, c.usage, quiet, c.after)
		assert.Equal(t, c.ours, m.OOMKilled, c.name)
		assert.Equal(t, c.machineWide, m.MachineOOM, c.name)
	}
}

func TestFindHierarchies(t *testing.T) {
	t.Parallel()
	const hybridMounts = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`
	hs := findHierarchies(hybridMounts, "4:memory:/a/b\n2:cpu,cpuacct:/\n1:name=systemd:/x\n0::/u\n")
	require.NotNil(t, hs.v2)
	assert.Equal(t, "/sys/fs/cgroup/unified/u", hs.v2.ownDir())
	require.NotNil(t, hs.memoryV1)
	assert.Equal(t, "/sys/fs/cgroup/memory/a/b", hs.memoryV1.ownDir())
	require.NotNil(t, hs.cpuacctV1)
	assert.Equal(t, "/sys/fs/cgroup/cpu,cpuacct", hs.cpuacctV1.ownDir())

	pure := findHierarchies("25 18 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
		"0::/user.slice/user-1000.slice/session-2.scope\n")
	require.NotNil(t, pure.v2)
	assert.Nil(t, pure.memoryV1)
	assert.Equal(t, "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope", pure.v2.ownDir())

	// A container given a subtree of the host's hierarchy sees its cgroup
	// under the mount's root.
	bound := findHierarchies(`50 40 0:22 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw`, "0::/docker/abc/inner\n")
	require.NotNil(t, bound.v2)
	assert.Equal(t, "/sys/fs/cgroup/inner", bound.v2.ownDir())
	// One whose cgroup lies outside the mount cannot use it.
	outside := findHierarchies(`50 40 0:22 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw`, "0::/docker/abcdef\n")
	assert.Nil(t, outside.v2)

	// A cgroup namespace shows a cgroup outside it so.
	escaped := findHierarchies("25 18 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/../../x\n")
	assert.Nil(t, escaped.v2)

	none := findHierarchies("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", "0::/\n")
	assert.Nil(t, none.v2)
	assert.Nil(t, none.memoryV1)

	spaced := findHierarchies(`41 31 0:38 / /mnt/cg\040two rw - cgroup2 cgroup2 rw`, "0::/\n")
	require.NotNil(t, spaced.v2)
	assert.Equal(t, "/mnt/cg two", spaced.v2.ownDir())
}

func TestCgroupOwner(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]int{"sxbisect-12-3": 12, "sxbisect-12": 12, "sxbisect-x-1": 0, "other-12-1": 0, "sxbisect-12-x": 0, "sxbisect-0-1": 0} {
		pid, ok := cgroupOwner(name)
		assert.Equal(t, want, pid, name)
		assert.Equal(t, want != 0, ok, name)
	}
}

func TestModeStrings(t *testing.T) {
	t.Parallel()
	v1 := &v1Run{}
	assert.Equal(t, "cgroup v2 (cpu, memory, kill, pressure)",
		(&cgroupTree{v2: &v2Run{memory: true, pressure: true}}).mode())
	assert.Equal(t, "cgroup v2 (cpu, kill, pressure) + cgroup v1 memory",
		(&cgroupTree{v2: &v2Run{pressure: true}, memoryV1: v1}).mode())
	assert.Equal(t, "cgroup v1 (cpu, memory, kill)",
		(&cgroupTree{memoryV1: v1, cpuacctV1: v1}).mode())
	assert.Equal(t, "cgroup v1 (memory, kill) (CPU of orphaned descendants not measured)",
		(&cgroupTree{memoryV1: v1}).mode())
	assert.Equal(t, "cgroup v2 (cpu, kill) (no memory controller: tree peak memory sampled, no memory limit)",
		(&cgroupTree{v2: &v2Run{}}).mode())
}

func TestReadPressureTotal(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "cpu.pressure")
	require.NoError(t, os.WriteFile(file, []byte("some avg10=1.00 avg60=0.50 avg300=0.10 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"), 0o644))
	stall, err := readPressureTotal(file)
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, stall)
	assert.Equal(t, 0.5, share(stall, 3*time.Second))
	assert.Equal(t, 1.0, share(stall, time.Second), "clamped")
}

// syscallKill ends a process a test made escape, should the run not have.
func syscallKill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	err = p.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// BenchmarkRunTrue measures what a run costs beyond the command itself, in
// each mode this machine offers.
func BenchmarkRunTrue(b *testing.B) {
	dir := b.TempDir()
	modes := []struct {
		name string
		spec Spec
	}{
		{"process-group", Spec{Containment: ContainProcessGroup}},
		{"cgroup", Spec{}},
		{"cgroup-v1", Spec{hierarchies: onlyV1}},
		{"cgroup-v2", Spec{hierarchies: onlyV2}},
	}
	for _, mode := range modes {
		s := mode.spec
		s.Command, s.Dir = "true", dir
		m, err := Run(context.Background(), s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mode.name, func(b *testing.B) {
			b.Logf("mode: %s", m.Mode)
			for b.Loop() {
				if _, err := Run(context.Background(), s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestFailedStartInV2FallsBackToV1(t *testing.T) {
	t.Parallel()
	box, err := newContainer(Spec{})
	require.NoError(t, err)
	defer box.release()
	tree, ok := box.(*cgroupTree)
	if !ok || tree.v2 == nil || tree.v2.memory {
		t.Skip("needs cgroup v2 without the memory controller beside v1 (a hybrid machine)")
	}
	// A descriptor that is no cgroup makes clone3 fail as a kernel without
	// CLONE_INTO_CGROUP would.
	v2Dir := tree.v2.dir
	notCgroup, err := os.Open(t.TempDir())
	require.NoError(t, err)
	tree.v2.fd.Close()
	tree.v2.fd = notCgroup
	cmd, err := box.start(func() *exec.Cmd { return exec.Command("/bin/sh", "-c", "exit 3") })
	require.NoError(t, err)
	_ = cmd.Wait()
	assert.Equal(t, 3, cmd.ProcessState.ExitCode())
	assert.NoDirExists(t, v2Dir)
	box.signal(syscall.SIGKILL)
	u := box.account()
	assert.True(t, strings.HasPrefix(box.mode(), "cgroup v1 ("), box.mode())
	assert.Equal(t, tree.cpuacctV1 != nil, u.treeCPU)
}

func TestMemoryLimitRefusedWhereCgroupLacksMemory(t *testing.T) {
	t.Parallel()
	box, err := newContainer(Spec{hierarchies: onlyV2})
	require.NoError(t, err)
	tree, ok := box.(*cgroupTree)
	box.release()
	if !ok || tree.hasMemory() {
		t.Skip("needs cgroup v2 without the memory controller (a hybrid machine)")
	}
	_, err = Run(context.Background(), Spec{Command: "true", Dir: t.TempDir(), MemoryLimit: 50 << 20, hierarchies: onlyV2})
	require.ErrorIs(t, err, ErrNoMemoryLimit)
	assert.Contains(t, err.Error(), "cgroup v2: the memory controller is not available in")
	t.Log(err)
}

// While the thread group's leader is in a run's cgroup, moved there and
// locked to a goroutine for a fork (startOnMovedThread), sxbisect still
// reads its own cgroup as the one its other threads are in: reading
// /proc/self/cgroup gave the leader's, and a run made meanwhile was made
// inside the other run's cgroup, on its cores. The helper does it with
// its leader thread (see leaderMoved).
func TestOwnCgroupIsWhereTheThreadsAre(t *testing.T) {
	hs, err := readHierarchies()
	require.NoError(t, err)
	if hs.cpusetV1 == nil {
		t.Skip("no cgroup v1 cpuset hierarchy here, the kind where threads move alone")
	}
	cpus, err := AllowedCPUs()
	require.NoError(t, err)
	elsewhere, err := newCPUSetV1(hs.cpusetV1, cpus)
	if err != nil {
		t.Skipf("cgroup v1's cpuset hierarchy is not writable here: %v", err)
	}
	defer func() { _ = removeCgroup(elsewhere.dir) }()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, leaderMovedHelper, elsewhere.dir)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, hs.cpusetV1.ownDir(), strings.TrimSpace(string(out)))
}

// leaderMovedHelper is the helper command of TestOwnCgroupIsWhereTheThreadsAre.
const leaderMovedHelper = "leader-moved"

func init() {
	if len(os.Args) > 1 && os.Args[1] == leaderMovedHelper {
		// main, and so the helper, then runs on the leader thread.
		runtime.LockOSThread()
	}
}

// leaderMoved is the helper's leader-moved DIR: it moves its leader
// thread, which runs it, into the v1 cpuset DIR, prints the cpuset cgroup
// that readHierarchies finds its own meanwhile (on another thread), and
// moves the leader back.
func leaderMoved(dir string) int {
	if unix.Gettid() != os.Getpid() {
		fmt.Fprintln(os.Stderr, "not on the leader thread")
		return 1
	}
	before, err := readHierarchies()
	if err != nil || before.cpusetV1 == nil {
		fmt.Fprintln(os.Stderr, "no cpuset hierarchy:", err)
		return 1
	}
	tid := strconv.Itoa(unix.Gettid())
	if err := writeFile(filepath.Join(dir, "tasks"), tid); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	found := make(chan string)
	go func() {
		hs, err := readHierarchies()
		if err != nil || hs.cpusetV1 == nil {
			found <- fmt.Sprint("no cpuset hierarchy: ", err)
			return
		}
		found <- hs.cpusetV1.ownDir()
	}()
	own := <-found
	if err := writeFile(filepath.Join(before.cpusetV1.ownDir(), "tasks"), tid); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(own)
	return 0
}
