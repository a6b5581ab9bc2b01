package search

import (
	"fmt"
	"slices"
)

// The flake-aware search needs, for any commit t, the candidates t
// reaches: t is bad under "c is the first bad commit" exactly when it
// does. It keeps them as spans of one topological order of the range: a
// depth-first walk from the bad commit that takes first parents first and
// numbers each commit after its parents (post-order). In a history of
// topic branches merged into a main line that order is the main line,
// oldest first, with each topic just before its merge, and what a commit
// reaches is one or a few spans: a main-line commit reaches a prefix, a
// topic commit its topic's prefix and a prefix of the main line. A
// posterior's prefix sums then give any commit's probability of being bad
// in as many steps as it has spans.

// span is the positions lo..hi, both included, of the range's order.
type span struct{ lo, hi int32 }

// maxSpans bounds the memory of the spans (64 MiB), as maxLiveSetWords
// bounds the reachability sets of the weights.
const maxSpans = maxLiveSetWords

// rangeIndex is the range in topological order with what each commit
// reaches.
type rangeIndex struct {
	// order holds list indexes by position, oldest first; pos is its
	// inverse.
	order []int32
	pos   []int32
	// The spans of the commit at position p are
	// spans[spanStart[p]:spanStart[p+1]], sorted and disjoint.
	spanStart []int32
	spans     []span
}

func (x *rangeIndex) spansAt(p int32) []span {
	return x.spans[x.spanStart[p]:x.spanStart[p+1]]
}

// newRangeIndex orders the range and finds what each commit reaches
// through the range's parents (as the walk left them: with paths, a merge
// keeps only the parent it is TREESAME to, as in git's weights).
func newRangeIndex(d *rangeDAG) (*rangeIndex, error) {
	n := len(d.treesame)
	const (
		unseen int8 = iota
		onStack
		done
	)
	state := make([]int8, n)
	x := &rangeIndex{
		order:     make([]int32, 0, n),
		pos:       make([]int32, n),
		spanStart: make([]int32, n+1),
	}
	type frame struct {
		node int32
		next int
	}
	var stack []frame
	// The bad commit is last in the list; the other roots are there only
	// if git's walk left a commit reachable only through one it marked
	// UNINTERESTING later.
	for root := int32(n - 1); root >= 0; root-- {
		if state[root] != unseen {
			continue
		}
		state[root] = onStack
		stack = append(stack, frame{node: root})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if ps := d.parentsOf(top.node); top.next < len(ps) {
				p := ps[top.next]
				top.next++
				if state[p] == unseen {
					state[p] = onStack
					stack = append(stack, frame{node: p})
				}
				continue
			}
			state[top.node] = done
			x.pos[top.node] = int32(len(x.order))
			x.order = append(x.order, top.node)
			stack = stack[:len(stack)-1]
		}
	}

	var buf []span
	for p, node := range x.order {
		buf = append(buf[:0], span{int32(p), int32(p)})
		for _, q := range d.parentsOf(node) {
			buf = append(buf, x.spansAt(x.pos[q])...)
		}
		x.spans = append(x.spans, mergeSpans(buf)...)
		if len(x.spans) > maxSpans {
			return nil, fmt.Errorf("the range's history is too tangled for the flake-aware search (more than %d spans of reachable commits over %d commits); bisect a smaller range, or with --first-parent", maxSpans, n)
		}
		x.spanStart[p+1] = int32(len(x.spans))
	}
	return x, nil
}

// mergeSpans sorts spans in place and joins those that overlap or touch;
// it returns a prefix of spans.
func mergeSpans(spans []span) []span {
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.lo) - int(b.lo) })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.lo <= last.hi+1 {
			last.hi = max(last.hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	return out
}
