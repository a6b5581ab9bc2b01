package worktree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Worktree is one worktree of a pool, held by the Acquire that returned it
// until Release. It is meant for one goroutine at a time.
type Worktree struct {
	pool *Pool
	name string
	path string
	lock *os.File // nil once released
}

// SubmoduleError says that the submodules of a commit could not be checked
// out, typically because their repositories cannot be reached. The commit's
// own files are checked out; a bisection should skip the commit.
type SubmoduleError struct {
	Commit string
	Err    error
}

func (e *SubmoduleError) Error() string {
	return "submodules could not be checked out at commit " + e.Commit + ": " + e.Err.Error()
}

func (e *SubmoduleError) Unwrap() error { return e.Err }

// Name returns the worktree's name in the pool; Acquire takes it back as
// its preference.
func (w *Worktree) Name() string { return w.name }

// Path returns the worktree's directory.
func (w *Worktree) Path() string { return w.path }

// Checkout moves the worktree to commit (any revision git understands; a
// full object id is best). Only the files that differ between the commit
// checked out before and this one are written, together with tracked files
// that were modified since, which get the commit's content back; untracked
// and ignored files stay. When the commit has a .gitmodules file, its
// submodules are checked out too, and a failure to do so is returned as a
// *SubmoduleError.
func (w *Worktree) Checkout(ctx context.Context, commit string) error {
	if w.lock == nil {
		return fmt.Errorf("worktree %s was released", w.name)
	}
	if commit == "" || strings.HasPrefix(commit, "-") {
		return fmt.Errorf("invalid commit %q", commit)
	}
	admin, err := w.prepare(ctx, commit)
	if err != nil {
		return err
	}
	// A git killed outright leaves index.lock behind, which would fail
	// every later checkout. The gits of sxbisect's that work in a worktree
	// hold its lock, which this process now has, so none is at work here.
	if err := os.Remove(filepath.Join(admin, "index.lock")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, err := w.pool.git.runHolding(ctx, w.path, w.lock, "checkout", "-q", "-f", "--detach", "--no-recurse-submodules", commit, "--"); err != nil {
		return fmt.Errorf("checking out %s in worktree %s: %w", commit, w.path, err)
	}
	return w.updateSubmodules(ctx, commit)
}

// updateSubmodules checks out the submodules recorded in the index. It
// makes them active with a command-line setting instead of running
// `submodule init`, which would write their URLs into the config that the
// repository's checkouts share. --force makes a submodule's modified files
// go back to the recorded commit, as the superproject's do.
func (w *Worktree) updateSubmodules(ctx context.Context, commit string) error {
	fi, err := os.Lstat(filepath.Join(w.path, ".gitmodules"))
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	_, err = w.pool.git.runHolding(ctx, w.path, w.lock, "-c", "submodule.active=.", "submodule", "update", "--recursive", "--force")
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &SubmoduleError{Commit: commit, Err: err}
	}
	return nil
}

// Release gives the worktree back to the pool, where it stays, checked out,
// for the next Acquire. Calling it again does nothing.
func (w *Worktree) Release() error {
	if w.lock == nil {
		return nil
	}
	err := unlock(w.lock)
	w.lock = nil
	return err
}

// prepare makes whatever of the pool and the worktree is missing and
// returns the worktree's admin directory. A worktree that is not linked
// to the repository is linked with its HEAD at commit, or, when commit is
// empty, at the repository's HEAD; when that does not exist either (a bare
// repository with an unborn HEAD), linking waits for the first Checkout and
// the returned admin directory is empty.
func (w *Worktree) prepare(ctx context.Context, commit string) (string, error) {
	p := w.pool
	if err := p.ensureRoot(); err != nil {
		return "", err
	}
	if err := w.keepLock(); err != nil {
		return "", err
	}
	if err := os.Mkdir(w.path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if fi, err := os.Lstat(w.path); err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory; refusing to use it as a worktree", w.path)
	}
	if admin, ok := w.linkedAdminDir(); ok {
		locked := filepath.Join(admin, "locked")
		if _, err := os.Lstat(locked); errors.Is(err, fs.ErrNotExist) {
			// Unlocked by hand; without the lock `git worktree prune`
			// could drop it while it is away.
			if err := writeNewFile(locked, p.lockReason()); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", err
			}
		}
		return admin, nil
	}
	rev := commit
	if rev == "" {
		rev = "HEAD"
	}
	head, err := p.git.run(ctx, p.commonDir, "--git-dir="+p.commonDir, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		if commit == "" {
			return "", nil
		}
		return "", fmt.Errorf("%s is not a commit of the repository: %w", commit, err)
	}
	return w.link(head)
}

