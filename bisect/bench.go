package bisect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// A Bench takes one commit at a time through checkout, build, test and
// judgement, in one scratch worktree. It is the one piece of machinery
// behind a session's steps and the two sides of compare and check, so
// that they check out, build, name a failed build and judge alike.
//
// What goes in is plain data (a commit, the Spec's build, the predicates'
// Judging) and what comes out is a Report, which serialises to JSON: several
// benches can run at once, each in its own worktree, and a bench can stand
// on another machine behind a queue.
type Bench struct {
	wt   *worktree.Worktree
	spec Spec
	subs *submodules
	// cache is the build cache, nil when there is none.
	cache *buildCache
	// started, when set, is told of every process tree the bench starts
	// for a commit, so that it can be written down before it runs.
	started func(commit string, s run.Started)
	// gate, when set, is shared by benches whose tests must not overlap:
	// Test judges only in its turn, on the cores of its slot if it has
	// any, and builds freely, on the builds' cores and at a lower priority
	// (nice), so that a build yields to the run being measured.
	gate *judgeGate
}

// buildNice is how much a build made beside a gated test yields.
const buildNice = 10

// Judging is what a bench needs to judge a commit once it is built: the
// predicates, all of which must hold, their baselines (nil where a
// predicate needs none) and a worktree kept at the good commit where fresh
// baseline samples can be taken ("" when there is none).
type Judging struct {
	Predicates  []predicate.Predicate
	Baselines   []*predicate.Baseline
	BaselineDir string
}

// submodules is what the benches of one session or comparison know of
// submodules. Once one checkout finds that they cannot be had, no bench
// tries again, so that every commit is built alike; the first finding is
// told once, through note.
type submodules struct {
	mu   sync.Mutex
	skip bool
	note func(string)
}

func newSubmodules(note func(string)) *submodules { return &submodules{note: note} }

func (s *submodules) skipping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skip
}

// cannotBeHad records that submodules failed at commit, and tells it the
// first time.
func (s *submodules) cannotBeHad(commit string, err *worktree.SubmoduleError) {
	s.mu.Lock()
	first := !s.skip
	s.skip = true
	s.mu.Unlock()
	if first && s.note != nil {
		s.note(fmt.Sprintf("submodules could not be checked out at %s (%s): testing without them from here on, "+
			"as git bisect run does; fix access to them to have them checked out", text.ShortID(commit), err.Reason()))
	}
}

func newBench(wt *worktree.Worktree, spec Spec, subs *submodules, cache *buildCache, started func(string, run.Started)) *Bench {
	return &Bench{wt: wt, spec: spec, subs: subs, cache: cache, started: started}
}

// Benches hands out benches from one worktree pool for one Spec's build,
// such that every commit is built alike: once a checkout finds that the
// submodules cannot be had, no bench tries them again.
type Benches struct {
	pool  *worktree.Pool
	spec  Spec
	subs  *submodules
	cache *buildCache
}

// NewBenches makes benches for spec from pool, sharing the repository's
// build cache; note is told once when submodules cannot be had, and of
// what the build cache does (nil: nobody).
func NewBenches(pool *worktree.Pool, spec Spec, note func(string)) *Benches {
	return &Benches{pool: pool, spec: spec, subs: newSubmodules(note), cache: openBuildCache(pool, spec, nil, note, note)}
}

// Take acquires a worktree for a bench that is to test commit, preferring
// one that holds commit's build with the spec's command, so that it is
// not built again.
func (bs *Benches) Take(ctx context.Context, commit string) (*Bench, error) {
	opts := worktree.AcquireOptions{}
	if bs.spec.Build != "" {
		opts.Stamp = worktree.BuildKey(commit, bs.spec.Build)
	}
	wt, err := bs.pool.AcquireWith(ctx, opts)
	if err != nil {
		return nil, err
	}
	return newBench(wt, bs.spec, bs.subs, bs.cache, nil), nil
}

// watch makes the runs started with the returned context known to
// b.started, whoever starts them: the build, a predicate, a plugin.
func (b *Bench) watch(ctx context.Context, commit string) context.Context {
	if b.started == nil {
		return ctx
	}
	return run.WithStartHook(ctx, func(s run.Started) { b.started(commit, s) })
}

