package search

import (
	"fmt"
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
		c := &commit{id: id(fmt.Sprint(i))}
		if i%3 == 0 {
			c.id[0], c.id[1] = 0, 0 // crowd one stretch of slots
		}
		table.put(c)
		all = append(all, c)
	}
	for _, c := range all {
		require.Same(t, c, table.get(c.id))
	}
	assert.Nil(t, table.get(id("absent")))
	assert.LessOrEqual(t, 2*table.n, len(table.slots), "at most half full")
}
