package search

// NearHalfway returns the commits of the range, other than skipped ones
// and the bad commit, that split it almost as well as the best split does:
// their weight lies within tolerance (a fraction of the range's size) of
// the best one's, best first (on a line of n commits, the 2*tolerance*n
// around the middle). A caller that knows some commits to be cheaper to
// test (their build is cached) may test one of them instead of git's
// choice, at a small cost in steps; the sequence then differs from git's.
func NearHalfway(g Graph, st State, opt Options, tolerance float64) ([]Hash, error) {
	list, ws, nr, err := rangeWeights(g, st, opt)
	if err != nil {
		return nil, err
	}
	sorted := bestBisectionSorted(list, ws, nr)
	skipped := map[Hash]bool{st.Bad: true}
	for _, h := range st.Skip {
		skipped[h] = true
	}
	var out []Hash
	best := -1
	for _, c := range sorted {
		if skipped[c.id] || c.flags&flagTreesame != 0 {
			continue
		}
		d := distance(c, ws, nr)
		if best < 0 {
			best = d
		}
		if float64(best-d) > tolerance*float64(nr) {
			break
		}
		out = append(out, c.id)
	}
	return out, nil
}

// Splits tells how evenly each of commits splits the range: how many
// candidates a test of it settles for sure (git's distance, the smaller
// of the two sides), or -1 for a commit that is not a candidate (outside
// the range, skipped, the bad commit, TREESAME). best is the most that
// any candidate settles, which git's choice does when nothing is skipped.
func Splits(g Graph, st State, opt Options, commits []Hash) (splits []int, best int, err error) {
	list, ws, nr, err := rangeWeights(g, st, opt)
	if err != nil {
		return nil, 0, err
	}
	skipped := map[Hash]bool{st.Bad: true}
	for _, h := range st.Skip {
		skipped[h] = true
	}
	of := map[Hash]int{}
	best = -1
	for _, c := range list {
		if skipped[c.id] || c.flags&flagTreesame != 0 {
			continue
		}
		d := distance(c, ws, nr)
		of[c.id] = d
		best = max(best, d)
	}
	splits = make([]int, len(commits))
	for i, h := range commits {
		d, ok := of[h]
		if !ok {
			d = -1
		}
		splits[i] = d
	}
	return splits, best, nil
}

// rangeWeights walks the range of st and weighs every commit of it, as
// git does once a commit has been skipped.
func rangeWeights(g Graph, st State, opt Options) ([]*commit, weights, int, error) {
	p := newPool(g)
	if opt.Paths && p.pathKeys == nil {
		return nil, nil, 0, errNoPathKeys
	}
	args := []walkArg{{id: st.Bad}}
	for _, h := range refs(st.Good) {
		args = append(args, walkArg{id: h, negative: true})
	}
	w := &revWalk{pool: p, firstParent: opt.FirstParent, prune: opt.Paths}
	if err := w.run(args); err != nil {
		return nil, nil, 0, err
	}
	list, nr := interestingList(&w.popped)
	ws := make(weights, len(list))
	if _, err := doFindBisection(list, ws, nr, opt.FirstParent, true); err != nil {
		return nil, nil, 0, err
	}
	return list, ws, nr, nil
}
