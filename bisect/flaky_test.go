package bisect

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
)

// flakyTester judges commits[k:] bad, but gives the wrong verdict with
// probability rate; the n-th run of a commit always gives the same
// verdict, so that a session and its resumed twin see the same runs.
type flakyTester struct {
	mu      sync.Mutex
	bad     map[string]bool
	rate    float64
	seed    uint64
	runs    map[string]int
	tested  []string
	cancel  func()
	stopAt  int
	allFail float64 // when set, every commit fails with this rate
}

func newFlakyTester(commits []string, k int, rate float64, seed uint64) *flakyTester {
	ft := &flakyTester{bad: map[string]bool{}, rate: rate, seed: seed, runs: map[string]int{}}
	for i, c := range commits {
		ft.bad[c] = i >= k
	}
	return ft
}

func (ft *flakyTester) new(context.Context, Spec, string) (Tester, error) {
	return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		ft.tested = append(ft.tested, commit)
		if ft.stopAt > 0 && len(ft.tested) == ft.stopAt {
			ft.cancel()
			return Report{}, ctx.Err()
		}
		n := ft.runs[commit]
		ft.runs[commit]++
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d", commit, n)
		r := rand.New(rand.NewPCG(ft.seed, h.Sum64())).Float64()
		failed := ft.bad[commit] != (r < ft.rate)
		if ft.allFail > 0 {
			failed = r < ft.allFail
		}
		if failed {
			return Report{Verdict: predicate.Bad, Reason: "exit 1"}, nil
		}
		return Report{Verdict: predicate.Good, Reason: "exit 0"}, nil
	}), nil
}

// With --flaky, a test that is wrong one time in ten still names the right
// commit, says how sure it is, and how flaky the test looked.
func TestFlakySearchFindsTheCulpritThroughWrongVerdicts(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 120)
	right := 0
	for seed := uint64(1); seed <= 10; seed++ {
		ft := newFlakyTester(commits, 77, 0.1, seed)
		res, err := Start(context.Background(), Spec{Name: fmt.Sprint("s", seed), Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn},
			Options{NewTester: ft.new})
		require.NoError(t, err)
		if res.Outcome != Found {
			continue
		}
		require.NotNil(t, res.Beliefs)
		assert.GreaterOrEqual(t, res.Confidence, 0.95)
		assert.NotEmpty(t, res.Posterior)
		assert.Equal(t, *res.FirstBad, res.Posterior[0].Commit)
		assert.Greater(t, res.Runs, 7)
		assert.Contains(t, res.Message, "Confidence")
		if *res.FirstBad == commits[77] {
			right++
		}
	}
	assert.GreaterOrEqual(t, right, 9, "right answers of 10")
}

// The JSON result carries the flake-aware search's figures at the top
// level, as documented.
func TestFlakyResultJSON(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 40)
	ft := newFlakyTester(commits, 21, 0.05, 7)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn},
		Options{NewTester: ft.new})
	require.NoError(t, err)
	data, err := json.Marshal(res)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	for _, key := range []string{"confidence", "posterior", "flake_rate", "runs", "no_regression"} {
		assert.Contains(t, doc, key)
	}
	rates := doc["flake_rate"].(map[string]any)
	assert.Contains(t, rates, "bad_passes")
	assert.Contains(t, rates, "good_fails")
}

// A flake at the bad end's verification: without a second look the
// session would say "no regression". In auto mode the end is tested
// again, the runs disagree, and the search goes on flake-aware.
func TestAutoModeTurnsFlakyWhenAnEndContradictsItself(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 60)
	calls := 0
	tester := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			calls++
			bad := commit >= "" && indexOf(commits, commit) >= 33
			if commit == commits[59] && calls == 2 {
				bad = false // the flake
			}
			if bad {
				return Report{Verdict: predicate.Bad, Reason: "exit 1"}, nil
			}
			return Report{Verdict: predicate.Good, Reason: "exit 0"}, nil
		}), nil
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, Options{NewTester: tester})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[33], *res.FirstBad)
	assert.Contains(t, res.Message, "going on flake-aware")
	require.NotNil(t, res.Beliefs)
	assert.Contains(t, res.Why, "tested both good and bad")
	assert.Equal(t, KindVerify, res.Steps[2].Kind, "the bad end was tested a second time")

	// --no-flaky believes the first run.
	calls = 0
	res, err = Start(context.Background(), Spec{Name: "strict", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOff}, Options{NewTester: tester})
	require.NoError(t, err)
	assert.Equal(t, NoRegression, res.Outcome)
}

