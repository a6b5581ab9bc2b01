package worktree

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestObjectIDs reads the ids of build inputs as git ls-tree has them, for
// several commits in one call: a directory's tree, a file's blob, a
// submodule's commit, "" for a path the commit lacks (or that lies inside
// a file or a submodule), and the whole tree with no paths; siblings with
// a common prefix do not hide one another.
func TestObjectIDs(t *testing.T) {
	ctx := context.Background()
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, gitfixture.Linear(2, func(i int) map[string]string {
		files := map[string]string{"a/b/f": "1", "a/c/h": "2", "ab": "3", "docs/n": string(rune('0' + i)), "lib/x": "5"}
		if i == 1 {
			files["new"] = "4"
		}
		return files
	}))
	require.NoError(t, err)
	// A third commit with a submodule at lib/sm, whose commit is not in
	// this repository.
	_, err = gitfixture.Git(repo, "update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,lib/sm")
	require.NoError(t, err)
	_, err = gitfixture.Git(repo, "commit", "-q", "-m", "submodule")
	require.NoError(t, err)
	third, err := gitfixture.Git(repo, "rev-parse", "HEAD")
	require.NoError(t, err)
	hashes = append(hashes, third)

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
	// lsTree is what git ls-tree says of one path at one commit.
	lsTree := func(commit, path string) string {
		out, err := gitfixture.Git(repo, "ls-tree", "--full-tree", "--object-only", commit, "--", path)
		require.NoError(t, err)
		return out
	}
	paths := []string{"a/b", "a/c", "ab", "new", "a/b/f", "lib/sm", "lib/sm/y", "ab/z", "no/such"}
	ids, err := w.ObjectIDs(ctx, hashes, paths)
	require.NoError(t, err)
	require.Len(t, ids, len(hashes))
	for i, c := range hashes {
		for j, p := range paths {
			assert.Equal(t, lsTree(c, p), ids[i][j], "%s at commit %d", p, i)
		}
	}
	assert.Equal(t, []string{want(hashes[0] + ":a/b"), want(hashes[0] + ":a/c"), want(hashes[0] + ":ab"), ""}, ids[0][:4])
	assert.Equal(t, want(hashes[1]+":new"), ids[1][3])
	assert.Equal(t, ids[0][0], ids[1][0], "docs changed, the inputs did not")
	assert.Equal(t, "1111111111111111111111111111111111111111", ids[2][5], "a submodule's commit")
	for i := range hashes {
		assert.Equal(t, []string{"", ""}, ids[i][6:8], "inside a submodule or a file")
		assert.Empty(t, ids[i][8])
	}

	whole, err := w.ObjectIDs(ctx, hashes, nil)
	require.NoError(t, err)
	for i, c := range hashes {
		assert.Equal(t, []string{want(c + "^{tree}")}, whole[i])
	}

	// A commit the repository does not have is named in the error.
	for _, p := range [][]string{nil, paths} {
		_, err = w.ObjectIDs(ctx, []string{hashes[0], strings.Repeat("ab", 20)}, p)
		require.Error(t, err)
		assert.Contains(t, err.Error(), strings.Repeat("ab", 20))
	}
	assert.Equal(t, filepath.Join(repo, ".git"), pool.CommonDir())
}
