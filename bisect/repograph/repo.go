// Package repograph reads a git repository's commit graph for the bisection
// search, in-process, so that preparing a bisection costs neither a git
// process per commit nor seconds of object decoding.
//
// Walking history means decoding commit objects one compressed object at a
// time. Git itself avoids that with the commit-graph file
// (objects/info/commit-graph, or a chain of them under
// objects/info/commit-graphs): fixed-size records holding each commit's
// parents, committer date, root tree and generation number. go-git can read
// the format but never does so on its own, so Repo maps the file and reads
// it in place first (see commitGraph), decoding commit objects only for
// commits the file does not cover (those made after it was written).
// EnsureCommitGraph writes the file with git when a repository has none.
//
// The objects that must still be read (commits outside the commit-graph,
// and the trees behind path-limited bisection) come straight from the
// memory-mapped pack files, which is many times faster than go-git's
// object storage on a large repository (see packStore). go-git's storage
// reads the rest (loose objects, alternates, and everything on systems
// without mmap) and supplies refs and configuration.
//
// A Repo is opened from a work tree, a directory inside one, a linked
// worktree or a bare repository. Resolve turns revisions into commit ids,
// Graph gives the search its view of history (parents, committer dates and,
// for path-limited bisection, what the paths hold), and Info describes a
// commit for people.
package repograph

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitcmd"
)

// ErrNotRepository is wrapped by the error Open returns when it finds no git
// repository; test for it with errors.Is.
var ErrNotRepository = errors.New("not a git repository")

// Repo is an open repository. Its methods are safe for concurrent use; they
// serialise on one lock, as neither go-git's object storage nor the pack
// reader (which reuses one inflater) can serve two readers at once. Close
// releases its files.
type Repo struct {
	gitDir    string
	commonDir string
	workTree  string

	mu      sync.Mutex
	storage *filesystem.Storage
	// packs reads packed objects faster than storage can; nil where files
	// cannot be mapped, and then storage reads everything.
	packs *packStore
	// graph is the commit-graph, nil when the repository has none or it
	// must not be used (see loadCommitGraph).
	graph *commitGraph
	// shallow holds the commits listed in the shallow file: their parents'
	// objects are absent.
	shallow map[search.Hash]bool
	// commits caches what has been decoded from commit objects, shared by
	// Resolve, Graph and Info; the commit-graph's commits are not copied
	// here (see commit).
	commits map[search.Hash]commitRecord
}

// commitRecord is what the graph needs from one commit.
type commitRecord struct {
	parents    []search.Hash
	commitTime int64
	tree       search.Hash
	// generation is the topological level the commit-graph records (one
	// more than the largest of the parents', 1 for a root commit), or 0
	// when it does not hold one.
	generation uint32
}

// Open opens the repository at path: a work tree or any directory inside
// one, a linked worktree, a bare repository, or a git directory. Like git, it
// looks for a repository in path and then in each parent directory.
func Open(path string) (*Repo, error) {
	return open(path, true)
}

// open is Open with the commit-graph optional, so that tests and benchmarks
// can compare both ways of reading history on one repository.
func open(path string, useCommitGraph bool) (*Repo, error) {
	loc, err := discover(path)
	if err != nil {
		return nil, err
	}
	if err := checkObjectFormat(loc.commonDir); err != nil {
		return nil, err
	}
	// go-git's PlainOpenWithOptions (DetectDotGit, EnableDotGitCommonDir)
	// does the same routing of per-worktree and common files, through
	// dotgit.NewRepositoryFilesystem; the storage is built here instead so
	// that pack files stay open between reads (KeepDescriptors) rather than
	// being reopened for every object, and so that bare repositories are
	// found from inside them.
	var fs billy.Filesystem = osfs.New(loc.gitDir)
	if loc.commonDir != loc.gitDir {
		fs = dotgit.NewRepositoryFilesystem(fs, osfs.New(loc.commonDir))
	}
	r := &Repo{
		gitDir:    loc.gitDir,
		commonDir: loc.commonDir,
		workTree:  loc.workTree,
		storage: filesystem.NewStorageWithOptions(fs, cache.NewObjectLRUDefault(),
			filesystem.Options{KeepDescriptors: true}),
		commits: make(map[search.Hash]commitRecord),
	}
	if r.shallow, err = readShallowFile(filepath.Join(loc.commonDir, "shallow")); err != nil {
		r.storage.Close()
		return nil, err
	}
	if packs, err := openPackStore(filepath.Join(loc.commonDir, "objects")); err == nil {
		r.packs = packs
	}
	if useCommitGraph {
		r.loadCommitGraph()
	}
	return r, nil
}

// Close releases the repository's open files. The Repo and its Graphs must
// not be used afterwards.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var graphErr, packsErr error
	if r.graph != nil {
		graphErr = r.graph.close()
		r.graph = nil
	}
	if r.packs != nil {
		packsErr = r.packs.Close()
		r.packs = nil
	}
	return errors.Join(r.storage.Close(), graphErr, packsErr)
}

