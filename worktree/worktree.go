package worktree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
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

	// noSubmodules is set by SkipSubmodules.
	noSubmodules bool
	// synced is the commit whose submodules this Worktree last brought up
	// to date, or at which it found no .gitmodules; "" when that is not
	// known (nothing checked out yet since Acquire, or the last update
	// failed). Checkout compares it with the next commit to see whether
	// the submodules need updating at all.
	synced string
	// activeKnown says that active holds whether the repository's
	// configuration makes any submodule active; it is read once after
	// Acquire.
	activeKnown, active bool
}

// SubmoduleError says that the submodules of a commit could not be checked
// out, typically because their repositories cannot be reached (no network,
// a moved server). The checkout of the commit itself succeeded: HEAD, the
// index and every file of the commit are as Checkout promises, and only
// the submodules' directories are missing, empty or at other commits. A
// caller can go on with the commit, as `git checkout` and `git bisect run`
// would, and call SkipSubmodules to stop trying.
type SubmoduleError struct {
	Commit string
	Err    error
}

func (e *SubmoduleError) Error() string {
	return "submodules could not be checked out at commit " + e.Commit + ": " + e.Reason()
}

func (e *SubmoduleError) Unwrap() error { return e.Err }

// Reason is a one-line account of the failure: git's first fatal or error
// message (such as "repository '...' does not exist" or "transport 'file'
// not allowed"), else the error itself. git submodule update repeats its
// messages for each try and each submodule, which would drown the cause.
func (e *SubmoduleError) Reason() string {
	var gitErr *GitError
	if errors.As(e.Err, &gitErr) {
		for _, line := range strings.Split(gitErr.Stderr, "\n") {
			line = strings.TrimSpace(line)
			for _, prefix := range []string{"fatal: ", "error: "} {
				if msg, ok := strings.CutPrefix(line, prefix); ok && msg != "" {
					return msg
				}
			}
		}
	}
	return strings.Join(strings.Fields(e.Err.Error()), " ")
}

// Name returns the worktree's name in the pool; Acquire takes it back as
// its preference.
func (w *Worktree) Name() string { return w.name }

// Path returns the worktree's directory.
func (w *Worktree) Path() string { return w.path }

// Checkout moves the worktree to commit (any revision git understands; a
// full object id is best). Only the files that differ between the commit
// checked out before and this one are written, together with tracked files
// that were modified since, which get the commit's content back; untracked
// and ignored files stay.
//
// When the commit has a .gitmodules file, its submodules that are active in
// the repository (initialised in the user's checkout, whose configuration
// the pool's worktrees share) are checked out at the commits it records,
// unless SkipSubmodules was called. That costs
// a `git submodule update`, about twenty processes, so it runs only on the
// first checkout after Acquire and when a submodule or .gitmodules differs
// from the commit checked out before, which one `git diff` of the two
// trees tells; a submodule's files that a test modified are therefore put
// back only when the submodule moves. A failure to check out submodules is
// returned as a *SubmoduleError, and the commit itself is checked out all
// the same; any other error means that it is not.
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
	// A git killed outright (a session stopped at its deadline in the
	// middle of a checkout) leaves index.lock or HEAD.lock behind, which
	// would fail every later checkout. The gits of sxbisect's that work in
	// a worktree hold its lock, which this process now has, so none is at
	// work here and any lock file is stale.
	if err := removeStaleGitLocks(admin); err != nil {
		return err
	}
	// The build stamp goes before the files change, so that a checkout
	// that fails or is killed half way never leaves a stamp on files of
	// another commit. It goes even when the commit stays: whoever checks
	// out may build next with another command (sxbisect compare does),
	// and only a caller that knows it will not read the stamp before and
	// puts it back (see SetBuildStamp).
	if err := w.pool.removeStamp(w.name); err != nil {
		return err
	}
	if _, err := w.pool.git.runHolding(ctx, w.path, w.lock, "checkout", "-q", "-f", "--detach", "--no-recurse-submodules", commit, "--"); err != nil {
		// Half done, perhaps: whatever was known of the submodules is not.
		w.synced = ""
		return fmt.Errorf("checking out %s in worktree %s: %w", commit, w.path, err)
	}
	if w.noSubmodules {
		return nil
	}
	return w.updateSubmodules(ctx, admin, commit)
}

// SkipSubmodules makes the later Checkouts of this Worktree, until Release,
// leave submodules alone, as `git checkout` does by default: no submodule
// command runs, and submodule directories keep whatever they hold. A
// caller whose submodules cannot be had calls it after the first
// *SubmoduleError, rather than paying for a failing clone at every commit.
func (w *Worktree) SkipSubmodules() { w.noSubmodules = true }

// updateSubmodules checks out the active submodules recorded in the index,
// when they may differ from what is checked out. Which are active is git's
// rule (submodule.<name>.active, submodule.active, or a URL in the
// configuration, which `git submodule init` writes), applied to the
// configuration that the user's checkout and the pool's worktrees share:
// a submodule the user never initialised is left alone, as `git checkout`
// and `git bisect run` leave every submodule, rather than cloned from its
// server by every new worktree. --force makes a submodule's modified files
// go back to the recorded commit, as the superproject's do.
func (w *Worktree) updateSubmodules(ctx context.Context, admin, commit string) error {
	head := w.checkedOutCommit(admin)
	fi, err := os.Lstat(filepath.Join(w.path, ".gitmodules"))
	if err != nil || !fi.Mode().IsRegular() {
		// No submodules to check out. The directories of those an earlier
		// commit had stay, untracked, as git leaves them.
		w.synced = head
		return nil
	}
	if active, err := w.anySubmoduleActive(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &SubmoduleError{Commit: commit, Err: err}
	} else if !active {
		w.synced = head
		return nil
	}
	if w.synced != "" && head != "" {
		changed, err := w.submodulesDiffer(ctx, w.synced, head)
		if err != nil && ctx.Err() != nil {
			return err
		}
		// When the comparison fails, the update below finds out.
		if err == nil && !changed {
			w.synced = head
			return nil
		}
	}
	w.synced = ""
	_, err = w.pool.git.runHolding(ctx, w.path, w.lock, "submodule", "update", "--recursive", "--force")
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return &SubmoduleError{Commit: commit, Err: err}
	}
	w.synced = head
	return nil
}

