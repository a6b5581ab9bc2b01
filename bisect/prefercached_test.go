package bisect

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/worktree"
)

// cacheSet is a tester that only says which builds the cache holds.
type cacheSet struct {
	TesterFunc
	cached map[string]bool
}

func (c cacheSet) firstCachedBuild(_ context.Context, commits []string) int {
	return slices.IndexFunc(commits, func(commit string) bool { return c.cached[commit] })
}

// simHistory makes n commits, each the child of the one before or now and
// then of an older one (branches), sometimes with a second or third
// parent among the recent ones (merges), and returns the graph, the
// commits parents first, and each commit's ancestors (itself included).
func simHistory(rng *rand.Rand, n int) (search.MemGraph, []search.Hash, []map[search.Hash]bool) {
	g := search.MemGraph{}
	order := make([]search.Hash, n)
	ancestors := make([]map[search.Hash]bool, n)
	index := map[search.Hash]int{}
	for i := range order {
		var h search.Hash
		h[0], h[1], h[19] = byte(i>>8), byte(i), 0x5a
		order[i], index[h] = h, i
		node := search.MemNode{CommitTime: int64(1_700_000_000 + 60*i)}
		ancestors[i] = map[search.Hash]bool{h: true}
		if i > 0 {
			older := func() search.Hash { return order[max(0, i-2-rng.IntN(min(i, 30)))] }
			node.Parents = []search.Hash{order[i-1]}
			if rng.IntN(5) == 0 { // a branch from an older commit
				node.Parents[0] = older()
			}
			for k := rng.IntN(6) - 3; k > 0; k-- { // a merge one time in six
				if p := older(); !slices.Contains(node.Parents, p) {
					node.Parents = append(node.Parents, p)
				}
			}
		}
		for _, p := range node.Parents {
			for a := range ancestors[index[p]] {
				ancestors[i][a] = true
			}
		}
		g[h] = node
	}
	return g, order, ancestors
}

// simParallel runs a parallel session's scheduler over a graph in memory,
// with no processes: k benches, each probe finishing in a random order, a
// commit bad when it reaches firstBad, and a commit's build cached once it
// is tested. It returns the session's answer, the builds (commits tested
// whose build was not cached) and the steps.
func simParallel(t *testing.T, rng *rand.Rand, g search.Graph, good []string, bad, firstBad string, reaches func(from, to string) bool,
	cached map[string]bool, k int, prefer bool) (answer string, builds, steps int) {
	t.Helper()
	spec := Spec{GoodCommits: good, BadCommit: bad, Parallel: k, PreferCached: prefer, NoVerify: true, Flaky: FlakyOff}.WithDefaults()
	s := &session{spec: spec, graph: g, hist: &history{}, tester: cacheSet{cached: cached}, subjects: map[string]string{firstBad: "the change"}}
	ctx := context.Background()
	running := map[string]*probe{}
	kinds := map[string]StepKind{}
	tested := map[string]bool{}
	for {
		require.Less(t, steps, 500, "the session does not end")
		acts, final, err := s.plan(ctx, k, running)
		require.NoError(t, err)
		if final != nil {
			require.NotNil(t, final.end, final.abort)
			require.Equal(t, Found, final.end.Outcome, final.end.Message)
			return final.end.FirstBad, builds, steps
		}
		require.LessOrEqual(t, len(acts), k)
		wanted := map[string]bool{}
		for _, a := range acts {
			wanted[a.commit] = true
		}
		for c := range running {
			if !wanted[c] {
				delete(running, c) // stopped: a verdict made it useless
			}
		}
		for _, a := range acts {
			if running[a.commit] != nil {
				continue
			}
			if len(running) == k {
				break
			}
			require.False(t, tested[a.commit], "a commit with a verdict is tested again")
			if a.instead != "" {
				require.True(t, prefer, "a step other than git's choice without --prefer-cached")
				require.True(t, cached[a.commit], "a step other than git's choice has no cached build")
			}
			if !cached[a.commit] {
				builds++
			}
			running[a.commit], kinds[a.commit] = &probe{fl: &flight{act: a}}, a.kind
		}
		require.NotEmpty(t, running)
		// The probe that finishes first, in an order the benches could
		// have: any of them.
		var cs []string
		for c := range running {
			cs = append(cs, c)
		}
		slices.Sort(cs)
		c := cs[rng.IntN(len(cs))]
		delete(running, c)
		v := predicate.Good
		if reaches(c, firstBad) {
			v = predicate.Bad
		}
		s.hist.verdicts = append(s.hist.verdicts, VerdictRecord{Type: RecVerdict, Commit: c, Kind: kinds[c], Verdict: v})
		tested[c], cached[c] = true, true
		steps++
	}
}

