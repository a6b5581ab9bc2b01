package demo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests check the demo's planted regressions with real processes and
// nothing of sxbisect's: the predicates behind --max-ratio, --memory-limit
// and --expect are tested elsewhere, and the demo must be right on its own.
// A case is right when its suite shows the regression at the planted commit
// and not at its parent, and when git's own bisection, judging by the
// case's condition, names the planted commit.

// helperEnv makes the test binary a git bisect run script (see TestMain):
// git runs it at every step, and it judges the commit by one condition.
const helperEnv = "SXDEMO_BISECT_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(bisectHelper())
	}
	os.Exit(m.Run())
}

// sample is one run of a suite, measured as sxbisect measures a test: the
// CPU time and peak memory of the whole process tree.
type sample struct {
	out    string
	exit   int
	cpu    time.Duration // user+sys of the tree
	wall   time.Duration
	maxRSS int64 // bytes, of the largest process of the tree
}

func (s sample) String() string {
	return fmt.Sprintf("exit %d, cpu %v, wall %v, peak %d MB", s.exit, s.cpu.Round(time.Millisecond),
		s.wall.Round(time.Millisecond), s.maxRSS>>20)
}

// runSuite runs command with sh in dir. The CPU time comes from wait4: it
// covers every process of the tree that was waited for, which the suites'
// shell scripts do for all of theirs. The peak memory of the largest
// process does too, but it counts for the shell the high-water mark of
// this test process when the shell was started (the kernel keeps, at an
// exec, that of the memory the process had before, which a child of a Go
// program shares with it): 90 MB under the race detector. So wait4's
// figure counts only above this process's own high-water mark; below it,
// the processes' own high-water marks (VmHWM), sampled while they run,
// give the peak.
func runSuite(dir, command string, setup ...func(*exec.Cmd)) (sample, error) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, f := range setup {
		f(cmd)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	stop, sampled := make(chan struct{}), make(chan int64)
	go func() { sampled <- largestOfGroup(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	s := sample{wall: time.Since(start), out: out.String()}
	close(stop)
	largest := <-sampled
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return s, err
	}
	s.exit = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if rss := ru.Maxrss << 10; rss > highWater("self") {
			s.maxRSS = rss
		}
	}
	s.maxRSS = max(s.maxRSS, largest)
	return s, nil
}

// largestOfGroup samples the high-water marks of the processes of group
// pgid every few milliseconds until stop is closed, and returns the
// largest.
func largestOfGroup(pgid int, stop <-chan struct{}) int64 {
	var largest int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pgrp is the third field after the command name.
			fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) {
				largest = max(largest, highWater(e.Name()))
			}
		}
		select {
		case <-stop:
			return largest
		case <-tick.C:
		}
	}
}

// highWater is the VmHWM of process pid ("self" for this one) in bytes, 0
// when unknown.
func highWater(pid string) int64 {
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(status)
	if m == nil {
		return 0
	}
	kib, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kib << 10
}

// medianCPU runs command n times and returns the median CPU time, and the
// samples.
func medianCPU(t *testing.T, dir, command string, n int) (time.Duration, []sample) {
	t.Helper()
	var ss []sample
	for i := 0; i < n; i++ {
		s, err := runSuite(dir, command)
		require.NoError(t, err)
		require.Zero(t, s.exit, "%s in %s: %s", command, dir, s.out)
		ss = append(ss, s)
	}
	return median(ss), ss
}

func median(ss []sample) time.Duration {
	cpus := make([]time.Duration, len(ss))
	for i, s := range ss {
		cpus[i] = s.cpu
	}
	sort.Slice(cpus, func(i, j int) bool { return cpus[i] < cpus[j] })
	return cpus[len(cpus)/2]
}

// checkout makes a linked worktree of the demo at commit and builds the
// server there, so that tests can run two commits side by side.
func checkout(t *testing.T, d *Demo, commit string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), commit[:10])
	git(t, d.Dir, "worktree", "add", "-f", "--detach", dir, commit)
	out, code := sh(t, dir, BuildCommand)
	require.Zero(t, code, "build at %s: %s", commit, out)
	return dir
}

func parentOf(t *testing.T, d *Demo, commit string) string {
	t.Helper()
	ps := strings.Fields(git(t, d.Dir, "rev-parse", commit+"^@"))
	require.Len(t, ps, 1, "a planted regression is not a merge")
	return ps[0]
}

func demoCase(t *testing.T, d *Demo, name string) Case {
	t.Helper()
	c, ok := d.Case(name)
	require.True(t, ok, name)
	return c
}

