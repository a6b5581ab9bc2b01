package bisect

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
)

// concurrentTester judges commits[k:] bad after a short sleep and counts
// how many tests ran at once.
type concurrentTester struct {
	bad             map[string]bool
	now, most       atomic.Int32
	mu              sync.Mutex
	tested          []string
	delay           time.Duration
	cancelledProbes atomic.Int32
}

func newConcurrentTester(commits []string, k int, delay time.Duration) *concurrentTester {
	ct := &concurrentTester{bad: map[string]bool{}, delay: delay}
	for i, c := range commits {
		ct.bad[c] = i >= k
	}
	return ct
}

func (ct *concurrentTester) new(context.Context, Spec, string) (Tester, error) {
	return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
		n := ct.now.Add(1)
		defer ct.now.Add(-1)
		for {
			m := ct.most.Load()
			if n <= m || ct.most.CompareAndSwap(m, n) {
				break
			}
		}
		ct.mu.Lock()
		ct.tested = append(ct.tested, commit)
		ct.mu.Unlock()
		select {
		case <-time.After(ct.delay):
		case <-ctx.Done():
			ct.cancelledProbes.Add(1)
			return Report{}, ctx.Err()
		}
		if ct.bad[commit] {
			return Report{Verdict: predicate.Bad, Reason: "exit 1"}, nil
		}
		return Report{Verdict: predicate.Good, Reason: "exit 0"}, nil
	}), nil
}

// cancelAt is ct's tester, calling cancel as the n-th test starts.
func (ct *concurrentTester) cancelAt(n int32, cancel func()) func(context.Context, Spec, string) (Tester, error) {
	var started atomic.Int32
	return func(c context.Context, spec Spec, prefer string) (Tester, error) {
		inner, _ := ct.new(c, spec, prefer)
		return TesterFunc(func(c context.Context, commit string) (Report, error) {
			if started.Add(1) == n {
				cancel()
			}
			return inner.Test(c, commit, LogPaths{})
		}), nil
	}
}

// K benches test K commits at once, every one a commit git's search could
// test, and find the same first bad commit in fewer rounds.
func TestParallelFindsTheSameCommitWithCommitsGitWouldTest(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 200)
	for _, k := range []int{1, 3, 7} {
		ct := newConcurrentTester(commits, 123, 20*time.Millisecond)
		res, err := Start(context.Background(), Spec{Name: fmt.Sprint("k", k), Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: k},
			Options{NewTester: ct.new})
		require.NoError(t, err)
		require.Equal(t, Found, res.Outcome, res.Message)
		assert.Equal(t, commits[123], *res.FirstBad)
		assert.LessOrEqual(t, int(ct.most.Load()), max(k, 1))
		if k > 1 {
			// All k at once when the machine keeps up; a busy one may
			// finish a test before the last bench starts.
			assert.GreaterOrEqual(t, ct.most.Load(), int32(2), "benches busy at once")
		}
		// Every commit tested lies in git's tree of choices: it is what
		// git would test in some state the verdicts could have led to.
		g, err := gitGraph(repo)
		require.NoError(t, err)
		for _, c := range ct.tested {
			if c == commits[0] || c == commits[199] {
				continue
			}
			assert.True(t, inGitsTree(t, g, commits[0], commits[199], c), "commit %d is not one git could test", indexOf(commits, c))
		}
	}
}

// gitsNext returns what git tests next between commits[good] and
// commits[bad] of a linear repository, as an index into commits.
func gitsNext(t *testing.T, repo string, commits []string) func(good, bad int) int {
	t.Helper()
	g, err := gitGraph(repo)
	require.NoError(t, err)
	return func(good, bad int) int {
		step, err := search.Next(g, search.State{Bad: hashOf(commits[bad]), Good: []search.Hash{hashOf(commits[good])}}, search.Options{})
		require.NoError(t, err)
		return indexOf(commits, step.Commit.String())
	}
}

// gitGraph reads a repository's commit graph for the search.
func gitGraph(repo string) (search.Graph, error) {
	r, err := openRepo(repo)
	if err != nil {
		return nil, err
	}
	return r.Graph(nil)
}

// inGitsTree reports whether git's search, from good and bad, tests c in
// some branch of its decisions.
func inGitsTree(t *testing.T, g search.Graph, good, bad, c string) bool {
	queue := []search.State{{Bad: hashOf(bad), Good: []search.Hash{hashOf(good)}}}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		step, err := search.Next(g, st, search.Options{})
		require.NoError(t, err)
		if step.Kind != search.Test {
			continue
		}
		if step.Commit.String() == c {
			return true
		}
		good := st
		good.Good = append(append([]search.Hash(nil), st.Good...), step.Commit)
		bad := st
		bad.Bad = step.Commit
		queue = append(queue, good, bad)
	}
	return false
}

