package worktree

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// newSuperproject makes a repository with a submodule at lib, cloned from
// url(path of the submodule's repository), and returns its commits: c0
// has no submodule, c1 adds lib, c2 changes only main.c, and c3 moves lib
// to the submodule's second commit, whose lib.c reads "int lib1;".
func newSuperproject(t *testing.T, url func(sub string) string) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "super")
	first, err := gitfixture.Build(dir, []gitfixture.Commit{{Time: 1000, Files: map[string]string{"main.c": "int main;\n"}}})
	require.NoError(t, err)
	sub := filepath.Join(t.TempDir(), "sub")
	subCommits, err := gitfixture.Build(sub, []gitfixture.Commit{
		{Time: 1000, Files: map[string]string{"lib.c": "int lib;\n"}},
		{Parents: []int{0}, Time: 2000, Files: map[string]string{"lib.c": "int lib1;\n"}},
	})
	require.NoError(t, err)
	commit := func(msg string) string {
		git(t, dir, "commit", "-q", "-m", msg)
		return git(t, dir, "rev-parse", "HEAD")
	}
	commits := []string{first[0]}
	git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+subCommits[0]+",lib")
	write(t, filepath.Join(dir, ".gitmodules"), "[submodule \"lib\"]\n\tpath = lib\n\turl = "+url(sub)+"\n")
	git(t, dir, "add", ".gitmodules")
	commits = append(commits, commit("add lib"))
	write(t, filepath.Join(dir, "main.c"), "int main2;\n")
	git(t, dir, "add", "main.c")
	commits = append(commits, commit("change main.c"))
	git(t, dir, "update-index", "--cacheinfo", "160000,"+subCommits[1]+",lib")
	commits = append(commits, commit("move lib"))
	return dir, commits
}

// subcommands names the git subcommand of each logged command line, after
// its -c settings.
func subcommands(lines []string) []string {
	var names []string
	for _, line := range lines {
		fields := strings.Fields(line)
		for i := 0; i < len(fields); i++ {
			if fields[i] == "-c" {
				i++
				continue
			}
			names = append(names, fields[i])
			break
		}
	}
	return names
}

func TestSubmodulesAreCheckedOutWhenTheyCanBe(t *testing.T) {
	ctx := context.Background()
	repo, commits := newSuperproject(t, func(sub string) string { return sub })
	git(t, repo, "submodule", "init") // the user's checkout uses lib
	config := read(t, filepath.Join(repo, ".git", "config"))
	logged := gitfixture.RecordGitCommands(t)
	pool, err := Open(repo, Options{GitConfig: []string{"protocol.file.allow=always"}})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	libC := filepath.Join(w.Path(), "lib", "lib.c")
	logged()

	require.NoError(t, w.Checkout(ctx, commits[1]))
	require.Equal(t, "int lib;\n", read(t, libC))
	assert.Equal(t, []string{"checkout", "config", "submodule"}, subcommands(logged()),
		"the configuration is read once")

	// Same submodule commit: one diff of the trees, no submodule update.
	require.NoError(t, w.Checkout(ctx, commits[2]))
	assert.Equal(t, []string{"checkout", "diff"}, subcommands(logged()))
	assert.Equal(t, "int main2;\n", read(t, filepath.Join(w.Path(), "main.c")))
	assert.Equal(t, "int lib;\n", read(t, libC))

	// The submodule moves: it is updated.
	require.NoError(t, w.Checkout(ctx, commits[3]))
	assert.Equal(t, []string{"checkout", "diff", "submodule"}, subcommands(logged()))
	assert.Equal(t, "int lib1;\n", read(t, libC))
	assert.Equal(t, "", git(t, w.Path(), "status", "--porcelain"))

	// A commit without .gitmodules costs nothing beyond the checkout, and
	// coming back to one with the submodule updates it, modified files
	// included.
	write(t, libC, "modified by the test\n")
	logged()
	require.NoError(t, w.Checkout(ctx, commits[0]))
	assert.Equal(t, []string{"checkout"}, subcommands(logged()))
	require.NoError(t, w.Checkout(ctx, commits[1]))
	assert.Equal(t, []string{"checkout", "diff", "submodule"}, subcommands(logged()))
	assert.Equal(t, "int lib;\n", read(t, libC))
	require.NoError(t, w.Release())

	// What the previous holder left in the submodule is not known to the
	// next one, whose first checkout updates the submodules.
	write(t, libC, "modified by the test\n")
	again, err := pool.Acquire(ctx, w.Name())
	require.NoError(t, err)
	require.Equal(t, w.Name(), again.Name())
	require.NoError(t, again.Checkout(ctx, commits[2]))
	assert.Equal(t, "int lib;\n", read(t, libC))
	require.NoError(t, again.Release())

	require.Equal(t, config, read(t, filepath.Join(repo, ".git", "config")), "the shared config was changed")
	require.NoError(t, pool.RemoveAll())
}

