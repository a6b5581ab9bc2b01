package repograph

import (
	"crypto/sha1"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// Graph is the search's view of a Repo's history: it implements
// search.Graph and search.PathKeyer, reading commits as they are asked for
// and keeping what it has read, as the search asks for the same commits at
// every step.
type Graph struct {
	repo *Repo
	// paths are the bisection's paths, cleaned, sorted and without
	// duplicates; empty when the bisection is not path-limited.
	paths []string
	// pathKeys memoises PathKey by root tree: commits with the same tree
	// have the same key.
	pathKeys map[search.Hash]search.Hash
	// entries memoises path lookups by (tree, path) so that a subtree met
	// again under another root tree is not read again.
	entries map[treePath]lookupResult
}

var (
	_ search.Graph       = (*Graph)(nil)
	_ search.PathKeyer   = (*Graph)(nil)
	_ search.Generations = (*Graph)(nil)
)

type treePath struct {
	tree search.Hash
	path string
}

type lookupResult struct {
	entry treeEntry
	found bool
}

// Graph returns the commit graph for the search. With paths (literal
// repository-relative file or directory paths, as after git bisect start's
// "--"), PathKey folds together what those paths hold at a commit, so that
// two commits are TREESAME for the paths exactly when their keys are equal;
// "." stands for the whole tree. Glob characters and pathspec magic
// are rejected rather than taken literally, since git would expand them.
func (r *Repo) Graph(paths []string) (*Graph, error) {
	clean, err := cleanPaths(paths)
	if err != nil {
		return nil, err
	}
	return &Graph{
		repo:     r,
		paths:    clean,
		pathKeys: make(map[search.Hash]search.Hash),
		entries:  make(map[treePath]lookupResult),
	}, nil
}

// Node implements search.Graph. A commit the repository lacks gives a
// *ShallowError in a shallow clone (the walk went past its boundary) and a
// *search.MissingCommitError otherwise. The Parents slice is shared with
// the cache and must not be modified.
func (g *Graph) Node(h search.Hash) (search.Node, error) {
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	c, err := g.repo.commit(h)
	if err != nil {
		return search.Node{}, err
	}
	return search.Node{Parents: c.parents, CommitTime: c.commitTime}, nil
}

// Generation implements search.Generations with the topological levels
// of the commit-graph: known only for the commits it holds, and so for all
// their ancestors too, since the file holds every ancestor of each of its
// commits. Nothing is known without a commit-graph.
func (g *Graph) Generation(h search.Hash) (uint64, bool, error) {
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	if g.repo.graph == nil {
		return 0, false, nil
	}
	pos, ok := g.repo.graph.find(h)
	if !ok {
		return 0, false, nil
	}
	gen, err := g.repo.graph.generation(pos)
	if err != nil {
		return 0, false, fmt.Errorf("commit-graph entry for %s: %w", h, err)
	}
	return uint64(gen), gen != 0, nil
}

// PathKey implements search.PathKeyer; it is the zero hash for every
// commit when the graph has no paths. It is apart from Node because it
// costs a tree lookup per commit (about 25 µs a root tree on git's own
// repository), while the search compares only the commits of the range
// and their parents, a fraction of those it reads below the good commits.
// With paths, a commit the repository lacks gives the same errors as Node.
func (g *Graph) PathKey(h search.Hash) (search.Hash, error) {
	if len(g.paths) == 0 {
		return search.Hash{}, nil
	}
	g.repo.mu.Lock()
	defer g.repo.mu.Unlock()
	c, err := g.repo.commit(h)
	if err != nil {
		return search.Hash{}, err
	}
	key, err := g.pathKey(c.tree)
	if err != nil {
		return search.Hash{}, fmt.Errorf("commit %s: %w", h, err)
	}
	return key, nil
}

// pathKey hashes the path, mode and object id of each of the graph's paths
// present in the root tree; the zero hash when none is. Modes are part of
// the key because git counts a mode change (chmod +x) as a change.
func (g *Graph) pathKey(root search.Hash) (search.Hash, error) {
	if key, ok := g.pathKeys[root]; ok {
		return key, nil
	}
	sum := sha1.New()
	found := false
	for _, p := range g.paths {
		res, err := g.lookup(root, p)
		if err != nil {
			return search.Hash{}, err
		}
		if !res.found {
			continue
		}
		found = true
		fmt.Fprintf(sum, "%s\x00%s\x00", p, strconv.FormatUint(uint64(res.entry.mode), 8))
		sum.Write(res.entry.hash[:])
	}
	var key search.Hash
	if found {
		copy(key[:], sum.Sum(nil))
	}
	g.pathKeys[root] = key
	return key, nil
}

// lookup finds the entry at p (a cleaned path, or "." for the tree itself)
// under tree.
func (g *Graph) lookup(tree search.Hash, p string) (lookupResult, error) {
	if p == "." {
		return lookupResult{entry: treeEntry{mode: modeDir, hash: tree}, found: true}, nil
	}
	k := treePath{tree, p}
	if res, ok := g.entries[k]; ok {
		return res, nil
	}
	first, rest, nested := strings.Cut(p, "/")
	e, ok, err := g.repo.findTreeEntry(tree, first)
	if err != nil {
		return lookupResult{}, err
	}
	var res lookupResult
	switch {
	case !ok:
	case !nested:
		res = lookupResult{entry: e, found: true}
	case e.isDir():
		if res, err = g.lookup(e.hash, rest); err != nil {
			return lookupResult{}, err
		}
	}
	g.entries[k] = res
	return res, nil
}

// cleanPaths validates and normalises the bisection's paths.
func cleanPaths(paths []string) ([]string, error) {
	var clean []string
	for _, p := range paths {
		if p == "" {
			return nil, fmt.Errorf("empty path: give a file or directory relative to the top of the repository, or . for all of it")
		}
		if strings.ContainsAny(p, "*?[]\\") {
			return nil, fmt.Errorf("path %q has glob characters (* ? [ ] \\), which are not supported: give literal files or directories", p)
		}
		if strings.HasPrefix(p, ":") {
			return nil, fmt.Errorf("path %q: pathspec magic (:...) is not supported: give literal files or directories", p)
		}
		if path.IsAbs(p) {
			return nil, fmt.Errorf("path %q is absolute: give it relative to the top of the repository", p)
		}
		c := path.Clean(p)
		if c == ".." || strings.HasPrefix(c, "../") {
			return nil, fmt.Errorf("path %q is outside the repository", p)
		}
		clean = append(clean, c)
	}
	slices.Sort(clean)
	return slices.Compact(clean), nil
}
