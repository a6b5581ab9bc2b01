// Package search chooses the next commit to test in a bisection, exactly
// as git bisect (2.39) does. It is pure: a graph and the verdicts so far go
// in, the next step comes out. It does no I/O beyond asking its Graph.
//
// Next follows bisect.c's bisect_next_all:
//
//   - The range is git's limited revision walk `bad ^good...` (revision.c
//     limit_list): commits are popped newest first by committer date, with
//     equal dates first in, first out; parents of an interesting commit are
//     queued (only the first with --first-parent); UNINTERESTING spreads
//     from the good commits to their ancestors, but only through commits
//     git has parsed (mark_parents_uninteresting); and the walk stops once
//     nothing interesting is queued, nothing queued is newer than the last
//     interesting commit, and five more commits were looked at
//     (still_interesting, SLOP). With clock skew that can leave commits
//     reachable from a good one in the range, as it does in git.
//   - With paths, each interesting commit is compared with its parents
//     (try_to_simplify_commit): it is TREESAME when its paths are those of
//     its relevant parents, and a merge whose paths are those of a relevant
//     parent keeps only that parent. Root commits compare with the empty
//     tree.
//   - Each commit of the range gets a weight, the number of non-TREESAME
//     commits of the range it reaches (find_bisection, do_find_bisection),
//     and git tests the first one, oldest first, whose weight is closest
//     to half the range (approx_halfway, best_bisection). git counts a
//     merge's weight by walking its ancestors once per merge
//     (count_distance); the same numbers come here from reachability sets
//     built in topological order, which is much faster on large ranges.
//   - Once any commit has been skipped, all weights are computed and the
//     commits sorted by how much they settle, then by object id
//     (best_bisection_sorted); if the best is skipped, git takes one away
//     from it with its pseudo-random get_prn and sqrti (managed_skipped,
//     skip_away).
//   - When the choice is the bad commit itself, the bisection is over:
//     it is the first bad commit, unless skipped commits are left, which
//     git then lists as candidates (error_if_skipped_commits).
//
// CheckMergeBases is check_good_are_ancestors_of_bad and check_merge_bases,
// which git runs before bisecting when a good commit is not an ancestor of
// the bad one.
//
// One thing a pure function cannot see: git keeps commits parsed for the
// life of its process, and path limiting rewrites a simplified merge's
// parents for that long too, so in `git bisect run` (one process for all
// its steps) what earlier steps parsed can change a later step's range
// when the walk stops early. Next answers as a fresh git process does,
// such as `git bisect good` typed by hand; Run keeps that state between
// steps and answers as `git bisect start` followed by `git bisect run`
// does. The two differ rarely: in about one bisection in a thousand of the
// random ones in the tests, all with clock skew or paths.
//
// NewFlaky is a second search beside git's, for tests whose verdicts can
// be wrong: it keeps a posterior over which commit of the same range is the
// first bad one, or none, and proposes the commits whose runs settle most;
// see Flaky.
//
// Merge bases are found as git finds them in a repository without a
// commit-graph file, by committer date. With one, git uses generation
// numbers, and under clock skew CheckMergeBases may then name a different
// merge base than git.
package search

import (
	"bytes"
	"errors"
	"sort"
)

// Options change which commits are candidates.
type Options struct {
	// FirstParent follows only the first parent of interesting merges,
	// as git bisect start --first-parent.
	FirstParent bool
	// Paths restricts candidates to commits that are not TREESAME for the
	// bisection's paths, as git bisect start -- <path>...; the graph must
	// be a PathKeyer, which tells the content at those paths.
	Paths bool
}

// State is what is known so far. The order of Good and Skip does not
// matter; git keeps them as refs, sorted by object id.
type State struct {
	Bad  Hash
	Good []Hash
	Skip []Hash
}

// Kind says what Next found.
type Kind int

