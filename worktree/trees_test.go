package worktree

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestObjectIDs reads the ids of build inputs as git has them: a
// directory's tree, a file's blob, "" for a path the commit lacks, and
// the whole tree with no paths; siblings with a common prefix do not
// hide one another.
func TestObjectIDs(t *testing.T) {
	ctx := context.Background()
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, gitfixture.Linear(2, func(i int) map[string]string {
		files := map[string]string{"a/b/f": "1", "a/c/h": "2", "ab": "3", "docs/n": string(rune('0' + i))}
		if i == 1 {
			files["new"] = "4"
		}
		return files
	}))
	require.NoError(t, err)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer w.Release()

	want := func(rev string) string {
		id, err := gitfixture.Git(repo, "rev-parse", rev)
		require.NoError(t, err)
		return id
	}
	paths := []string{"a/b", "a/c", "ab", "new"}
	ids, err := w.ObjectIDs(ctx, hashes[0], paths)
	require.NoError(t, err)
	assert.Equal(t, []string{want(hashes[0] + ":a/b"), want(hashes[0] + ":a/c"), want(hashes[0] + ":ab"), ""}, ids)
	ids, err = w.ObjectIDs(ctx, hashes[1], paths)
	require.NoError(t, err)
	assert.Equal(t, want(hashes[1]+":new"), ids[3])
	assert.Equal(t, want(hashes[0]+":a/b"), ids[0], "docs changed, the inputs did not")

	whole, err := w.ObjectIDs(ctx, hashes[1], nil)
	require.NoError(t, err)
	assert.Equal(t, []string{want(hashes[1] + "^{tree}")}, whole)
	assert.Equal(t, filepath.Join(repo, ".git"), pool.CommonDir())
}
