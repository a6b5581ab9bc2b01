package worktree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
)

const (
	// adminPrefix starts the name of every admin entry the pool makes in
	// <common git dir>/worktrees; an entry without it is never removed.
	adminPrefix = "sxbisect-"
	// poolMarker is the file that marks a directory as a pool.
	poolMarker = ".sxbisect-pool"
	// locksDir holds one lock file per worktree name.
	locksDir = ".locks"
	// newNamePrefix starts the names Acquire makes up for new worktrees.
	newNamePrefix = "wt-"
	maxNameLength = 64
	// maxNewNames bounds the search for a free wt-N name.
	maxNewNames = 10000
)

// ErrInUse is returned by Remove and RemoveAll for a worktree that an
// Acquire, in this process or another, holds.
var ErrInUse = errors.New("worktree is in use")

// PlacementError says why a directory cannot be a pool: cleaning it could
// delete the repository or a checkout, its worktrees would show up as
// untracked files in a checkout, it holds files that are not a pool's, or
// it is reached through a symlink. The way out is another directory, or
// removing what the message names.
type PlacementError struct {
	// Dir is the pool directory as asked for.
	Dir string
	// Link is the symlink on the way to Dir when that is the trouble.
	Link string
	Msg  string
}

func (e *PlacementError) Error() string { return e.Msg }

func placementError(dir, format string, args ...any) error {
	return &PlacementError{Dir: dir, Msg: fmt.Sprintf(format, args...)}
}

// symlinkError names the symlink on the way to the pool directory dir
// that a person must remove: sxbisect never makes one there, and following
// it could make cleanup delete files elsewhere.
func symlinkError(dir string) error {
	link := firstSymlink(dir)
	if link == "" {
		link = dir
	}
	msg := fmt.Sprintf("worktree pool %s is a symlink, which sxbisect does not follow: remove the symlink (rm %s) and run the command again", dir, link)
	if link != dir {
		msg = fmt.Sprintf("worktree pool %s is reached through the symlink %s, which sxbisect does not follow: remove the symlink (rm %s) and run the command again", dir, link, link)
	}
	return &PlacementError{Dir: dir, Link: link, Msg: msg}
}

// firstSymlink returns the first directory on the absolute path p, from
// the root down, that is a symlink; "" when there is none.
func firstSymlink(p string) string {
	parts := strings.Split(filepath.Clean(p), string(filepath.Separator))
	cur := string(filepath.Separator)
	for _, part := range parts {
		if part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return cur
		}
	}
	return ""
}

// Options configure a Pool.
type Options struct {
	// Dir is where the pool's worktrees live. Empty means
	// <common git dir>/sxbisect/worktrees. It must not be inside a work tree
	// of the repository, contain one or the git directory, or be a symlink.
	Dir string
	// GitConfig holds extra name=value settings given with -c to every git
	// command the pool runs, for instance protocol.file.allow=always so
	// that submodules can be cloned from a local path.
	GitConfig []string
}

// Pool is a directory of scratch worktrees of one repository. Its methods
// may be called from several goroutines and processes at once.
type Pool struct {
	commonDir string // the repository's common git directory, symlinks resolved
	dir       string // the pool's directory, symlinks resolved
	isDefault bool   // dir is <commonDir>/sxbisect/worktrees
	// repoCheckout is the work tree of the path given to Open; empty for a
	// bare repository.
	repoCheckout string
	git          *gitRunner
}

// Info describes one worktree of the pool.
type Info struct {
	Name string
	Path string
	// Head is what the worktree's HEAD holds: the object id of the commit
	// checked out last. It is empty when the worktree is not linked to the
	// repository (yet, or any more).
	Head string
	// InUse tells whether an Acquire, in this process or another, holds it.
	InUse bool
}