const (
	// Test: the commit in Step.Commit is to be tested next.
	Test Kind = iota
	// Found: Step.Commit is the first bad commit.
	Found
	// OnlySkipped: only skipped commits are left; the first bad commit is
	// one of Step.Candidates (as git lists them, bad included).
	OnlySkipped
	// NoRegression: the flake-aware search holds that nothing in the
	// range regressed: what was seen at the bad end was a flake, or the
	// good ends are bad too.
	NoRegression
	// Inconclusive: the flake-aware search spent its runs, or has no
	// commit left to test, without reaching its confidence.
	Inconclusive
)

func (k Kind) String() string {
	switch k {
	case Test:
		return "test"
	case Found:
		return "found"
	case OnlySkipped:
		return "only-skipped"
	case NoRegression:
		return "no-regression"
	case Inconclusive:
		return "inconclusive"
	}
	return "unknown"
}

// Step is the answer of Next.
type Step struct {
	Kind       Kind
	Commit     Hash
	Candidates []Hash
	// Remaining is the number of commits that could still be the first bad
	// one, as git counts them (nr); StepsLeft is git's estimate of the
	// tests still needed ("roughly N steps").
	Remaining int
	StepsLeft int
	// Reaches is the number of those commits that git's best candidate
	// reaches, itself included (Commit, unless it had to skip away from
	// a skipped one); git prints Remaining-Reaches-1 as the "revisions
	// left to test after this".
	Reaches int
}

// ErrNoTestableCommit is git's "No testable commit found. Maybe you
// started with bad path arguments?": path limiting left no commit that
// changes the paths.
var ErrNoTestableCommit = errors.New("no testable commit found: no commit in the range changes the given paths")

// ErrBadIsGood is git's "<bad> was both good and bad": the bad commit is
// reachable from a good one, so the range is empty.
var ErrBadIsGood = errors.New("the bad commit is also good: it is reachable from a good commit, so the range is empty")

type errInternal string

func (e errInternal) Error() string { return "bisect search: " + string(e) }

// errNoPathKeys is returned when Options.Paths is set but the graph cannot
// give path keys: without them the search cannot tell which commits change
// the paths.
const errNoPathKeys = errInternal("Options.Paths is set, but the graph does not implement PathKeyer")

// Next returns what git bisect does next in the given state: test a
// commit, or report the first bad commit, or the candidates when only
// skipped commits are left. It answers as a fresh git process does (see
// the package documentation); it does not check the merge bases, which
// is CheckMergeBases's job.
func Next(g Graph, st State, opt Options) (Step, error) {
	return newPool(g).next(st, opt)
}

// CheckMergeBases returns what must happen before bisecting can start
// (check_good_are_ancestors_of_bad). git runs it before each step until it
// first returns MergeBaseOK or MergeBaseSkipped, and never again in that
// bisection (it then writes BISECT_ANCESTORS_OK).
func CheckMergeBases(g Graph, st State) (MergeBaseCheck, error) {
	return newPool(g).checkMergeBases(st)
}

// Run follows one bisection as `git bisect start` and then `git bisect
// run` carry it out, and answers exactly as they do. git runs all the steps
// of a bisect run in one process, and what that process parsed in earlier
// steps (and the merges it simplified for the paths) stays so; a pure
// function cannot know that, a Run keeps it. Ask it in git's order:
// CheckMergeBases before each step (it stops looking once it has passed,
// as git does when it has written BISECT_ANCESTORS_OK), then Next. Run
// knows where git's processes begin and end: the first answer is the one
// `git bisect start` gives; the steps after it are one `git bisect run`;
// and git 2.39's bisect run stops after checking out a merge base, so the
// steps after a MergeBaseTest are a new one.
//
// To resume, replay the recorded states through a new Run in order. A Run
// is not safe for concurrent use.
type Run struct {
	graph Graph
	opt   Options
	// pool is the object store of the current git process; nil between
	// processes, so that what one read (the whole history below the good
	// commits, for git bisect start's first answer) is let go as soon as
	// it has answered, not when the next one starts.
	pool        *pool
	started     bool // git bisect start has given its answer
	ancestorsOK bool // BISECT_ANCESTORS_OK
}

// NewRun starts following a bisection of g.
func NewRun(g Graph, opt Options) *Run {
	return &Run{graph: g, opt: opt}
}

