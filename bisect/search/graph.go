package search

import "github.com/go-git/go-git/v5/plumbing"

// Hash is a full commit object id.
type Hash = plumbing.Hash

// Node is what the search needs to know about one commit.
type Node struct {
	// Parents in the commit's parent order.
	Parents []Hash
	// CommitTime is the committer date in seconds since the epoch; git's
	// revision walk orders by it.
	CommitTime int64
	// PathKey identifies the content of the bisection's paths at this
	// commit (the mode and object id found at each path, folded into one
	// hash; the zero hash when none of the paths exists). Two commits
	// whose PathKeys are equal are TREESAME for the paths; git counts a
	// mode change (chmod +x) as a change, so the modes must be folded in.
	// It is only read when Options.Paths is set.
	PathKey Hash
}

// Graph gives the search the commits it asks for. Implementations may load
// lazily; the search asks only for commits reachable from the bad commit
// (and, to find merge bases, from the good ones).
type Graph interface {
	Node(h Hash) (Node, error)
}

// MemGraph is a Graph held in memory, for tests and small histories.
type MemGraph map[Hash]Node

// Node implements Graph.
func (g MemGraph) Node(h Hash) (Node, error) {
	n, ok := g[h]
	if !ok {
		return Node{}, &MissingCommitError{Hash: h}
	}
	return n, nil
}

// MissingCommitError reports a commit the graph does not have, as in a
// shallow clone whose history stops before the good commit.
type MissingCommitError struct{ Hash Hash }

func (e *MissingCommitError) Error() string {
	return "commit " + e.Hash.String() + " is not in the repository (a shallow clone? run git fetch --unshallow)"
}
