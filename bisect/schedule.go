package bisect

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/predicate"
)

// With Spec.Parallel = K > 1 the session is a small scheduler over K
// benches: the search proposes up to K commits, the scheduler hands them
// to idle benches, journals each verdict as it arrives, stops the probes
// that a new verdict made useless (their whole tree is killed), and asks
// again.
//
// The probes of git's search are the commits git itself would test next:
// the commit it tests now, then the two it would test after a good and
// after a bad verdict, and so on down its tree of choices, breadth first.
// K benches thus go about log2(K+1) levels of the bisection at a time (3
// benches two levels, 7 three). Verdicts come in any order, and the tree
// is made again from each: a probe still running that splits a node's
// range well enough stands in for git's choice there (see standIn), so
// that a verdict that moves the range a little does not stop probes that
// are nearly done only to test their neighbours from scratch; with
// --prefer-cached, a commit of the tree may also be one whose build is
// cached and that splits the state it assumes almost as well (see
// speculate). The flake-aware search proposes the quantiles of its
// posterior. The ends are verified at once, and --confirm and --validate
// run one step at a time as with one bench.
//
// Resume is the same replay as with one bench: a kill -9 loses the steps
// in flight, and the journal's verdicts decide what comes next.

// ParallelTester tests several commits at once, each on its own bench: a
// session with Spec.Parallel > 1 needs its Tester to be one. The scratch
// worktrees' tester is one, and so is a TesterFunc (called concurrently);
// a tester whose benches stand on other machines can be one too.
type ParallelTester interface {
	Tester
	// TestOn tests commit on bench i (0 <= i < Spec.Parallel); calls for
	// different benches may run at once.
	TestOn(ctx context.Context, i int, commit string, logs LogPaths) (Report, error)
	// WorktreeOf names bench i's worktree ("" if none in particular).
	WorktreeOf(i int) string
}

// TestOn implements ParallelTester: the function is called concurrently.
func (f TesterFunc) TestOn(ctx context.Context, _ int, commit string, logs LogPaths) (Report, error) {
	return f.Test(ctx, commit, logs)
}

// WorktreeOf implements ParallelTester.
func (TesterFunc) WorktreeOf(int) string { return "" }

// probe is a step running on a bench.
type probe struct {
	fl     *flight
	bench  int
	cancel context.CancelFunc
	// stopped is set once cancel was called for it.
	stopped bool
}

// outcome is what a bench gave for a probe.
type outcome struct {
	p   *probe
	rep Report
	err error
}