// Open opens the pool of the repository at repoPath, which may be its main
// worktree, a linked worktree, a directory inside one, or a bare repository.
// Nothing is created until the first Acquire.
func Open(repoPath string, opts Options) (*Pool, error) {
	ctx := context.Background()
	git, err := newGitRunner(opts.GitConfig)
	if err != nil {
		return nil, err
	}
	absRepo, err := filepath.Abs(repoPath)
	if err != nil {
		return nil, err
	}
	common, err := git.run(ctx, absRepo, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return nil, fmt.Errorf("%s is not a git repository: %w", repoPath, err)
	}
	if common, err = filepath.EvalSymlinks(common); err != nil {
		return nil, err
	}
	p := &Pool{commonDir: common, git: git}
	// The checkout repoPath is in, which `git worktree list` misses when
	// its git directory lives elsewhere (git init --separate-git-dir).
	if top, err := git.run(ctx, absRepo, "rev-parse", "--show-toplevel"); err == nil && top != "" {
		p.repoCheckout = realOrClean(top)
	}
	wanted := filepath.Join(common, "sxbisect", "worktrees")
	if opts.Dir == "" {
		p.isDefault = true
	} else if wanted, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(wanted); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, symlinkError(wanted)
	}
	if p.dir, err = resolvePath(wanted); err != nil {
		return nil, err
	}
	if p.isDefault && p.dir != wanted {
		return nil, symlinkError(wanted)
	}
	if err := p.checkPlacement(ctx); err != nil {
		return nil, err
	}
	if err := p.checkMarker(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// What a killed cleanup left is tidied now, as git's own prune would;
	// failing to is no reason to refuse the pool.
	_ = p.pruneBrokenAdminEntries()
	return p, nil
}

// Dir returns the pool's directory.
func (p *Pool) Dir() string { return p.dir }

// checkPlacement refuses a pool directory whose cleanup could delete the
// repository or a checkout, or whose worktrees would show up as untracked
// files in one.
func (p *Pool) checkPlacement(ctx context.Context) error {
	if within(p.dir, p.commonDir) {
		return placementError(p.dir, "worktree pool %s contains the git directory %s", p.dir, p.commonDir)
	}
	privateArea := filepath.Join(p.commonDir, "sxbisect")
	insideGitDir := within(p.commonDir, p.dir)
	if insideGitDir && !within(privateArea, p.dir) {
		return placementError(p.dir, "worktree pool %s is inside the git directory but not under %s", p.dir, privateArea)
	}
	checkouts, err := p.userCheckouts(ctx)
	if err != nil {
		return err
	}
	for _, checkout := range checkouts {
		if within(p.dir, checkout) {
			return placementError(p.dir, "worktree pool %s contains the checkout %s", p.dir, checkout)
		}
		if within(checkout, p.dir) && !insideGitDir {
			return placementError(p.dir, "worktree pool %s is inside the checkout %s", p.dir, checkout)
		}
	}
	return nil
}

// userCheckouts lists the repository's work trees that are not pool
// worktrees, with symlinks resolved where they exist. It fails on a linked
// worktree inside the pool that the pool did not make, which cleanup would
// otherwise delete.
func (p *Pool) userCheckouts(ctx context.Context) ([]string, error) {
	var checkouts []string
	if p.repoCheckout != "" && !within(p.dir, p.repoCheckout) {
		checkouts = append(checkouts, p.repoCheckout)
	}
	list, err := p.git.run(ctx, p.commonDir, "--git-dir="+p.commonDir, "worktree", "list", "--porcelain", "-z")
	if err != nil {
		return nil, err
	}
	// The first record is the main worktree; "bare" follows it in a bare
	// repository, whose "worktree" is the git directory itself.
	first, _, _ := strings.Cut(list, "\x00\x00")
	fields := strings.Split(first, "\x00")
	if main, ok := strings.CutPrefix(fields[0], "worktree "); ok && !slices.Contains(fields, "bare") {
		checkouts = append(checkouts, realOrClean(main))
	}
	entries, err := p.adminEntries()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.worktree == "" {
			continue
		}
		path := realOrClean(e.worktree)
		if !within(p.dir, path) {
			checkouts = append(checkouts, path)
		} else if !strings.HasPrefix(e.id, adminPrefix) {
			return nil, placementError(p.dir, "worktree pool %s holds the worktree %s, which sxbisect did not make (admin entry %s)", p.dir, path, e.dir)
		}
	}
	return checkouts, nil
}

