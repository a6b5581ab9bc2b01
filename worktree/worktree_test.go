package worktree

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// The test binary doubles as a second sxbisect process for the tests that
// share a pool between processes: with these variables set it acquires a
// worktree, prints its name and holds it until its stdin closes.
const (
	helperRepoVar   = "SXBISECT_WORKTREE_TEST_HELPER_REPO"
	helperPreferVar = "SXBISECT_WORKTREE_TEST_HELPER_PREFER"
)

func TestMain(m *testing.M) {
	if repo := os.Getenv(helperRepoVar); repo != "" {
		os.Exit(holdWorktree(repo, os.Getenv(helperPreferVar)))
	}
	os.Exit(m.Run())
}

func holdWorktree(repo, prefer string) int {
	pool, err := Open(repo, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := pool.Acquire(context.Background(), prefer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(w.Name())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// otherProcess is a second process holding a worktree of the pool.
type otherProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	name  string
}

func startOtherProcess(t *testing.T, repo, prefer string) *otherProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperRepoVar+"="+repo, helperPreferVar+"="+prefer)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the helper process printed no worktree name")
	return &otherProcess{cmd: cmd, stdin: stdin, name: strings.TrimSpace(line)}
}

// repoCommits are the fixture's history: c1 changes a.txt and adds new.txt,
// c2 changes a.txt again and deletes dir/b.txt. keep.txt and dir/deep/c.txt
// never change.
var repoCommits = []gitfixture.Commit{
	{Time: 1000, Files: map[string]string{
		"a.txt":          "a0\n",
		"keep.txt":       "keep\n",
		"dir/b.txt":      "b\n",
		"dir/deep/c.txt": "c\n",
		"run.sh":         "#!/bin/sh\necho run\n",
		".gitignore":     "*.o\n",
	}, Exec: map[string]bool{"run.sh": true}},
	{Parents: []int{0}, Time: 2000, Files: map[string]string{"a.txt": "a1\n", "new.txt": "new\n"}},
	{Parents: []int{1}, Time: 3000, Files: map[string]string{"a.txt": "a2\n"}, Delete: []string{"dir/b.txt"}},
}

// newUserRepo makes a repository whose checkout looks used: a modified
// tracked file, a staged change, an untracked file and an ignored one.
func newUserRepo(t *testing.T) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "user")
	commits, err := gitfixture.Build(dir, repoCommits)
	require.NoError(t, err)
	write(t, filepath.Join(dir, "a.txt"), "uncommitted work\n")
	write(t, filepath.Join(dir, "keep.txt"), "staged work\n")
	git(t, dir, "add", "keep.txt")
	write(t, filepath.Join(dir, "notes.txt"), "untracked\n")
	write(t, filepath.Join(dir, "cache.o"), "ignored\n")
	return dir, commits
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitfixture.Git(dir, args...)
	require.NoError(t, err)
	return out
}

// checkoutState is everything of a user's checkout that sxbisect must not
// change.
type checkoutState struct {
	Files      map[string]string // path -> mode, mtime and content
	HeadFile   string
	Head       string
	Refs       string
	Status     string
	Index      string
	IndexMtime time.Time
	Config     string
	Worktrees  []string // admin entries that are not the pool's
}