// runParallel tests commits on Spec.Parallel benches until the session
// ends or stops.
func (s *session) runParallel(ctx context.Context) (*Result, error) {
	k := s.spec.benches()
	pt, err := s.parallelTester(ctx, k)
	if err != nil {
		return s.failed(ctx, action{}, err, 0)
	}
	running := map[string]*probe{}
	busy := make([]bool, k)
	results := make(chan outcome)
	var wg sync.WaitGroup
	// stopAll stops every probe and waits for them; their verdicts, if
	// any came, are not journaled.
	stopAll := func(why string) {
		for _, p := range running {
			p.cancel()
		}
		for len(running) > 0 {
			o := <-results
			s.drop(o.p, why)
			delete(running, o.p.fl.act.commit)
		}
		wg.Wait()
	}
	lost := 0
	for {
		acts, final, err := s.plan(ctx, k, running)
		if err != nil {
			stopAll("the session stopped")
			return nil, err
		}
		if final != nil {
			stopAll("the session has its answer")
			if final.end != nil {
				return s.end(ctx, final.end)
			}
			return s.stop(Aborted, final.commit, final.abort)
		}
		// Probes that the verdicts so far made useless are stopped.
		wanted := map[string]bool{}
		order := make([]string, 0, len(acts))
		for _, a := range acts {
			wanted[a.commit] = true
			order = append(order, a.commit)
		}
		if p, ok := s.tester.(interface{ prioritize([]string) }); ok {
			p.prioritize(order)
		}
		for c, p := range running {
			if !wanted[c] {
				p.cancel()
				p.stopped = true
			}
		}
		if err := ctx.Err(); err != nil {
			stopAll("interrupted")
			return s.stop(Interrupted, "", "interrupted; 'sxbisect resume --name "+s.spec.Name+"' goes on")
		}
		for _, a := range acts {
			if running[a.commit] != nil {
				continue
			}
			i := freeBench(busy)
			if i < 0 {
				break
			}
			fl, err := s.begin(ctx, a, pt.WorktreeOf(i))
			if err != nil {
				stopAll("the session stopped")
				return s.failed(ctx, a, err, lost)
			}
			if fl == nil {
				continue // journaled already (a revert that did not apply)
			}
			pctx, cancel := context.WithCancel(ctx)
			p := &probe{fl: fl, bench: i, cancel: cancel}
			running[a.commit], busy[i] = p, true
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := testStep(s.withPhases(pctx, p.fl), pt, p.bench, p.fl)
				results <- outcome{p: p, rep: rep, err: err}
			}()
		}
		if len(running) == 0 {
			return nil, errors.New("bisect: the search proposed nothing to test and gave no answer")
		}
		o := <-results
		delete(running, o.p.fl.act.commit)
		busy[o.p.bench] = false
		o.p.cancel()
		switch {
		case o.err == nil:
			if err := s.finishStep(o.p.fl, o.rep); err != nil {
				stopAll("the session stopped")
				return s.failed(ctx, o.p.fl.act, err, lost)
			}
		case ctx.Err() == nil && errors.Is(o.err, context.Canceled):
			s.drop(o.p, "another verdict made it useless")
		case s.lostWorktree(ctx, o.p.fl.act, o.err, &lost):
			stopAll("its worktree was lost")
			s.dropTester()
			if pt, err = s.parallelTester(ctx, k); err != nil {
				return s.failed(ctx, o.p.fl.act, err, lost)
			}
		default:
			stopAll("the session stopped")
			return s.failed(ctx, o.p.fl.act, o.err, lost)
		}
	}
}

// parallelTester takes the session's tester, with k benches.
func (s *session) parallelTester(ctx context.Context, k int) (ParallelTester, error) {
	if err := s.ensureTester(ctx); err != nil {
		return nil, err
	}
	pt, ok := s.tester.(ParallelTester)
	if !ok {
		return nil, errors.New("the session's tester cannot test several commits at once")
	}
	if r, ok := s.tester.(interface {
		reserve(ctx context.Context, k int) error
	}); ok {
		if err := r.reserve(ctx, k); err != nil {
			return nil, err
		}
	}
	return pt, nil
}

func freeBench(busy []bool) int {
	for i, b := range busy {
		if !b {
			return i
		}
	}
	return -1
}

// drop journals that a probe was stopped without a verdict.
func (s *session) drop(p *probe, why string) {
	_ = s.append(DropRecord{Type: RecDrop, Time: now(), Commit: p.fl.act.commit, Reason: why, ID: p.fl.ref.ID})
	s.hist.dropRecorded(p.fl.act.commit)
	if st, ok := s.tester.(StepTester); ok {
		st.Drop(p.fl.ref)
	}
	ev := p.fl.ev
	ev.Type, ev.Reason = EventDrop, why
	s.event(ev)
}