// Simulated over many random histories (merges included, good ends that
// are not ancestors of the bad one, so that merge bases are tested too),
// cached sets and orders in which the benches finish: a parallel session
// with --prefer-cached always finds the first bad commit, tests no commit
// twice, takes another commit than git's only when its build is cached,
// and builds fewer commits than without.
func TestParallelPreferCachedSimulation(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	var builds, steps [2]int
	sessions, apart := 0, 0
	for sessions < 400 {
		n := 20 + rng.IntN(180)
		g, order, ancestors := simHistory(rng, n)
		bad := n - 1 - rng.IntN(3)
		good := rng.IntN(bad)
		// The first bad commit: one the bad end reaches and the good one
		// does not.
		var range_ []int
		for i := 0; i < n; i++ {
			if ancestors[bad][order[i]] && !ancestors[good][order[i]] && i != good {
				range_ = append(range_, i)
			}
		}
		if len(range_) < 2 || ancestors[good][order[bad]] {
			continue
		}
		firstBad := order[range_[rng.IntN(len(range_))]].String()
		index := map[string]int{}
		for i, h := range order {
			index[h.String()] = i
		}
		reaches := func(from, to string) bool { return ancestors[index[from]][hashOf(to)] }
		share := []float64{0.1, 0.3, 0.6}[sessions%3]
		cached := map[string]bool{}
		for _, h := range order {
			if rng.Float64() < share {
				cached[h.String()] = true
			}
		}
		if !ancestors[bad][order[good]] {
			apart++
		}
		k := []int{2, 3, 4, 7}[sessions%4]
		seed := rng.Uint64()
		for i, prefer := range []bool{false, true} {
			answer, b, st := simParallel(t, rand.New(rand.NewPCG(seed, 1)), g, []string{order[good].String()}, order[bad].String(), firstBad, reaches,
				maps.Clone(cached), k, prefer)
			require.Equal(t, firstBad, answer, "session %d (prefer %v, k %d, %d commits)", sessions, prefer, k, n)
			builds[i] += b
			steps[i] += st
		}
		sessions++
	}
	t.Logf("%d sessions (%d with a good end that is no ancestor of the bad one): builds %d without --prefer-cached, %d with (%.2fx); steps %d and %d (%.2fx)", sessions, apart,
		builds[0], builds[1], float64(builds[1])/float64(builds[0]), steps[0], steps[1], float64(steps[1])/float64(steps[0]))
	require.Less(t, builds[1], builds[0])
}

// The flake-aware search keeps to its own commits with --prefer-cached,
// with one bench or several, and the result says so rather than ignore
// the flag.
func TestFlakyTellsPreferCachedLeavesItsCommits(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 40)
	for _, k := range []int{1, 3} {
		ft := newFlakyTester(commits, 21, 0.1, 5)
		res, err := Start(context.Background(), Spec{Name: fmt.Sprint("k", k), Repo: repo, Good: []string{commits[0]}, Bad: "main",
			Build: "true", Run: "x", Flaky: FlakyOn, Parallel: k, PreferCached: true}, Options{NewTester: ft.new})
		require.NoError(t, err)
		require.Equal(t, Found, res.Outcome, res.Message)
		assert.Equal(t, commits[21], *res.FirstBad)
		assert.Contains(t, res.Message, "--prefer-cached does not change the flake-aware search's commits")
	}
}

// everySecond is a range where the build's input, src/level, changes at
// every second commit (it holds i/2), and docs/n, which the build does not
// read, at every commit.
func everySecond(i int) map[string]string {
	return map[string]string{"src/level": fmt.Sprint(i / 2), "docs/n": fmt.Sprint(i)}
}

