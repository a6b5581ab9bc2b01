package search

import (
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A bisection of a whole history holds a commit for every commit of it:
// the struct must stay within its 48-byte size class.
func TestCommitFitsFortyEightBytes(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(commit{}), uintptr(48))
}

// A commit's parents are a pointer and a count into a list of the pool's;
// simplifying a merge points them at the parent it keeps, in place.
func TestCommitParentsPointIntoTheirList(t *testing.T) {
	var c commit
	assert.Empty(t, c.parents())
	a, b, d := &commit{id: id("a")}, &commit{id: id("b")}, &commit{id: id("d")}
	list := []*commit{a, b, d}
	c.setParents(list)
	require.Equal(t, list, c.parents())
	c.setParents(c.parents()[1:2])
	require.Equal(t, []*commit{b}, c.parents())
	require.Equal(t, []*commit{a, b, d}, list, "the list is left as it was")
	c.setParents(nil)
	assert.Empty(t, c.parents())
}

func TestCommitTableFindsEveryCommit(t *testing.T) {
	var table commitTable
	var all []*commit
	for i := 0; i < 10_000; i++ {
		h := id(fmt.Sprint(i))
		if i%3 == 0 {
			h[0], h[1] = 0, 0 // crowd one stretch of slots
		}
		c := table.add(h)
		require.Equal(t, h, c.id)
		all = append(all, c)
	}
	for _, c := range all {
		require.Same(t, c, table.get(c.id))
	}
	assert.Nil(t, table.get(id("absent")))
	assert.LessOrEqual(t, 2*table.n, len(table.slots), "at most half full")
	var each []*commit
	table.each(func(c *commit) { each = append(each, c) })
	assert.Equal(t, all, each)
}

// The table's slots are what a whole history's bisection holds beside
// its commits: two to four of them a commit, at 4 bytes each.
func TestCommitTableSlotsAreFourBytes(t *testing.T) {
	var table commitTable
	table.add(id("one"))
	assert.Equal(t, uintptr(4), unsafe.Sizeof(table.slots[0]))
}

// The walk's list keeps its commits where they were first put, a block at
// a time, and gives them back in both orders.
func TestCommitListGrowsWithoutCopying(t *testing.T) {
	var l commitList
	var want []*commit
	for i := 0; i < 2*listBlock+10; i++ {
		c := &commit{id: id(fmt.Sprint(i))}
		l.add(c)
		want = append(want, c)
	}
	l.add(want[0]) // the list does not mind repeats
	want = append(want, want[0])
	first := &l.full[0][0]
	for i := 0; i < listBlock; i++ {
		l.add(want[i])
		want = append(want, want[i])
	}
	require.Same(t, first, &l.full[0][0], "the first block was copied")
	require.Equal(t, len(want), l.len())
	require.Equal(t, want, slices.Collect(l.all()))
	back := slices.Collect(l.backward())
	slices.Reverse(back)
	require.Equal(t, want, back)
	for c := range l.backward() {
		require.Same(t, want[len(want)-1], c)
		break
	}
}
