package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withGenerations is a MemGraph that knows the topological levels of the
// commits in gens, as a commit-graph file does of the commits it holds.
type withGenerations struct {
	MemGraph
	gens map[Hash]uint64
}

func (g withGenerations) Generation(h Hash) (uint64, bool, error) {
	gen, ok := g.gens[h]
	return gen, ok, nil
}

// topoLevels gives each commit of order (parents before children) one more
// than the largest level of its parents, as git does; only the first known
// of them get one, which keeps the known commits closed under ancestry.
func topoLevels(g MemGraph, order []Hash, known int) map[Hash]uint64 {
	levels := map[Hash]uint64{}
	for _, h := range order[:known] {
		level := uint64(1)
		for _, p := range g[h].Parents {
			level = max(level, levels[p]+1)
		}
		levels[h] = level
	}
	return levels
}

// randomDAG makes n commits, each with up to three parents among the
// earlier ones; with skew, dates are random, otherwise they never go back
// along a parent edge. It returns the graph and the commits, parents first.
func randomDAG(rng *rand.Rand, n int, skew bool) (MemGraph, []Hash) {
	g := MemGraph{}
	order := make([]Hash, n)
	for i := range order {
		order[i] = id(fmt.Sprint(i))
		node := MemNode{CommitTime: int64(1000 + 60*i)}
		if skew {
			node.CommitTime = int64(1000 + rng.IntN(60*n))
		}
		if i > 0 && rng.IntN(12) > 0 {
			for k := 1 + rng.IntN(3); k > 0; k-- {
				p := order[max(0, i-1-rng.IntN(min(i, 1+rng.IntN(40))))]
				if !slices.Contains(node.Parents, p) {
					node.Parents = append(node.Parents, p)
				}
			}
		}
		g[order[i]] = node
	}
	return g, order
}

// ReachesCheaply answers as IsAncestor does wherever it claims to be
// exact: with generation numbers for the ancestor (all commits known, or
// a part closed under ancestry that holds it), and on dates that do not go
// back. Elsewhere (skewed dates, no generations) a true answer is still
// always right.
func TestReachesCheaplyAgreesWithIsAncestor(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	disagreements := 0
	for i := 0; i < 3000; i++ {
		skew := i%2 == 0
		n := 2 + rng.IntN(150)
		g, order := randomDAG(rng, n, skew)
		known := []int{0, n, rng.IntN(n + 1)}[i%3]
		var graph Graph = g
		if known > 0 {
			graph = withGenerations{g, topoLevels(g, order, known)}
		}
		for k := 0; k < 10; k++ {
			d, a := order[rng.IntN(n)], order[rng.IntN(n)]
			want, err := IsAncestor(g, a, d)
			require.NoError(t, err)
			got, err := ReachesCheaply(graph, d, a)
			require.NoError(t, err)
			ancestorKnown := false
			if gg, ok := graph.(withGenerations); ok {
				_, ancestorKnown = gg.gens[a]
			}
			if !skew || ancestorKnown {
				require.Equal(t, want, got, "case %d: is %s an ancestor of %s (%d of %d commits with generations)", i, a, d, known, n)
			} else if got {
				require.True(t, want, "case %d: a path was claimed that IsAncestor does not find", i)
			} else if want {
				disagreements++
			}
		}
	}
	t.Logf("ancestors hidden by skew without generation numbers: %d", disagreements)
}

// The cost follows the commits between the ends, not the history below
// them: on a long history, asking whether the newest commit is an
// ancestor of one 2000 commits older reads a handful of commits with
// generation numbers, and about ancestorDateSlop without them, where
// IsAncestor reads all of the older one's history.
func TestReachesCheaplyReadsOnlyTheRange(t *testing.T) {
	g, main := largeHistory(50_000)
	order := topologicalOrder(g)
	good, bad := main[len(main)-2000], main[len(main)-1]
	for name, c := range map[string]struct {
		graph    Graph
		maxNodes int
	}{
		"generations":       {withGenerations{g, topoLevels(g, order, len(order))}, 1},
		"dates only":        {g, 3 * ancestorDateSlop},
		"stale generations": {withGenerations{g, topoLevels(g, order, len(order)-5000)}, 3 * ancestorDateSlop},
	} {
		t.Run(name, func(t *testing.T) {
			counting := &nodeCounter{Graph: c.graph}
			var graph Graph = counting
			if gens, ok := c.graph.(Generations); ok {
				graph = struct {
					Graph
					Generations
				}{counting, gens}
			}
			ok, err := ReachesCheaply(graph, good, bad)
			require.NoError(t, err)
			assert.False(t, ok)
			assert.LessOrEqual(t, counting.nodes, c.maxNodes, "commits read")

			// The other way round, the walk goes through the range.
			counting.nodes = 0
			ok, err = ReachesCheaply(graph, bad, good)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Less(t, counting.nodes, 20_000, "commits read")
		})
	}
	counting := &nodeCounter{Graph: g}
	ok, err := IsAncestor(counting, bad, good)
	require.NoError(t, err)
	require.False(t, ok)
	assert.Greater(t, counting.nodes, 30_000, "IsAncestor reads the whole history below good")
}

type nodeCounter struct {
	Graph
	nodes int
}

func (c *nodeCounter) Node(h Hash) (Node, error) {
	c.nodes++
	return c.Graph.Node(h)
}

// topologicalOrder lists the commits of g parents first.
func topologicalOrder(g MemGraph) []Hash {
	var order []Hash
	done := map[Hash]bool{}
	var visit func(h Hash)
	visit = func(h Hash) {
		if done[h] {
			return
		}
		done[h] = true
		for _, p := range g[h].Parents {
			visit(p)
		}
		order = append(order, h)
	}
	for h := range g {
		visit(h)
	}
	return order
}

// Without generation numbers a clock that went back hides an ancestor
// once more than ancestorDateSlop commits older than it lie between: the
// limit ReachesCheaply documents, and the case where generations help.
func TestReachesCheaplyAndSkew(t *testing.T) {
	h := newHistory(t)
	h.add("bad", 100_000, "")
	prev := "bad"
	for i := 0; i < 2*ancestorDateSlop; i++ {
		name := fmt.Sprint("skewed", i)
		h.add(name, int64(1000+i), "", prev) // made by a clock far behind
		prev = name
	}
	ok, err := ReachesCheaply(h.graph, id(prev), id("bad"))
	require.NoError(t, err)
	assert.False(t, ok, "hidden by the skew")

	order := topologicalOrder(h.graph)
	ok, err = ReachesCheaply(withGenerations{h.graph, topoLevels(h.graph, order, len(order))}, id(prev), id("bad"))
	require.NoError(t, err)
	assert.True(t, ok, "generations do not depend on clocks")
}