func snapshot(t *testing.T, repo string) checkoutState {
	t.Helper()
	s := checkoutState{Files: map[string]string{}}
	gitDir := filepath.Join(repo, ".git")
	fi, err := os.Stat(filepath.Join(gitDir, "index"))
	require.NoError(t, err)
	s.IndexMtime = fi.ModTime()
	s.Index = read(t, filepath.Join(gitDir, "index"))
	s.HeadFile = read(t, filepath.Join(gitDir, "HEAD"))
	s.Config = read(t, filepath.Join(gitDir, "config"))
	err = filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == gitDir {
			return filepath.SkipDir
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		entry := fmt.Sprintf("%v %v", info.Mode(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			entry += " " + read(t, path)
		}
		s.Files[path] = entry
		return nil
	})
	require.NoError(t, err)
	s.Head = git(t, repo, "rev-parse", "HEAD")
	s.Refs = git(t, repo, "for-each-ref")
	// --no-optional-locks: status must not refresh the index it checks.
	s.Status = git(t, repo, "--no-optional-locks", "status", "--porcelain=v1", "-uall", "--ignored")
	admin, _ := os.ReadDir(filepath.Join(gitDir, "worktrees"))
	for _, d := range admin {
		if !strings.HasPrefix(d.Name(), adminPrefix) {
			s.Worktrees = append(s.Worktrees, d.Name())
		}
	}
	return s
}

func TestUserCheckoutIsNeverModified(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	before := snapshot(t, repo)
	// (The first line lost its leading space to trimming: " M a.txt".)
	require.Equal(t, "M a.txt\nM  keep.txt\n?? notes.txt\n!! cache.o", before.Status)

	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	for _, c := range []string{commits[0], commits[2], commits[1]} {
		require.NoError(t, w.Checkout(ctx, c))
	}
	write(t, filepath.Join(w.Path(), "a.txt"), "changed by a test\n")
	require.NoError(t, w.Release())
	w2, err := pool.Acquire(ctx, w.Name())
	require.NoError(t, err)
	require.NoError(t, w2.Checkout(ctx, commits[0]))
	require.NoError(t, w2.Release())
	require.Equal(t, before, snapshot(t, repo))

	require.NoError(t, pool.Remove(w.Name()))
	require.NoError(t, pool.RemoveAll())
	require.Equal(t, before, snapshot(t, repo))
	_, err = os.Lstat(filepath.Join(repo, ".git", "sxbisect"))
	require.ErrorIs(t, err, fs.ErrNotExist, "RemoveAll leaves the default pool's parent behind")
}

func TestPoolWorktreesAreLinkedLockedWorktrees(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer w.Release()
	require.Equal(t, "wt-1", w.Name())
	realRepo, err := filepath.EvalSymlinks(repo)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(realRepo, ".git", "sxbisect", "worktrees", "wt-1"), w.Path())
	require.NoError(t, w.Checkout(ctx, commits[1]))

	list := git(t, repo, "worktree", "list", "--porcelain")
	require.Contains(t, list, "worktree "+w.Path()+"\nHEAD "+commits[1]+"\ndetached\nlocked sxbisect scratch worktree")
	git(t, repo, "worktree", "prune")
	require.Contains(t, git(t, repo, "worktree", "list"), w.Path(), "git worktree prune dropped a pool worktree")

	// A person can use it like any worktree.
	require.Equal(t, commits[1], git(t, w.Path(), "rev-parse", "HEAD"))
	require.Equal(t, "", git(t, w.Path(), "status", "--porcelain"))
	require.Equal(t, "a1\n", read(t, filepath.Join(w.Path(), "a.txt")))
	fi, err := os.Stat(filepath.Join(w.Path(), "run.sh"))
	require.NoError(t, err)
	require.NotZero(t, fi.Mode().Perm()&0o100, "run.sh lost its executable bit")

	infos, err := pool.List()
	require.NoError(t, err)
	require.Equal(t, []Info{{Name: "wt-1", Path: w.Path(), Head: commits[1], InUse: true}}, infos)
}

