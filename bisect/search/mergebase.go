package search

import (
	"fmt"
	"strings"
)

// MergeBaseKind says what CheckMergeBases found.
type MergeBaseKind int

const (
	// MergeBaseOK: bisecting can start. Every good commit is an ancestor
	// of the bad one, or every merge base of the bad and good commits is
	// already good.
	MergeBaseOK MergeBaseKind = iota
	// MergeBaseTest: the merge base in MergeBaseCheck.Commit must be
	// tested before bisecting ("Bisecting: a merge base must be tested").
	// Skipped lists merge bases git warned about before it.
	MergeBaseTest
	// MergeBaseBad: the bad commit is itself a merge base of the bad and
	// good commits, so no commit between them can be the first bad one.
	// When the bad commit is the merge base just tested, git says "The
	// merge base <bad> is bad. This means the bug has been fixed between
	// <bad> and [<goods>]."; otherwise (a good commit given that descends
	// from the bad one) "Some good revs are not ancestors of the bad rev.
	// ... Maybe you mistook good and bad revs?". Either way it stops.
	MergeBaseBad
	// MergeBaseSkipped: bisecting can start, but the merge bases in
	// Skipped (the first also in Commit) were skipped, so the first bad
	// commit may not be between them and the bad commit; git warns "the
	// merge base between <bad> and [<goods>] must be skipped." and
	// continues.
	MergeBaseSkipped
)

func (k MergeBaseKind) String() string {
	switch k {
	case MergeBaseOK:
		return "ok"
	case MergeBaseTest:
		return "test-merge-base"
	case MergeBaseBad:
		return "merge-base-bad"
	case MergeBaseSkipped:
		return "merge-base-skipped"
	}
	return "unknown"
}

// MergeBaseCheck is the answer of CheckMergeBases.
type MergeBaseCheck struct {
	Kind MergeBaseKind
	// Commit is the merge base to test (MergeBaseTest), the bad commit
	// (MergeBaseBad), or the first skipped merge base (MergeBaseSkipped).
	Commit Hash
	// Skipped are the skipped merge bases git warned about, in its order.
	Skipped []Hash
}

// Message returns what git prints for the check, or "" when it prints
// nothing. For MergeBaseBad it is the "merge base is bad" text; see
// MergeBaseBad for when git says otherwise.
func (c MergeBaseCheck) Message(st State) string {
	bad := st.Bad.String()
	var goods []string
	for _, h := range refs(st.Good) {
		goods = append(goods, h.String())
	}
	good := strings.Join(goods, " ")
	var b strings.Builder
	for _, mb := range c.Skipped {
		fmt.Fprintf(&b, "warning: the merge base between %s and [%s] must be skipped.\n"+
			"So we cannot be sure the first bad commit is between %s and %s.\n"+
			"We continue anyway.\n", bad, good, mb, bad)
	}
	switch c.Kind {
	case MergeBaseTest:
		b.WriteString("Bisecting: a merge base must be tested\n")
	case MergeBaseBad:
		fmt.Fprintf(&b, "The merge base %s is bad.\nThis means the bug has been fixed between %s and [%s].\n", bad, bad, good)
	}
	return b.String()
}

// checkMergeBases is check_good_are_ancestors_of_bad followed, when a good
// commit is not an ancestor of the bad one, by check_merge_bases.
func (p *pool) checkMergeBases(st State) (MergeBaseCheck, error) {
	goods := refs(st.Good)
	if len(goods) == 0 {
		return MergeBaseCheck{Kind: MergeBaseOK}, nil
	}
	// check_ancestors: the walk `^bad good...` (without paths or
	// --first-parent) finds a commit when a good one is not an ancestor
	// of bad, as far as git's walk can tell.
	args := []walkArg{{id: st.Bad, negative: true}}
	for _, h := range goods {
		args = append(args, walkArg{id: h})
	}
	w := &revWalk{pool: p}
	if err := w.run(args); err != nil {
		return MergeBaseCheck{}, err
	}
	p.clearFlags()
	if w.popped.len() == 0 {
		return MergeBaseCheck{Kind: MergeBaseOK}, nil
	}

	bases, err := p.mergeBases(st.Bad, goods)
	if err != nil {
		return MergeBaseCheck{}, err
	}
	isGood := make(map[Hash]bool, len(goods))
	for _, h := range goods {
		isGood[h] = true
	}
	isSkipped := make(map[Hash]bool, len(st.Skip))
	for _, h := range st.Skip {
		isSkipped[h] = true
	}
	var res MergeBaseCheck
	for _, mb := range bases {
		switch {
		case mb == st.Bad:
			res.Kind, res.Commit = MergeBaseBad, mb
			return res, nil
		case isGood[mb]:
		case isSkipped[mb]:
			res.Skipped = append(res.Skipped, mb)
		default:
			res.Kind, res.Commit = MergeBaseTest, mb
			return res, nil
		}
	}
	if len(res.Skipped) > 0 {
		res.Kind, res.Commit = MergeBaseSkipped, res.Skipped[0]
	}
	return res, nil
}

// MergeBases returns the merge bases of one and the others as git finds
// them without a commit-graph file (get_merge_bases_many: a walk by
// committer date, so clock skew can mislead it as it does git), newest
// first. It is what `git merge-base --all one others...` prints.
func MergeBases(g Graph, one Hash, others ...Hash) ([]Hash, error) {
	return newPool(g).mergeBases(one, others)
}

