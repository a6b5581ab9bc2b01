package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// countingBuild is a build command that appends the commit it builds to
// counter, outside every worktree, so that a test can count the builds
// that really ran; it fails wherever the file "broken" says so.
func countingBuild(counter string) string {
	return fmt.Sprintf(`test ! -e broken && echo "$SXBISECT_COMMIT" >> '%s'`, counter)
}

// builds counts the builds of each commit that ran so far.
func builds(t *testing.T, counter string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(counter)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	require.NoError(t, err)
	n := map[string]int{}
	for _, line := range strings.Fields(string(data)) {
		n[line]++
	}
	return n
}

func stepAt(res *Result, commit string, kind StepKind) *Step {
	for i := range res.Steps {
		if res.Steps[i].Commit == commit && res.Steps[i].Kind == kind {
			return &res.Steps[i]
		}
	}
	return nil
}

// TestSessionsShareTheBuildOfTheGoodCommit runs three sessions over one
// range with one build command, one after the other. The first builds the
// good commit once, in its baseline worktree, and verifies the good end
// there too; the second, also measuring a ratio, takes that worktree for
// its baseline and builds nothing; the third, a plain test, verifies the
// good end in it without building.
func TestSessionsShareTheBuildOfTheGoodCommit(t *testing.T) {
	repo, hashes := workRepo(t, 12, 7, 200000)
	counter := filepath.Join(t.TempDir(), "builds")
	good := hashes[0]
	measured := Spec{
		Repo: repo, Good: []string{good}, Bad: "main",
		Build: countingBuild(counter), Run: cpuTest, MaxRatio: []string{"cpu=1.5"},
	}

	first := measured
	first.Name = "first"
	res, err := Start(context.Background(), first, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, 1, builds(t, counter)[good], "the baseline and the verify step share one build of the good end")

	second := measured
	second.Name = "second"
	res, err = Start(context.Background(), second, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[7], *res.FirstBad)
	assert.Equal(t, 1, builds(t, counter)[good],
		"the second session's baseline and verify step reuse the first's build")

	plain := Spec{
		Name: "plain", Repo: repo, Good: []string{good}, Bad: "main",
		Build: countingBuild(counter), Run: `test "$(cat level)" -lt 7`,
	}
	before := builds(t, counter)
	res, err = Start(context.Background(), plain, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[7], *res.FirstBad)
	after := builds(t, counter)
	assert.Equal(t, before[good], after[good], "the plain session verifies the good end in the worktree that holds its build")
	verify := stepAt(res, good, KindVerify)
	require.NotNil(t, verify)
	assert.Equal(t, 1.0, verify.Metrics[buildReusedMetric])
	assert.Zero(t, verify.BuildS)
	for _, s := range res.Steps {
		if s.Commit != good {
			again := 0
			if s.Commit == *res.FirstBad && res.Steps[len(res.Steps)-1].Commit != s.Commit {
				again = 1 // built again to be left in the worktree the result names
			}
			assert.Equal(t, before[s.Commit]+1+again, after[s.Commit], "commit %s was built again", text.ShortID(s.Commit))
			assert.NotContains(t, s.Metrics, buildReusedMetric)
		}
	}
	log, err := os.ReadFile(filepath.Join(res.Dir, logsDir, fmt.Sprintf("001-%s-build.log", text.ShortID(good))))
	require.NoError(t, err)
	assert.Contains(t, string(log), "build reused")
}

// stubBook is a baselineBook with nothing recorded.
type stubBook struct{}

func (stubBook) recorded(int) *predicate.Baseline                      { return nil }
func (stubBook) record(int, string, string, *predicate.Baseline) error { return nil }
func (stubBook) preferredBaselineWorktree() string                     { return "" }
func (stubBook) note(string)                                           {}
func (stubBook) say(string)                                            {}
func (stubBook) started(string, run.Started)                           {}