func TestCheckoutWritesOnlyWhatChangedAndKeepsBuildOutputs(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer w.Release()
	require.NoError(t, w.Checkout(ctx, commits[0]))
	path := func(rel string) string { return filepath.Join(w.Path(), rel) }

	// What a build and a test leave behind.
	write(t, path("build/out.bin"), "build output\n")
	write(t, path("main.o"), "ignored object\n")
	write(t, path("dir/deep/c.txt"), "modified by the test\n")
	unchanged, err := os.Stat(path("keep.txt"))
	require.NoError(t, err)
	// Let the clock move on, so that a rewritten file gets another mtime.
	time.Sleep(20 * time.Millisecond)

	require.NoError(t, w.Checkout(ctx, commits[1]))
	after, err := os.Stat(path("keep.txt"))
	require.NoError(t, err)
	assert.Equal(t, unchanged.ModTime(), after.ModTime(), "an unchanged file was rewritten")
	assert.True(t, os.SameFile(unchanged, after), "an unchanged file was replaced")
	assert.Equal(t, "a1\n", read(t, path("a.txt")))
	assert.Equal(t, "new\n", read(t, path("new.txt")))
	assert.Equal(t, "c\n", read(t, path("dir/deep/c.txt")), "a tracked file modified by the test was not restored")
	assert.Equal(t, "build output\n", read(t, path("build/out.bin")))
	assert.Equal(t, "ignored object\n", read(t, path("main.o")))
	assert.Equal(t, "?? build/out.bin\n!! main.o", git(t, w.Path(), "status", "--porcelain", "-uall", "--ignored"))

	require.NoError(t, w.Checkout(ctx, commits[2]))
	_, err = os.Lstat(path("dir/b.txt"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "a file deleted by the commit is still there")
	assert.Equal(t, "a2\n", read(t, path("a.txt")))
	assert.Equal(t, "build output\n", read(t, path("build/out.bin")))
	assert.Equal(t, commits[2], git(t, w.Path(), "rev-parse", "HEAD"))
}

// TestCheckoutRecoversFromStaleLocks leaves the lock files a git killed in
// the middle of a checkout leaves (a session stopped at its deadline), and
// checks that the next checkout is not refused.
func TestCheckoutRecoversFromStaleLocks(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	defer w.Release()
	require.NoError(t, w.Checkout(ctx, commits[0]))
	admin := git(t, w.Path(), "rev-parse", "--absolute-git-dir")
	for _, lock := range []string{"index.lock", "HEAD.lock", "logs/HEAD.lock"} {
		write(t, filepath.Join(admin, lock), "")
	}
	require.NoError(t, w.Checkout(ctx, commits[1]))
	require.Equal(t, "a1\n", read(t, filepath.Join(w.Path(), "a.txt")))
	require.Equal(t, commits[1], git(t, w.Path(), "rev-parse", "HEAD"))
}

func TestCheckoutRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	require.Error(t, w.Checkout(ctx, "--orphan"))
	require.Error(t, w.Checkout(ctx, "no-such-commit"))
	require.NoError(t, w.Release())
	require.NoError(t, w.Release(), "a second Release")
	require.ErrorContains(t, w.Checkout(ctx, commits[0]), "released")
	_, err = pool.Acquire(ctx, "../escape")
	require.Error(t, err)
	require.Error(t, pool.Remove("../../user"))
}

func TestGitEnvironmentOfTheCallerIsIgnored(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	before := snapshot(t, repo)
	t.Run("with a bisect hook's environment", func(t *testing.T) {
		// As a hook run by git in the user's checkout would have them.
		t.Setenv("GIT_DIR", filepath.Join(repo, ".git"))
		t.Setenv("GIT_WORK_TREE", repo)
		t.Setenv("GIT_INDEX_FILE", filepath.Join(repo, ".git", "index"))
		pool, err := Open(repo, Options{})
		require.NoError(t, err)
		w, err := pool.Acquire(ctx, "")
		require.NoError(t, err)
		require.NoError(t, w.Checkout(ctx, commits[0]))
		require.NoError(t, w.Checkout(ctx, commits[2]))
		require.Equal(t, "a2\n", read(t, filepath.Join(w.Path(), "a.txt")))
		require.NoError(t, w.Release())
	})
	require.Equal(t, before, snapshot(t, repo))
}

