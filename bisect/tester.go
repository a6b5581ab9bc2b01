package bisect

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sxbisect/sxbisect/bisect/buildcache"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// Tester checks out, builds and judges one commit. The session's own
// tester uses a scratch worktree and the spec's build and predicate; tests
// of the session substitute a function (see TesterFunc), so that the search
// and the journal are exercised without processes.
type Tester interface {
	// Test returns the report of one commit. An error stops the session:
	// a *predicate.AbortError or a context error as they are, anything
	// else as an abort with its message.
	Test(ctx context.Context, commit string, logs LogPaths) (Report, error)
	// Worktree names where tests run ("" if nowhere in particular).
	Worktree() string
	Close() error
}

// LogPaths are where a step's whole build and test output go.
type LogPaths struct{ Build, Test string }

// TesterFunc adapts a function to Tester.
type TesterFunc func(ctx context.Context, commit string) (Report, error)

func (f TesterFunc) Test(ctx context.Context, commit string, _ LogPaths) (Report, error) {
	return f(ctx, commit)
}
func (TesterFunc) Worktree() string { return "" }
func (TesterFunc) Close() error     { return nil }

// worktreeTester runs a session's steps on benches taken from the pool
// for the session's whole run, so that incremental builds stay warm from
// one step to the next.
//
// A baseline that is measured once is measured on the main bench, at the
// good commit, right before the good end is verified there, so that the
// good commit is built once. Predicates that take fresh baseline samples
// beside every candidate's get a second bench, kept at the good commit and
// built there once; the good end is verified on that one, for the same
// reason.
type worktreeTester struct {
	pool  *worktree.Pool
	spec  Spec
	preds []predicate.Predicate
	book  baselineBook
	subs  *submodules
	cache *buildCache
	main  *Bench
	// benches are the benches of --parallel, main first, taken from the
	// pool as they are first needed; mu guards them and the baselines.
	benches []*Bench
	mu      sync.Mutex
	// gate makes the tests of several benches take turns, most needed
	// first, when they must not overlap, and gives the measured ones
	// cores of their own where it can (see judgeGate and corePlan).
	gate *judgeGate
	// base is the bench kept at the good commit, nil when no predicate
	// takes fresh baseline samples.
	base *Bench
	// baselines[i] is predicate i's baseline, nil when it needs none.
	baselines []*predicate.Baseline
	ready     bool
}

// baselineBook is where the session keeps baselines: what the journal
// already holds, and a way to record a new one durably.
type baselineBook interface {
	recorded(i int) *predicate.Baseline
	record(i int, name, worktree string, b *predicate.Baseline) error
	preferredBaselineWorktree() string
	// note tells of something the result must mention; say only shows
	// progress.
	note(msg string)
	say(msg string)
	// started writes down a process tree started for commit.
	started(commit string, s run.Started)
}

// sharedCacheBook is a baselineBook that names a shared tier of the build
// cache (see LocalOptions.SharedBuildCache).
type sharedCacheBook interface {
	sharedBuildCache() buildcache.Shared
}

// newWorktreeTester takes the session's first bench from pool. cores are
// the cores its benches share out (nil: those sxbisect may run on).
func newWorktreeTester(ctx context.Context, pool *worktree.Pool, prefer string, spec Spec, book baselineBook, cores []int) (*worktreeTester, error) {
	preds, err := spec.predicates()
	if err != nil {
		return nil, err
	}
	gate, err := benchGate(spec, preds, cores, book.note)
	if err != nil {
		return nil, err
	}
	var shared buildcache.Shared
	if sb, ok := book.(sharedCacheBook); ok {
		shared = sb.sharedBuildCache()
	}
	t := &worktreeTester{pool: pool, spec: spec, preds: preds, book: book, subs: newSubmodules(book.note),
		cache: openBuildCache(pool, spec, shared, book.say, book.note), baselines: make([]*predicate.Baseline, len(preds))}
	// The commit of the first step is not known here, but a fresh session
	// starts at the good end (its baseline, its verification), so a
	// worktree that already holds its build is best. When a second bench
	// is kept at the good commit, that one gets such a worktree instead.
	opts := worktree.AcquireOptions{Prefer: prefer}
	if !t.baselineBenchNeeded() {
		opts.Stamp = t.goodBuildKey()
	}
	wt, err := pool.AcquireWith(ctx, opts)
	if err != nil {
		return nil, err
	}
	t.main = newBench(wt, spec, t.subs, t.cache, book.started)
	t.benches = []*Bench{t.main}
	t.gate = gate
	t.main.gate = t.gate
	return t, nil
}