// A probe that a verdict made useless is stopped, and the journal says so.
func TestParallelStopsUselessProbes(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	ct := newConcurrentTester(commits, 30, 0)
	// The middle commit answers fast; the speculative ones are slow, so
	// that those its verdict makes useless are still running.
	slow := newConcurrentTester(commits, 30, 300*time.Millisecond)
	var answered atomic.Bool
	tester := func(ctx context.Context, spec Spec, prefer string) (Tester, error) {
		fast, _ := ct.new(ctx, spec, prefer)
		slowT, _ := slow.new(ctx, spec, prefer)
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			if isEnd(spec, commit) || indexOf(commits, commit) == 50 && answered.CompareAndSwap(false, true) {
				return fast.Test(ctx, commit, LogPaths{})
			}
			return slowT.Test(ctx, commit, LogPaths{})
		}), nil
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true},
		Options{NewTester: tester})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[30], *res.FirstBad)
	assert.Positive(t, slow.cancelledProbes.Load(), "no probe was stopped")
	j, err := ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	assert.Nil(t, j.InFlight, "a stopped probe is not in flight")
}

// Real worktrees: three benches, three worktrees, the user's checkout
// untouched, and the right answer, left built where the result says
// without building it again.
func TestParallelInRealWorktrees(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 60)
	builds := filepath.Join(t.TempDir(), "builds")
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main",
		Build: "(cat value; echo) >>" + builds + "; cp value built", Run: `sleep 0.05; test "$(cat built)" -lt 37`, Parallel: 3}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[37], *res.FirstBad)
	worktrees := map[string]bool{}
	j, err := ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	for _, v := range j.Verdicts {
		worktrees[v.Worktree] = true
	}
	assert.Len(t, worktrees, 3, "%v", worktrees)
	assert.True(t, worktrees[filepath.Base(res.Worktree)], "the result names one of the session's worktrees")
	built, err := os.ReadFile(filepath.Join(res.Worktree, "built"))
	require.NoError(t, err)
	assert.Equal(t, "37", strings.TrimSpace(string(built)), "the result's worktree holds the first bad commit's build")

	// Unless the bench that tested the first bad commit was given
	// another after it (the order of verdicts decides), it still holds
	// it built, and the result names that one.
	lastOn := map[string]string{} // worktree -> the commit it was given last
	records, err := os.ReadFile(filepath.Join(res.Dir, journalFile))
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(records)), "\n") {
		var rec StepRecord
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec.Type == RecStep {
			lastOn[rec.Worktree] = rec.Commit
		}
	}
	if !slices.Contains(slices.Collect(maps.Values(lastOn)), commits[37]) {
		t.Logf("no bench held the first bad commit at the end (%v): it was built again", lastOn)
		return
	}
	assert.Equal(t, commits[37], lastOn[filepath.Base(res.Worktree)], "the result names a worktree that did not hold the first bad commit")
	log, err := os.ReadFile(builds)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(log), "37\n"), "builds of each commit, in order: %q", log)
}

// The flake-aware search keeps K benches busy too, and still answers.
func TestParallelFlaky(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 80)
	ft := newFlakyTester(commits, 44, 0.1, 11)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Flaky: FlakyOn, Parallel: 3},
		Options{NewTester: ft.new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[44], *res.FirstBad)
}