// process returns the object store of the git process that gives the next
// answer, after clearing the previous walk's marks.
func (r *Run) process() *pool {
	if r.pool == nil {
		r.pool = newPool(r.graph)
	}
	r.pool.clearFlags()
	return r.pool
}

// endProcess ends the current git process after its answer.
func (r *Run) endProcess() { r.pool = nil }

func (r *Run) answered() {
	if !r.started {
		r.started = true
		r.endProcess()
	}
}

// CheckMergeBases is CheckMergeBases as the bisection's git process runs
// it; once it has returned MergeBaseOK or MergeBaseSkipped, it returns
// MergeBaseOK without looking.
func (r *Run) CheckMergeBases(st State) (MergeBaseCheck, error) {
	if r.ancestorsOK {
		return MergeBaseCheck{Kind: MergeBaseOK}, nil
	}
	res, err := r.process().checkMergeBases(st)
	if err != nil {
		return res, err
	}
	switch res.Kind {
	case MergeBaseOK, MergeBaseSkipped:
		r.ancestorsOK = true
	case MergeBaseTest:
		r.answered()
		r.endProcess()
	}
	return res, nil
}

// Next is Next as the bisection's git process computes it.
func (r *Run) Next(st State) (Step, error) {
	p := r.process()
	if r.started {
		// git bisect run records each verdict with the commit's
		// subject, which parses a skipped commit before the next walk.
		for _, h := range st.Skip {
			if err := p.parse(p.lookup(h)); err != nil {
				return Step{}, err
			}
		}
	}
	step, err := p.next(st, r.opt)
	r.answered()
	return step, err
}

// refs returns the hashes as git reads them back from refs/bisect/:
// sorted by object id, without repeats.
func refs(hs []Hash) []Hash {
	out := append([]Hash(nil), hs...)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	n := 0
	for i, h := range out {
		if i == 0 || h != out[n-1] {
			out[n] = h
			n++
		}
	}
	return out[:n]
}

// next is bisect_next_all after the merge base check.
func (p *pool) next(st State, opt Options) (Step, error) {
	if st.Bad.IsZero() {
		return Step{}, errors.New("bisect search: no bad commit")
	}
	if opt.Paths && p.pathKeys == nil {
		// Checked up front, not when the first comparison is made, so
		// that the mistake shows even when no commit gets compared.
		return Step{}, errNoPathKeys
	}
	goods := refs(st.Good)
	skipped := make(map[Hash]bool, len(st.Skip))
	for _, h := range st.Skip {
		skipped[h] = true
	}

	args := []walkArg{{id: st.Bad}}
	for _, h := range goods {
		args = append(args, walkArg{id: h, negative: true})
	}
	w := &revWalk{pool: p, firstParent: opt.FirstParent, prune: opt.Paths}
	if err := w.run(args); err != nil {
		return Step{}, err
	}
	all := len(skipped) > 0
	b, err := findBisection(&w.popped, opt.FirstParent, all)
	if err != nil {
		return Step{}, err
	}
	chosen, tried := managedSkipped(b.best, skipped, st.Bad)
	if chosen == nil {
		if len(tried) > 0 {
			return Step{Kind: OnlySkipped, Candidates: ids(tried)}, nil
		}
		return Step{}, ErrBadIsGood
	}
	if b.all == 0 {
		return Step{}, ErrNoTestableCommit
	}
	if chosen.id == st.Bad {
		if len(tried) > 0 {
			return Step{Kind: OnlySkipped, Candidates: append(ids(tried), st.Bad)}, nil
		}
		return Step{Kind: Found, Commit: st.Bad}, nil
	}
	return Step{
		Kind:      Test,
		Commit:    chosen.id,
		Remaining: b.all,
		StepsLeft: EstimateSteps(b.all),
		Reaches:   b.reaches,
	}, nil
}

func ids(cs []*commit) []Hash {
	out := make([]Hash, len(cs))
	for i, c := range cs {
		out[i] = c.id
	}
	return out
}