// --confirm's re-tests that disagree no longer end with "not confirmed":
// in auto mode the session goes on flake-aware and answers.
func TestAutoModeTurnsFlakyWhenConfirmDisagrees(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 30)
	calls := 0
	tester := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			v := verdictIn(firstBadFrom(commits, 14), commit)
			if commit == commits[14] {
				calls++
				if calls == 3 {
					v = predicate.Good
				}
			}
			return Report{Verdict: v, Reason: string(v)}, nil
		}), nil
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Confirm: 3}, Options{NewTester: tester})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[14], *res.FirstBad)
	require.NotNil(t, res.Beliefs)
	assert.Contains(t, res.Why, commits[14][:12]+" tested both good and bad")
}

// A deterministic test in auto mode never turns flake-aware: the session
// tests exactly what --no-flaky does.
func TestAutoModeWithoutFlakesIsGitsSearch(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	var seqs [2][]string
	for i, mode := range []FlakyMode{FlakyAuto, FlakyOff} {
		ft := newFlakyTester(commits, 61, 0, 1)
		res, err := Start(context.Background(), Spec{Name: string(mode), Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: mode},
			Options{NewTester: ft.new})
		require.NoError(t, err)
		require.Equal(t, Found, res.Outcome)
		assert.Nil(t, res.Beliefs)
		seqs[i] = ft.tested
	}
	assert.Equal(t, seqs[1], seqs[0])
}

// Resume is a replay: a flake-aware session interrupted in the middle goes
// on exactly as an uninterrupted one.
func TestFlakyResumeIsAReplay(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 80)
	straight := newFlakyTester(commits, 50, 0.1, 3)
	want, err := Start(context.Background(), Spec{Name: "straight", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn},
		Options{NewTester: straight.new})
	require.NoError(t, err)
	require.Greater(t, len(straight.tested), 12)

	ctx, cancel := context.WithCancel(context.Background())
	broken := newFlakyTester(commits, 50, 0.1, 3)
	broken.cancel, broken.stopAt = cancel, 9
	res, err := Start(ctx, Spec{Name: "broken", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn},
		Options{NewTester: broken.new})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome)
	broken.stopAt = 0
	broken.tested = broken.tested[:len(broken.tested)-1] // the step in flight is tested again
	res, err = Resume(context.Background(), repo, "broken", Options{NewTester: broken.new})
	require.NoError(t, err)
	assert.Equal(t, straight.tested, broken.tested, "the same runs in the same order")
	assert.Equal(t, want.Outcome, res.Outcome)
	assert.Equal(t, want.FirstBad, res.FirstBad)
	assert.InDelta(t, want.Confidence, res.Confidence, 1e-12)
}

// A test that fails 30% of the time everywhere: the flake-aware search
// says there is no regression, instead of blaming a commit.
func TestFlakyNoRegressionWhenFailuresAreEverywhere(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 60)
	noReg := 0
	for seed := uint64(1); seed <= 6; seed++ {
		ft := newFlakyTester(commits, 60, 0, seed)
		ft.allFail = 0.3
		res, err := Start(context.Background(), Spec{Name: fmt.Sprint("n", seed), Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn},
			Options{NewTester: ft.new})
		require.NoError(t, err)
		assert.NotEqual(t, Found, res.Outcome, "blamed %v", res.FirstBad)
		if res.Outcome == NoRegression {
			noReg++
			assert.Contains(t, res.Message, "flakes")
		}
	}
	assert.GreaterOrEqual(t, noReg, 5)
}

// A budget too small for the confidence asked for ends inconclusive, with
// the likeliest candidates and their probabilities, not a single guess.
func TestFlakyInconclusiveWhenTheBudgetIsSpent(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 200)
	ft := newFlakyTester(commits, 120, 0.2, 5)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn, MaxRuns: 6, Confidence: 0.99},
		Options{NewTester: ft.new})
	require.NoError(t, err)
	require.Equal(t, Inconclusive, res.Outcome, res.Message)
	assert.Nil(t, res.FirstBad)
	assert.NotEmpty(t, res.Candidates)
	assert.NotEmpty(t, res.Posterior)
	assert.Contains(t, res.Message, "inconclusive")
	assert.LessOrEqual(t, len(res.Steps), 6)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// --validate reverts the first bad commit on top of the bad end, in a