// The cases are what the demo's text and the command line say: ends in
// order, the planted commit between them, and each range free of the
// regressions that would change its own suite's exit status.
func TestCaseRanges(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	var names []string
	for _, c := range d.Cases {
		names = append(names, c.Name)
	}
	require.Equal(t, CaseNames(), names)
	exit := demoCase(t, d, CaseExit)
	require.Equal(t, []string{d.Good, d.Bad, d.FirstBad}, []string{exit.Good, exit.Bad, exit.FirstBad})
	isAncestor := func(a, b string) bool {
		_, code := sh(t, d.Dir, "git merge-base --is-ancestor "+a+" "+b)
		return code == 0
	}
	for _, c := range d.Cases {
		require.True(t, isAncestor(c.Good, c.FirstBad), c.Name)
		require.True(t, isAncestor(c.FirstBad, c.Bad), c.Name)
		require.False(t, isAncestor(c.FirstBad, c.Good), c.Name)
		require.Contains(t, c.Explanation, c.FirstBad[:10], c.Name)
		require.Contains(t, c.Explanation, c.Good[:10], c.Name)
		require.Contains(t, c.Explanation, c.Bad[:10], c.Name)
		require.Contains(t, d.Description, c.FirstBad[:10], c.Name)
		require.Contains(t, c.Args, "--build", c.Name)
		require.Contains(t, c.Args, "--run", c.Name)
		require.Greater(t, len(strings.Fields(git(t, d.Dir, "rev-list", c.Bad, "^"+c.Good))), 40,
			"%s: a range worth bisecting", c.Name)
	}
	require.Contains(t, exit.Explanation, d.BrokenBuild[:10])
	// The erlang suite fails from the exit regression on, and the hang
	// case judges by its exit status too: its range must end before.
	require.False(t, isAncestor(d.FirstBad, demoCase(t, d, CaseHang).Bad))
	require.False(t, isAncestor(d.FirstBad, demoCase(t, d, CaseCPU).Bad))
	require.True(t, demoCase(t, d, CaseCPU).Busy)
	require.Contains(t, demoCase(t, d, CaseCPU).Args, "cpu=1.5")
	require.Contains(t, demoCase(t, d, CaseOOM).Args, memoryLimit)
	require.Contains(t, demoCase(t, d, CaseHang).Args, `\(ok-len`)
}

// cpu: from the planted commit on, the tcl suite passes at about 2.5
// times the CPU time of its parent, which is as fast as the good end.
func TestCPUCase(t *testing.T) {
	d := newDemo(t)
	c := demoCase(t, d, CaseCPU)
	before, after := checkout(t, d, parentOf(t, d, c.FirstBad)), checkout(t, d, c.FirstBad)
	good := checkout(t, d, c.Good)
	const n = 5
	var b, a, g []sample
	for i := 0; i < n; i++ { // interleaved, so that a burst of load hits both
		for _, x := range []struct {
			dir string
			to  *[]sample
		}{{before, &b}, {after, &a}, {good, &g}} {
			s, err := runSuite(x.dir, cpuRun)
			require.NoError(t, err)
			require.Zero(t, s.exit, "%s: %s", x.dir, s.out)
			*x.to = append(*x.to, s)
		}
	}
	mb, ma, mg := median(b), median(a), median(g)
	ratio := float64(ma) / float64(mb)
	t.Logf("tcl suite CPU: good end %v, before %v, planted %v: ratio %.2f (wall %v vs %v)",
		mg.Round(time.Millisecond), mb.Round(time.Millisecond), ma.Round(time.Millisecond), ratio,
		b[0].wall.Round(time.Millisecond), a[0].wall.Round(time.Millisecond))
	require.GreaterOrEqual(t, ratio, 2.0, "the planted commit must be plainly over --max-ratio %s", cpuRatio)
	require.Less(t, float64(mb)/float64(mg), 1.25, "the parent is as fast as the good end")
	require.Greater(t, mg, 100*time.Millisecond, "a good run is long enough to measure")
	require.Less(t, mg, time.Second, "a good run is short enough for several samples a step")
	require.Contains(t, a[0].out, "tcl: ")
	require.NotContains(t, a[0].out, "FAIL")
}

