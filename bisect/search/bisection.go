package search

import (
	"bytes"
	"slices"
	"sort"
)

// bisection is what find_bisection leaves: the list git picks from and
// the counts it prints.
type bisection struct {
	// best is find_bisection's result list: one commit without skipped
	// commits, all non-TREESAME commits sorted best first with them.
	best []*commit
	// all is git's nr: the non-TREESAME commits in the range.
	all int
	// reaches is the weight of best[0].
	reaches int
}

// weights holds the weight of each commit of the bisection list, by
// listIndex. A weight is the number of non-TREESAME commits in the list
// that a commit reaches, itself included; -1 and -2 mean not yet known for
// commits with one or with several interesting parents.
type weights []int

func (ws weights) of(c *commit) int { return ws[c.listIndex] }

// findBisection is git's find_bisection: the list is the walk's
// interesting commits, oldest popped first, without those marked
// UNINTERESTING since. With all set (git's FIND_BISECTION_ALL, used as soon
// as any commit is skipped) every weight is computed and the list is
// sorted; otherwise git stops at the first commit found halfway.
func findBisection(popped *commitList, firstParent, all bool) (bisection, error) {
	list, nr := interestingList(popped)
	ws := make(weights, len(list))
	halfway, err := doFindBisection(list, ws, nr, firstParent, all)
	if err != nil {
		return bisection{}, err
	}
	var best []*commit
	switch {
	case halfway != nil:
		best = []*commit{halfway}
	case all:
		best = bestBisectionSorted(list, ws, nr)
	default:
		if b := bestBisection(list, ws, nr); b != nil {
			best = []*commit{b}
		}
	}
	res := bisection{best: best, all: nr}
	if len(best) > 0 {
		res.reaches = ws.of(best[0])
	}
	return res, nil
}

// interestingList is the list find_bisection works on: the walk's
// interesting commits, oldest popped first, without those marked
// UNINTERESTING since, each given its listIndex. nr is the number of them
// that are not TREESAME.
func interestingList(popped *commitList) (list []*commit, nr int) {
	list = make([]*commit, 0, popped.len())
	for c := range popped.backward() {
		if c.flags&flagUninteresting != 0 {
			continue
		}
		c.listIndex = int32(len(list))
		list = append(list, c)
		if c.flags&flagTreesame == 0 {
			nr++
		}
	}
	return list, nr
}

func countInterestingParents(c *commit, firstParent bool) int {
	n := 0
	for _, p := range c.parents() {
		if p.flags&flagUninteresting == 0 {
			n++
		}
		if firstParent {
			break
		}
	}
	return n
}

// approxHalfway is git's approx_halfway: within one of the middle, or
// within ~0.1% of it on large ranges.
func approxHalfway(c *commit, ws weights, nr int) bool {
	if c.flags&flagTreesame != 0 {
		return false
	}
	diff := 2*ws.of(c) - nr
	if diff >= -1 && diff <= 1 {
		return true
	}
	if diff < 0 {
		diff = -diff
	}
	return diff < nr/1024
}

// doFindBisection is git's do_find_bisection. It returns the commit found
// halfway, or nil when every weight has been computed.
func doFindBisection(list []*commit, ws weights, nr int, firstParent, all bool) (*commit, error) {
	counted := 0
	for i, c := range list {
		switch countInterestingParents(c, firstParent) {
		case 0:
			if c.flags&flagTreesame == 0 {
				ws[i] = 1
				counted++
			}
		case 1:
			ws[i] = -1
		default:
			ws[i] = -2
		}
	}

	// Merges inside the range: count what they reach, as git's
	// count_distance does, and look at them in list order.
	if slices.Contains(ws, -2) {
		if err := countMergeReach(list, ws, maxLiveSetWords); err != nil {
			return nil, err
		}
		for _, c := range list {
			if countInterestingParents(c, firstParent) < 2 {
				continue
			}
			if !all && approxHalfway(c, ws, nr) {
				return c, nil
			}
			counted++
		}
	}

	// Everything else reaches one more than its first interesting parent
	// with a known weight; git repeats passes over the list until all are
	// counted.
	for counted < nr {
		progress := false
		for i, c := range list {
			if ws[i] >= 0 {
				continue
			}
			var q *commit
			for _, p := range c.parents() {
				if p.flags&flagUninteresting == 0 {
					if p.listIndex < 0 {
						return nil, errInternal("an interesting parent of " + c.id.String() + " is not in the bisection list")
					}
					if ws.of(p) >= 0 {
						q = p
						break
					}
				}
				if firstParent {
					break
				}
			}
			if q == nil {
				continue
			}
			progress = true
			if c.flags&flagTreesame == 0 {
				ws[i] = ws.of(q) + 1
				counted++
			} else {
				ws[i] = ws.of(q)
			}
			if !all && approxHalfway(c, ws, nr) {
				return c, nil
			}
		}
		if !progress {
			// git would loop for ever here; the walk never leaves
			// such a list.
			return nil, errInternal("weights cannot be completed")
		}
	}
	return nil, nil
}