// testerFor makes a tester for spec from pool, as a session does, closed
// at the end of the test.
func testerFor(t *testing.T, pool *worktree.Pool, spec Spec) *worktreeTester {
	t.Helper()
	tt, err := newWorktreeTester(context.Background(), pool, "", spec, stubBook{}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { tt.Close() })
	return tt
}

// steps tests commits on testers directly, each step with logs of its own.
type steps struct {
	t    *testing.T
	logs string
	n    int
	// last are the logs of the last step.
	last LogPaths
}

func (s *steps) test(tt *worktreeTester, commit string) Report {
	s.t.Helper()
	s.n++
	s.last = LogPaths{
		Build: filepath.Join(s.logs, fmt.Sprintf("%d-build.log", s.n)),
		Test:  filepath.Join(s.logs, fmt.Sprintf("%d-test.log", s.n)),
	}
	rep, err := tt.Test(context.Background(), commit, s.last)
	require.NoError(s.t, err)
	return rep
}

// TestBuildStampRules drives the tester directly: the same commit tested
// again in the same worktree reuses its build, and these build again: a
// failed build stamps nothing, a checkout of another commit voids the
// stamp, another build command does not match it.
func TestBuildStampRules(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	commits := gitfixture.Linear(3, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i)}
	})
	hashes, err := gitfixture.Build(repo, commits)
	require.NoError(t, err)
	counter := filepath.Join(t.TempDir(), "builds")
	pool, err := worktree.Open(repo, worktree.Options{})
	require.NoError(t, err)

	tester := func(build string) *worktreeTester {
		// The build fails by a file that no commit holds, which the build
		// cache cannot see: the stamps alone are under test here.
		return testerFor(t, pool, Spec{Repo: repo, Good: []string{hashes[0]}, GoodCommits: []string{hashes[0]}, Bad: hashes[2], BadCommit: hashes[2],
			Build: build, Run: "true", NoBuildCache: true})
	}
	test := (&steps{t: t, logs: t.TempDir()}).test
	tt := tester(countingBuild(counter))
	x := hashes[1]

	// A failed build stamps nothing: the next try builds again.
	broken := filepath.Join(tt.main.wt.Path(), "broken")
	require.NoError(t, os.MkdirAll(tt.main.wt.Path(), 0o755))
	require.NoError(t, os.WriteFile(broken, nil, 0o644))
	assert.Equal(t, predicate.Skip, test(tt, x).Verdict)
	assert.Empty(t, tt.main.wt.BuildStamp())
	require.NoError(t, os.Remove(broken))
	rep := test(tt, x)
	assert.Equal(t, predicate.Good, rep.Verdict)
	assert.NotContains(t, rep.Metrics, buildReusedMetric)
	assert.Equal(t, 1, builds(t, counter)[x])

	// The same commit again: reused.
	rep = test(tt, x)
	assert.Equal(t, 1.0, rep.Metrics[buildReusedMetric])
	assert.Contains(t, rep.BuildTail, "build reused: "+x)
	assert.Equal(t, 1, builds(t, counter)[x])

	// Away and back: built again.
	test(tt, hashes[2])
	test(tt, x)
	assert.Equal(t, 2, builds(t, counter)[x])
	require.NoError(t, tt.Close())

	// Another command in the same worktree does not match the stamp.
	other := tester(countingBuild(counter) + " # other")
	assert.Equal(t, tt.main.wt.Name(), other.main.wt.Name())
	rep = test(other, x)
	assert.NotContains(t, rep.Metrics, buildReusedMetric)
	assert.Equal(t, 3, builds(t, counter)[x])

	// No build command: nothing to stamp or reuse.
	require.NoError(t, other.Close())
	none := tester("")
	rep = test(none, x)
	assert.NotContains(t, rep.Metrics, buildReusedMetric)
	assert.Empty(t, none.main.wt.BuildStamp(), "the checkout dropped the stamp, and nothing was built to stamp")
}