// Dir is the bench's worktree.
func (b *Bench) Dir() string { return b.wt.Path() }

// Name is the worktree's name in the pool.
func (b *Bench) Name() string { return b.wt.Name() }

// Release gives the worktree back to the pool.
func (b *Bench) Release() error { return b.wt.Release() }

// checkout moves the bench to commit. Submodules that cannot be checked out
// do not fail it: the commit's own files are there, and git bisect run
// would test them just so. Skipping instead would skip every commit when
// the submodules' server cannot be reached, after paying for a failed
// clone at each.
func (b *Bench) checkout(ctx context.Context, commit string) error {
	if b.subs.skipping() {
		b.wt.SkipSubmodules()
	}
	err := b.wt.Checkout(ctx, commit)
	var subErr *worktree.SubmoduleError
	if err == nil || ctx.Err() != nil || !errors.As(err, &subErr) {
		return err
	}
	b.wt.SkipSubmodules()
	b.subs.cannotBeHad(commit, subErr)
	return nil
}

// buildReusedMetric is set to 1 in a step's metrics when its build was
// not run because the worktree already held it.
const buildReusedMetric = "build_reused"

// holdsBuild tells whether the worktree's build stamp says that its last
// successful build was of commit with the spec's build command, and that
// nothing was checked out since. It must be asked before checking the
// commit out again, since Checkout removes the stamp.
func (b *Bench) holdsBuild(commit string) bool {
	return b.spec.Build != "" && b.wt.BuildStamp() == worktree.BuildKey(commit, b.spec.Build)
}

// Prepare checks commit out and builds it. ok is false when the build
// failed, with the reason in the report; an error means that the commit
// could not be brought to the bench at all, which says something about
// the machine (a full disk, a lock left by a killed git) far more often
// than about the commit, so it is an abort, not a verdict. A worktree
// that already holds the commit's build with the same command is not
// built again (Metrics[build_reused] is 1); nor is a commit whose build
// inputs the build cache knows (Metrics[build_cached] is 1): its outputs
// are restored, or its failure reported again.
func (b *Bench) Prepare(ctx context.Context, commit, buildLog string) (Report, bool, error) {
	built := b.holdsBuild(commit)
	enterPhase(ctx, PhaseCheckout)
	if err := b.checkout(ctx, commit); err != nil {
		if ctx.Err() != nil {
			return Report{}, false, ctx.Err()
		}
		return Report{}, false, &predicate.AbortError{Reason: "cannot check out " + text.ShortID(commit) + ": " + text.OneLine(err.Error()) + "; fix it and run sxbisect resume"}
	}
	return b.build(ctx, commit, buildLog, built)
}

// build runs the build command at commit, which is checked out. When
// built (see holdsBuild), the build is not run and the stamp that the
// checkout removed is put back; otherwise the build cache is asked first,
// and told what the build gave. A successful build stamps the worktree.
// A failed one leaves no stamp, since the checkout removed it.
func (b *Bench) build(ctx context.Context, commit, logPath string, built bool) (Report, bool, error) {
	var rep Report
	if b.spec.Build == "" {
		return rep, true, nil
	}
	key := worktree.BuildKey(commit, b.spec.Build)
	if built {
		rep.BuildTail = "build reused: " + commit + " was built with the same command in this worktree"
		rep.Metrics = map[string]float64{buildReusedMetric: 1}
		writeBuildLog(logPath, rep.BuildTail)
		// Lost, it only costs a rebuild later.
		_ = b.wt.SetBuildStamp(key)
		return rep, true, nil
	}
	cacheKey := b.cacheKey(ctx, commit)
	cached, ok, hit := b.fromCache(ctx, cacheKey, commit, logPath)
	if hit {
		return cached, ok, nil
	}
	logCap, _ := b.spec.logCap() // checked when the predicates were made
	enterPhase(ctx, PhaseBuild)
	m, err := run.Run(b.watch(ctx, commit), run.Spec{
		Command: b.spec.Build, Dir: b.Dir(), Timeout: b.spec.BuildTimeout.D(), LogPath: logPath, LogCap: logCap,
		Env: CandidateEnv(commit, b.Dir()), Nice: b.buildNice(), CPUs: b.buildCPUs(),
	})
	// What the cache had to say of this build (a damaged shared copy)
	// comes first.
	rep.Build, rep.BuildTail, rep.Metrics = m.Wall, cached.BuildTail+m.Tail, cached.Metrics
	if err != nil {
		return rep, false, err
	}
	if reason := buildFailure(m, b.spec.BuildTimeout); reason != "" {
		rep.Reason = reason
		b.toCache(ctx, cacheKey, commit, m, reason)
		return rep, false, nil
	}
	// A stamp that cannot be written only costs a rebuild later, so it
	// does not fail the step.
	_ = b.wt.SetBuildStamp(key)
	b.toCache(ctx, cacheKey, commit, m, "")
	return rep, true, nil
}