// scratch worktree, and tests that: good is expected. A revert that does
// not apply is said so, and nothing else changes. The user's refs stay.
func TestValidateRevertsTheCulpritOnTheBadEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	// The culprit (8) changes "value" alone; later commits change other
	// files, so that its revert applies on the bad end.
	commits := gitfixture.Linear(16, func(i int) map[string]string {
		switch i {
		case 0:
			return map[string]string{"value": "fast", "other": "0"}
		case 8:
			return map[string]string{"value": "slow"}
		}
		return map[string]string{"other": fmt.Sprint(i)}
	})
	hashes, err := gitfixture.Build(dir, commits)
	require.NoError(t, err)
	refs := func() string {
		out, err := exec.Command("git", "-C", dir, "for-each-ref").Output()
		require.NoError(t, err)
		return string(out)
	}
	before := refs()
	res, err := Start(context.Background(), Spec{Repo: dir, Good: []string{hashes[0]}, Bad: "main", Run: `test "$(cat value)" = fast`, Validate: 2}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[8], *res.FirstBad)
	require.NotNil(t, res.Validated)
	assert.True(t, res.Validated.Held)
	assert.Equal(t, 2, res.Validated.Runs)
	assert.Equal(t, 2, res.Validated.Good)
	assert.Contains(t, res.Message, "Validated")
	assert.Equal(t, before, refs(), "no ref changed")
	subject, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%s", res.Validated.Revert).Output()
	require.NoError(t, err)
	assert.Contains(t, string(subject), "Revert")

	// A later commit changes "value" again: the revert conflicts.
	commits = gitfixture.Linear(16, func(i int) map[string]string {
		files := map[string]string{"value": "fast"}
		if i >= 8 {
			files["value"] = fmt.Sprint("slow ", i)
		}
		return files
	})
	dir2 := filepath.Join(t.TempDir(), "repo2")
	hashes, err = gitfixture.Build(dir2, commits)
	require.NoError(t, err)
	res, err = Start(context.Background(), Spec{Repo: dir2, Good: []string{hashes[0]}, Bad: "main", Run: `test "$(cat value)" = fast`, Validate: 2}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[8], *res.FirstBad)
	require.NotNil(t, res.Validated)
	assert.False(t, res.Validated.Held)
	assert.Empty(t, res.Validated.Revert)
	assert.Contains(t, res.Validated.Note, "does not apply cleanly")
	assert.Contains(t, res.Message, "Not validated")
	status, err := exec.Command("git", "-C", res.Worktree, "status", "--porcelain").Output()
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(string(status)), "the aborted revert left the worktree clean")
}

// A parent that was never tested (the good end, with --no-verify) and
// fails a confirming run: no commit has both verdicts, but the re-tests
// disagree with the answer, and auto mode goes on flake-aware.
func TestAutoModeTurnsFlakyWhenAConfirmedParentFails(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 12)
	calls := 0
	tester := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			v := verdictIn(firstBadFrom(commits, 1), commit)
			if commit == commits[0] {
				calls++
				if calls == 1 {
					v = predicate.Bad
				}
			}
			return Report{Verdict: v, Reason: string(v)}, nil
		}), nil
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Confirm: 1, NoVerify: true},
		Options{NewTester: tester})
	require.NoError(t, err)
	require.NotNil(t, res.Beliefs, res.Message)
	assert.Contains(t, res.Message, "going on flake-aware")
	assert.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[1], *res.FirstBad)
}

// Verdicts that say less than a clean run weigh less: a timeout on a busy
// machine half, a measured comparison undecided at its cap a quarter on
// the side its estimate lies; a skip nothing.
func TestObservationWeights(t *testing.T) {
	s := &session{spec: Spec{MaxRatio: []string{"cpu=1.5"}, MaxLoad: 2}}
	c := strings.Repeat("a", 40)
	cases := []struct {
		v       VerdictRecord
		outcome search.Outcome
		weight  float64
	}{
		{VerdictRecord{Commit: c, Verdict: predicate.Good, Reason: "exit 0"}, search.Passed, 1},
		{VerdictRecord{Commit: c, Verdict: predicate.Bad, Reason: "exit 1"}, search.Failed, 1},
		{VerdictRecord{Commit: c, Verdict: predicate.Bad, Reason: "timeout after 10s", Metrics: map[string]float64{"load_before": 1, "load_after": 1.5}}, search.Failed, 1},
		{VerdictRecord{Commit: c, Verdict: predicate.Bad, Reason: "timeout after 10s", Metrics: map[string]float64{"load_before": 6, "load_after": 7}}, search.Failed, weightBusyFailure},
		{VerdictRecord{Commit: c, Verdict: predicate.Bad, Reason: "oom (limit 50 MiB)", Metrics: map[string]float64{"load_after": 9}}, search.Failed, weightBusyFailure},
		{VerdictRecord{Commit: c, Verdict: predicate.Skip, Reason: "undecided", Metrics: map[string]float64{"cpu_ratio": 1.9, "cpu_n": 15}}, search.Failed, weightUndecided},
		{VerdictRecord{Commit: c, Verdict: predicate.Skip, Reason: "undecided", Metrics: map[string]float64{"cpu_ratio": 1.1, "cpu_n": 15}}, search.Passed, weightUndecided},
		{VerdictRecord{Commit: c, Verdict: predicate.Skip, Reason: "build failed"}, search.Skipped, 1},
	}
	for i, tc := range cases {
		o := s.observation(tc.v)
		assert.Equal(t, tc.outcome, o.Outcome, "case %d", i)
		if tc.outcome != search.Skipped {
			assert.Equal(t, tc.weight, o.Weight, "case %d", i)
		}
	}
}
