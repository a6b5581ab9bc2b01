package demo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// newDemo makes a demo in a fresh directory and checks that it came fast.
func newDemo(t *testing.T) *Demo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sx")
	start := time.Now()
	d, err := Generate(dir)
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("generated %d commits in %v", d.Commits, took)
	// A second or two is the promise; the bound leaves room for a busy machine.
	require.Less(t, took, 10*time.Second)
	return d
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitfixture.Git(dir, args...)
	require.NoError(t, err)
	return out
}

// sh runs a command the way git bisect run would, and returns its output
// and exit code.
func sh(t *testing.T, dir, command string) (string, int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	exit, ok := err.(*exec.ExitError)
	require.True(t, ok, "%s: %v", command, err)
	return string(out), exit.ExitCode()
}

// The whole point of the demo: git's own bisection, building at each step
// and skipping what does not build, names exactly Demo.FirstBad, and on its
// way it meets the broken build.
func TestGitBisectRunFindsFirstBad(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	git(t, d.Dir, "bisect", "start", d.Bad, d.Good)
	start := time.Now()
	out := git(t, d.Dir, "bisect", "run", "sh", "-c", d.Build+" || exit 125; "+d.Run)
	t.Logf("git bisect run took %v", time.Since(start))
	log := git(t, d.Dir, "bisect", "log")
	git(t, d.Dir, "bisect", "reset")
	require.Contains(t, out, d.FirstBad+" is the first bad commit", log)
	require.Contains(t, log, "# skip: ["+d.BrokenBuild+"]",
		"the bisection no longer meets the broken build; re-place breakBuild in story.go")
	steps := strings.Count(log, "\ngit bisect good ") + strings.Count(log, "\ngit bisect bad ") +
		strings.Count(log, "\ngit bisect skip ")
	require.LessOrEqual(t, steps, 12, log)
}

// The ends and the planted commits behave as the description says.
func TestCommitsBehaveAsStated(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	at := func(commit string) {
		git(t, d.Dir, "checkout", "-q", "-f", commit)
	}

	at(d.Good)
	_, code := sh(t, d.Dir, d.Build)
	require.Zero(t, code)
	out, code := sh(t, d.Dir, d.Run)
	require.Zero(t, code, out)
	require.Regexp(t, `(?m)^tcl: (\d+)/(\d+) passed$`, out)

	at(d.Bad)
	_, code = sh(t, d.Dir, d.Build)
	require.Zero(t, code)
	start := time.Now()
	out, code = sh(t, d.Dir, d.Run)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "FAIL lmap triple: got (2 4 6), want (3 6 9)")
	require.Less(t, time.Since(start), 5*time.Second, "a failing suite must fail fast")
	// The other guests still pass at the tip: the regression is the JIT's,
	// and only tcl's tests catch it.
	out, code = sh(t, d.Dir, "sh lib/prolog/conformance.sh")
	require.Zero(t, code, out)

	parent := git(t, d.Dir, "rev-parse", d.FirstBad+"^")
	require.Equal(t, parent, git(t, d.Dir, "rev-parse", d.FirstBad+"^@"), "the regression is not a merge")
	at(parent)
	_, code = sh(t, d.Dir, d.Build)
	require.Zero(t, code)
	out, code = sh(t, d.Dir, d.Run)
	require.Zero(t, code, out)
	at(d.FirstBad)
	_, code = sh(t, d.Dir, d.Build)
	require.Zero(t, code)
	out, code = sh(t, d.Dir, d.Run)
	require.Equal(t, 1, code, out)

	at(d.BrokenBuild)
	out, code = sh(t, d.Dir, d.Build)
	require.NotZero(t, code)
	require.Contains(t, out, "sx_server.c")
	require.Contains(t, out, "error:")
	var children []string
	for _, l := range strings.Split(git(t, d.Dir, "rev-list", "--parents", "main"), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.Contains(l[len(f[0]):], d.BrokenBuild) {
			children = append(children, f[0])
		}
	}
	require.Len(t, children, 1)
	at(children[0])
	_, code = sh(t, d.Dir, d.Build)
	require.Zero(t, code, "the commit after the broken build fixes it")

	// The server binary is ignored, so it survives checkouts.
	require.Empty(t, git(t, d.Dir, "status", "--porcelain"))
}