// keepLock makes sure that the lock file this worktree holds is still the
// one at the lock path: when the pool was deleted by hand, a new Acquire
// would otherwise lock a new file of the same name and get this worktree
// too.
func (w *Worktree) keepLock() error {
	path := w.pool.lockPath(w.name)
	held, err := w.lock.Stat()
	if err != nil {
		return err
	}
	if named, err := os.Lstat(path); err == nil && os.SameFile(held, named) {
		return nil
	}
	lock, err := tryLock(path)
	if errors.Is(err, errLockHeld) {
		return fmt.Errorf("worktree %s was deleted by hand and is now held by another Acquire", w.name)
	}
	if err != nil {
		return err
	}
	unlock(w.lock)
	w.lock = lock
	return nil
}

// linkedAdminDir returns the worktree's admin directory when the worktree
// and the directory name each other as git expects.
func (w *Worktree) linkedAdminDir() (string, bool) {
	p := w.pool
	dotGit := filepath.Join(w.path, ".git")
	content, err := readSmallFile(dotGit)
	if err != nil {
		return "", false
	}
	admin, ok := strings.CutPrefix(strings.TrimSpace(content), "gitdir: ")
	if !ok || filepath.Dir(admin) != p.adminRoot() || !strings.HasPrefix(filepath.Base(admin), adminPrefix) {
		return "", false
	}
	if fi, err := os.Lstat(admin); err != nil || !fi.IsDir() {
		return "", false
	}
	back, err := readSmallFile(filepath.Join(admin, "gitdir"))
	if err != nil || filepath.Clean(strings.TrimSpace(back)) != dotGit {
		return "", false
	}
	for _, name := range []string{"HEAD", "commondir"} {
		if _, err := readSmallFile(filepath.Join(admin, name)); err != nil {
			return "", false
		}
	}
	return admin, true
}

// link registers the worktree with the repository, as `git worktree add
// --detach --lock --no-checkout` would, with HEAD at the commit head: a
// new admin directory with HEAD, commondir, gitdir and locked, and a .git
// file in the worktree pointing at it. Stale admin entries naming the
// worktree go first. Files already in the worktree stay; the next
// Checkout writes every tracked file, since there is no index yet.
func (w *Worktree) link(head string) (string, error) {
	p := w.pool
	if err := p.removeAdminEntriesFor(w.path); err != nil {
		return "", err
	}
	dotGit := filepath.Join(w.path, ".git")
	if fi, err := os.Lstat(dotGit); err == nil {
		if fi.IsDir() {
			return "", fmt.Errorf("%s is a directory; refusing to replace it", dotGit)
		}
		if err := os.Remove(dotGit); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(p.adminRoot(), 0o755); err != nil {
		return "", err
	}
	admin, err := makeAdminDir(p.adminRoot(), adminPrefix+w.name)
	if err != nil {
		return "", err
	}
	// locked first, as git does, so that a concurrent `git worktree prune`
	// leaves the half-made entry alone.
	for _, f := range [][2]string{
		{"locked", p.lockReason()},
		{"commondir", "../..\n"},
		{"HEAD", head + "\n"},
		{"gitdir", dotGit + "\n"},
	} {
		if err := writeNewFile(filepath.Join(admin, f[0]), f[1]); err != nil {
			os.RemoveAll(admin)
			return "", err
		}
	}
	if err := writeNewFile(dotGit, "gitdir: "+admin+"\n"); err != nil {
		os.RemoveAll(admin)
		return "", err
	}
	return admin, nil
}

// makeAdminDir creates a new directory in root named id, or id-2, id-3...
// when that is taken (by a worktree of another pool with the same name).
func makeAdminDir(root, id string) (string, error) {
	for n := 1; n <= maxNewNames; n++ {
		dir := filepath.Join(root, id)
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", dir, n)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free admin directory name for %s in %s", id, root)
}

// lockReason is the text of git's `locked` file for pool worktrees, shown
// by `git worktree list --verbose`.
func (p *Pool) lockReason() string {
	return "sxbisect scratch worktree (pool " + p.dir + ")\n"
}