// plan says what k benches should be testing after the verdicts so far, in
// order of priority (running probes among them keep running), or the
// session's end.
func (s *session) plan(ctx context.Context, k int, running map[string]*probe) ([]action, *action, error) {
	if why := s.flakyReason(); why != "" {
		return s.planFlaky(k, running, why)
	}
	act, err := s.decide()
	if err != nil {
		return nil, nil, err
	}
	if act.end != nil || act.abort != "" {
		return nil, &act, nil
	}
	acts := []action{act}
	if act.kind != KindVerify && act.kind != KindBisect {
		// --confirm and --validate take one step at a time.
		return acts, nil, nil
	}
	// The other end, when it is still to be verified.
	if act.kind == KindVerify && !s.spec.NoVerify && act.commit != s.spec.BadCommit && !s.tested(s.spec.BadCommit) {
		acts = append(acts, action{commit: s.spec.BadCommit, kind: KindVerify})
	}
	spec, err := s.speculate(ctx, k-len(acts)+1, running, acts)
	if err != nil {
		return nil, nil, err
	}
	if len(spec) > 0 && spec[0].instead == act.commit && act.kind == KindBisect && !s.testsMergeBase() {
		// A running probe stands in for git's choice in this state, or
		// --prefer-cached took a commit whose build is cached.
		acts[0] = spec[0]
	}
	for _, a := range spec {
		if !containsCommit(acts, a.commit) {
			acts = append(acts, a)
		}
	}
	return acts[:min(len(acts), k)], nil, nil
}

// speculate returns the commits git would test next, breadth first down its
// tree of choices from the state the verdicts so far give: the commit it
// tests now, then the ones after a good and after a bad verdict, and so
// on, at most n. While the ends are still being verified, they are taken
// as the premise says.
//
// A probe that is running stands in for git's choice at a node whose
// range it splits well enough (see standIn): verdicts come in any order,
// and one that moves the range must not stop a probe that is nearly done,
// and still settles much of the new range, only to test a neighbour of it
// from scratch. Else, with --prefer-cached, a commit may be one that
// splits its own state of the tree almost as well as git's choice and is
// under test already or has its build cached (see cachedChoice). Neither
// is ever one planned already; the tree then goes on from the commit
// taken.
func (s *session) speculate(ctx context.Context, n int, running map[string]*probe, planned []action) ([]action, error) {
	root := s.state(len(s.searchVerdicts()))
	queue := []search.State{root}
	var out []action
	taken := func(c string) bool { return containsCommit(planned, c) || containsCommit(out, c) }
	kept := keptProbes(running)
	// A probe being stopped is no stand-in for a cached build: it would
	// be waited for, dropped, and its commit started again from scratch.
	busy := func(c string) bool { return kept[c] }
	for len(queue) > 0 && len(out) < n {
		st := queue[0]
		queue = queue[1:]
		step, err := s.nextStep(st)
		if err != nil || step.Kind != search.Test {
			continue
		}
		a := action{commit: step.Commit.String(), kind: KindBisect, remaining: step.Remaining, stepsLeft: step.StepsLeft}
		if c := s.standIn(st, step.Commit, kept, taken); c != a.commit {
			a.instead, a.commit = a.commit, c
		} else if s.spec.PreferCached {
			a = s.cachedChoice(ctx, st, a, busy, taken)
		}
		if !containsCommit(out, a.commit) {
			out = append(out, a)
		}
		tested := hashOf(a.commit)
		good := st
		good.Good = append(append([]search.Hash(nil), st.Good...), tested)
		bad := st
		bad.Bad = tested
		queue = append(queue, good, bad)
	}
	return out, nil
}

// searchMemo keeps what the search answered about the session's graph:
// with several benches the plan is made again at every verdict, and asks
// about the states of the tree it asked about at the verdict before, and
// about whether the same bad commits reach each other. A session's graph
// does not change, so neither do the answers.
type searchMemo struct {
	steps   map[string]search.Step
	reaches map[[2]string]bool
}

// nextStep is search.Next in state st, asked once per state.
func (s *session) nextStep(st search.State) (search.Step, error) {
	key := stateKey(st)
	if step, ok := s.memo.steps[key]; ok {
		return step, nil
	}
	step, err := search.Next(s.graph, st, s.searchOptions())
	if err != nil {
		return step, err
	}
	if s.memo.steps == nil {
		s.memo.steps = map[string]search.Step{}
	}
	s.memo.steps[key] = step
	return step, nil
}