// The history has the size and shape the demo promises: a few hundred
// commits, merge waves, the regression inside a merged topic branch, dates
// that mostly rise, and commits that mostly change what gets built or run.
func TestHistoryShape(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	count := func(args ...string) int {
		n, err := strconv.Atoi(git(t, d.Dir, append([]string{"rev-list", "--count"}, args...)...))
		require.NoError(t, err)
		return n
	}
	require.Equal(t, d.Commits, count("main"))
	require.Equal(t, d.Merges, count("--merges", "main"))
	require.GreaterOrEqual(t, d.Commits, 300)
	require.LessOrEqual(t, d.Commits, 400)
	require.GreaterOrEqual(t, d.Merges, 30)
	require.Equal(t, d.Bad, git(t, d.Dir, "rev-parse", "main"))
	require.Equal(t, d.Bad, git(t, d.Dir, "rev-parse", "architecture"))
	for _, b := range []string{"loops/tcl", "loops/prolog", "loops/erlang"} {
		git(t, d.Dir, "merge-base", "--is-ancestor", b, "main")
	}

	git(t, d.Dir, "merge-base", "--is-ancestor", d.Good, d.FirstBad)
	git(t, d.Dir, "merge-base", "--is-ancestor", d.FirstBad, d.Bad)
	require.NotContains(t, git(t, d.Dir, "rev-list", "--first-parent", "main"), d.FirstBad,
		"the regression sits inside a merged branch, not on the main line")
	require.Greater(t, count(d.Bad, "^"+d.Good), 200, "the range is most of the history")
	require.Contains(t, d.Description, d.FirstBad[:10])
	require.Contains(t, d.Cases[0].Explanation, d.BrokenBuild[:10])

	// Dates rise, with a little clock skew.
	dates := map[string]int{}
	var parents [][]string
	for _, l := range strings.Split(git(t, d.Dir, "log", "--format=%H %ct %P", "main"), "\n") {
		f := strings.Fields(l)
		dates[f[0]], _ = strconv.Atoi(f[1])
		parents = append(parents, append([]string{f[0]}, f[2:]...))
	}
	skewed := 0
	for _, ps := range parents {
		for _, p := range ps[1:] {
			if dates[ps[0]] < dates[p] {
				skewed++
			}
		}
	}
	require.Positive(t, skewed)
	require.Less(t, skewed, d.Commits/10)

	// Most commits change the server, a guest or the core library.
	matter := 0
	for _, l := range strings.Split(git(t, d.Dir, "log", "--no-merges", "--format=format:@commit", "--name-only", "main"), "@commit")[1:] {
		if strings.Contains(l, "hosts/") || strings.Contains(l, "lib/") || strings.Contains(l, "spec/") {
			matter++
		}
	}
	require.Greater(t, matter*10, (d.Commits-d.Merges)*8, "%d of %d", matter, d.Commits-d.Merges)
	servers := len(strings.Fields(git(t, d.Dir, "rev-list", "main", "--", "hosts/c/sx_server.c")))
	require.GreaterOrEqual(t, servers, 15, "the server changes over time")
}

// The tip is the embedded miniature, with all of the server's features.
func TestTipIsTheEmbeddedTree(t *testing.T) {
	t.Parallel()
	d := newDemo(t)
	src, err := loadSource()
	require.NoError(t, err)
	require.Equal(t, strings.Join(src.paths, "\n"), git(t, d.Dir, "ls-files"))
	for _, p := range src.paths {
		want, err := strip(strings.Join(src.files[p].chunks, ""), src.features)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(d.Dir, p))
		require.NoError(t, err)
		require.Equal(t, want, string(got), p)
		require.NotContains(t, string(got), "@feature", p)
	}
	mode := git(t, d.Dir, "ls-files", "-s", "lib/tcl/test.sh")
	require.True(t, strings.HasPrefix(mode, "100755"), mode)
}

// Two demos are the same demo: same history, same object ids, same answer.
func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a := newDemo(t)
	b := newDemo(t)
	require.Equal(t, a.Bad, b.Bad)
	require.Equal(t, a.FirstBad, b.FirstBad)
	require.Equal(t, a.Good, b.Good)
}

func TestGenerateRefusesANonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o644))
	_, err := Generate(dir)
	require.ErrorContains(t, err, "not empty")
}

func TestCutKeepsEveryByte(t *testing.T) {
	src, err := loadSource()
	require.NoError(t, err)
	for _, p := range src.paths {
		f := src.files[p]
		data, err := os.ReadFile(filepath.Join("..", "..", root, p))
		require.NoError(t, err)
		require.Equal(t, string(data), strings.Join(f.chunks, ""), p)
		for i := 1; i < len(f.chunks); i++ {
			require.NotEmpty(t, strings.TrimSpace(f.subject(i)), "%s chunk %d", p, i)
		}
	}
	require.Equal(t, "tcl: test lmap with one script", src.files["lib/tcl/tests/lmap.sx"].subject(1))
}

func TestStrip(t *testing.T) {
	text := "a\n/* @feature x */\nb\n/* @feature !y */\nc\n/* @end */\n/* @end */\n; @feature !x\nd\n; @end\ne\n"
	got, err := strip(text, map[string]bool{"x": true})
	require.NoError(t, err)
	require.Equal(t, "a\nb\nc\ne\n", got)
	got, err = strip(text, map[string]bool{"x": true, "y": true})
	require.NoError(t, err)
	require.Equal(t, "a\nb\ne\n", got)
	got, err = strip(text, nil)
	require.NoError(t, err)
	require.Equal(t, "a\nd\ne\n", got)
	_, err = strip("/* @feature x */\n", nil)
	require.Error(t, err)
	_, err = strip("# @end\n", nil)
	require.Error(t, err)
}

