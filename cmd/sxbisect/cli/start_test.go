package cli

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// start writes a commit-graph file into a repository without one, and says
// so on stderr; --no-commit-graph leaves the repository as it was.
func TestNoCommitGraphLeavesTheRepositoryWithout(t *testing.T) {
	for _, flags := range [][]string{nil, {"--no-commit-graph"}} {
		repo, hashes := gitfixture.ValueRepo(t, 10)
		args := append([]string{"start", "--repo", repo, "--no-verify", "--run", `test "$(cat value)" -lt 4`}, flags...)
		status, _, stderr := sxbisect(t, append(args, hashes[0], "main")...)
		require.Equal(t, exitFound, status, stderr)
		graphFile := filepath.Join(repo, ".git", "objects", "info", "commit-graph")
		if len(flags) > 0 {
			assert.NoFileExists(t, graphFile)
			assert.NotContains(t, stderr, "commit-graph")
		} else {
			assert.FileExists(t, graphFile)
			assert.Contains(t, stderr, "writing a commit-graph file")
		}
	}
}
