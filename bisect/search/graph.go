package search

import "github.com/go-git/go-git/v5/plumbing"

// Hash is a full commit object id.
type Hash = plumbing.Hash

// Node is what the search needs to know about every commit it walks.
type Node struct {
	// Parents in the commit's parent order.
	Parents []Hash
	// CommitTime is the committer date in seconds since the epoch; git's
	// revision walk orders by it.
	CommitTime int64
}

// Graph gives the search the commits it asks for. Implementations may load
// lazily; the search asks only for commits reachable from the bad commit
// (and, to find merge bases, from the good ones).
type Graph interface {
	Node(h Hash) (Node, error)
}

// PathKeyer is implemented by graphs that can tell the content at the
// bisection's paths; a search with Options.Paths needs its graph to be one.
// It is apart from Node because it costs much more than Node in a real
// repository (tree lookups) and the search needs it for far fewer commits:
// only where it compares commits, the interesting commits of the range and
// their parents, not the many commits below the good ones that the walk
// reads only to mark them uninteresting.
type PathKeyer interface {
	// PathKey identifies the content of the bisection's paths at commit
	// h (the mode and object id found at each path, folded into one hash;
	// the zero hash when none of the paths exists). Two commits whose
	// path keys are equal are TREESAME for the paths; git counts a mode
	// change (chmod +x) as a change, so the modes must be folded in.
	PathKey(h Hash) (Hash, error)
}

// MemNode is a commit of a MemGraph.
type MemNode struct {
	Parents    []Hash
	CommitTime int64
	// PathKey is what MemGraph.PathKey gives for the commit.
	PathKey Hash
}

// MemGraph is a Graph and PathKeyer held in memory, for tests and small
// histories.
type MemGraph map[Hash]MemNode

var (
	_ Graph     = MemGraph(nil)
	_ PathKeyer = MemGraph(nil)
)

// Node implements Graph.
func (g MemGraph) Node(h Hash) (Node, error) {
	n, ok := g[h]
	if !ok {
		return Node{}, &MissingCommitError{Hash: h}
	}
	return Node{Parents: n.Parents, CommitTime: n.CommitTime}, nil
}

// PathKey implements PathKeyer.
func (g MemGraph) PathKey(h Hash) (Hash, error) {
	n, ok := g[h]
	if !ok {
		return Hash{}, &MissingCommitError{Hash: h}
	}
	return n.PathKey, nil
}

// MissingCommitError reports a commit the graph does not have, as in a
// shallow clone whose history stops before the good commit.
type MissingCommitError struct{ Hash Hash }

func (e *MissingCommitError) Error() string {
	return "commit " + e.Hash.String() + " is not in the repository (a shallow clone? run git fetch --unshallow)"
}