// IsAncestor reports whether ancestor is reachable from descendant (or is
// it), following every parent. Unlike git's date-ordered walks it cannot be
// misled by clock skew.
func IsAncestor(g Graph, ancestor, descendant Hash) (bool, error) {
	seen := map[Hash]bool{descendant: true}
	stack := []Hash{descendant}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if h == ancestor {
			return true, nil
		}
		n, err := g.Node(h)
		if err != nil {
			return false, err
		}
		for _, p := range n.Parents {
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false, nil
}

// Flags of git's merge-base walk (commit-reach.c).
const (
	mbParent1 uint8 = 1 << iota
	mbParent2
	mbStale
	mbResult
)

// paintWalk is one paint_down_to_common, with its own flags (git clears
// them after each use).
type paintWalk struct {
	pool  *pool
	flags map[*commit]uint8
	queue dateQueue
	// queuedEntries counts each commit's entries in the queue (git may
	// queue a commit more than once); nonStale counts entries of commits
	// not marked STALE, so that queue_has_nonstale is O(1).
	queuedEntries map[*commit]int
	nonStale      int
}

func (pw *paintWalk) put(c *commit) {
	pw.queue.push(c)
	pw.queuedEntries[c]++
	if pw.flags[c]&mbStale == 0 {
		pw.nonStale++
	}
}

func (pw *paintWalk) get() *commit {
	c := pw.queue.pop()
	pw.queuedEntries[c]--
	if pw.flags[c]&mbStale == 0 {
		pw.nonStale--
	}
	return c
}

func (pw *paintWalk) addFlags(c *commit, f uint8) {
	if f&mbStale != 0 && pw.flags[c]&mbStale == 0 {
		pw.nonStale -= pw.queuedEntries[c]
	}
	pw.flags[c] |= f
}

// paintDownToCommon is git's paint_down_to_common without generation
// numbers. one and twos must be parsed. It returns the commits found
// reachable from both sides, by date, and the flags it left.
func (p *pool) paintDownToCommon(one *commit, twos []*commit) ([]*commit, map[*commit]uint8, error) {
	pw := &paintWalk{pool: p, flags: make(map[*commit]uint8), queuedEntries: make(map[*commit]int)}
	pw.addFlags(one, mbParent1)
	if len(twos) == 0 {
		return []*commit{one}, pw.flags, nil
	}
	pw.put(one)
	for _, t := range twos {
		pw.addFlags(t, mbParent2)
		pw.put(t)
	}
	var result []*commit
	for pw.nonStale > 0 {
		c := pw.get()
		f := pw.flags[c] & (mbParent1 | mbParent2 | mbStale)
		if f == mbParent1|mbParent2 {
			if pw.flags[c]&mbResult == 0 {
				pw.addFlags(c, mbResult)
				result = insertByDate(result, c)
			}
			f |= mbStale
		}
		for _, q := range c.parents() {
			if pw.flags[q]&f == f {
				continue
			}
			if err := p.parse(q); err != nil {
				return nil, nil, err
			}
			pw.addFlags(q, f)
			pw.put(q)
		}
	}
	return result, pw.flags, nil
}

// insertByDate is commit_list_insert_by_date on a slice.
func insertByDate(list []*commit, c *commit) []*commit {
	i := 0
	for i < len(list) && list[i].date >= c.date {
		i++
	}
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = c
	return list
}

// mergeBases is get_merge_bases_many (with cleanup).
func (p *pool) mergeBases(oneID Hash, twoIDs []Hash) ([]Hash, error) {
	one := p.lookup(oneID)
	twos := make([]*commit, len(twoIDs))
	for i, h := range twoIDs {
		twos[i] = p.lookup(h)
		if twos[i] == one {
			return []Hash{oneID}, nil
		}
	}
	for _, c := range append([]*commit{one}, twos...) {
		if err := p.parse(c); err != nil {
			return nil, err
		}
	}
	painted, flags, err := p.paintDownToCommon(one, twos)
	if err != nil {
		return nil, err
	}
	var result []*commit
	for _, c := range painted {
		if flags[c]&mbStale == 0 {
			result = insertByDate(result, c)
		}
	}
	if len(result) > 1 {
		independent, err := p.removeRedundant(result)
		if err != nil {
			return nil, err
		}
		result = nil
		for _, c := range independent {
			result = insertByDate(result, c)
		}
	}
	return ids(result), nil
}

// removeRedundant is remove_redundant_no_gen: it drops the commits that
// are ancestors of another one, as git's date walk sees it.
func (p *pool) removeRedundant(array []*commit) ([]*commit, error) {
	redundant := make([]bool, len(array))
	for i := range array {
		if redundant[i] {
			continue
		}
		var work []*commit
		var index []int
		for j := range array {
			if i == j || redundant[j] {
				continue
			}
			work = append(work, array[j])
			index = append(index, j)
		}
		_, flags, err := p.paintDownToCommon(array[i], work)
		if err != nil {
			return nil, err
		}
		if flags[array[i]]&mbParent2 != 0 {
			redundant[i] = true
		}
		for j, c := range work {
			if flags[c]&mbParent1 != 0 {
				redundant[index[j]] = true
			}
		}
	}
	var out []*commit
	for i, c := range array {
		if !redundant[i] {
			out = append(out, c)
		}
	}
	return out, nil
}