// oom: from the planted commit on, the prolog suite peaks near 300 MB
// instead of 15; it still passes, and under a memory limit it is killed.
func TestOOMCase(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	c := demoCase(t, d, CaseOOM)
	limit, err := parseSize(memoryLimit)
	require.NoError(t, err)
	for _, x := range []struct {
		commit string
		bad    bool
	}{{c.Good, false}, {parentOf(t, d, c.FirstBad), false}, {c.FirstBad, true}, {c.Bad, true}} {
		dir := checkout(t, d, x.commit)
		s, err := runSuite(dir, oomRun)
		require.NoError(t, err)
		t.Logf("%s (bad %v): %v", x.commit[:10], x.bad, s)
		require.Zero(t, s.exit, "the suite passes with memory to spare: %s", s.out)
		if x.bad {
			require.Greater(t, s.maxRSS, int64(250<<20))
		} else {
			require.Less(t, s.maxRSS, int64(50<<20))
		}
		cg, why := newMemoryCgroup(t, limit)
		if cg == nil {
			t.Logf("not run under a %s memory limit: %s", memoryLimit, why)
			continue
		}
		s, err = runSuite(dir, `echo $$ > "$SXDEMO_CGROUP_PROCS" && exec `+oomRun, func(cmd *exec.Cmd) {
			cmd.Env = append(os.Environ(), "SXDEMO_CGROUP_PROCS="+cg.procs)
		})
		require.NoError(t, err)
		kills := cg.oomKills(t)
		t.Logf("%s under %s: %v, %d OOM kills", x.commit[:10], memoryLimit, s, kills)
		if x.bad {
			require.Positive(t, kills, s.out)
			require.NotZero(t, s.exit, "a killed server fails the suite: %s", s.out)
		} else {
			require.Zero(t, kills)
			require.Zero(t, s.exit, s.out)
		}
	}
}

// hang: from the planted commit on, the erlang chain spins until its own
// deadline and no (ok-len ...) marker comes out, yet the script exits 0.
func TestHangCase(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	c := demoCase(t, d, CaseHang)
	markers := regexp.MustCompile(`(?m)^\(ok-len `)
	for _, x := range []struct {
		commit string
		bad    bool
	}{{c.Good, false}, {parentOf(t, d, c.FirstBad), false}, {c.FirstBad, true}, {c.Bad, true}} {
		dir := checkout(t, d, x.commit)
		s, err := runSuite(dir, hangRun)
		require.NoError(t, err)
		t.Logf("%s (bad %v): %v", x.commit[:10], x.bad, s)
		require.Zero(t, s.exit, "the exit status does not tell: %s", s.out)
		if x.bad {
			require.NotRegexp(t, markers, s.out)
			require.Contains(t, s.out, "erlang: 0/0 passed")
			require.Greater(t, s.wall, 2500*time.Millisecond, "killed by the script's own deadline")
			require.Less(t, s.wall, 15*time.Second)
		} else {
			require.Regexp(t, markers, s.out)
			require.Regexp(t, `erlang: (\d+)/\d+ passed`, s.out)
			require.NotContains(t, s.out, "erlang: 0/0")
			require.Less(t, s.wall, 2*time.Second, "far from the deadline")
		}
	}
}

// gitBisectRun bisects the case with git, judging each commit with the
// test binary as the script (bisectHelper), and returns the log.
func gitBisectRun(t *testing.T, d *Demo, c Case, env ...string) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	git(t, d.Dir, "bisect", "start", c.Bad, c.Good)
	defer git(t, d.Dir, "bisect", "reset")
	cmd := exec.Command("git", "bisect", "run", self)
	cmd.Dir = d.Dir
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	log := git(t, d.Dir, "bisect", "log")
	t.Logf("git bisect run of the %s case took %v, %d steps", c.Name, time.Since(start).Round(time.Millisecond),
		strings.Count(log, "\ngit bisect "))
	require.Contains(t, string(out), c.FirstBad+" is the first bad commit", log)
	return log
}

// bisectHelper is the git bisect run script of gitBisectRun: it builds the
// server (125 when that fails), runs SXDEMO_RUN and judges it: bad when it
// fails, when the median CPU of SXDEMO_SAMPLES runs exceeds SXDEMO_MAX_CPU,
// when the peak memory exceeds SXDEMO_MAX_RSS, or when no output line
// matches SXDEMO_EXPECT.
func bisectHelper() int {
	if out, err := exec.Command("sh", "-c", BuildCommand).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v: %s", err, out)
		return 125
	}
	n, _ := strconv.Atoi(os.Getenv("SXDEMO_SAMPLES"))
	var ss []sample
	for i := 0; i < max(n, 1); i++ {
		s, err := runSuite(".", os.Getenv("SXDEMO_RUN"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 128
		}
		fmt.Printf("%v\n", s)
		if s.exit != 0 {
			return 1
		}
		ss = append(ss, s)
	}
	if v := os.Getenv("SXDEMO_MAX_CPU"); v != "" {
		limit, err := time.ParseDuration(v)
		if err != nil || median(ss) > limit {
			return 1
		}
	}
	if v := os.Getenv("SXDEMO_MAX_RSS"); v != "" {
		limit, err := parseSize(v)
		if err != nil || ss[0].maxRSS > limit {
			return 1
		}
	}
	if v := os.Getenv("SXDEMO_EXPECT"); v != "" {
		re, err := regexp.Compile("(?m)" + v)
		if err != nil || !re.MatchString(ss[0].out) {
			return 1
		}
	}
	return 0
}

