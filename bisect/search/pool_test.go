package search

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A bisection of a whole history holds a commit for every commit of it:
// the struct must stay within its 64-byte size class.
func TestCommitFitsSixtyFourBytes(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(commit{}), uintptr(64))
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