// buildNice is the niceness of the bench's builds: lowered beside gated
// tests.
func (b *Bench) buildNice() int {
	if b.gate != nil {
		return buildNice
	}
	return 0
}

// buildCPUs are the cores of the bench's builds: those no measured run
// has, when the gate sets cores apart; none for any.
func (b *Bench) buildCPUs() []int {
	if b.gate != nil {
		return b.gate.build
	}
	return nil
}

// buildFailure says how a build failed, with the last line of its output,
// or "" when it succeeded.
func buildFailure(m run.Measurement, timeout Duration) string {
	var reason string
	switch {
	case m.TimedOut:
		reason = "build timed out after " + timeout.String()
	case m.Signal != "":
		reason = "build killed by " + m.Signal
	case m.ExitCode != 0:
		reason = fmt.Sprintf("build failed (exit %d)", m.ExitCode)
	default:
		return ""
	}
	if last := lastLine(m.Tail); last != "no output" {
		reason += ": " + last
	}
	return reason
}

// Test takes commit through checkout, build and judgement. A failed build
// is a verdict by the spec's OnBuildFailure policy (skip by default).
func (b *Bench) Test(ctx context.Context, commit string, logs LogPaths, j Judging) (Report, error) {
	rep, ok, err := b.Prepare(ctx, commit, logs.Build)
	if err != nil || ok {
		if err != nil {
			return rep, err
		}
		if b.gate != nil {
			slot, err := b.gate.enter(ctx, commit)
			if err != nil {
				return rep, err
			}
			defer b.gate.leave(slot)
			ctx = onSlotCores(ctx, b.gate.cpus(slot), &rep)
		}
		return b.Judge(ctx, commit, logs.Test, j, rep)
	}
	switch b.spec.OnBuildFailure {
	case predicate.PolicyAbort:
		return rep, &predicate.AbortError{Reason: rep.Reason + " at " + commit + " (--on-build-failure=abort); see " + logs.Build}
	case predicate.PolicyBad:
		rep.Verdict = predicate.Bad
	default:
		rep.Verdict = predicate.Skip
	}
	return rep, b.wt.Holds(commit)
}

// onSlotCores confines the runs started with the returned context to
// cpus, when there are any, and says so in rep.
func onSlotCores(ctx context.Context, cpus []int, rep *Report) context.Context {
	if len(cpus) == 0 {
		return ctx
	}
	rep.CPUs = run.FormatCPUs(cpus)
	return run.WithCPUs(ctx, cpus)
}

