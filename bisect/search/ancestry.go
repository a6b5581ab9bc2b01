package search

import "container/heap"

// Generations is implemented by graphs that know generation numbers, as a
// commit-graph file records them. A commit's generation, when known, is
// larger than that of each of its ancestors, and every ancestor of a commit
// whose generation is known has a known generation too (a commit-graph
// file holds all the ancestors of each of its commits). A commit whose
// generation is not known (one made after the file was written) may have
// ancestors whose generation is.
type Generations interface {
	Generation(h Hash) (gen uint64, known bool, err error)
}

// ancestorDateSlop is how many commits older than the one looked for
// ReachesCheaply takes off its queue before it gives up, in a history
// without generation numbers: committer dates only tell where to stop when
// no clock was wrong. git's date walks look five commits further
// (SLOP in revision.c); these cost microseconds each.
const ancestorDateSlop = 100

// ReachesCheaply reports whether ancestor is reachable from descendant (or
// is it), at a cost that follows the commits between them rather than the
// whole history below them. It walks from descendant newest first and
// prunes by generation number where the graph implements Generations: a
// commit whose generation is known and not above the ancestor's, or whose
// generation is known while the ancestor's is not, cannot reach the
// ancestor. Where generations are not known, committer dates bound the
// walk: it stops once ancestorDateSlop commits older than the ancestor
// have come off the queue.
//
// True is always right: a path was found. False is right whenever the
// generations of the commits involved are known; without them, a clock
// that went back by more than the slop can hide an ancestor, as it can
// from git's own date walks. IsAncestor answers exactly, by walking all
// of descendant's history.
func ReachesCheaply(g Graph, descendant, ancestor Hash) (bool, error) {
	if descendant == ancestor {
		return true, nil
	}
	gens, _ := g.(Generations)
	generation := func(h Hash) (uint64, bool, error) {
		if gens == nil {
			return 0, false, nil
		}
		return gens.Generation(h)
	}
	target, targetKnown, err := generation(ancestor)
	if err != nil {
		return false, err
	}
	// cannotReach tells, from generations alone, that h cannot reach the
	// ancestor.
	cannotReach := func(h Hash) (bool, error) {
		gen, known, err := generation(h)
		if err != nil || !known {
			return false, err
		}
		return !targetKnown || gen <= target, nil
	}
	var targetDate int64
	if !targetKnown {
		n, err := g.Node(ancestor)
		if err != nil {
			return false, err
		}
		targetDate = n.CommitTime
	}

	q := &ancestryQueue{}
	seen := map[Hash]bool{descendant: true}
	add := func(h Hash) error {
		if pruned, err := cannotReach(h); err != nil || pruned {
			return err
		}
		n, err := g.Node(h)
		if err != nil {
			return err
		}
		heap.Push(q, ancestryEntry{h, n})
		return nil
	}
	if err := add(descendant); err != nil {
		return false, err
	}
	slop := ancestorDateSlop
	for q.Len() > 0 {
		e := heap.Pop(q).(ancestryEntry)
		if !targetKnown && e.node.CommitTime < targetDate {
			// Everything queued is older than the ancestor: unless a
			// clock was wrong, nothing queued can reach it.
			if slop--; slop == 0 {
				return false, nil
			}
		}
		for _, p := range e.node.Parents {
			if p == ancestor {
				return true, nil
			}
			if seen[p] {
				continue
			}
			seen[p] = true
			if err := add(p); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

type ancestryEntry struct {
	id   Hash
	node Node
}

// ancestryQueue is a max-heap of commits by committer date.
type ancestryQueue []ancestryEntry

func (q ancestryQueue) Len() int           { return len(q) }
func (q ancestryQueue) Less(i, j int) bool { return q[i].node.CommitTime > q[j].node.CommitTime }
func (q ancestryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *ancestryQueue) Push(x any)        { *q = append(*q, x.(ancestryEntry)) }
func (q *ancestryQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