func TestAcquireInOneProcessNeverSharesAWorktree(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	first, err := pool.Acquire(ctx, "alpha")
	require.NoError(t, err)
	require.Equal(t, "alpha", first.Name())
	second, err := pool.Acquire(ctx, "alpha")
	require.NoError(t, err)
	require.NotEqual(t, first.Name(), second.Name())
	require.NotEqual(t, first.Path(), second.Path())
	require.NoError(t, first.Checkout(ctx, commits[0]))
	require.NoError(t, second.Checkout(ctx, commits[2]))

	require.ErrorIs(t, pool.Remove("alpha"), ErrInUse)
	require.NoError(t, first.Release())
	again, err := pool.Acquire(ctx, "alpha")
	require.NoError(t, err)
	require.Equal(t, "alpha", again.Name(), "a free preferred worktree was not handed out")
	require.NoError(t, again.Release())
	// With no preference a free worktree is reused before a new one is made.
	any, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	require.Equal(t, "alpha", any.Name())
	require.NoError(t, any.Release())
	require.NoError(t, second.Release())
}

func TestAcquireAcrossProcessesNeverSharesAWorktree(t *testing.T) {
	ctx := context.Background()
	repo, _ := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	mine, err := pool.Acquire(ctx, "alpha")
	require.NoError(t, err)
	defer mine.Release()

	other := startOtherProcess(t, repo, "alpha")
	require.NotEqual(t, "alpha", other.name, "another process got a worktree this one holds")
	theirs, err := pool.Acquire(ctx, other.name)
	require.NoError(t, err)
	require.NotEqual(t, other.name, theirs.Name(), "this process got a worktree another one holds")
	require.NotEqual(t, "alpha", theirs.Name())
	require.NoError(t, theirs.Release())
	infos, err := pool.List()
	require.NoError(t, err)
	inUse := map[string]bool{}
	for _, info := range infos {
		inUse[info.Name] = info.InUse
	}
	require.Equal(t, map[string]bool{"alpha": true, other.name: true, theirs.Name(): false}, inUse)
	require.ErrorIs(t, pool.Remove(other.name), ErrInUse)

	// The kernel drops the lock of a process that dies.
	require.NoError(t, other.cmd.Process.Kill())
	other.cmd.Wait()
	back, err := pool.Acquire(ctx, other.name)
	require.NoError(t, err)
	require.Equal(t, other.name, back.Name(), "the worktree of a dead process stayed taken")
	require.NoError(t, back.Release())
}

func TestDeletedWorktreeAndPoolAreMadeAgain(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	use := func(name, commit string) {
		t.Helper()
		w, err := pool.Acquire(ctx, name)
		require.NoError(t, err)
		require.Equal(t, name, w.Name())
		require.NoError(t, w.Checkout(ctx, commit))
		require.Equal(t, commit, git(t, w.Path(), "rev-parse", "HEAD"))
		require.Equal(t, "", git(t, w.Path(), "status", "--porcelain"))
		require.NoError(t, w.Release())
	}
	countLinked := func() int {
		list := git(t, repo, "worktree", "list", "--porcelain")
		require.NotContains(t, list, "prunable")
		return strings.Count(list, "worktree "+filepath.Join(pool.Dir(), "warm")+"\n")
	}
	use("warm", commits[0])
	require.Equal(t, 1, countLinked())

	require.NoError(t, os.RemoveAll(filepath.Join(pool.Dir(), "warm")))
	use("warm", commits[1])
	require.Equal(t, 1, countLinked())

	use("cold", commits[0])
	require.NoError(t, os.RemoveAll(pool.Dir()))
	use("warm", commits[2])
	require.Equal(t, 1, countLinked())
	require.NotContains(t, git(t, repo, "worktree", "list"), "cold", "the admin entry of a deleted worktree was kept")

	// Deleted while held: the next Checkout makes it again.
	w, err := pool.Acquire(ctx, "warm")
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(pool.Dir()))
	require.NoError(t, w.Checkout(ctx, commits[0]))
	require.Equal(t, "a0\n", read(t, filepath.Join(w.Path(), "a.txt")))
	other, err := pool.Acquire(ctx, "warm")
	require.NoError(t, err)
	require.NotEqual(t, "warm", other.Name(), "a worktree held across its deletion was handed out again")
	require.NoError(t, other.Release())
	require.NoError(t, w.Release())
	require.Equal(t, 1, countLinked())
}

