package search

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On a line of 100 commits the best split is the middle; within 5% of the
// range lie the ten commits around it, best first, and none is skipped.
func TestNearHalfwayOnALine(t *testing.T) {
	g, ids := lineOf(101)
	st := State{Bad: ids[100], Good: []Hash{ids[0]}, Skip: []Hash{ids[51]}}
	near, err := NearHalfway(g, st, Options{}, 0.05)
	require.NoError(t, err)
	require.NotEmpty(t, near)
	step, err := Next(g, State{Bad: ids[100], Good: []Hash{ids[0]}}, Options{})
	require.NoError(t, err)
	assert.Equal(t, step.Commit, near[0], "git's choice comes first")
	assert.NotContains(t, near, ids[51], "a skipped commit is not offered")
	for _, h := range near {
		i := indexOfHash(ids, h)
		assert.InDelta(t, 50, i, 5.5, "commit %d is not near the middle", i)
	}
	assert.LessOrEqual(t, len(near), 11)
	near, err = NearHalfway(g, st, Options{}, 0)
	require.NoError(t, err)
	assert.Len(t, near, 1, "tolerance 0: the best alone")
}

// The band is the tolerance, however many commits it holds: on a line of
// 1,000 commits, 5% of the range is the hundred around the middle, closest
// first.
func TestNearHalfwayGivesTheWholeBand(t *testing.T) {
	g, ids := lineOf(1001)
	near, err := NearHalfway(g, State{Bad: ids[1000], Good: []Hash{ids[0]}}, Options{}, 0.05)
	require.NoError(t, err)
	assert.InDelta(t, 100, len(near), 2)
	last := 0
	for _, h := range near {
		off := indexOfHash(ids, h) - 500
		off = max(off, -off)
		assert.LessOrEqual(t, off, 50)
		assert.GreaterOrEqual(t, off, last-1, "commit %d comes after one farther from the middle", off+500)
		last = max(last, off)
	}
	assert.Contains(t, near, ids[450])
	assert.Contains(t, near, ids[549])
}

func indexOfHash(ids []Hash, h Hash) int {
	for i, x := range ids {
		if x == h {
			return i
		}
	}
	return -1
}

// lineOf is a linear history of n commits, oldest first.
func lineOf(n int) (MemGraph, []Hash) {
	g := MemGraph{}
	ids := make([]Hash, n)
	for i := range ids {
		ids[i] = id(fmt.Sprint("line ", i))
		node := MemNode{CommitTime: int64(1000 + i)}
		if i > 0 {
			node.Parents = []Hash{ids[i-1]}
		}
		g[ids[i]] = node
	}
	return g, ids
}

// On a line of 101 commits, 10 good and 100 bad, a test of commit i
// settles min(i-10, 100-i) of the 90 candidates; commits outside the
// range, the bad one and skipped ones settle nothing.
func TestSplitsOnALine(t *testing.T) {
	g, ids := lineOf(101)
	st := State{Bad: ids[100], Good: []Hash{ids[10]}, Skip: []Hash{ids[51]}}
	splits, best, err := Splits(g, st, Options{}, []Hash{ids[55], ids[30], ids[95], ids[5], ids[10], ids[100], ids[51], id("elsewhere")})
	require.NoError(t, err)
	assert.Equal(t, 45, best)
	assert.Equal(t, []int{45, 20, 5, -1, -1, -1, -1, -1}, splits)
}