// stateKey names a search state: its bad commit, and its good and skipped
// ones as sets, since their order does not change what the search does.
func stateKey(st search.State) string {
	set := func(hs []search.Hash) string {
		ids := make([]string, len(hs))
		for i, h := range hs {
			ids[i] = h.String()
		}
		slices.Sort(ids)
		return strings.Join(slices.Compact(ids), ",")
	}
	return st.Bad.String() + "|" + set(st.Good) + "|" + set(st.Skip)
}

// standIn returns the commit to test at the node of state st, whose git's
// choice is choice: choice itself when it is running or when no running
// probe is left to take, else the running probe not taken yet that splits
// st's range best, when it settles at least half as much as the best
// split (it leaves at most three quarters of the range). Such a probe is
// worth keeping: it answers sooner than a new one would, and costs a
// fraction of a step at most.
func (s *session) standIn(st search.State, choice search.Hash, running map[string]bool, taken func(string) bool) string {
	if running[choice.String()] {
		return choice.String()
	}
	var free []search.Hash
	for c := range running {
		if !taken(c) {
			free = append(free, hashOf(c))
		}
	}
	if len(free) == 0 {
		return choice.String()
	}
	slices.SortFunc(free, func(a, b search.Hash) int { return strings.Compare(a.String(), b.String()) })
	splits, best, err := search.Splits(s.graph, st, s.searchOptions(), free)
	if err != nil {
		return choice.String()
	}
	pick, most := choice, max((best+1)/2-1, 0)
	for i, h := range free {
		if splits[i] > most {
			pick, most = h, splits[i]
		}
	}
	return pick.String()
}

// keptProbes are the running probes that go on unless a verdict makes
// them useless: the search's own steps, not those being stopped.
func keptProbes(running map[string]*probe) map[string]bool {
	kept := map[string]bool{}
	for c, p := range running {
		if !p.stopped && p.fl.act.kind == KindBisect {
			kept[c] = true
		}
	}
	return kept
}

// planFlaky asks the flake-aware search for enough commits to keep k
// benches busy; running ones keep running, since every run is evidence.
func (s *session) planFlaky(k int, running map[string]*probe, why string) ([]action, *action, error) {
	act, err := s.goFlaky(why)
	if err != nil {
		return nil, nil, err
	}
	if act.end != nil || act.abort != "" {
		return nil, &act, nil
	}
	if act.kind == KindValidate {
		return []action{act}, nil, nil
	}
	f, err := s.flakySearch()
	if err != nil {
		return nil, nil, err
	}
	d, err := f.Next(s.observations(), k+len(running))
	if err != nil {
		return nil, nil, err
	}
	var acts []action
	for c := range running {
		acts = append(acts, action{commit: c})
	}
	for _, h := range d.Commits {
		c := h.String()
		if running[c] != nil || containsCommit(acts, c) {
			continue
		}
		kind := KindFlaky
		if isEnd(s.spec, c) && !s.tested(c) {
			kind = KindVerify
		}
		acts = append(acts, action{commit: c, kind: kind, remaining: d.Candidates, stepsLeft: max(d.MaxRuns-d.Runs, 0)})
	}
	return acts[:min(len(acts), max(k, len(running)))], nil, nil
}

func containsCommit(acts []action, c string) bool {
	for _, a := range acts {
		if a.commit == c {
			return true
		}
	}
	return false
}

// measuredTogether says whether the predicates' runs would disturb each
// other's measurements if they ran at once on one machine.
func measuredTogether(preds []predicate.Predicate) bool {
	for _, p := range preds {
		if predicate.NeedsBaseline(p) {
			return true
		}
	}
	return false
}

// measuresTime says whether a predicate measures the test's times, and so
// needs cores of its own beside builds and other measured runs: it takes
// fresh baseline samples beside the candidate's (--max-ratio).
func measuresTime(preds []predicate.Predicate) bool {
	for _, p := range preds {
		if needsBaselineDir(p) {
			return true
		}
	}
	return false
}
