package search

import (
	"iter"
	"math"
	"sort"
)

// slop is how many more uninteresting commits git's limited walk looks at
// once nothing interesting is left (SLOP in revision.c).
const slop = 5

// revWalk is one limited revision walk of git (rev_info with limited set):
// `positive ^negative...`, optionally with --first-parent and with path
// limiting.
type revWalk struct {
	pool        *pool
	firstParent bool
	prune       bool

	queue dateQueue
	// interestingQueued counts queued commits not marked UNINTERESTING, so
	// that everybody_uninteresting is O(1).
	interestingQueued int
	// popped holds the commits that were interesting when popped, in pop
	// order (limit_list's newlist). Some may be marked UNINTERESTING later.
	popped commitList
}

// commitList is a list of commits that grows a block at a time and never
// copies what it holds. The walk's list of a whole history (82k commits
// in git's) would otherwise be copied some thirty times as append grows
// it by a quarter, allocating five times its size on the way.
type commitList struct {
	full [][]*commit // blocks of listBlock commits
	last []*commit   // the block being filled, grown by append up to listBlock
}

const listBlock = 1024

func (l *commitList) add(c *commit) {
	if len(l.last) == listBlock {
		l.full = append(l.full, l.last)
		l.last = make([]*commit, 0, listBlock)
	}
	l.last = append(l.last, c)
}

func (l *commitList) len() int { return len(l.full)*listBlock + len(l.last) }

// all yields the commits in the order they were added.
func (l *commitList) all() iter.Seq[*commit] {
	return func(yield func(*commit) bool) {
		for i := 0; i <= len(l.full); i++ {
			b := l.last
			if i < len(l.full) {
				b = l.full[i]
			}
			for _, c := range b {
				if !yield(c) {
					return
				}
			}
		}
	}
}

// backward yields the commits last added first.
func (l *commitList) backward() iter.Seq[*commit] {
	return func(yield func(*commit) bool) {
		for i := len(l.full); i >= 0; i-- {
			b := l.last
			if i < len(l.full) {
				b = l.full[i]
			}
			for j := len(b) - 1; j >= 0; j-- {
				if !yield(b[j]) {
					return
				}
			}
		}
	}
}

// walkArg is one revision named on the walk's command line.
type walkArg struct {
	id       Hash
	negative bool
}

// run does what setup_revisions, prepare_revision_walk and limit_list do
// for the given arguments, in their order.
func (w *revWalk) run(args []walkArg) error {
	// setup_revisions: get_reference parses each commit and sets its flags.
	starts := make([]*commit, 0, len(args))
	for _, a := range args {
		c := w.pool.lookup(a.id)
		if err := w.pool.parse(c); err != nil {
			return err
		}
		if a.negative {
			c.flags |= flagUninteresting | flagBottom
		}
		starts = append(starts, c)
	}
	// prepare_revision_walk: handle_commit marks the parents of negative
	// commits, then the list is sorted by date (a stable merge sort).
	var list []*commit
	for _, c := range starts {
		if c.flags&flagUninteresting != 0 {
			w.markParentsUninteresting(c)
		}
		if c.flags&flagSeen == 0 {
			c.flags |= flagSeen
			list = append(list, c)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].date > list[j].date })
	for _, c := range list {
		w.enqueue(c)
	}
	return w.limitList()
}

func (w *revWalk) enqueue(c *commit) {
	c.flags |= flagQueued
	if c.flags&flagUninteresting == 0 {
		w.interestingQueued++
	}
	w.queue.push(c)
}

func (w *revWalk) dequeue() *commit {
	c := w.queue.pop()
	c.flags &^= flagQueued
	if c.flags&flagUninteresting == 0 {
		w.interestingQueued--
	}
	return c
}

func (w *revWalk) setUninteresting(c *commit) {
	if c.flags&flagUninteresting != 0 {
		return
	}
	c.flags |= flagUninteresting
	if c.flags&flagQueued != 0 {
		w.interestingQueued--
	}
}

