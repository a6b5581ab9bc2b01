package repograph

import (
	"container/heap"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// walkRange lists the commits reachable from bad and from none of goods,
// as git rev-list bad ^good... does, by git's own method
// (limit_list): newest first, marking the goods' ancestors uninteresting,
// and stopping once only uninteresting commits are queued, give or take
// five more for clock skew. It stands for the walk the search does when a
// bisection starts; nodes is how many commits it asked the graph for.
func walkRange(g search.Graph, bad search.Hash, goods []search.Hash) (commits []search.Hash, nodes int, err error) {
	type entry struct {
		node                    search.Node
		uninteresting, finished bool
	}
	seen := map[search.Hash]*entry{}
	q := &timeQueue{}
	interestingQueued := 0

	markUninteresting := func(h search.Hash) {
		stack := []search.Hash{h}
		for len(stack) > 0 {
			e := seen[stack[len(stack)-1]]
			stack = stack[:len(stack)-1]
			if e.uninteresting {
				continue
			}
			e.uninteresting = true
			if !e.finished {
				interestingQueued--
				continue // its parents are marked when it is taken off the queue
			}
			for _, p := range e.node.Parents {
				if seen[p] != nil {
					stack = append(stack, p)
				}
			}
		}
	}
	add := func(h search.Hash, uninteresting bool) error {
		if e := seen[h]; e != nil {
			if uninteresting {
				markUninteresting(h)
			}
			return nil
		}
		n, err := g.Node(h)
		if err != nil {
			return err
		}
		nodes++
		seen[h] = &entry{node: n, uninteresting: uninteresting}
		heap.Push(q, queued{h, n.CommitTime})
		if !uninteresting {
			interestingQueued++
		}
		return nil
	}

	for _, good := range goods {
		if err := add(good, true); err != nil {
			return nil, nodes, err
		}
	}
	if err := add(bad, false); err != nil {
		return nil, nodes, err
	}
	const slopMax = 5
	slop := slopMax
	for q.Len() > 0 {
		e := seen[heap.Pop(q).(queued).hash]
		e.finished = true
		if !e.uninteresting {
			interestingQueued--
		}
		for _, p := range e.node.Parents {
			if err := add(p, e.uninteresting); err != nil {
				return nil, nodes, err
			}
		}
		if e.uninteresting {
			if interestingQueued > 0 {
				slop = slopMax
			} else if slop--; slop == 0 {
				break
			}
		}
	}
	for h, e := range seen {
		if e.finished && !e.uninteresting {
			commits = append(commits, h)
		}
	}
	return commits, nodes, nil
}

type queued struct {
	hash search.Hash
	time int64
}

// timeQueue is a max-heap of commits by committer date.
type timeQueue []queued

func (q timeQueue) Len() int           { return len(q) }
func (q timeQueue) Less(i, j int) bool { return q[i].time > q[j].time }
func (q timeQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *timeQueue) Push(x any)        { *q = append(*q, x.(queued)) }
func (q *timeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