func TestCleanupStaysInsideThePool(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	outside := t.TempDir()
	write(t, filepath.Join(outside, "precious.txt"), "precious\n")
	before := snapshot(t, repo)

	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	require.NoError(t, w.Checkout(ctx, commits[0]))
	require.NoError(t, w.Release())
	// Symlinks out of the pool, in the pool and in a worktree, to a
	// directory and to the user's checkout.
	require.NoError(t, os.Symlink(outside, filepath.Join(pool.Dir(), "escape")))
	require.NoError(t, os.Symlink(repo, filepath.Join(pool.Dir(), "user-checkout")))
	require.NoError(t, os.Symlink(outside, filepath.Join(w.Path(), "build-cache")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "precious.txt"), filepath.Join(w.Path(), "link.txt")))

	require.NoError(t, pool.Remove("escape"))
	// A held worktree survives RemoveAll; the rest goes.
	held, err := pool.Acquire(ctx, "held")
	require.NoError(t, err)
	require.NoError(t, held.Checkout(ctx, commits[1]))
	require.ErrorIs(t, pool.RemoveAll(), ErrInUse)
	assert.Equal(t, "a1\n", read(t, filepath.Join(held.Path(), "a.txt")))
	_, err = os.Lstat(w.Path())
	assert.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, held.Release())

	require.NoError(t, pool.RemoveAll())
	assert.Equal(t, "precious\n", read(t, filepath.Join(outside, "precious.txt")))
	_, err = os.Lstat(pool.Dir())
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.NotContains(t, git(t, repo, "worktree", "list"), "sxbisect")
	assert.Equal(t, before, snapshot(t, repo))
}

func TestOpenRefusesDangerousPoolDirectories(t *testing.T) {
	repo, _ := newUserRepo(t)
	outside := t.TempDir()
	link := filepath.Join(t.TempDir(), "pool-link")
	require.NoError(t, os.Symlink(outside, link))
	notAPool := t.TempDir()
	write(t, filepath.Join(notAPool, "someone-elses.txt"), "x\n")
	for name, dir := range map[string]string{
		"symlinked pool":             link,
		"inside the user's checkout": filepath.Join(repo, "pool"),
		"the user's checkout":        repo,
		"containing the checkout":    filepath.Dir(repo),
		"inside the git directory":   filepath.Join(repo, ".git", "objects", "pool"),
		"a directory of other files": notAPool,
	} {
		_, err := Open(repo, Options{Dir: dir})
		assert.Error(t, err, name)
	}

	// A symlink on the way to the default pool.
	require.NoError(t, os.Symlink(outside, filepath.Join(repo, ".git", "sxbisect")))
	_, err := Open(repo, Options{})
	assert.ErrorContains(t, err, "symlink")
	require.NoError(t, os.Remove(filepath.Join(repo, ".git", "sxbisect")))

	// A pool elsewhere is fine.
	elsewhere := filepath.Join(t.TempDir(), "pools", "mine")
	pool, err := Open(repo, Options{Dir: elsewhere})
	require.NoError(t, err)
	w, err := pool.Acquire(context.Background(), "")
	require.NoError(t, err)
	require.NoError(t, w.Checkout(context.Background(), "HEAD~1"))
	require.NoError(t, w.Release())
	realElsewhere, err := filepath.EvalSymlinks(elsewhere)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(realElsewhere, "wt-1"), w.Path())
	require.NoError(t, pool.RemoveAll())
}

