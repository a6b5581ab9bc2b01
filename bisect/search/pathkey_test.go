package search

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingGraph is a MemGraph that counts what the search asks of it.
type countingGraph struct {
	g        MemGraph
	nodes    map[Hash]int
	pathKeys map[Hash]int
}

func newCountingGraph(g MemGraph) *countingGraph {
	return &countingGraph{g: g, nodes: map[Hash]int{}, pathKeys: map[Hash]int{}}
}

func (c *countingGraph) Node(h Hash) (Node, error) {
	c.nodes[h]++
	return c.g.Node(h)
}

func (c *countingGraph) PathKey(h Hash) (Hash, error) {
	c.pathKeys[h]++
	return c.g.PathKey(h)
}

// nodeOnly hides everything of a graph but Node, as a graph that cannot
// tell path keys.
type nodeOnly struct{ Graph }

func TestPathsNeedAPathKeyer(t *testing.T) {
	h := newHistory(t)
	h.linear(4)
	g := nodeOnly{h.graph}

	_, err := Next(g, state("c3", []string{"c0"}), Options{Paths: true})
	assert.ErrorIs(t, err, errNoPathKeys)
	_, err = NewRun(g, Options{Paths: true}).Next(state("c3", []string{"c0"}))
	assert.ErrorIs(t, err, errNoPathKeys)
	// Even when no commit gets compared: the bad commit is good.
	_, err = Next(g, state("c0", []string{"c3"}), Options{Paths: true})
	assert.ErrorIs(t, err, errNoPathKeys)

	step, err := Next(g, state("c3", []string{"c0"}), Options{})
	require.NoError(t, err, "without paths, Node is enough")
	assert.Equal(t, 3, step.Remaining)
}

func TestPathKeyErrorsReachTheCaller(t *testing.T) {
	h := newHistory(t)
	h.linear(4)
	broken := errors.New("tree unreadable")
	g := &failingPathKeys{MemGraph: h.graph, fail: id("c2"), err: broken}
	_, err := Next(g, state("c3", []string{"c0"}), Options{Paths: true})
	assert.ErrorIs(t, err, broken)
}

type failingPathKeys struct {
	MemGraph
	fail Hash
	err  error
}

func (f *failingPathKeys) PathKey(h Hash) (Hash, error) {
	if h == f.fail {
		return Hash{}, f.err
	}
	return f.MemGraph.PathKey(h)
}

// The search asks for path keys only where git compares trees: the
// interesting commits of the walk and their parents (the first parent
// alone with --first-parent), each once; never the commits it reads only
// to spread UNINTERESTING below the good ones, which in a real repository
// are most of what it reads.
func TestPathKeysOnlyWhereCompared(t *testing.T) {
	g, main := largeHistory(20_000)
	for _, firstParent := range []bool{false, true} {
		cg := newCountingGraph(g)
		p := newPool(cg)
		w := &revWalk{pool: p, firstParent: firstParent, prune: true}
		bad, good := main[len(main)-1], main[len(main)-1-1000]
		require.NoError(t, w.run([]walkArg{{id: bad}, {id: good, negative: true}}))
		require.NotZero(t, w.popped.len())

		compared := map[Hash]bool{}
		for c := range w.popped.all() {
			compared[c.id] = true
			for i, parent := range g[c.id].Parents {
				if firstParent && i > 0 {
					break
				}
				compared[parent] = true
			}
		}
		for h, n := range cg.pathKeys {
			assert.True(t, compared[h], "first-parent %v: path key of %s, which no comparison needs", firstParent, h)
			assert.Equal(t, 1, n, "first-parent %v: path key of %s asked %d times", firstParent, h, n)
		}
		assert.NotEmpty(t, cg.pathKeys)
		assert.Less(t, len(cg.pathKeys), len(cg.nodes),
			"first-parent %v: the walk reads commits it does not compare", firstParent)

		// And Next, which walks the same way, asks no more.
		cg2 := newCountingGraph(g)
		_, err := Next(cg2, State{Bad: bad, Good: []Hash{good}}, Options{Paths: true, FirstParent: firstParent})
		require.NoError(t, err)
		assert.Equal(t, len(cg.pathKeys), len(cg2.pathKeys), "first-parent %v", firstParent)
	}
}