// benchGate makes the gate of benches whose tests must not overlap, nil
// when they may: with --build-ahead, or several benches and measured
// conditions. When the test's times are measured, the gate sets cores
// apart for the measured runs and the builds, where it can (see
// corePlan); note is told how, or why not.
func benchGate(spec Spec, preds []predicate.Predicate, cores []int, note func(string)) (*judgeGate, error) {
	k := spec.benches()
	what := fmt.Sprintf("--parallel %d with measured conditions", spec.Parallel)
	switch {
	case spec.BuildAhead:
		what = "--build-ahead"
	case k > 1 && measuredTogether(preds):
	default:
		return nil, nil
	}
	if !measuresTime(preds) {
		if !spec.BuildAhead {
			note(what + ": the measured runs take turns, most needed first, since no cores are set apart for each; builds run beside them at a lower priority")
		}
		return newJudgeGate(sharedPlan("")), nil
	}
	if cores == nil {
		var err error
		if cores, err = run.AllowedCPUs(); err != nil {
			return nil, err
		}
	}
	want := k
	if spec.BuildAhead {
		want = 1 // tests never run side by side
	}
	plan := planCores(cores, spec.CoresPerRun, want, what, run.CheckCPUSet)
	note(plan.note)
	return newJudgeGate(plan), nil
}

// goodBuildKey is the build stamp of the good commit's build, "" when
// there is no build to share.
func (t *worktreeTester) goodBuildKey() string {
	if t.spec.Build == "" || len(t.spec.GoodCommits) == 0 {
		return ""
	}
	return worktree.BuildKey(t.spec.GoodCommits[0], t.spec.Build)
}

// baselineBenchNeeded reports whether a predicate takes fresh baseline
// samples at every step, and so needs a bench kept at the good commit.
func (t *worktreeTester) baselineBenchNeeded() bool {
	for _, p := range t.preds {
		if needsBaselineDir(p) {
			return true
		}
	}
	return false
}

// baselineToMeasure reports whether a predicate needs a baseline that the
// journal does not have yet.
func (t *worktreeTester) baselineToMeasure() bool {
	for i, p := range t.preds {
		if predicate.NeedsBaseline(p) && t.book.recorded(i) == nil {
			return true
		}
	}
	return false
}

func (t *worktreeTester) Worktree() string { return t.main.Dir() }

// reserve takes k benches from the pool now, so that each step's journal
// record can name its worktree before it starts.
func (t *worktreeTester) reserve(ctx context.Context, k int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.takeBenches(ctx, k)
}

// takeBenches takes benches from the pool until there are k; t.mu is held.
func (t *worktreeTester) takeBenches(ctx context.Context, k int) error {
	for len(t.benches) < k {
		wt, err := t.pool.AcquireWith(ctx, worktree.AcquireOptions{})
		if err != nil {
			return err
		}
		b := newBench(wt, t.spec, t.subs, t.cache, t.book.started)
		b.gate = t.gate
		t.benches = append(t.benches, b)
	}
	return nil
}

// WorktreeOf names bench i's worktree, "" before it is taken.
func (t *worktreeTester) WorktreeOf(i int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i < len(t.benches) {
		return t.benches[i].Dir()
	}
	return ""
}

func (t *worktreeTester) Close() error {
	var err error
	for _, b := range t.benches {
		if berr := b.Release(); err == nil {
			err = berr
		}
	}
	if t.base != nil {
		if berr := t.base.Release(); err == nil {
			err = berr
		}
	}
	return err
}

// needsBaselineDir reports whether p takes fresh samples at the good
// commit beside each candidate's, and so needs a worktree kept there.
func needsBaselineDir(p predicate.Predicate) bool {
	if n, ok := p.(interface{ NeedsBaselineDir() bool }); ok {
		return n.NeedsBaselineDir()
	}
	return predicate.NeedsBaseline(p)
}

