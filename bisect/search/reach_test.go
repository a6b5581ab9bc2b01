package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// bisectionList runs git's walk and returns the bisection list, as
// find_bisection sees it.
func bisectionList(t testing.TB, g Graph, st State, opt Options) []*commit {
	t.Helper()
	p := newPool(g)
	args := []walkArg{{id: st.Bad}}
	for _, h := range refs(st.Good) {
		args = append(args, walkArg{id: h, negative: true})
	}
	w := &revWalk{pool: p, firstParent: opt.FirstParent, prune: opt.Paths}
	require.NoError(t, w.run(args))
	list, _ := interestingList(&w.popped)
	return list
}

func requireSameReach(t *testing.T, list []*commit) {
	t.Helper()
	d, err := newRangeDAG(list, false)
	require.NoError(t, err)
	bySets, byWalking := make(weights, len(list)), make(weights, len(list))
	require.True(t, d.reachBySets(bySets, maxLiveSetWords))
	d.reachByWalking(byWalking)
	require.Equal(t, byWalking, bySets)
	merges := 0
	for _, m := range d.merge {
		if m {
			merges++
		}
	}
	require.Equal(t, merges > 0, slices.ContainsFunc(bySets, func(w int) bool { return w > 0 }))
}

func TestMergeWeightsBySetsAreGitsCounts(t *testing.T) {
	g, main := largeHistory(20_000)
	for _, opt := range []Options{{}, {Paths: true}} {
		t.Run(fmt.Sprintf("paths=%v", opt.Paths), func(t *testing.T) {
			list := bisectionList(t, g, State{Bad: main[len(main)-1], Good: []Hash{main[len(main)-2000]}}, opt)
			require.Greater(t, len(list), 1000)
			requireSameReach(t, list)
		})
	}

	// Random histories with skewed dates, several roots and octopus
	// merges, where the list is far from topological order.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		h, st, ok := tangledHistory(t, rng)
		if !ok {
			continue
		}
		requireSameReach(t, bisectionList(t, h.graph, st, Options{Paths: rng.IntN(2) == 0}))
	}
}

// tangledHistory is a random history of up to 85 commits with skewed
// dates, several roots and octopus merges, and a bisection of it: the last
// commit bad and a random one good. ok is false when the good commit
// descends from the bad one.
func tangledHistory(t *testing.T, rng *rand.Rand) (h *history, st State, ok bool) {
	h = newHistory(t)
	n := 5 + rng.IntN(80)
	for c := 0; c < n; c++ {
		var parents []string
		if c > 0 && rng.IntN(10) > 0 {
			for k := 1 + rng.IntN(3); k > 0; k-- {
				parents = append(parents, fmt.Sprint(rng.IntN(c)))
			}
			slices.Sort(parents)
			parents = slices.Compact(parents)
		}
		content := []string{"", "a", "b"}[rng.IntN(3)]
		h.add(fmt.Sprint(c), int64(rng.IntN(n)), content, parents...)
	}
	st = state(fmt.Sprint(n-1), []string{fmt.Sprint(rng.IntN(n))})
	descends, _ := IsAncestor(h.graph, st.Bad, st.Good[0])
	return h, st, !descends
}

// A line that another merges at each of its commits, as an integration
// branch merges the main line: every commit of the line is a fork point
// until the merge of it is built. Taken oldest first, each merge comes
// right after the commit it merges, and two sets are live at a time; a
// stack would run down the line first and hold a set for each of its
// commits.
func TestMergeWeightsKeepFewSetsLive(t *testing.T) {
	h := newHistory(t)
	h.add("root", 0, "")
	line, merged := "root", "root"
	const n = 500
	for i := 1; i <= n; i++ {
		next := fmt.Sprintf("a%d", i)
		h.add(next, int64(2*i), "", line)
		m := fmt.Sprintf("b%d", i)
		h.add(m, int64(2*i+1), "", merged, next)
		line, merged = next, m
	}
	list := bisectionList(t, h.graph, state(merged, []string{"root"}), Options{})
	require.Len(t, list, 2*n)
	d, err := newRangeDAG(list, false)
	require.NoError(t, err)
	words := (len(list) + 63) / 64
	bySets, byWalking := make(weights, len(list)), make(weights, len(list))
	require.True(t, d.reachBySets(bySets, 4*words), "more than four sets were live at once")
	d.reachByWalking(byWalking)
	require.Equal(t, byWalking, bySets)
}

// With the memory bound exceeded the weights are counted by walking.
func TestMergeWeightsFallBackToWalking(t *testing.T) {
	g, main := largeHistory(20_000)
	list := bisectionList(t, g, State{Bad: main[len(main)-1], Good: []Hash{main[len(main)-2000]}}, Options{})
	d, err := newRangeDAG(list, false)
	require.NoError(t, err)
	require.False(t, d.reachBySets(make(weights, len(list)), 100), "100 words cannot hold the sets of this range")

	bounded, unbounded := make(weights, len(list)), make(weights, len(list))
	require.NoError(t, countMergeReach(list, bounded, 100))
	require.NoError(t, countMergeReach(list, unbounded, maxLiveSetWords))
	require.Equal(t, unbounded, bounded)
}
