package bisect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
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

// A repository without a commit-graph gets one, and the session says so
// before git writes it, with the way to prevent it; --no-commit-graph
// leaves the repository without.
func TestStartWritesACommitGraphUnlessToldNot(t *testing.T) {
	for _, noGraph := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-commit-graph=%v", noGraph), func(t *testing.T) {
			repo, commits := gitfixture.ValueRepo(t, 20)
			var notes []string
			res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "unused", NoCommitGraph: noGraph},
				Options{NewTester: judgeBy(firstBadFrom(commits, 7), map[string]int{}), Progress: ProgressFunc(func(e Event) {
					if e.Type == EventNote {
						notes = append(notes, e.Message)
					}
				})})
			require.NoError(t, err)
			require.Equal(t, commits[7], *res.FirstBad)
			graphFile := filepath.Join(repo, ".git", "objects", "info", "commit-graph")
			if noGraph {
				assert.NoFileExists(t, graphFile)
				assert.Empty(t, notes)
				return
			}
			assert.FileExists(t, graphFile)
			require.Len(t, notes, 1)
			assert.Contains(t, notes[0], "writing a commit-graph file in "+filepath.Join(repo, ".git", "objects", "info"))
			assert.Contains(t, notes[0], "--no-commit-graph")
		})
	}
}

// Input that is refused leaves the repository as it was: no commit-graph
// file is written for a session that does not start.
func TestRefusedInputWritesNoCommitGraph(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 5)
	_, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[3]}, Bad: commits[1], Run: "unused"},
		Options{NewTester: judgeBy(nil, map[string]int{})})
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.NoFileExists(t, filepath.Join(repo, ".git", "objects", "info", "commit-graph"))
}

// Start opens the worktree pool once: the check of the pool directory and
// the session's benches share it (the git processes of opening a pool
// cost about 15 ms a start).
func TestStartOpensThePoolOnce(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 8)
	logged := gitfixture.RecordGitCommands(t)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: `test "$(cat value)" -lt 5`, NoVerify: true}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	opens := 0
	commands := logged()
	for _, c := range commands {
		if strings.Contains(c, "rev-parse --path-format=absolute --git-common-dir") {
			opens++
		}
	}
	assert.Equal(t, 1, opens, "the pool was opened %d times: %q", opens, commands)
}
