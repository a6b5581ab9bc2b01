package bisect

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/worktree"
)

// probeRange is a line of n commits (see everySecond), its graph, and a
// --prefer-cached tester over it whose build cache is empty, so that every
// step of a session looks at every commit within the tolerance. The pool
// is opened after logged starts logging git's commands.
func probeRange(tb testing.TB, n int) (hashes []string, g search.MemGraph, newTester func() *worktreeTester, logged func() []string) {
	tb.Helper()
	repo := filepath.Join(tb.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, gitfixture.Linear(n, everySecond))
	require.NoError(tb, err)
	g = search.MemGraph{}
	for i, h := range hashes {
		node := search.MemNode{CommitTime: int64(i)}
		if i > 0 {
			node.Parents = []search.Hash{hashOf(hashes[i-1])}
		}
		g[hashOf(h)] = node
	}
	logged = gitfixture.RecordGitCommands(tb)
	pool, err := worktree.Open(repo, worktree.Options{})
	require.NoError(tb, err)
	spec := Spec{Repo: repo, GoodCommits: hashes[:1], BadCommit: hashes[n-1], Run: "true", Build: "true", PreferCached: true,
		BuildInputs: []string{"src"}, BuildOutputs: []string{"out"}, BuildCache: filepath.Join(tb.TempDir(), "cache")}
	newTester = func() *worktreeTester {
		tt, err := newWorktreeTester(context.Background(), pool, "", spec, stubBook{}, nil)
		require.NoError(tb, err)
		return tt
	}
	return hashes, g, newTester, logged
}

// probeSession takes the steps of a session with --prefer-cached on tt,
// one bench, commit firstBad the first bad one, and returns the git
// commands each step ran.
func probeSession(tb testing.TB, tt *worktreeTester, g search.Graph, hashes []string, firstBad int, logged func() []string) (perStep []int) {
	tb.Helper()
	s := &session{spec: tt.spec, graph: g, hist: &history{}, tester: tt}
	st := search.State{Bad: hashOf(hashes[len(hashes)-1]), Good: []search.Hash{hashOf(hashes[0])}}
	ctx := context.Background()
	logged()
	for {
		step, err := search.Next(g, st, search.Options{})
		require.NoError(tb, err)
		if step.Kind != search.Test {
			require.Equal(tb, hashes[firstBad], step.Commit.String())
			return perStep
		}
		act := s.cachedChoice(ctx, st, action{commit: step.Commit.String(), kind: KindBisect}, nil, nil)
		require.Empty(tb, act.instead, "nothing is cached")
		perStep = append(perStep, len(logged()))
		if slices.Index(hashes, act.commit) >= firstBad {
			st.Bad = hashOf(act.commit)
		} else {
			st.Good = append(st.Good, hashOf(act.commit))
		}
	}
}

// A step of --prefer-cached reads the build inputs of every commit within
// its tolerance (here a hundred or so at the first step, 5% of 2,000 on
// each side), in one git process per step.
func TestPreferCachedReadsInputsInOneGitProcessPerStep(t *testing.T) {
	hashes, g, newTester, logged := probeRange(t, 2000)
	tt := newTester()
	defer tt.Close()
	perStep := probeSession(t, tt, g, hashes, 1234, logged)
	assert.Greater(t, len(perStep), 8)
	for i, n := range perStep {
		assert.LessOrEqual(t, n, 1, "step %d ran %d git commands", i+1, n)
	}
	assert.Greater(t, len(tt.cache.inputIDs), 200, "the inputs of the commits within the tolerance were read")
}

// BenchmarkPreferCachedSteps is a whole session's steps with
// --prefer-cached on a line of 10,000 commits with nothing cached (the
// most a step reads: every commit within the tolerance), with one bench
// and no tests: git/step is the git processes a step starts, inputs/step
// the commits whose build inputs it reads, ns/step its time.
//
//	go test -run '^$' -bench PreferCachedSteps ./bisect/
func BenchmarkPreferCachedSteps(b *testing.B) {
	hashes, g, newTester, logged := probeRange(b, 10_000)
	var steps, gits, inputs int
	for b.Loop() {
		b.StopTimer()
		tt := newTester()
		b.StartTimer()
		perStep := probeSession(b, tt, g, hashes, 7_777, logged)
		b.StopTimer()
		steps += len(perStep)
		for _, n := range perStep {
			gits += n
		}
		inputs += len(tt.cache.inputIDs)
		require.NoError(b, tt.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(gits)/float64(steps), "git/step")
	b.ReportMetric(float64(inputs)/float64(steps), "inputs/step")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
}