// adminEntry is one directory in <common git dir>/worktrees.
type adminEntry struct {
	id       string
	dir      string
	worktree string // the worktree its gitdir file names; empty when unreadable
}

func (p *Pool) adminRoot() string { return filepath.Join(p.commonDir, "worktrees") }

func (p *Pool) adminEntries() ([]adminEntry, error) {
	dirents, err := os.ReadDir(p.adminRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var entries []adminEntry
	for _, d := range dirents {
		if !d.IsDir() { // ReadDir does not follow symlinks
			continue
		}
		e := adminEntry{id: d.Name(), dir: filepath.Join(p.adminRoot(), d.Name())}
		if gitdir, err := readSmallFile(filepath.Join(e.dir, "gitdir")); err == nil {
			e.worktree = filepath.Dir(filepath.Clean(strings.TrimSpace(gitdir)))
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// removeAdminEntriesFor removes the admin entries that name the worktree at
// path, which is in the pool.
func (p *Pool) removeAdminEntriesFor(path string) error {
	entries, err := p.adminEntries()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.worktree != path {
			continue
		}
		if !strings.HasPrefix(e.id, adminPrefix) {
			errs = append(errs, fmt.Errorf("admin entry %s names the pool worktree %s but was not made by sxbisect; leaving it", e.dir, path))
			continue
		}
		errs = append(errs, removeAdminEntry(e.dir))
	}
	return errors.Join(errs...)
}

// removeAdminEntry deletes an admin entry of the pool's, its `locked`
// file first: an entry that a kill -9 leaves half removed is then
// unlocked, and git's prune and pruneBrokenAdminEntries take it away.
func removeAdminEntry(dir string) error {
	if err := os.Remove(filepath.Join(dir, "locked")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return removeEntry(dir)
}

// pruneBrokenAdminEntries removes the admin entries of sxbisect's
// (<common git dir>/worktrees/sxbisect-*) that `git worktree prune` would
// remove because they name no worktree: not locked, and without a gitdir
// file or with an empty one. A kill -9 in the middle of a Remove leaves
// such entries, and no later Remove finds them, since they no longer say
// which worktree they were. Entries of other worktrees are never touched,
// nor locked ones: link writes `locked` before anything else, so an entry
// being made is never taken for a broken one. An empty directory is
// removed with rmdir, which fails harmlessly when link has just begun to
// fill it.
func (p *Pool) pruneBrokenAdminEntries() error {
	dirents, err := os.ReadDir(p.adminRoot())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirents {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), adminPrefix) {
			continue
		}
		dir := filepath.Join(p.adminRoot(), d.Name())
		if _, err := os.Lstat(filepath.Join(dir, "locked")); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if gitdir, err := readSmallFile(filepath.Join(dir, "gitdir")); err == nil && strings.TrimSpace(gitdir) != "" {
			continue
		}
		inside, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(inside) == 0 {
			if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, fs.ErrExist) {
				errs = append(errs, err)
			}
			continue
		}
		errs = append(errs, removeEntry(dir))
	}
	return errors.Join(errs...)
}

// checkRoot makes sure that the pool's directory exists and that no
// component of its path is a symlink.
func (p *Pool) checkRoot() error {
	real, err := filepath.EvalSymlinks(p.dir)
	if err != nil {
		return err
	}
	if real != p.dir {
		return symlinkError(p.dir)
	}
	return nil
}

// checkMarker makes sure that the existing pool directory is a pool: it has
// the marker file, or it is empty.
func (p *Pool) checkMarker() error {
	fi, err := os.Lstat(filepath.Join(p.dir, poolMarker))
	if err == nil && fi.Mode().IsRegular() {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dirents, err := os.ReadDir(p.dir)
	if err != nil {
		return err
	}
	if len(dirents) > 0 {
		return placementError(p.dir, "%s is not empty and has no %s file: not a worktree pool; refusing to use it", p.dir, poolMarker)
	}
	return fs.ErrNotExist
}

// ensureRoot makes the pool directory, its marker and its locks directory
// if they are missing, as after the pool was deleted by hand.
func (p *Pool) ensureRoot() error {
	if err := os.MkdirAll(filepath.Dir(p.dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(p.dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := p.checkRoot(); err != nil {
		return err
	}
	err := p.checkMarker()
	if errors.Is(err, fs.ErrNotExist) {
		err = writeNewFile(filepath.Join(p.dir, poolMarker),
			"This directory holds sxbisect's scratch worktrees of "+p.commonDir+".\n")
		if errors.Is(err, fs.ErrExist) { // another process was quicker
			err = nil
		}
	}
	if err != nil {
		return err
	}
	locks := filepath.Join(p.dir, locksDir)
	if err := os.Mkdir(locks, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if fi, err := os.Lstat(locks); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory; refusing to use the pool", locks)
	}
	return nil
}

func (p *Pool) worktreePath(name string) string { return filepath.Join(p.dir, name) }

func (p *Pool) lockPath(name string) string { return filepath.Join(p.dir, locksDir, name) }

// Acquire hands out a worktree of the pool that no other Acquire holds:
// the one named prefer when it is free, else any free one, else a new one.
// The worktree is kept until Remove; Release gives it back. A worktree
// whose directory or admin entry is gone is made again. A new worktree has
// no files until its first Checkout.
func (p *Pool) Acquire(ctx context.Context, prefer string) (*Worktree, error) {
	return p.AcquireWith(ctx, AcquireOptions{Prefer: prefer})
}

// AcquireWith is Acquire with more to prefer: the worktree named
// opts.Prefer, then a free one whose build stamp is opts.Stamp, then any
// free one, then a new one.
func (p *Pool) AcquireWith(ctx context.Context, opts AcquireOptions) (*Worktree, error) {
	prefer := opts.Prefer
	if prefer != "" {
		if err := validateName(prefer); err != nil {
			return nil, err
		}
	}
	if err := p.ensureRoot(); err != nil {
		return nil, err
	}
	if err := p.pruneStale(); err != nil {
		return nil, err
	}
	if prefer != "" {
		if w, err := p.tryAcquire(ctx, prefer); w != nil || err != nil {
			return w, err
		}
	}
	existing, err := p.names()
	if err != nil {
		return nil, err
	}
	if opts.Stamp != "" {
		if w, err := p.tryStamped(ctx, existing, opts.Stamp); w != nil || err != nil {
			return w, err
		}
	}
	for _, name := range existing {
		if name == prefer {
			continue
		}
		if w, err := p.tryAcquire(ctx, name); w != nil || err != nil {
			return w, err
		}
	}
	for n := 1; n <= maxNewNames; n++ {
		name := fmt.Sprintf("%s%d", newNamePrefix, n)
		if _, err := os.Lstat(p.worktreePath(name)); !errors.Is(err, fs.ErrNotExist) {
			continue // in use, or something that is not a worktree
		}
		if w, err := p.tryAcquire(ctx, name); w != nil || err != nil {
			return w, err
		}
	}
	return nil, fmt.Errorf("worktree pool %s: no free name for a new worktree", p.dir)
}

// pruneStale removes the admin entries of pool worktrees whose directory
// was deleted by hand. Git would never prune them, since they are locked,
// and `git worktree list` would go on showing them.
func (p *Pool) pruneStale() error {
	entries, err := p.adminEntries()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := filepath.Base(e.worktree)
		if !strings.HasPrefix(e.id, adminPrefix) || filepath.Dir(e.worktree) != p.dir || validateName(name) != nil {
			continue
		}
		if _, err := os.Lstat(e.worktree); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		lock, err := tryLock(p.lockPath(name))
		if errors.Is(err, errLockHeld) {
			continue // its holder makes it again
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := os.Lstat(e.worktree); errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, removeAdminEntry(e.dir), p.removeStamp(name), os.Remove(p.lockPath(name)))
		}
		errs = append(errs, unlock(lock))
	}
	return errors.Join(errs...)
}

// tryAcquire locks and prepares the worktree called name; it returns nil
// and no error when someone else holds it or the name is taken by
// something that is not a worktree.
func (p *Pool) tryAcquire(ctx context.Context, name string) (*Worktree, error) {
	lock, err := tryLock(p.lockPath(name))
	if errors.Is(err, errLockHeld) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w := &Worktree{pool: p, name: name, path: p.worktreePath(name), lock: lock}
	if fi, err := os.Lstat(w.path); err == nil && (!fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0) {
		w.Release()
		return nil, nil
	}
	if _, err := w.prepare(ctx, ""); err != nil {
		w.Release()
		return nil, err
	}
	return w, nil
}

// names lists the names of the pool's worktree directories, sorted.
func (p *Pool) names() ([]string, error) {
	dirents, err := os.ReadDir(p.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range dirents {
		if d.IsDir() && validateName(d.Name()) == nil {
			names = append(names, d.Name())
		}
	}
	return names, nil
}

// List describes the pool's worktrees.
func (p *Pool) List() ([]Info, error) {
	if err := p.checkRoot(); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	names, err := p.names()
	if err != nil {
		return nil, err
	}
	infos := make([]Info, 0, len(names))
	for _, name := range names {
		info := Info{Name: name, Path: p.worktreePath(name)}
		w := &Worktree{pool: p, name: name, path: info.Path}
		if admin, ok := w.linkedAdminDir(); ok {
			head, _ := readSmallFile(filepath.Join(admin, "HEAD"))
			info.Head = strings.TrimSpace(head)
		}
		if info.InUse, err = lockHeld(p.lockPath(name)); err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Remove deletes the worktree called name: its directory in the pool, its
// admin entry in the repository and its lock file. It returns an error
// wrapping ErrInUse when an Acquire holds it. Removing a name that does
// not exist is not an error.
func (p *Pool) Remove(name string) error {
	if err := validateName(name); err != nil {
		return err
	}
	path := p.worktreePath(name)
	err := p.checkRoot()
	if errors.Is(err, fs.ErrNotExist) {
		// The pool was deleted by hand; only admin entries can be left.
		return p.removeAdminEntriesFor(path)
	}
	if err != nil {
		return err
	}
	if err := p.checkMarker(); err != nil {
		if errors.Is(err, fs.ErrNotExist) { // empty
			return p.removeAdminEntriesFor(path)
		}
		return err
	}
	if fi, err := os.Lstat(filepath.Join(p.dir, locksDir)); err != nil || !fi.IsDir() {
		// Without a locks directory no Acquire can hold the worktree; make
		// one so that none starts while it is removed.
		if err := p.ensureRoot(); err != nil {
			return err
		}
	}
	lock, err := tryLock(p.lockPath(name))
	if errors.Is(err, errLockHeld) {
		return fmt.Errorf("worktree %s of pool %s: %w", name, p.dir, ErrInUse)
	}
	if err != nil {
		return err
	}
	// Admin entry first: once it is gone git no longer counts the
	// directory as a worktree, whatever happens next.
	errs := []error{p.removeAdminEntriesFor(path), p.removeStamp(name), removeEntry(path)}
	if err := os.Remove(p.lockPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	errs = append(errs, unlock(lock))
	return errors.Join(errs...)
}

// RemoveAll removes every worktree of the pool that no Acquire holds,
// the admin entries of the pool's worktrees, and then the pool directory
// itself when nothing is left in it. A held worktree makes it return an
// error wrapping ErrInUse after removing everything else.
func (p *Pool) RemoveAll() error {
	err := p.checkRoot()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	rootExists := err == nil
	if rootExists {
		if err := p.checkMarker(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	names, err := p.allNames(rootExists)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		errs = append(errs, p.Remove(name))
	}
	if rootExists {
		errs = append(errs, p.removeStrays())
	}
	errs = append(errs, p.pruneBrokenAdminEntries())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if rootExists {
		for _, leftover := range []string{filepath.Join(p.dir, stampsDir), filepath.Join(p.dir, locksDir), filepath.Join(p.dir, poolMarker), p.dir} {
			if err := os.Remove(leftover); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if p.isDefault {
		// <common>/sxbisect, if nothing else of sxbisect's is in it.
		os.Remove(filepath.Dir(p.dir))
	}
	return nil
}

// allNames gathers every worktree name the pool has a trace of: a
// directory, a lock file, or an admin entry naming a path in the pool.
func (p *Pool) allNames(rootExists bool) ([]string, error) {
	seen := map[string]bool{}
	if rootExists {
		names, err := p.names()
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			seen[name] = true
		}
		locks, err := os.ReadDir(filepath.Join(p.dir, locksDir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, d := range locks {
			if d.Type().IsRegular() && validateName(d.Name()) == nil {
				seen[d.Name()] = true
			}
		}
	}
	entries, err := p.adminEntries()
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if filepath.Dir(e.worktree) == p.dir && validateName(filepath.Base(e.worktree)) == nil {
			seen[filepath.Base(e.worktree)] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// removeStrays removes what is in the pool directory besides worktree
// directories and the pool's own files: symlinks and files are unlinked,
// not followed.
func (p *Pool) removeStrays() error {
	dirents, err := os.ReadDir(p.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirents {
		name := d.Name()
		if name == locksDir || name == poolMarker || d.IsDir() && validateName(name) == nil {
			// A worktree still here is held, or was just made by an
			// Acquire running now.
			continue
		}
		if name == stampsDir && d.IsDir() {
			// Only the stamps of held worktrees are left; the stamps
			// of removed ones went with them.
			continue
		}
		errs = append(errs, removeEntry(filepath.Join(p.dir, name)))
	}
	return errors.Join(errs...)
}

// removeEntry deletes path without following a symlink: a symlink or file
// is unlinked, a directory is deleted with everything in it (os.RemoveAll
// unlinks the symlinks it meets rather than following them).
func removeEntry(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return os.Remove(path)
	}
	return os.RemoveAll(path)
}

// validateName accepts names that are one path component of letters,
// digits, '.', '_' and '-', not starting with '.' or '-'.
func validateName(name string) error {
	if name == "" || len(name) > maxNameLength || name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("invalid worktree name %q", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("invalid worktree name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	return nil
}

// resolvePath resolves the symlinks in the longest existing prefix of the
// absolute path p, so that paths can be compared before they exist.
func resolvePath(p string) (string, error) {
	for cur := p; ; cur = filepath.Dir(cur) {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			rest, err := filepath.Rel(cur, p)
			if err != nil {
				return "", err
			}
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(cur) == cur {
			return p, nil
		}
	}
}

func realOrClean(p string) string {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return filepath.Clean(p)
}

// within tells whether path is dir or inside it; both are clean and
// absolute.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// readSmallFile reads a regular file of at most a few kilobytes, refusing
// symlinks and anything else.
func readSmallFile(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 64<<10 {
		return "", fmt.Errorf("%s is not a small regular file", path)
	}
	data, err := os.ReadFile(path)
	return string(data), err
}

// writeNewFile creates path, which must not exist, with content.
func writeNewFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(content))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