// git bisect run with the cpu case's condition: median CPU of 3 runs over
// 1.5 times the good end's.
func TestGitBisectRunFindsCPUCase(t *testing.T) {
	heavy(t)
	d := newDemo(t)
	c := demoCase(t, d, CaseCPU)
	baseline, _ := medianCPU(t, checkout(t, d, c.Good), cpuRun, 5)
	gitBisectRun(t, d, c, "SXDEMO_RUN="+cpuRun, "SXDEMO_SAMPLES=3",
		fmt.Sprintf("SXDEMO_MAX_CPU=%v", baseline*3/2))
}

// git bisect run with the oom case's condition, emulated by peak memory:
// over the limit is what an OOM kill inside the limit would say.
func TestGitBisectRunFindsOOMCase(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	c := demoCase(t, d, CaseOOM)
	gitBisectRun(t, d, c, "SXDEMO_RUN="+oomRun, "SXDEMO_MAX_RSS="+memoryLimit)
}

// git bisect run with the hang case's condition: a marker line must come.
func TestGitBisectRunFindsHangCase(t *testing.T) {
	t.Parallel()
	heavy(t)
	d := newDemo(t)
	c := demoCase(t, d, CaseHang)
	gitBisectRun(t, d, c, "SXDEMO_RUN="+hangRun, `SXDEMO_EXPECT=^\(ok-len `)
}

// heavy skips tests that take more than a few seconds unless
// SXBISECT_DEMO_ALL is set.
func heavy(t *testing.T) {
	t.Helper()
	if os.Getenv("SXBISECT_DEMO_ALL") == "" {
		t.Skip("set SXBISECT_DEMO_ALL=1 to run the slower checks of the demo")
	}
}

// parseSize reads 150M, 2G, 4096K or a plain number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	n, err := strconv.ParseInt(strings.TrimRight(s, "KMG"), 10, 64)
	return n * mult, err
}

// memoryCgroup is a memory cgroup made for one test run, cgroup v2 or v1.
type memoryCgroup struct {
	dir, procs, events string
}

// newMemoryCgroup makes a memory cgroup limited to limit bytes and removes
// it when the test ends; it returns nil and the reason when cgroups cannot
// be written here (not root, no memory controller, a container).
func newMemoryCgroup(t *testing.T, limit int64) (*memoryCgroup, string) {
	t.Helper()
	name := fmt.Sprintf("sxdemo-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	var cg memoryCgroup
	var files [][2]string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cg.dir = filepath.Join("/sys/fs/cgroup", name)
		cg.events = filepath.Join(cg.dir, "memory.events")
		files = [][2]string{{"memory.max", strconv.FormatInt(limit, 10)}, {"memory.swap.max", "0"}}
	} else if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		cg.dir = filepath.Join("/sys/fs/cgroup/memory", name)
		cg.events = filepath.Join(cg.dir, "memory.oom_control")
		files = [][2]string{{"memory.limit_in_bytes", strconv.FormatInt(limit, 10)},
			{"memory.memsw.limit_in_bytes", strconv.FormatInt(limit, 10)}}
	} else {
		return nil, "no cgroup memory controller is mounted"
	}
	cg.procs = filepath.Join(cg.dir, "cgroup.procs")
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, "cannot make a cgroup: " + err.Error()
	}
	t.Cleanup(func() {
		// The cgroup empties as soon as its last process is reaped; give
		// the kernel a moment.
		for i := 0; i < 50; i++ {
			if err := os.Remove(cg.dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("cannot remove cgroup %s", cg.dir)
	})
	for _, f := range files {
		path := filepath.Join(cg.dir, f[0])
		if _, err := os.Stat(path); err != nil {
			continue // no swap accounting: nothing to limit
		}
		if err := os.WriteFile(path, []byte(f[1]), 0o644); err != nil {
			return nil, fmt.Sprintf("cannot write %s: %v", path, err)
		}
	}
	if _, err := os.Stat(cg.events); err != nil {
		return nil, "the kernel does not count OOM kills: " + err.Error()
	}
	return &cg, ""
}

// oomKills is the number of processes the kernel killed inside the cgroup
// for want of memory.
func (cg *memoryCgroup) oomKills(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(cg.events)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^oom_kill (\d+)$`).FindStringSubmatch(string(data))
	require.NotNil(t, m, "%s has no oom_kill count:\n%s", cg.events, data)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}