// GitDir is the repository's git directory; for a linked worktree, that
// worktree's own one (.git/worktrees/<name> of the main repository).
func (r *Repo) GitDir() string { return r.gitDir }

// CommonDir is the git directory shared by all worktrees, where objects and
// refs live; it equals GitDir except in a linked worktree.
func (r *Repo) CommonDir() string { return r.commonDir }

// WorkTree is the top directory of the work tree, "" for a bare repository.
func (r *Repo) WorkTree() string { return r.workTree }

// IsShallow reports whether the repository is a shallow clone, whose history
// stops at the commits listed in its shallow file.
func (r *Repo) IsShallow() bool { return len(r.shallow) > 0 }

// IsShallowBoundary reports whether h is listed in the shallow file: a
// commit that is present, but whose parents were not fetched.
func (r *Repo) IsShallowBoundary(h search.Hash) bool { return r.shallow[h] }

// HasCommitGraph reports whether a commit-graph file is in use.
func (r *Repo) HasCommitGraph() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.graph != nil
}

// commitGraphTimeout bounds git commit-graph write: about 15 s for a
// million commits here, and it is only an optimisation, so a git that takes
// far longer is stopped and history read from objects.
const commitGraphTimeout = 10 * time.Minute

// EnsureCommitGraph writes a commit-graph file when the repository has none,
// with git commit-graph write --reachable, and starts using it. That is
// what git does for itself (gc, fetch.writeCommitGraph); it writes only under
// objects/info, never the work tree, index, HEAD or refs. It does nothing
// when a file exists, in a shallow clone (where git neither writes nor reads
// one), or when git's configuration, at any level, says core.commitGraph or
// gc.writeCommitGraph is false. It calls before, when not nil, just before
// git starts, so that the caller can say why the start takes a moment, and
// reports whether it wrote a file.
func (r *Repo) EnsureCommitGraph(ctx context.Context, before func()) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.graph != nil || r.IsShallow() || !r.commitGraphEnabled() {
		return false, nil
	}
	if g, err := openCommitGraph(r.objectsInfoDir()); err == nil || !errors.Is(err, os.ErrNotExist) {
		if g != nil {
			g.close()
		}
		// A file exists but was unusable when the repository was opened;
		// writing would replace it, which is git's business (git
		// commit-graph verify), not ours.
		return false, nil
	}
	git := gitcmd.Runner{Timeout: commitGraphTimeout}
	if ok, err := r.commitGraphWritable(ctx, git); err != nil || !ok {
		return false, err
	}
	if before != nil {
		before()
	}
	if _, err := git.Run(ctx, r.gitDir, "--git-dir="+r.gitDir, "commit-graph", "write", "--reachable", "--no-progress"); err != nil {
		return false, err
	}
	g, err := openCommitGraph(r.objectsInfoDir())
	if err != nil {
		return true, fmt.Errorf("reading the commit-graph git wrote: %w", err)
	}
	r.graph = g
	return true, nil
}

// commitGraphWritable asks git whether its configuration, at every level
// (the repository's, the user's, the system's, includes), lets a
// commit-graph be written: not when core.commitGraph is false (git then
// ignores the file) nor when gc.writeCommitGraph is false (the user keeps
// git's own maintenance from writing one).
func (r *Repo) commitGraphWritable(ctx context.Context, git gitcmd.Runner) (bool, error) {
	out, err := git.Run(ctx, r.gitDir, "--git-dir="+r.gitDir, "config", "--type=bool", "--get-regexp", `^(core\.commitgraph|gc\.writecommitgraph)$`)
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return true, nil // neither is set
	}
	if err != nil {
		return false, err
	}
	last := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if key, value, ok := strings.Cut(line, " "); ok {
			last[key] = value
		}
	}
	return last["core.commitgraph"] != "false" && last["gc.writecommitgraph"] != "false", nil
}

func (r *Repo) objectsInfoDir() string {
	return filepath.Join(r.commonDir, "objects", "info")
}

// loadCommitGraph opens the commit-graph when git itself would use one: not
// in a shallow clone (the file may predate the shallowing and describe
// commits that are gone) and not when core.commitGraph is false. A missing
// or unreadable file only means commits are decoded from objects instead.
func (r *Repo) loadCommitGraph() {
	if r.IsShallow() || !r.commitGraphEnabled() {
		return
	}
	if g, err := openCommitGraph(r.objectsInfoDir()); err == nil {
		r.graph = g
	}
}

func (r *Repo) commitGraphEnabled() bool {
	cfg, err := r.storage.Config()
	if err != nil {
		return true
	}
	v := cfg.Raw.Section("core").Option("commitGraph")
	switch strings.ToLower(v) {
	case "false", "no", "off", "0":
		return false
	}
	return true
}

func readShallowFile(path string) (map[search.Hash]bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	shallow := make(map[search.Hash]bool)
	for _, line := range strings.Fields(string(data)) {
		h, ok := parseFullHash(line)
		if !ok {
			return nil, fmt.Errorf("%s: malformed line %q", path, line)
		}
		shallow[h] = true
	}
	return shallow, nil
}