// --prefer-cached: a step whose build git's choice would need takes a
// commit that splits the range almost as well and whose build sessions
// before left in the cache; fewer builds run, the answer is the same, and
// the result says the commits differ from git's. With --parallel 3, each
// probe of git's tree of choices may be such a commit, for the state the
// probe assumes.
func TestPreferCachedBuildsLess(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 200)
	counter := filepath.Join(t.TempDir(), "builds")
	spec := func(name, cache string, good, firstBad, benches int, prefer bool) Spec {
		return Spec{Name: name, Repo: repo, Good: []string{commits[good]}, Bad: "main",
			Build:        fmt.Sprintf(`echo "$SXBISECT_COMMIT" >> %s; cp value built`, counter),
			BuildOutputs: []string{"built"}, BuildCache: cache, Parallel: benches,
			Run: fmt.Sprintf(`test "$(cat built)" -lt %d`, firstBad), PreferCached: prefer}
	}
	builds := func() int {
		data, _ := os.ReadFile(counter)
		return strings.Count(string(data), "\n")
	}
	for _, benches := range []int{1, 3} {
		var built [2]int
		for i, prefer := range []bool{false, true} {
			cache := filepath.Join(t.TempDir(), "cache")
			// Sessions from other good ends test other commits, near
			// those the next session's git search would test; one bench
			// each, so that the cache holds the same builds each time.
			for _, good := range []int{10, 4} {
				res, err := Start(context.Background(), spec(fmt.Sprintf("warm%d-%d-%v", good, benches, prefer), cache, good, 129, 1, false), Options{})
				require.NoError(t, err)
				require.Equal(t, commits[129], *res.FirstBad)
			}
			before := builds()
			res, err := Start(context.Background(), spec(fmt.Sprintf("again%d-%v", benches, prefer), cache, 0, 129, benches, prefer), Options{})
			require.NoError(t, err)
			require.Equal(t, Found, res.Outcome, res.Message)
			assert.Equal(t, commits[129], *res.FirstBad)
			built[i] = builds() - before
			if prefer {
				assert.Contains(t, res.Message, "--prefer-cached")
			} else {
				assert.NotContains(t, res.Message, "--prefer-cached")
			}
		}
		t.Logf("%d benches: %d builds without --prefer-cached, %d with", benches, built[0], built[1])
		assert.Less(t, built[1], built[0], "--prefer-cached built no less with %d benches", benches)
	}
}

// Interrupted with several steps in flight, a parallel session loses only
// those: resume tests no commit with a verdict again, and finds the same
// answer.
func TestParallelResumeLosesOnlyTheStepsInFlight(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 150)
	ctx, cancel := context.WithCancel(context.Background())
	ct := newConcurrentTester(commits, 97, 30*time.Millisecond)
	res, err := Start(ctx, Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3}, Options{NewTester: ct.cancelAt(8, cancel)})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome, res.Message)
	j, err := ReadJournal(repo, "default")
	require.NoError(t, err)
	judged := map[string]bool{}
	for _, v := range j.Verdicts {
		judged[v.Commit] = true
	}
	require.NoError(t, j.Close())

	again := newConcurrentTester(commits, 97, 0)
	res, err = Resume(context.Background(), repo, "default", Options{NewTester: again.new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[97], *res.FirstBad)
	for _, c := range again.tested {
		assert.False(t, judged[c], "commit %d was tested again after its verdict", indexOf(commits, c))
	}
}

// resume --parallel K goes on with K benches whatever the session started
// with, from the verdicts recorded under the old K, in both directions.
func TestResumeWithAnotherParallel(t *testing.T) {
	for _, tc := range []struct{ started, resumed int }{{1, 4}, {3, 1}} {
		t.Run(fmt.Sprintf("%d-then-%d", tc.started, tc.resumed), func(t *testing.T) {
			repo, commits := gitfixture.ValueRepo(t, 150)
			ctx, cancel := context.WithCancel(context.Background())
			first := newConcurrentTester(commits, 97, 20*time.Millisecond)
			res, err := Start(ctx, Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: tc.started}, Options{NewTester: first.cancelAt(5, cancel)})
			require.NoError(t, err)
			require.Equal(t, Interrupted, res.Outcome, res.Message)
			recorded := len(res.Steps)
			require.NotZero(t, recorded)

			again := newConcurrentTester(commits, 97, 20*time.Millisecond)
			res, err = Resume(context.Background(), repo, "default", Options{NewTester: again.new, Parallel: tc.resumed})
			require.NoError(t, err)
			require.Equal(t, Found, res.Outcome, res.Message)
			assert.Equal(t, commits[97], *res.FirstBad)
			assert.Equal(t, int32(tc.resumed), again.most.Load(), "commits tested at once after resuming")
			for _, s := range res.Steps[:recorded] {
				assert.NotContains(t, again.tested, s.Commit, "a commit judged before resuming was tested again")
			}
		})
	}
}

// A verdict that moves the range keeps the running probes that still
// split it well: with three benches on git's root and the two commits
// after it, the lower one answers good first, and the other two, a third
// and two thirds into what is left, go on instead of being stopped for
// git's new choices.
func TestParallelKeepsProbesThatStillSplitTheRange(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	next := gitsNext(t, repo, commits)
	root := next(0, 99)
	below, above := next(0, root), next(root, 99)
	firstBad := root + 5
	var mu sync.Mutex
	stopped := map[int]bool{}
	tester := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			i := indexOf(commits, commit)
			if i != below {
				select {
				case <-time.After(300 * time.Millisecond):
				case <-ctx.Done():
					mu.Lock()
					stopped[i] = true
					mu.Unlock()
					return Report{}, ctx.Err()
				}
			}
			if i >= firstBad {
				return Report{Verdict: predicate.Bad}, nil
			}
			return Report{Verdict: predicate.Good}, nil
		}), nil
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true},
		Options{NewTester: tester})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[firstBad], *res.FirstBad)
	assert.False(t, stopped[root], "git's first choice %d was stopped", root)
	assert.False(t, stopped[above], "commit %d, above it, was stopped", above)
}