// distance is how much of the range a test of c settles for sure:
// min(weight, nr - weight).
func distance(c *commit, ws weights, nr int) int {
	d := ws.of(c)
	if nr-d < d {
		d = nr - d
	}
	return d
}

// bestBisection is git's best_bisection: the first commit of the list with
// the largest distance; the list's first commit if none is non-TREESAME.
func bestBisection(list []*commit, ws weights, nr int) *commit {
	if len(list) == 0 {
		return nil
	}
	best, bestDistance := list[0], -1
	for _, c := range list {
		if c.flags&flagTreesame != 0 {
			continue
		}
		if d := distance(c, ws, nr); d > bestDistance {
			best, bestDistance = c, d
		}
	}
	return best
}

// bestBisectionSorted is git's best_bisection_sorted: the non-TREESAME
// commits by distance, largest first, ties by object id. When there are
// none, git leaves the list's first commit in place.
func bestBisectionSorted(list []*commit, ws weights, nr int) []*commit {
	type candidate struct {
		c        *commit
		distance int
	}
	var cands []candidate
	for _, c := range list {
		if c.flags&flagTreesame != 0 {
			continue
		}
		cands = append(cands, candidate{c, distance(c, ws, nr)})
	}
	if len(cands) == 0 {
		if len(list) == 0 {
			return nil
		}
		return list[:1]
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].distance != cands[j].distance {
			return cands[i].distance > cands[j].distance
		}
		return bytes.Compare(cands[i].c.id[:], cands[j].c.id[:]) < 0
	})
	out := make([]*commit, len(cands))
	for i, cd := range cands {
		out[i] = cd.c
	}
	return out
}

// managedSkipped is git's managed_skipped with filter_skipped: if the best
// commit is skipped, it takes a pseudo-random one away from it among the
// commits that are not, and reports the skipped ones ("tried").
func managedSkipped(list []*commit, skipped map[Hash]bool, bad Hash) (chosen *commit, tried []*commit) {
	if len(skipped) == 0 || len(list) == 0 || !skipped[list[0].id] {
		if len(list) == 0 {
			return nil, nil
		}
		return list[0], nil
	}
	var filtered []*commit
	for _, c := range list {
		if skipped[c.id] {
			tried = append(tried, c)
		} else {
			filtered = append(filtered, c)
		}
	}
	if len(filtered) == 0 {
		return nil, tried
	}
	return skipAway(filtered, bad), tried
}

// skipAway is git's skip_away, including its 32-bit int arithmetic.
func skipAway(list []*commit, bad Hash) *commit {
	count := int32(len(list))
	prn := int32(gitPRN(uint32(count)))
	index := (count * prn / prnModulo) * int32(sqrti(prn)) / int32(sqrti(prnModulo))
	for i := range list {
		if int32(i) == index {
			if list[i].id != bad {
				return list[i]
			}
			if i > 0 {
				return list[i-1]
			}
			return list[0]
		}
	}
	return list[0]
}

const prnModulo = 32768

// gitPRN is git's get_prn, the "man 3 rand" generator seeded with count.
func gitPRN(count uint32) uint32 {
	count = count*1103515245 + 12345
	return (count / 65536) % prnModulo
}

// sqrti is git's sqrti: Newton's iteration in single precision, truncated.
func sqrti(val int32) int32 {
	if val == 0 {
		return 0
	}
	v := float32(val)
	x := v
	for {
		y := float32(float32(x+float32(v/x)) / 2)
		var d float32
		if y > x {
			d = float32(y - x)
		} else {
			d = float32(x - y)
		}
		x = y
		if d < 0.5 {
			break
		}
	}
	return int32(x)
}

// EstimateSteps is git's estimate_bisect_steps: roughly how many more tests
// a range of n candidate commits needs after the current one.
func EstimateSteps(n int) int {
	if n < 3 {
		return 0
	}
	log2 := 0
	for m := n; m > 1; m >>= 1 {
		log2++
	}
	e := 1 << log2
	x := n - e
	if e < 3*x {
		return log2
	}
	return log2 - 1
}