// anySubmoduleActive tells whether the configuration the worktree sees
// (the repository's, shared with the user's checkout, and the user's and
// the system's) may make a submodule active: submodule.active, or a
// submodule.<name>.url or a submodule.<name>.active that is not false.
// When none is there, no submodule command needs to run at all; otherwise
// `git submodule update` applies git's rule exactly. It asks git once after
// Acquire.
func (w *Worktree) anySubmoduleActive(ctx context.Context) (bool, error) {
	if w.activeKnown {
		return w.active, nil
	}
	out, err := w.pool.git.run(ctx, w.path, "config", "--type=bool-or-str", "--get-regexp", `^submodule\.`)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		// No submodule settings at all.
	case err != nil:
		return false, err
	default:
		for _, line := range strings.Split(out, "\n") {
			key, value, _ := strings.Cut(line, " ")
			if key == "submodule.active" || strings.HasSuffix(key, ".url") ||
				(strings.HasSuffix(key, ".active") && value != "false") {
				w.active = true
			}
		}
	}
	w.activeKnown = true
	return w.active, nil
}

// checkedOutCommit returns the object id that the worktree's detached HEAD
// names, read from its admin directory rather than asked of git, or ""
// when that file does not hold one.
func (w *Worktree) checkedOutCommit(admin string) string {
	content, err := readSmallFile(filepath.Join(admin, "HEAD"))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(content)
	if len(id) != 40 && len(id) != 64 {
		return ""
	}
	for _, c := range id {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return ""
		}
	}
	return id
}

// submodulesDiffer reports whether the commits from and to record
// different submodules: a gitlink (mode 160000) added, removed or moved,
// or a change to .gitmodules, which says where they come from. One
// tree-to-tree diff is a single process that reads no file of the work
// tree, a few milliseconds against the tens that `git submodule update`
// takes even when it has nothing to do.
func (w *Worktree) submodulesDiffer(ctx context.Context, from, to string) (bool, error) {
	if from == to {
		return false, nil
	}
	out, err := w.pool.git.run(ctx, w.path, "diff", "--raw", "--no-renames", "--no-abbrev", "-z", from, to, "--")
	if err != nil {
		return false, err
	}
	// -z output is, per changed path, ":srcmode dstmode srcid dstid status"
	// and the path, each ended by a NUL.
	fields := strings.Split(out, "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		meta, path := fields[i], fields[i+1]
		modes := strings.Fields(strings.TrimPrefix(meta, ":"))
		if path == ".gitmodules" || len(modes) < 2 || modes[0] == gitlinkMode || modes[1] == gitlinkMode {
			return true, nil
		}
	}
	return false, nil
}

// gitlinkMode is the mode of a submodule's entry in a tree.
const gitlinkMode = "160000"

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
	// A worktree linked anew has lost whatever submodules it had.
	w.synced = ""
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
	// Whatever was built in a worktree that is linked anew (deleted by
	// hand, say) cannot be vouched for.
	if err := p.removeStamp(w.name); err != nil {
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
	// locked first, as git does, so that a concurrent `git worktree prune`
	// (or pruneBrokenAdminEntries) leaves the half-made entry alone.
	admin, err := makeAdminDir(p.adminRoot(), adminPrefix+w.name, p.lockReason())
	if err != nil {
		return "", err
	}
	for _, f := range [][2]string{
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
// when that is taken (by a worktree of another pool with the same name),
// with a `locked` file holding reason. An empty directory is what a
// prune removes, so one that vanishes before it is locked is made again.
func makeAdminDir(root, id, reason string) (string, error) {
	const maxPrunedUnderUs = 10
	pruned := 0
	for n := 1; n <= maxNewNames; n++ {
		dir := filepath.Join(root, id)
		if n > 1 {
			dir = fmt.Sprintf("%s-%d", dir, n)
		}
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		err = writeNewFile(filepath.Join(dir, "locked"), reason)
		if errors.Is(err, fs.ErrNotExist) && pruned < maxPrunedUnderUs {
			pruned++
			n-- // pruned while empty: the name is free again
			continue
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		return dir, nil
	}
	return "", fmt.Errorf("no free admin directory name for %s in %s", id, root)
}

// lockReason is the text of git's `locked` file for pool worktrees, shown
// by `git worktree list --verbose`.
func (p *Pool) lockReason() string {
	return "sxbisect scratch worktree (pool " + p.dir + ")\n"
}

// removeStaleGitLocks removes the lock files a killed git can leave in a
// worktree's admin directory: index.lock, HEAD.lock, ORIG_HEAD.lock and
// the reflog's logs/HEAD.lock.
func removeStaleGitLocks(admin string) error {
	locks, err := filepath.Glob(filepath.Join(admin, "*.lock"))
	if err != nil {
		return err
	}
	locks = append(locks, filepath.Join(admin, "logs", "HEAD.lock"))
	for _, l := range locks {
		if err := os.Remove(l); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
