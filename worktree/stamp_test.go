package worktree

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildStampLivesUntilACheckout follows a stamp through what may void
// it: any checkout drops it, even of the same commit (and coming back does
// not bring it back), a HEAD moved behind the pool's back voids it, Remove
// and a worktree deleted by hand drop it.
func TestBuildStampLivesUntilACheckout(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	require.NoError(t, w.Checkout(ctx, commits[1]))
	assert.Empty(t, w.BuildStamp())

	key := BuildKey(commits[1], "make")
	assert.NotEqual(t, key, BuildKey(commits[1], "make all"))
	assert.NotEqual(t, key, BuildKey(commits[2], "make"))
	require.NoError(t, w.SetBuildStamp(key))
	assert.Equal(t, key, w.BuildStamp())

	require.NoError(t, w.Checkout(ctx, commits[1]))
	assert.Empty(t, w.BuildStamp(), "a checkout of the same commit drops the stamp too")

	require.NoError(t, w.SetBuildStamp(key))
	require.NoError(t, w.Checkout(ctx, commits[2]))
	assert.Empty(t, w.BuildStamp(), "a checkout of another commit drops the stamp")
	require.NoError(t, w.Checkout(ctx, commits[1]))
	assert.Empty(t, w.BuildStamp(), "coming back does not bring it back")

	require.NoError(t, w.SetBuildStamp(key))
	git(t, w.Path(), "checkout", "-q", "--detach", commits[0])
	assert.Empty(t, w.BuildStamp(), "a HEAD moved by hand voids the stamp")
	git(t, w.Path(), "checkout", "-q", "--detach", commits[1])

	require.NoError(t, w.SetBuildStamp(""))
	assert.Empty(t, w.BuildStamp())

	// Deleted by hand and made again: HEAD is back at the same commit,
	// but nothing built is left.
	require.NoError(t, w.SetBuildStamp(key))
	require.NoError(t, os.RemoveAll(w.Path()))
	require.NoError(t, w.Checkout(ctx, commits[1]))
	assert.Empty(t, w.BuildStamp(), "a worktree made again has no stamp")

	require.NoError(t, w.SetBuildStamp(key))
	require.NoError(t, w.Release())
	assert.Empty(t, w.BuildStamp(), "only the holder reads the stamp")
	assert.Error(t, w.SetBuildStamp(key))
	require.NoError(t, pool.Remove(w.Name()))
	_, err = os.Lstat(pool.stampPath(w.Name()))
	assert.ErrorIs(t, err, os.ErrNotExist, "Remove drops the stamp")
}

// TestAcquirePrefersTheStampedWorktree checks the order of AcquireWith:
// the named worktree first, then the one holding the build, then any.
func TestAcquirePrefersTheStampedWorktree(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	var ws []*Worktree
	for range 3 {
		w, err := pool.Acquire(ctx, "")
		require.NoError(t, err)
		ws = append(ws, w)
	}
	key := BuildKey(commits[2], "make")
	require.NoError(t, ws[2].Checkout(ctx, commits[2]))
	require.NoError(t, ws[2].SetBuildStamp(key))
	for _, w := range ws {
		require.NoError(t, w.Release())
	}

	w, err := pool.AcquireWith(ctx, AcquireOptions{Stamp: key})
	require.NoError(t, err)
	assert.Equal(t, ws[2].Name(), w.Name(), "the free worktree holding the build comes before the others")
	assert.Equal(t, key, w.BuildStamp())
	require.NoError(t, w.Release())

	w, err = pool.AcquireWith(ctx, AcquireOptions{Prefer: ws[1].Name(), Stamp: key})
	require.NoError(t, err)
	assert.Equal(t, ws[1].Name(), w.Name(), "the named worktree comes first")
	other, err := pool.AcquireWith(ctx, AcquireOptions{Stamp: BuildKey(commits[0], "make")})
	require.NoError(t, err)
	assert.Equal(t, ws[0].Name(), other.Name(), "without a stamped worktree, the usual order")
	require.NoError(t, w.Release())
	require.NoError(t, other.Release())

	require.NoError(t, pool.RemoveAll())
	_, err = os.Lstat(filepath.Join(pool.Dir(), stampsDir))
	assert.ErrorIs(t, err, os.ErrNotExist, "RemoveAll leaves no stamps")
}
