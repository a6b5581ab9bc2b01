package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestRealBisectionLeavesTheCheckoutAlone runs a whole session with real
// processes in a scratch worktree while the user's checkout has
// uncommitted work, and checks that the checkout is exactly as it was,
// that the worktree is a real linked worktree, and that build outputs
// (ignored files) survived from one step to the next.
func TestRealBisectionLeavesTheCheckoutAlone(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	commits := gitfixture.Linear(30, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i)}
	})
	commits[0].Files[".gitignore"] = "build/\n"
	hashes, err := gitfixture.Build(repo, commits)
	require.NoError(t, err)

	// Uncommitted work in the user's checkout.
	require.NoError(t, os.WriteFile(filepath.Join(repo, "value"), []byte("my edit"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "notes.txt"), []byte("untracked"), 0o644))
	before := checkoutState(t, repo)

	res, err := Start(context.Background(), Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		Build:   "mkdir -p build && cp value build/out && echo x >> build/count",
		Run:     `test "$(cat build/out)" -lt 17`,
		Timeout: Duration(30 * time.Second),
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[17], *res.FirstBad)

	assert.Equal(t, before, checkoutState(t, repo), "the user's checkout must not change")

	list, err := gitfixture.Git(repo, "worktree", "list", "--porcelain")
	require.NoError(t, err)
	require.NotEmpty(t, res.Worktree)
	assert.Contains(t, list, "worktree "+res.Worktree)
	count, err := os.ReadFile(filepath.Join(res.Worktree, "build", "count"))
	require.NoError(t, err)
	builds := len(res.Steps)
	if res.Steps[len(res.Steps)-1].Commit != *res.FirstBad {
		builds++ // the first bad commit, built again to be left in the worktree
	}
	assert.Equal(t, builds, strings.Count(string(count), "x"), "the ignored build directory is kept between steps")

	for _, s := range res.Steps {
		assert.NotEmpty(t, s.Reason)
		assert.Greater(t, s.DurationS, 0.0)
	}
	logs, err := filepath.Glob(filepath.Join(res.Dir, logsDir, "*-test.log"))
	require.NoError(t, err)
	assert.Len(t, logs, len(res.Steps))
}

// TestTimeoutIsBadAndBuildFailureSkips checks the default policies with
// real processes: a test that hangs is killed at the timeout and makes the
// commit bad, and a build that fails makes it skipped.
func TestTimeoutIsBadAndBuildFailureSkips(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	commits := gitfixture.Linear(12, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i)}
	})
	hashes, err := gitfixture.Build(repo, commits)
	require.NoError(t, err)
	began := time.Now()
	res, err := Start(context.Background(), Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		// Commit 9's build breaks (inside the bad side, so the answer stays
		// unique); from commit 6 on the test hangs, with a grandchild that
		// holds the output open.
		Build:   `test "$(cat value)" != 9`,
		Run:     `if [ "$(cat value)" -ge 6 ]; then sleep 60 & sleep 60; fi`,
		Timeout: Duration(time.Second),
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[6], *res.FirstBad)
	reasons := map[string]string{}
	for _, s := range res.Steps {
		reasons[s.Commit] = string(s.Verdict) + ": " + s.Reason
	}
	assert.Contains(t, reasons[hashes[11]], "bad: timeout")
	if r, ok := reasons[hashes[9]]; ok {
		assert.Contains(t, r, "skip: build failed")
	}
	assert.Less(t, time.Since(began), 30*time.Second, "timeouts must take the whole tree down promptly")
}

// checkoutState captures what the user could see of their checkout.
func checkoutState(t *testing.T, repo string) string {
	t.Helper()
	var b strings.Builder
	// The index's mtime first: git status below must not be what moves it
	// (--no-optional-locks keeps it from refreshing the index).
	st, err := os.Stat(filepath.Join(repo, ".git", "index"))
	require.NoError(t, err)
	b.WriteString(st.ModTime().String() + "\n")
	for _, args := range [][]string{
		{"rev-parse", "HEAD"}, {"status", "--porcelain", "--untracked-files=all"},
		{"symbolic-ref", "HEAD"}, {"for-each-ref"}, {"diff"},
	} {
		out, err := gitfixture.Git(repo, append([]string{"--no-optional-locks"}, args...)...)
		require.NoError(t, err)
		b.WriteString(out + "\n")
	}
	for _, f := range []string{"value", "notes.txt"} {
		data, err := os.ReadFile(filepath.Join(repo, f))
		require.NoError(t, err)
		b.Write(data)
	}
	return b.String()
}