// markParentsUninteresting spreads UNINTERESTING to the ancestors of c, but
// like git's only through commits that are already parsed: an unparsed
// commit is marked and the spreading stops there
// (mark_parents_uninteresting).
func (w *revWalk) markParentsUninteresting(c *commit) {
	var pending []*commit
	markOne := func(p *commit) {
		if p.flags&flagUninteresting != 0 {
			return
		}
		w.setUninteresting(p)
		pending = append(pending, p.parents()...)
	}
	for _, p := range c.parents() {
		markOne(p)
	}
	for len(pending) > 0 {
		p := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		markOne(p)
	}
}

// limitList is git's limit_list: pop the newest commit, queue its parents,
// keep it if it is interesting, and stop once only uninteresting commits
// are queued, none of them newer than the last interesting one, and slop
// more have been looked at.
func (w *revWalk) limitList() error {
	budget := slop
	lastDate := int64(math.MaxInt64)
	for w.queue.len() > 0 {
		c := w.dequeue()
		if err := w.processParents(c); err != nil {
			return err
		}
		if c.flags&flagUninteresting != 0 {
			w.markParentsUninteresting(c)
			budget = w.stillInteresting(lastDate, budget)
			if budget != 0 {
				continue
			}
			break
		}
		lastDate = c.date
		w.popped.add(c)
	}
	return nil
}

// stillInteresting is git's still_interesting.
func (w *revWalk) stillInteresting(lastDate int64, budget int) int {
	if w.queue.len() == 0 {
		return 0
	}
	if lastDate <= w.queue.peek().date {
		return slop
	}
	if w.interestingQueued > 0 {
		return slop
	}
	return budget - 1
}

// processParents is git's process_parents for a limited walk.
func (w *revWalk) processParents(c *commit) error {
	if c.flags&flagAdded != 0 {
		return nil
	}
	c.flags |= flagAdded

	if c.flags&flagUninteresting != 0 {
		for _, p := range c.parents() {
			w.setUninteresting(p)
			// A missing parent of an uninteresting commit is ignored,
			// as git does (repo_parse_commit_gently).
			if w.pool.parse(p) != nil {
				continue
			}
			if len(p.parents()) > 0 {
				w.markParentsUninteresting(p)
			}
			if p.flags&flagSeen != 0 {
				continue
			}
			p.flags |= flagSeen
			w.enqueue(p)
		}
		return nil
	}

	if w.prune {
		if err := w.simplify(c); err != nil {
			return err
		}
	}
	for _, p := range c.parents() {
		if err := w.pool.parse(p); err != nil {
			return err
		}
		if p.flags&flagSeen == 0 {
			p.flags |= flagSeen
			w.enqueue(p)
		}
		if w.firstParent {
			break
		}
	}
	return nil
}

// relevant is git's relevant_commit: interesting, or a negative commit
// named on the command line.
func relevant(c *commit) bool {
	return c.flags&(flagUninteresting|flagBottom) != flagUninteresting
}

// simplify is git's try_to_simplify_commit with the defaults of bisect's
// walk (dense, simplify_history, no show_pulls): a commit is TREESAME when
// its paths are unchanged from its relevant parents; a merge whose paths
// equal those of a relevant parent keeps only that parent.
func (w *revWalk) simplify(c *commit) error {
	key, err := w.pool.pathKey(c)
	if err != nil {
		return err
	}
	if len(c.parents()) == 0 {
		if key.IsZero() {
			c.flags |= flagTreesame
		}
		return nil
	}
	relevantParents := 0
	relevantChange, irrelevantChange := false, false
	for n, p := range c.parents() {
		isRelevant := relevant(p)
		if isRelevant {
			relevantParents++
		}
		// git counts the second parent as relevant before it stops
		// looking at it under --first-parent; kept as is.
		if n == 1 && w.firstParent {
			break
		}
		if err := w.pool.parse(p); err != nil {
			return err
		}
		pkey, err := w.pool.pathKey(p)
		if err != nil {
			return err
		}
		if pkey == key {
			if !isRelevant {
				continue
			}
			c.setParents(c.parents()[n : n+1]) // p, kept in place
			c.flags |= flagTreesame
			return nil
		}
		if isRelevant {
			relevantChange = true
		} else {
			irrelevantChange = true
		}
	}
	if (relevantParents > 0 && !relevantChange) || (relevantParents == 0 && !irrelevantChange) {
		c.flags |= flagTreesame
	}
	return nil
}