// A state's key holds its good and skipped commits as sets: the search
// answers the same whatever their order, and nothing else is the same.
func TestStateKeyNamesTheSetsOfAState(t *testing.T) {
	h := func(s string) search.Hash { return hashOf(strings.Repeat(s, 40)) }
	st := search.State{Bad: h("b"), Good: []search.Hash{h("1"), h("2")}, Skip: []search.Hash{h("5")}}
	same := search.State{Bad: h("b"), Good: []search.Hash{h("2"), h("1"), h("2")}, Skip: []search.Hash{h("5")}}
	assert.Equal(t, stateKey(st), stateKey(same))
	for _, other := range []search.State{
		{Bad: h("c"), Good: st.Good, Skip: st.Skip},
		{Bad: h("b"), Good: []search.Hash{h("1")}, Skip: st.Skip},
		{Bad: h("b"), Good: st.Good},
		{Bad: h("b"), Good: []search.Hash{h("1")}, Skip: []search.Hash{h("2"), h("5")}},
	} {
		assert.NotEqual(t, stateKey(st), stateKey(other), "%+v", other)
	}
}

// A session's elapsed time is the time during which steps ran: with one
// bench their durations added up, with several the span they took
// together, not K times it.
func TestElapsedCountsStepsRunningAtOnceOnce(t *testing.T) {
	for _, k := range []int{1, 3} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			repo, commits := gitfixture.ValueRepo(t, 60)
			ct := newConcurrentTester(commits, 37, 40*time.Millisecond)
			res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: k, NoVerify: true},
				Options{NewTester: ct.new})
			require.NoError(t, err)
			require.Equal(t, Found, res.Outcome, res.Message)
			sum, longest := 0.0, 0.0
			for _, s := range res.Steps {
				sum += s.DurationS
				longest = max(longest, s.DurationS)
			}
			if k == 1 {
				assert.InDelta(t, sum, res.Elapsed, 1e-3)
				return
			}
			require.Equal(t, int32(k), ct.most.Load())
			assert.Less(t, res.Elapsed, sum, "steps that ran at once were counted once each")
			assert.GreaterOrEqual(t, res.Elapsed, longest)
			st, err := ReadStatus(repo, "default")
			require.NoError(t, err)
			assert.InDelta(t, res.Elapsed, st.Elapsed, 1e-3, "status and result agree")
		})
	}
}

// Status names every commit under test with several benches, while the
// session runs and after a kill -9 (the journal as it was then), and none
// once it is over.
func TestStatusNamesEveryCommitInFlight(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Pointer[Status]
	var killed atomic.Pointer[[]byte]
	var started atomic.Int32
	tester := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(c context.Context, commit string) (Report, error) {
			if started.Add(1) == 3 {
				// Three at once: ask as a second process would, keep the
				// journal as a kill -9 would leave it, then stop.
				time.Sleep(50 * time.Millisecond)
				if st, err := ReadStatus(repo, "default"); err == nil {
					seen.Store(st)
				}
				if data, err := os.ReadFile(filepath.Join(repo, ".git", "sxbisect", "sessions", "default", journalFile)); err == nil {
					killed.Store(&data)
				}
				cancel()
			}
			<-c.Done()
			return Report{}, c.Err()
		}), nil
	}
	res, err := Start(ctx, Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true}, Options{NewTester: tester})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome, res.Message)

	running := seen.Load()
	require.NotNil(t, running)
	assert.Equal(t, StateRunning, running.State)
	assert.Len(t, running.InFlight, 3, "%+v", running.InFlight)

	require.NotNil(t, killed.Load())
	require.NoError(t, os.WriteFile(filepath.Join(res.Dir, journalFile), *killed.Load(), 0o644))
	st, err := ReadStatus(repo, "default")
	require.NoError(t, err)
	assert.Equal(t, StateStopped, st.State)
	assert.Len(t, st.InFlight, 3)
	assert.Equal(t, 3, strings.Count(st.Text(), "was testing: "), st.Text())

	res, err = Resume(context.Background(), repo, "default", Options{NewTester: newConcurrentTester(commits, 60, 0).new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome)
	st, err = ReadStatus(repo, "default")
	require.NoError(t, err)
	assert.Empty(t, st.InFlight)
	assert.NotContains(t, st.Text(), "testing")
}
