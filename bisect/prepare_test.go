package bisect

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// countingGraph counts the commits a check reads.
type countingGraph struct {
	search.Graph
	nodes int
}

func (c *countingGraph) Node(h search.Hash) (search.Node, error) {
	c.nodes++
	return c.Graph.Node(h)
}

// Checking the ends reads the commits between them, not the whole history
// below the good one: bisecting the last 10 of 20,000 commits reads a few
// hundred at most, and ends given the wrong way round are still refused.
func TestCheckEndsReadsOnlyTheRange(t *testing.T) {
	g := search.MemGraph{}
	var line []search.Hash
	for i := 0; i < 20_000; i++ {
		var h search.Hash
		h[0], h[1], h[2] = byte(i>>16), byte(i>>8), byte(i)
		n := search.MemNode{CommitTime: int64(1_700_000_000 + 60*i)}
		if i > 0 {
			n.Parents = []search.Hash{line[i-1]}
		}
		g[h] = n
		line = append(line, h)
	}
	good, bad := line[len(line)-11].String(), line[len(line)-1].String()

	counting := &countingGraph{Graph: g}
	require.NoError(t, checkEnds(counting, Spec{Good: []string{good}, Bad: bad, GoodCommits: []string{good}, BadCommit: bad}))
	assert.Less(t, counting.nodes, 500, "commits read")

	counting.nodes = 0
	err := checkEnds(counting, Spec{Good: []string{bad}, Bad: good, GoodCommits: []string{bad}, BadCommit: good})
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), "is an ancestor of good")
	assert.Less(t, counting.nodes, 500, "commits read")
}