// preferCachedRange is a line of 200 commits (see everySecond) and a spec
// over it that finds commit 150 with --prefer-cached, building out/ and
// bin/ from src/level and keeping them in a build cache of its own; the
// commits come oldest first, and counter counts the builds (see builds).
func preferCachedRange(t *testing.T) (spec Spec, hashes []string, counter string) {
	t.Helper()
	repo, hashes := linearRepo(t, 200, everySecond)
	counter = filepath.Join(t.TempDir(), "builds")
	return Spec{Repo: repo, Good: []string{hashes[0]}, Bad: "main", NoVerify: true,
		Build:       copyBuild(counter) + ` && mkdir -p bin && cp src/level bin/level`,
		BuildInputs: []string{"src"}, BuildOutputs: []string{"bin", "out"}, BuildCache: filepath.Join(t.TempDir(), "cache"),
		Run: `test "$(cat out/level)" -lt 75`, PreferCached: true}, hashes, counter
}

// warmCache builds commit as spec says, but keeping outputs in the build
// cache, as an earlier session did.
func warmCache(t *testing.T, spec Spec, hashes []string, commit string, outputs []string) {
	t.Helper()
	pool, err := worktree.Open(spec.Repo, worktree.Options{})
	require.NoError(t, err)
	spec.GoodCommits, spec.BadCommit, spec.BuildOutputs = []string{hashes[0]}, hashes[len(hashes)-1], outputs
	tt := testerFor(t, pool, spec)
	rep := (&steps{t: t, logs: t.TempDir()}).test(tt, commit)
	require.NotEqual(t, 1.0, rep.Metrics[buildCachedMetric], "the cache was warm already")
	require.NoError(t, tt.Close())
}

// filter is n with only the keys given.
func filter(n map[string]int, keys ...string) map[string]int {
	out := map[string]int{}
	for _, k := range keys {
		if v, ok := n[k]; ok {
			out[k] = v
		}
	}
	return out
}

// firstBisectStep is the session's first step of the search proper.
func firstBisectStep(t *testing.T, res *Result) Step {
	t.Helper()
	for _, s := range res.Steps {
		if s.Kind == KindBisect {
			return s
		}
	}
	t.Fatal("no bisect step")
	return Step{}
}

// --prefer-cached looks at every commit within its tolerance, a twentieth
// of the range, however many that is: on 200 commits, git tests commit 99
// or 100 first, and a cached build of commit 106 (a twentieth is 10
// commits) is taken instead; so is that of 107, whose inputs are 106's.
func TestPreferCachedLooksAcrossTheWholeTolerance(t *testing.T) {
	spec, hashes, counter := preferCachedRange(t)
	warmCache(t, spec, hashes, hashes[106], spec.BuildOutputs)
	res, err := Start(context.Background(), spec, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[150], *res.FirstBad)
	first := firstBisectStep(t, res)
	assert.Contains(t, []string{hashes[106], hashes[107]}, first.Commit, "the first step tested commit %d", slices.Index(hashes, first.Commit))
	assert.Equal(t, map[string]int{hashes[106]: 1}, filter(builds(t, counter), hashes[106], hashes[107]), "the first step built")
	assert.Contains(t, res.Message, "instead of git's choice")
}

// A cached build of other outputs than --build-output names now is built
// over, so --prefer-cached does not count it as cached: git's choice is
// tested rather than a commit that needs a build just the same.
func TestPreferCachedIgnoresBuildsOfOtherOutputs(t *testing.T) {
	spec, hashes, _ := preferCachedRange(t)
	warmCache(t, spec, hashes, hashes[102], []string{"out"})

	pool, err := worktree.Open(spec.Repo, worktree.Options{})
	require.NoError(t, err)
	for _, outputs := range [][]string{{"out"}, spec.BuildOutputs} {
		s := spec
		s.GoodCommits, s.BadCommit, s.BuildOutputs = []string{hashes[0]}, hashes[199], outputs
		tt := testerFor(t, pool, s)
		want := -1
		if len(outputs) == 1 {
			want = 1 // the outputs kept: 103 has 102's inputs
		}
		assert.Equal(t, want, tt.firstCachedBuild(context.Background(), []string{hashes[101], hashes[103]}), "outputs %v", outputs)
		require.NoError(t, tt.Close())
	}

	res, err := Start(context.Background(), spec, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[150], *res.FirstBad)
	first := firstBisectStep(t, res)
	assert.Contains(t, []string{hashes[99], hashes[100]}, first.Commit, "the first step tested commit %d", slices.Index(hashes, first.Commit))
	assert.NotContains(t, res.Message, "instead of git's choice")
}