// prepareBaselines makes the baseline bench and measures, or takes from
// the journal, the baseline of every predicate that needs one.
func (t *worktreeTester) prepareBaselines(ctx context.Context, logsDir string) error {
	if t.ready {
		return nil
	}
	for i, p := range t.preds {
		if predicate.NeedsBaseline(p) {
			t.baselines[i] = t.book.recorded(i)
		}
	}
	measure, keep := t.baselineToMeasure(), t.baselineBenchNeeded()
	if !measure && !keep {
		t.ready = true
		return nil
	}
	bench := t.main
	if keep {
		wt, err := t.pool.AcquireWith(ctx, worktree.AcquireOptions{
			Prefer: t.book.preferredBaselineWorktree(), Stamp: t.goodBuildKey(),
		})
		if err != nil {
			return err
		}
		t.base = newBench(wt, t.spec, t.subs, t.cache, t.book.started)
		t.base.gate = t.gate
		bench = t.base
	}
	good := t.spec.GoodCommits[0]
	rep, ok, err := bench.Prepare(ctx, good, filepath.Join(logsDir, "baseline-build.log"))
	var abort *predicate.AbortError
	switch {
	case errors.As(err, &abort):
		return &predicate.AbortError{Reason: "for the baseline at the good commit: " + abort.Reason}
	case err != nil:
		return err
	case !ok:
		return &predicate.AbortError{Reason: fmt.Sprintf("the good commit %s does not build (%s), so no baseline can be measured: fix the build command, or give another good commit", text.ShortID(good), rep.Reason)}
	case rep.Metrics[buildReusedMetric] == 1:
		t.book.say(fmt.Sprintf("the worktree %s reuses its build of the good commit %s", bench.Name(), text.ShortID(good)))
	}
	// The baseline is measured as a commit is judged: in turn, and on
	// the cores candidates' runs have.
	if t.gate != nil && measure {
		slot, err := t.gate.enter(ctx, good)
		if err != nil {
			return err
		}
		defer t.gate.leave(slot)
		ctx = onSlotCores(ctx, t.gate.cpus(slot), &Report{})
	}
	for i, p := range t.preds {
		if !predicate.NeedsBaseline(p) || t.baselines[i] != nil {
			continue
		}
		t.book.say(fmt.Sprintf("measuring the baseline of %s at the good commit %s", p.Name(), text.ShortID(good)))
		enterPhase(ctx, PhaseBaseline)
		b, err := p.(predicate.Baseliner).MeasureBaseline(bench.watch(ctx, good), predicate.Candidate{
			Commit: good, Dir: bench.Dir(), Env: CandidateEnv(good, bench.Dir()),
			LogPath: filepath.Join(logsDir, fmt.Sprintf("baseline-%d-%s.log", i, p.Name())),
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &predicate.AbortError{Reason: fmt.Sprintf("measuring the baseline of %s at %s: %v", p.Name(), text.ShortID(good), err)}
		}
		// A baseline measured in a worktree that vanished under it is no
		// baseline.
		if err := bench.wt.Holds(good); err != nil {
			return err
		}
		b.Commit = good
		if err := t.book.record(i, p.Name(), bench.Name(), b); err != nil {
			return journalError{err}
		}
		t.baselines[i] = b
	}
	t.ready = true
	return nil
}

func (t *worktreeTester) Test(ctx context.Context, commit string, logs LogPaths) (Report, error) {
	return t.TestOn(ctx, 0, commit, logs)
}

// TestOn tests commit on bench i, taking it from the pool when first
// used; benches test at once.
func (t *worktreeTester) TestOn(ctx context.Context, i int, commit string, logs LogPaths) (Report, error) {
	t.mu.Lock()
	err := t.prepareBaselines(ctx, filepath.Dir(logs.Test))
	if err == nil {
		err = t.takeBenches(ctx, i+1)
	}
	t.mu.Unlock()
	if err != nil {
		return Report{}, err
	}
	bench, baseDir := t.benches[i], ""
	if t.base != nil {
		baseDir = t.base.Dir()
		if commit == t.spec.GoodCommits[0] {
			// It is checked out and built there already.
			bench = t.base
		}
	}
	return bench.Test(ctx, commit, logs, Judging{Predicates: t.preds, Baselines: t.baselines, BaselineDir: baseDir})
}

// Show brings commit to a bench and builds it, for people to look at
// after the session: the worktree the result names holds the first bad
// commit, not whatever was tested last. With several benches, one that
// still holds the commit (built, with --build) is named, so that the
// first bad commit is not built a second time only to be shown; else the
// main bench.
func (t *worktreeTester) Show(ctx context.Context, commit, buildLog string) (string, error) {
	bench := t.main
	t.mu.Lock()
	for _, b := range t.benches {
		if b.holdsBuild(commit) || t.spec.Build == "" && b.wt.Holds(commit) == nil {
			bench = b
			break
		}
	}
	t.mu.Unlock()
	rep, ok, err := bench.Prepare(ctx, commit, buildLog)
	if err != nil {
		return "", err
	}
	if !ok {
		return bench.Dir(), fmt.Errorf("%s", rep.Reason)
	}
	return bench.Dir(), nil
}

// sameBuild tells whether commit's build is known to be parent's (see
// Bench.sameBuild).
func (t *worktreeTester) sameBuild(ctx context.Context, commit, parent string) (string, bool) {
	return t.main.sameBuild(ctx, commit, parent)
}

// prioritize tells the benches' gate the scheduler's order of commits.
func (t *worktreeTester) prioritize(commits []string) {
	if t.gate != nil {
		t.gate.prioritize(commits)
	}
}