// TestEveryCommit builds and tests every commit of the history after the
// exit case's good end, and checks the conditions under which any correct
// bisection of each case has one answer: only Demo.BrokenBuild fails to
// build; the tcl suite fails exactly where the exit regression is an
// ancestor; in the cpu range the tcl suite's CPU time is near the good
// end's, or well over 1.5 times it, as the cpu regression is an ancestor
// or not; the prolog suite passes everywhere, and its peak memory is far
// under the oom case's limit or far over it, likewise; in the hang range
// the erlang suite exits 0 and prints its markers exactly where the hang is
// not an ancestor. Outcomes are kept by the content that decides them (the
// server, the guest, the core library), as most commits change only one.
// It takes minutes, so it runs only with SXBISECT_DEMO_ALL=1.
func TestEveryCommit(t *testing.T) {
	heavy(t)
	d := newDemo(t)
	cpu, oom, hang := demoCase(t, d, CaseCPU), demoCase(t, d, CaseOOM), demoCase(t, d, CaseHang)
	inRange := func(c Case) map[string]bool {
		m := map[string]bool{c.Good: true}
		for _, h := range strings.Fields(git(t, d.Dir, "rev-list", c.Bad, "^"+c.Good)) {
			m[h] = true
		}
		return m
	}
	cpuRange, hangRange := inRange(cpu), inRange(hang)
	isAncestor := func(a, b string) bool {
		_, code := sh(t, d.Dir, "git merge-base --is-ancestor "+a+" "+b)
		return code == 0
	}
	bins := t.TempDir()
	key := func(c string, paths ...string) string {
		var k []string
		for _, p := range append([]string{"hosts/c/sx_server.c", "spec/core.sx"}, paths...) {
			k = append(k, git(t, d.Dir, "rev-parse", c+":"+p))
		}
		return strings.Join(k, " ")
	}
	seen := map[string]sample{}
	cpuSeen := map[string]bool{}
	run := func(c, command string, paths ...string) sample {
		k := command + " " + key(c, paths...)
		if s, ok := seen[k]; ok {
			return s
		}
		s, err := runSuite(d.Dir, command)
		require.NoError(t, err)
		seen[k] = s
		return s
	}
	baseline, _ := medianCPU(t, checkout(t, d, cpu.Good), cpuRun, 5)
	commits := strings.Fields(git(t, d.Dir, "rev-list", d.Bad, "^"+d.Good))
	for _, c := range append(commits, d.Good) {
		git(t, d.Dir, "checkout", "-q", "-f", c)
		// Many commits share a server; build each version once.
		bin := filepath.Join(bins, git(t, d.Dir, "rev-parse", c+":hosts/c/sx_server.c"))
		if _, err := os.Stat(bin); err != nil {
			if _, code := sh(t, d.Dir, "cc -O1 -o "+bin+" hosts/c/sx_server.c 2>/dev/null"); code != 0 {
				require.NoError(t, os.WriteFile(bin, nil, 0o644))
			}
		}
		if fi, _ := os.Stat(bin); fi.Size() == 0 {
			require.Equal(t, d.BrokenBuild, c, "only the planted commit fails to build")
			continue
		}
		require.NotEqual(t, d.BrokenBuild, c, "the planted broken build builds")
		_, code := sh(t, d.Dir, "cp "+bin+" sx_server")
		require.Zero(t, code)

		s := run(c, d.Run, "lib/tcl")
		if isAncestor(d.FirstBad, c) {
			require.Equal(t, 1, s.exit, "%s: %s", c, s.out)
		} else {
			require.Zero(t, s.exit, "%s: %s", c, s.out)
		}
		if k := key(c, "lib/tcl"); cpuRange[c] && !cpuSeen[k] {
			cpuSeen[k] = true
			m, _ := medianCPU(t, d.Dir, cpuRun, 3)
			ratio := float64(m) / float64(baseline)
			if isAncestor(cpu.FirstBad, c) {
				require.Greater(t, ratio, 2.0, c)
			} else {
				require.Less(t, ratio, 1.3, c)
			}
		}
		s = run(c, oomRun, "lib/prolog")
		require.Zero(t, s.exit, "%s: %s", c, s.out)
		if isAncestor(oom.FirstBad, c) {
			require.Greater(t, s.maxRSS, int64(250<<20), c)
		} else {
			require.Less(t, s.maxRSS, int64(50<<20), c)
		}
		if hangRange[c] || !isAncestor(hang.Good, c) {
			s = run(c, hangRun, "lib/erlang")
			require.Zero(t, s.exit, "%s: %s", c, s.out)
			require.Equal(t, !isAncestor(hang.FirstBad, c), strings.Contains(s.out, "\n(ok-len ") || strings.HasPrefix(s.out, "(ok-len "), "%s: %s", c, s.out)
		}
	}
}
