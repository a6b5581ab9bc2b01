package search

import "math/bits"

// A merge's weight is what git's count_distance returns: it marks the
// commits it counts COUNTED and clear_distance unmarks the list after each
// merge, so the weight is the number of non-TREESAME commits reachable from
// the merge through interesting commits, all of which are in the list.
// count_distance finds that by walking, once per merge, which is quadratic;
// countMergeReach gets the same numbers from reachability sets built in
// topological order.

// rangeDAG is the bisection list as indexes: the interesting parents of
// list[i] are parents[parentStart[i]:parentStart[i+1]].
type rangeDAG struct {
	parentStart []int32
	parents     []int32
	treesame    []bool
	merge       []bool // two or more interesting parents
}

// newRangeDAG builds it; with firstParent only first parents count, as in a
// --first-parent walk, which does not walk the others.
func newRangeDAG(list []*commit, firstParent bool) (*rangeDAG, error) {
	d := &rangeDAG{
		parentStart: make([]int32, len(list)+1),
		treesame:    make([]bool, len(list)),
		merge:       make([]bool, len(list)),
	}
	// Counted first, so that the edges take one allocation of their size
	// rather than a growing one (five times their size in all).
	edges := 0
	for _, c := range list {
		edges += countInterestingParents(c, firstParent)
	}
	d.parents = make([]int32, 0, edges)
	for i, c := range list {
		d.treesame[i] = c.flags&flagTreesame != 0
		parents := c.parents()
		if firstParent && len(parents) > 1 {
			parents = parents[:1]
		}
		for _, p := range parents {
			if p.flags&flagUninteresting != 0 {
				continue
			}
			if p.listIndex < 0 {
				return nil, errInternal("an interesting parent of " + c.id.String() + " is not in the bisection list")
			}
			d.parents = append(d.parents, p.listIndex)
		}
		d.parentStart[i+1] = int32(len(d.parents))
		d.merge[i] = d.parentStart[i+1]-d.parentStart[i] >= 2
	}
	return d, nil
}

func (d *rangeDAG) parentsOf(i int32) []int32 {
	return d.parents[d.parentStart[i]:d.parentStart[i+1]]
}

// maxLiveSetWords bounds the memory of the reachability sets (64 MiB);
// beyond it the weights are counted by walking, as git does.
const maxLiveSetWords = 8 << 20

// countMergeReach sets ws[i] to the weight of each merge i of the list,
// and leaves the other entries alone, building sets of at most
// maxLiveWords words at a time.
func countMergeReach(list []*commit, ws weights, maxLiveWords int) error {
	// Only called for merges, which --first-parent has none of.
	d, err := newRangeDAG(list, false)
	if err != nil {
		return err
	}
	if !d.reachBySets(ws, maxLiveWords) {
		d.reachByWalking(ws)
	}
	return nil
}

// reachBySets builds each commit's set of reachable non-TREESAME commits
// from its parents' sets, parents first, and drops a set once its last
// child has used it, and sets ws[x] to the weight of each merge x. It gives
// up, having set some of them, when more than maxLiveWords words of sets
// would be live.
//
// Of the commits whose parents are done, it takes the one earliest in the
// list first. The list is oldest first, in the order of git's date walk,
// which is a topological order wherever clocks were right: taken so, the
// sets are built much as history was made, and a commit's set is dropped
// soon after its children are made, where taking the newest ready commit
// first (a stack) runs down one line of history to its end while the sets
// of every fork point on the way stay live. On git's whole history that is
// 188 live sets at most instead of 472 (1.9 MB instead of 4.7 MB).
func (d *rangeDAG) reachBySets(ws weights, maxLiveWords int) bool {
	n := len(d.treesame)
	words := (n + 63) / 64
	// Topological order by Kahn's algorithm over child-to-parent edges
	// reversed: a commit is ready once all its parents are done.
	childStart := make([]int32, n+1)
	for _, p := range d.parents {
		childStart[p+1]++
	}
	for i := 0; i < n; i++ {
		childStart[i+1] += childStart[i]
	}
	childList := make([]int32, len(d.parents))
	fill := append([]int32(nil), childStart[:n]...)
	for i := int32(0); i < int32(n); i++ {
		for _, p := range d.parentsOf(i) {
			childList[fill[p]] = i
			fill[p]++
		}
	}
	// pending[i] counts, until commit i is taken, its parents not yet
	// taken, and from then on its children not yet taken (fill, spent, is
	// reused for it).
	pending := fill
	var ready indexHeap
	for i := int32(0); i < int32(n); i++ {
		pending[i] = d.parentStart[i+1] - d.parentStart[i]
		if pending[i] == 0 {
			ready.push(i)
		}
	}

	// setOf[i] is the slot of commit i's set, -1 when it has none; the
	// slots are as many as sets were ever live at once.
	setOf := make([]int32, n)
	for i := range setOf {
		setOf[i] = -1
	}
	var slots [][]uint64
	var free []int32
	live := 0
	newSet := func() int32 {
		live += words
		if k := len(free); k > 0 {
			s := free[k-1]
			free = free[:k-1]
			clear(slots[s])
			return s
		}
		slots = append(slots, make([]uint64, words))
		return int32(len(slots) - 1)
	}
	drop := func(s int32) {
		live -= words
		free = append(free, s)
	}
	for ready.len() > 0 {
		x := ready.pop()
		kids := childList[childStart[x]:childStart[x+1]]
		pending[x] = int32(len(kids))
		ps := d.parentsOf(x)
		var slot int32
		if len(ps) == 1 && pending[ps[0]] == 1 {
			slot, setOf[ps[0]] = setOf[ps[0]], -1 // x is its parent's last child
		} else {
			slot = newSet()
			set := slots[slot]
			for _, p := range ps {
				for w, v := range slots[setOf[p]] {
					set[w] |= v
				}
			}
		}
		set := slots[slot]
		if !d.treesame[x] {
			set[x/64] |= 1 << (x % 64)
		}
		if d.merge[x] {
			c := 0
			for _, v := range set {
				c += bits.OnesCount64(v)
			}
			ws[x] = c
		}
		for _, p := range ps {
			pending[p]--
			if pending[p] == 0 && setOf[p] >= 0 {
				drop(setOf[p])
				setOf[p] = -1
			}
		}
		if pending[x] == 0 {
			drop(slot)
		} else {
			setOf[x] = slot
		}
		if live > maxLiveWords {
			return false
		}
		for _, c := range kids {
			pending[c]--
			if pending[c] == 0 {
				ready.push(c)
			}
		}
	}
	return true
}

// indexHeap is a min-heap of list indexes.
type indexHeap []int32

func (h indexHeap) len() int { return len(h) }

func (h *indexHeap) push(x int32) {
	*h = append(*h, x)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if q[parent] <= q[i] {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *indexHeap) pop() int32 {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q[l] < q[m] {
			m = l
		}
		if r < last && q[r] < q[m] {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// reachByWalking sets ws[m] to the weight of each merge m by walking, as
// count_distance does.
func (d *rangeDAG) reachByWalking(ws weights) {
	n := len(d.treesame)
	stamp := make([]uint32, n)
	var stack []int32
	for m := int32(0); m < int32(n); m++ {
		if !d.merge[m] {
			continue
		}
		current := uint32(m) + 1
		count := 0
		stack = append(stack[:0], m)
		stamp[m] = current
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !d.treesame[x] {
				count++
			}
			for _, p := range d.parentsOf(x) {
				if stamp[p] != current {
					stamp[p] = current
					stack = append(stack, p)
				}
			}
		}
		ws[m] = count
	}
}