func TestBareRepositoryAndLinkedWorktreeShareOnePool(t *testing.T) {
	ctx := context.Background()
	source, commits := newUserRepo(t)
	bare := filepath.Join(t.TempDir(), "bare.git")
	git(t, source, "clone", "-q", "--bare", source, bare)

	pool, err := Open(bare, Options{})
	require.NoError(t, err)
	realBare, err := filepath.EvalSymlinks(bare)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(realBare, "sxbisect", "worktrees"), pool.Dir())
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	require.NoError(t, w.Checkout(ctx, commits[1]))
	require.Equal(t, "a1\n", read(t, filepath.Join(w.Path(), "a.txt")))
	require.Equal(t, "", git(t, w.Path(), "status", "--porcelain"))
	require.Contains(t, git(t, bare, "worktree", "list"), w.Path())
	require.NoError(t, w.Release())

	// The same pool seen from a linked worktree of the bare repository.
	linked := filepath.Join(t.TempDir(), "linked")
	git(t, bare, "worktree", "add", "-q", "--detach", linked, commits[0])
	fromLinked, err := Open(linked, Options{})
	require.NoError(t, err)
	require.Equal(t, pool.Dir(), fromLinked.Dir())
	again, err := fromLinked.Acquire(ctx, "")
	require.NoError(t, err)
	require.Equal(t, w.Name(), again.Name())
	require.NoError(t, again.Checkout(ctx, commits[2]))
	require.NoError(t, again.Release())
	require.NoError(t, fromLinked.RemoveAll())
	require.Equal(t, commits[0], git(t, linked, "rev-parse", "HEAD"))
	require.NotContains(t, git(t, bare, "worktree", "list"), "sxbisect")
}

// A kill -9 in the middle of removing a worktree can leave its admin entry
// half deleted, naming no worktree any more. Opening the pool and RemoveAll
// prune such entries of sxbisect's, as `git worktree prune` would, and
// leave locked entries and other worktrees' entries alone.
func TestBrokenAdminEntriesArePruned(t *testing.T) {
	ctx := context.Background()
	repo, commits := newUserRepo(t)
	pool, err := Open(repo, Options{})
	require.NoError(t, err)
	w, err := pool.Acquire(ctx, "")
	require.NoError(t, err)
	require.NoError(t, w.Checkout(ctx, commits[0]))
	require.NoError(t, w.Release())

	admin := filepath.Join(repo, ".git", "worktrees")
	entry := func(name string, files ...string) string {
		dir := filepath.Join(admin, name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, f := range files {
			write(t, filepath.Join(dir, f), "x\n")
		}
		return dir
	}
	// What the killed removal of wt-1 left: an empty entry, and the
	// worktree's directory already gone.
	own := filepath.Join(admin, adminPrefix+w.Name())
	require.NoError(t, os.RemoveAll(own))
	entry(adminPrefix + w.Name())
	require.NoError(t, os.RemoveAll(w.Path()))
	halfGone := entry(adminPrefix+"wt-7", "HEAD", "commondir")
	locked := entry(adminPrefix+"wt-8", "locked")
	others := entry("users-own")

	_, err = Open(repo, Options{})
	require.NoError(t, err)
	for _, gone := range []string{own, halfGone} {
		_, err := os.Lstat(gone)
		assert.ErrorIs(t, err, fs.ErrNotExist, "%s was kept", gone)
	}
	for _, kept := range []string{locked, others} {
		_, err := os.Lstat(kept)
		assert.NoError(t, err, "%s was pruned", kept)
	}

	again := entry(adminPrefix + "wt-9")
	require.NoError(t, pool.RemoveAll())
	_, err = os.Lstat(again)
	assert.ErrorIs(t, err, fs.ErrNotExist, "RemoveAll kept a broken entry")
	require.NoError(t, os.RemoveAll(others))
	cmd := exec.Command("git", "worktree", "prune", "-n", "-v")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	require.NoError(t, err)
	assert.Empty(t, string(out), "git would still prune something")
}