// Judge asks every predicate in turn about commit, which Prepare brought
// to the bench; all must hold for the commit to be good. The first bad
// verdict decides, and the rest are not run: the commit is bad whatever
// they say. A skip is kept while the others go on, since one of them may
// still find the commit bad. The verdict counts only if the worktree still
// holds the commit afterwards (see worktree.Holds); otherwise the error is
// a *worktree.LostError, and the step must be done again elsewhere.
func (b *Bench) Judge(ctx context.Context, commit, testLog string, j Judging, rep Report) (Report, error) {
	rep.Verdict = predicate.Good
	var reasons []string
	for i, p := range j.Predicates {
		logPath := testLog
		if i > 0 && testLog != "" {
			logPath = strings.TrimSuffix(testLog, ".log") + "-" + p.Name() + ".log"
		}
		var baseline *predicate.Baseline
		if i < len(j.Baselines) {
			baseline = j.Baselines[i]
		}
		enterPhase(ctx, PhaseTest)
		res, err := p.Judge(b.watch(ctx, commit), predicate.Candidate{
			Commit: commit, Dir: b.Dir(), LogPath: logPath, Env: CandidateEnv(commit, b.Dir()),
			Baseline: baseline, BaselineDir: j.BaselineDir,
			End: commit == b.spec.BadCommit || slices.Contains(b.spec.GoodCommits, commit),
		})
		if res.Measurement != nil {
			rep.Test += res.Measurement.Wall
			rep.OutputTail = res.Measurement.Tail
		}
		several := len(j.Predicates) > 1
		rep.Metrics = mergeMetrics(rep.Metrics, res.Metrics, p.Name(), several)
		rep.Samples = append(rep.Samples, res.Samples...)
		rep.BaselineSamples = append(rep.BaselineSamples, res.BaselineSamples...)
		if err != nil {
			if lost := b.wt.Holds(commit); lost != nil && ctx.Err() == nil {
				return rep, lost
			}
			return rep, err
		}
		reason := res.Reason
		if several {
			reason = p.Name() + ": " + reason
		}
		reasons = append(reasons, reason)
		switch res.Verdict {
		case predicate.Bad:
			rep.Verdict, rep.Reason = predicate.Bad, reason
			return rep, b.wt.Holds(commit)
		case predicate.Skip:
			rep.Verdict = predicate.Skip
		case predicate.Good:
		default:
			return rep, &predicate.AbortError{Reason: fmt.Sprintf("predicate %s gave no verdict (%q)", p.Name(), res.Verdict)}
		}
	}
	rep.Reason = strings.Join(reasons, "; ")
	return rep, b.wt.Holds(commit)
}

// mergeMetrics adds a predicate's metrics to the step's; with several
// predicates, names are prefixed so that they cannot collide.
func mergeMetrics(into, from map[string]float64, name string, prefix bool) map[string]float64 {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		into = map[string]float64{}
	}
	for k, v := range from {
		if prefix {
			k = name + "." + k
		}
		into[k] = v
	}
	return into
}

// CandidateEnv tells a build or a test which commit it is building and
// where: SXBISECT_COMMIT and SXBISECT_WORKTREE.
func CandidateEnv(commit, dir string) []string {
	return []string{"SXBISECT_COMMIT=" + commit, "SXBISECT_WORKTREE=" + dir}
}

// Report is what testing one commit gave: the verdict and the evidence
// behind it. It is plain data and serialises to JSON, so that it can come
// back from a bench on another machine.
type Report struct {
	Verdict predicate.Verdict `json:"verdict"`
	Reason  string            `json:"reason"`
	// Build and Test are the wall times of the build and of the test runs.
	Build      time.Duration `json:"build_ns"`
	Test       time.Duration `json:"test_ns"`
	BuildTail  string        `json:"build_tail,omitempty"`
	OutputTail string        `json:"output_tail,omitempty"`
	// BuildFrom is the commit whose build the build cache gave instead of
	// building (Metrics[build_cached] is 1).
	BuildFrom string `json:"build_from,omitempty"`
	// Metrics are the step's figures by name (see VerdictRecord.Metrics).
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// CPUs are the cores the test's runs were confined to (see
	// VerdictRecord.CPUs), "" for any.
	CPUs string `json:"cpus,omitempty"`
	// Samples and BaselineSamples are the measured runs, the evidence
	// behind a measured verdict.
	Samples         []predicate.Sample `json:"samples,omitempty"`
	BaselineSamples []predicate.Sample `json:"baseline_samples,omitempty"`
	// Worker names the machine that measured the commit, when it was not
	// this one (see VerdictRecord.Worker).
	Worker string `json:"worker,omitempty"`
}
