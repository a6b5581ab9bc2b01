package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
)

// unreachableSubmoduleRepo makes a repository of n commits that all have a
// submodule at lib whose URL is a path that does not exist, as when its
// server cannot be reached, and a file value holding i at commit i. With
// initialised, the checkout uses the submodule (git submodule init), so
// that worktrees try to check it out.
func unreachableSubmoduleRepo(t *testing.T, n int, initialised bool) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	first, err := gitfixture.Build(dir, []gitfixture.Commit{{Time: 1_700_000_000, Files: map[string]string{
		"value":       "0",
		".gitmodules": "[submodule \"lib\"]\n\tpath = lib\n\turl = /nonexistent/sxbisect-test/lib.git\n",
	}}})
	require.NoError(t, err)
	git := func(args ...string) string {
		t.Helper()
		out, err := gitfixture.Git(dir, args...)
		require.NoError(t, err)
		return out
	}
	// The recorded commit need not exist anywhere: the clone fails first.
	git("update-index", "--add", "--cacheinfo", "160000,"+first[0]+",lib")
	hashes := []string{}
	for i := 0; i < n; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "value"), []byte(fmt.Sprint(i)), 0o644))
		git("add", "value")
		git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("change %d", i))
		hashes = append(hashes, git("rev-parse", "HEAD"))
	}
	require.Contains(t, git("ls-tree", hashes[0]), "160000 commit "+first[0]+"\tlib")
	if initialised {
		git("submodule", "init")
	}
	return append([]string{dir}, hashes...)
}

// TestUnreachableSubmodulesAreTestedWithout checks that a session whose
// submodules cannot be cloned tests every commit without them, as git
// bisect run does, and says so once, instead of skipping every commit.
// With a predicate that compares with the good commit, the baseline
// worktree meets the failure first, and the candidates' worktree must not
// try again either.
func TestUnreachableSubmodulesAreTestedWithout(t *testing.T) {
	for name, spec := range map[string]Spec{
		"test command": {Run: `test "$(cat value)" -lt 11 && test ! -e lib/.git`},
		"with a baseline": {Predicates: []PredicateRef{{Name: predicate.SuiteName, Params: map[string]string{
			"run":        `if [ "$(cat value)" -lt 11 ]; then echo "10/10 passed"; else echo "9/10 passed"; fi`,
			"scoreboard": `(?P<pass>\d+)/(?P<total>\d+) passed`,
		}}}},
	} {
		t.Run(name, func(t *testing.T) {
			repoAndHashes := unreachableSubmoduleRepo(t, 20, true)
			repo, hashes := repoAndHashes[0], repoAndHashes[1:]
			spec.Repo, spec.Good, spec.Bad = repo, []string{hashes[0]}, "main"
			spec.Timeout = Duration(30 * time.Second)
			var mu sync.Mutex
			var notes []string
			res, err := Start(context.Background(), spec, Options{Progress: ProgressFunc(func(e Event) {
				if e.Type == "note" && strings.Contains(e.Message, "submodule") {
					mu.Lock()
					notes = append(notes, e.Message)
					mu.Unlock()
				}
			})})
			require.NoError(t, err)
			require.Equal(t, Found, res.Outcome, res.Message)
			assert.Equal(t, hashes[11], *res.FirstBad)
			for _, s := range res.Steps {
				assert.NotEqual(t, string(predicate.Skip), s.Verdict, "step %s: %s", s.Commit, s.Reason)
			}
			require.Len(t, notes, 1, "the missing submodules are told once")
			assert.Regexp(t, `^submodules could not be checked out at [0-9a-f]+ \(repository '/nonexistent/sxbisect-test/lib\.git' does not exist\): `+
				`testing without them from here on, as git bisect run does; fix access to them to have them checked out$`, notes[0])
			_, err = os.Lstat(filepath.Join(res.Worktree, "lib", ".git"))
			assert.ErrorIs(t, err, os.ErrNotExist, "the submodule was checked out after all")
		})
	}
}

// A submodule that the user's checkout does not use, such as git.git's
// optional sha1collisiondetection in most clones, is not fetched by any
// session: no attempt, no note, and the commits are tested as git bisect
// run tests them.
func TestSubmodulesNotInitialisedAreNotFetched(t *testing.T) {
	repoAndHashes := unreachableSubmoduleRepo(t, 20, false)
	repo, hashes := repoAndHashes[0], repoAndHashes[1:]
	var notes []string
	res, err := Start(context.Background(), Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main", NoCommitGraph: true,
		Run: `test "$(cat value)" -lt 11`, Timeout: Duration(30 * time.Second),
	}, Options{Progress: ProgressFunc(func(e Event) {
		if e.Type == "note" {
			notes = append(notes, e.Message)
		}
	})})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[11], *res.FirstBad)
	assert.Empty(t, notes)
	assert.NotContains(t, res.Message, "submodule")
	entries, err := os.ReadDir(filepath.Join(res.Worktree, "lib"))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing was cloned into lib")
}