func TestSubmoduleFailureLeavesTheCommitCheckedOut(t *testing.T) {
	ctx := context.Background()
	for name, setup := range map[string]struct {
		url    func(sub string) string
		config []string
		reason string
	}{
		"missing repository": {func(string) string { return "/nonexistent/sxbisect-test/sub.git" }, []string{"protocol.file.allow=always"}, "does not exist"},
		"transport refused":  {func(sub string) string { return sub }, nil, "transport 'file' not allowed"},
	} {
		t.Run(name, func(t *testing.T) {
			repo, commits := newSuperproject(t, setup.url)
			git(t, repo, "submodule", "init")
			logged := gitfixture.RecordGitCommands(t)
			pool, err := Open(repo, Options{GitConfig: setup.config})
			require.NoError(t, err)
			w, err := pool.Acquire(ctx, "")
			require.NoError(t, err)
			defer w.Release()
			require.NoError(t, w.Checkout(ctx, commits[0]))

			err = w.Checkout(ctx, commits[1])
			var subErr *SubmoduleError
			require.True(t, errors.As(err, &subErr), "got %v", err)
			assert.Equal(t, commits[1], subErr.Commit)
			assert.Contains(t, subErr.Reason(), setup.reason)
			assert.NotContains(t, subErr.Reason(), "\n")
			assert.Equal(t, "submodules could not be checked out at commit "+commits[1]+": "+subErr.Reason(), err.Error())
			// The commit itself is checked out.
			assert.Equal(t, commits[1], git(t, w.Path(), "rev-parse", "HEAD"))
			assert.Equal(t, "int main;\n", read(t, filepath.Join(w.Path(), "main.c")))
			assert.Equal(t, "", git(t, w.Path(), "status", "--porcelain"))

			// Nothing was checked out, so the next checkout tries again.
			err = w.Checkout(ctx, commits[2])
			require.True(t, errors.As(err, &subErr), "got %v", err)
			assert.Equal(t, commits[2], subErr.Commit)

			// Once told to, the worktree leaves submodules alone, at no
			// cost, even where they move.
			w.SkipSubmodules()
			logged()
			require.NoError(t, w.Checkout(ctx, commits[3]))
			require.NoError(t, w.Checkout(ctx, commits[1]))
			assert.Equal(t, []string{"checkout", "checkout"}, subcommands(logged()))
			assert.Equal(t, commits[1], git(t, w.Path(), "rev-parse", "HEAD"))
			assert.Equal(t, "int main;\n", read(t, filepath.Join(w.Path(), "main.c")))
		})
	}
}

func TestNoSubmoduleWorkWithoutGitmodules(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	logged := gitfixture.RecordGitCommands(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer w.Release()
	logged()
	for _, c := range []string{commits[0], commits[2], commits[1]} {
		require.NoError(t, w.Checkout(ctx, c))
	}
	assert.Equal(t, []string{"checkout", "checkout", "checkout"}, subcommands(logged()))
}

// A submodule that the user's checkout does not use (never initialised:
// no URL for it in the configuration the pool's worktrees share) is left
// alone, as git checkout and git bisect run leave it: nothing is cloned,
// and after one look at the configuration no submodule command runs.
func TestSubmodulesNotInitialisedAreLeftAlone(t *testing.T) {
	ctx := context.Background()
	repo, commits := newSuperproject(t, func(string) string { return "/nonexistent/sxbisect-test/sub.git" })
	logged := gitfixture.RecordGitCommands(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer w.Release()
	logged()
	for _, c := range []string{commits[1], commits[3], commits[0], commits[2]} {
		require.NoError(t, w.Checkout(ctx, c))
	}
	assert.Equal(t, []string{"checkout", "config", "checkout", "checkout", "checkout"}, subcommands(logged()))
	assert.NoFileExists(t, filepath.Join(w.Path(), "lib", "lib.c"))
	assert.Equal(t, "int main2;\n", read(t, filepath.Join(w.Path(), "main.c")))

	// Initialised, it is checked out by the next worktree that is
	// acquired; the URL here cannot be reached, which Checkout reports.
	git(t, repo, "submodule", "init")
	again, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer again.Release()
	var subErr *SubmoduleError
	require.ErrorAs(t, again.Checkout(ctx, commits[1]), &subErr)
}
