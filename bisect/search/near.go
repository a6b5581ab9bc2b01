package search

// NearHalfway returns the commits of the range, other than skipped ones
// and the bad commit, that split it almost as well as the best split does:
// their weight lies within tolerance (a fraction of the range's size) of
// the best one's, best first (on a line of n commits, the 2*tolerance*n
// around the middle). A caller that knows some commits to be cheaper to
// test (their build is cached) may test one of them instead of git's
// choice, at a small cost in steps; the sequence then differs from git's.
func NearHalfway(g Graph, st State, opt Options, tolerance float64) ([]Hash, error) {
	p := newPool(g)
	if opt.Paths && p.pathKeys == nil {
		return nil, errNoPathKeys
	}
	args := []walkArg{{id: st.Bad}}
	for _, h := range refs(st.Good) {
		args = append(args, walkArg{id: h, negative: true})
	}
	w := &revWalk{pool: p, firstParent: opt.FirstParent, prune: opt.Paths}
	if err := w.run(args); err != nil {
		return nil, err
	}
	list, nr := interestingList(w.popped)
	ws := make(weights, len(list))
	if _, err := doFindBisection(list, ws, nr, opt.FirstParent, true); err != nil {
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
