package bisect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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

// Report is what testing one commit gave.
type Report struct {
	Verdict    predicate.Verdict
	Reason     string
	Build      time.Duration
	Test       time.Duration
	BuildTail  string
	OutputTail string
	Metrics    map[string]float64
	// Samples and BaselineSamples are the measured runs, the evidence
	// behind a measured verdict.
	Samples         []predicate.Sample
	BaselineSamples []predicate.Sample
}

// TesterFunc adapts a function to Tester.
type TesterFunc func(ctx context.Context, commit string) (Report, error)

func (f TesterFunc) Test(ctx context.Context, commit string, _ LogPaths) (Report, error) {
	return f(ctx, commit)
}
func (TesterFunc) Worktree() string { return "" }
func (TesterFunc) Close() error     { return nil }

// worktreeTester runs the build and the predicates in a scratch worktree
// taken from the pool for the session's whole run, so that incremental
// builds stay warm from one step to the next. Predicates that compare with
// the good commit get a second worktree, checked out and built there once:
// their baseline is measured in it at the start, and fresh baseline samples
// can be taken in it beside every candidate's without a rebuild.
type worktreeTester struct {
	pool   *worktree.Pool
	wt     *worktree.Worktree
	spec   Spec
	preds  []predicate.Predicate
	book   baselineBook
	baseWT *worktree.Worktree
	// baselines[i] is predicate i's baseline, nil when it needs none.
	baselines []*predicate.Baseline
	ready     bool
	// noSubmodules is set once a checkout found that submodules cannot be
	// had; from then on neither worktree tries them.
	noSubmodules bool
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
}

func newWorktreeTester(ctx context.Context, pool *worktree.Pool, prefer string, spec Spec, book baselineBook) (*worktreeTester, error) {
	preds, err := spec.predicates()
	if err != nil {
		return nil, err
	}
	t := &worktreeTester{pool: pool, spec: spec, preds: preds, book: book, baselines: make([]*predicate.Baseline, len(preds))}
	// The commit of the first step is not known here, but a fresh session
	// starts by verifying the good end, so a worktree that already holds
	// its build is best. When a baseline worktree is needed, it stays at
	// the good commit all along and gets that worktree instead.
	opts := worktree.AcquireOptions{Prefer: prefer}
	if measure, keepDir := t.baselineWorktreeNeeded(); !measure && !keepDir {
		opts.Stamp = t.goodBuildKey()
	}
	if t.wt, err = pool.AcquireWith(ctx, opts); err != nil {
		return nil, err
	}
	return t, nil
}

// goodBuildKey is the build stamp of the good commit's build, "" when
// there is no build to share.
func (t *worktreeTester) goodBuildKey() string {
	if t.spec.Build == "" || len(t.spec.GoodCommits) == 0 {
		return ""
	}
	return worktree.BuildKey(t.spec.GoodCommits[0], t.spec.Build)
}

// baselineWorktreeNeeded tells why a worktree at the good commit is
// needed beside the main one: to measure a baseline the journal does not
// have yet (measure), or for predicates that take fresh baseline samples
// at every step (keepDir).
func (t *worktreeTester) baselineWorktreeNeeded() (measure, keepDir bool) {
	for i, p := range t.preds {
		measure = measure || (predicate.NeedsBaseline(p) && t.book.recorded(i) == nil)
		keepDir = keepDir || needsBaselineDir(p)
	}
	return measure, keepDir
}

func (t *worktreeTester) Worktree() string { return t.wt.Path() }

func (t *worktreeTester) Close() error {
	err := t.wt.Release()
	if t.baseWT != nil {
		if berr := t.baseWT.Release(); err == nil {
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

// prepareBaselines makes the baseline worktree and measures, or takes from
// the journal, the baseline of every predicate that needs one.
func (t *worktreeTester) prepareBaselines(ctx context.Context, logsDir string) error {
	if t.ready {
		return nil
	}
	measure, keepDir := t.baselineWorktreeNeeded()
	for i, p := range t.preds {
		if predicate.NeedsBaseline(p) {
			t.baselines[i] = t.book.recorded(i)
		}
	}
	if !measure && !keepDir {
		t.ready = true
		return nil
	}
	good := t.spec.GoodCommits[0]
	wt, err := t.pool.AcquireWith(ctx, worktree.AcquireOptions{
		Prefer: t.book.preferredBaselineWorktree(), Stamp: t.goodBuildKey(),
	})
	if err != nil {
		return err
	}
	t.baseWT = wt
	if t.noSubmodules {
		wt.SkipSubmodules()
	}
	built := t.holdsBuild(wt, good)
	if err := t.checkout(ctx, wt, good); err != nil {
		return &predicate.AbortError{Reason: fmt.Sprintf("cannot check out the good commit %s for the baseline: %v", text.ShortID(good), text.OneLine(err.Error()))}
	}
	if rep, ok, err := t.build(ctx, wt, good, filepath.Join(logsDir, "baseline-build.log"), built); err != nil {
		return err
	} else if !ok {
		return &predicate.AbortError{Reason: fmt.Sprintf("the good commit %s does not build (%s), so no baseline can be measured: fix the build command, or give another good commit", text.ShortID(good), rep.Reason)}
	} else if rep.Metrics[buildReusedMetric] == 1 {
		t.book.say(fmt.Sprintf("the baseline worktree %s reuses its build of the good commit %s", wt.Name(), text.ShortID(good)))
	}
	for i, p := range t.preds {
		if !predicate.NeedsBaseline(p) || t.baselines[i] != nil {
			continue
		}
		t.book.say(fmt.Sprintf("measuring the baseline of %s at the good commit %s", p.Name(), text.ShortID(good)))
		b, err := p.(predicate.Baseliner).MeasureBaseline(ctx, predicate.Candidate{
			Commit: good, Dir: wt.Path(), Env: candidateEnv(good, wt.Path()),
			LogPath: filepath.Join(logsDir, fmt.Sprintf("baseline-%d-%s.log", i, p.Name())),
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &predicate.AbortError{Reason: fmt.Sprintf("measuring the baseline of %s at %s: %v", p.Name(), text.ShortID(good), err)}
		}
		b.Commit = good
		if err := t.book.record(i, p.Name(), wt.Name(), b); err != nil {
			return journalError{err}
		}
		t.baselines[i] = b
	}
	if !keepDir {
		// Measured once; no predicate needs the good commit again.
		err := t.baseWT.Release()
		t.baseWT = nil
		if err != nil {
			return err
		}
	}
	t.ready = true
	return nil
}

// checkout moves wt to commit. Submodules that cannot be checked out do
// not fail it: the commit's own files are there, and git bisect run would
// test them just so. Skipping instead would skip every commit when the
// submodules' server cannot be reached, after paying for a failed clone at
// each. The session is told once, and both worktrees stop trying, so that
// the baseline and the candidates are built alike.
func (t *worktreeTester) checkout(ctx context.Context, wt *worktree.Worktree, commit string) error {
	err := wt.Checkout(ctx, commit)
	var subErr *worktree.SubmoduleError
	if err == nil || ctx.Err() != nil || !errors.As(err, &subErr) {
		return err
	}
	for _, w := range []*worktree.Worktree{t.wt, t.baseWT} {
		if w != nil {
			w.SkipSubmodules()
		}
	}
	if !t.noSubmodules {
		t.noSubmodules = true
		t.book.note(fmt.Sprintf("submodules could not be checked out at %s (%s): testing without them from here on, "+
			"as git bisect run does; fix access to them to have them checked out", text.ShortID(commit), subErr.Reason()))
	}
	return nil
}

// buildReusedMetric is set to 1 in a step's metrics when its build was
// not run because the worktree already held it.
const buildReusedMetric = "build_reused"

// holdsBuild tells whether wt's build stamp says that its last
// successful build was of commit with the spec's build command, and that
// nothing was checked out since. It is asked before checking the commit
// out again, since Checkout removes the stamp.
func (t *worktreeTester) holdsBuild(wt *worktree.Worktree, commit string) bool {
	return t.spec.Build != "" && wt.BuildStamp() == worktree.BuildKey(commit, t.spec.Build)
}

// build runs the build command in wt at commit, which is checked out
// there; ok is false when it failed, with the reason in the report. When
// built (see holdsBuild), the build is not run and the stamp that the
// checkout removed is put back; a successful build stamps the worktree.
// A failed one leaves no stamp, since the checkout removed it.
func (t *worktreeTester) build(ctx context.Context, wt *worktree.Worktree, commit, logPath string, built bool) (Report, bool, error) {
	var rep Report
	if t.spec.Build == "" {
		return rep, true, nil
	}
	dir := wt.Path()
	key := worktree.BuildKey(commit, t.spec.Build)
	if built {
		rep.BuildTail = "build reused: " + commit + " was built with the same command in this worktree"
		rep.Metrics = map[string]float64{buildReusedMetric: 1}
		// The step's build log says so too, rather than missing.
		_ = os.WriteFile(logPath, []byte(rep.BuildTail+"\n"), 0o644)
		// Lost, it only costs a rebuild later.
		_ = wt.SetBuildStamp(key)
		return rep, true, nil
	}
	m, err := run.Run(ctx, run.Spec{
		Command: t.spec.Build, Dir: dir, Timeout: t.spec.BuildTimeout.D(), LogPath: logPath,
		Env: candidateEnv(commit, dir),
	})
	rep.Build, rep.BuildTail = m.Wall, m.Tail
	if err != nil {
		return rep, false, err
	}
	if m.TimedOut || m.ExitCode != 0 {
		rep.Reason = fmt.Sprintf("build failed (exit %d)", m.ExitCode)
		if m.TimedOut {
			rep.Reason = "build timed out after " + t.spec.BuildTimeout.String()
		} else if m.Signal != "" {
			rep.Reason = "build killed by " + m.Signal
		}
		return rep, false, nil
	}
	// A stamp that cannot be written only costs a rebuild later, so it
	// does not fail the step.
	_ = wt.SetBuildStamp(key)
	return rep, true, nil
}

func (t *worktreeTester) Test(ctx context.Context, commit string, logs LogPaths) (Report, error) {
	if err := t.prepareBaselines(ctx, filepath.Dir(logs.Test)); err != nil {
		return Report{}, err
	}
	built := t.holdsBuild(t.wt, commit)
	if err := t.checkout(ctx, t.wt, commit); err != nil {
		if ctx.Err() != nil {
			return Report{}, ctx.Err()
		}
		// A checkout that fails says something about the machine (a full
		// disk, a lock left by a killed git) far more often than about the
		// commit, and calling it a skip would skip every commit after it
		// and end in a useless list of candidates. Stop instead, resumably.
		return Report{}, &predicate.AbortError{Reason: "cannot check out the commit: " + text.OneLine(err.Error()) + "; fix it and run sxbisect resume"}
	}
	rep, ok, err := t.build(ctx, t.wt, commit, logs.Build, built)
	if err != nil {
		return rep, err
	}
	if !ok {
		switch t.spec.OnBuildFailure {
		case predicate.PolicyAbort:
			return rep, &predicate.AbortError{Reason: rep.Reason + " at " + commit + " (--on-build-failure=abort); see " + logs.Build}
		case predicate.PolicyBad:
			rep.Verdict = predicate.Bad
		default:
			rep.Verdict = predicate.Skip
		}
		return rep, nil
	}
	return t.judge(ctx, commit, logs, rep)
}

// judge asks every predicate in turn; all must hold for the commit to be
// good. The first bad verdict decides, and the rest are not run: the
// commit is bad whatever they say. A skip is kept while the others go on,
// since one of them may still find the commit bad.
func (t *worktreeTester) judge(ctx context.Context, commit string, logs LogPaths, rep Report) (Report, error) {
	rep.Verdict = predicate.Good
	var reasons []string
	baseDir := ""
	if t.baseWT != nil {
		baseDir = t.baseWT.Path()
	}
	for i, p := range t.preds {
		logPath := logs.Test
		if i > 0 {
			logPath = strings.TrimSuffix(logs.Test, ".log") + "-" + p.Name() + ".log"
		}
		j, err := p.Judge(ctx, predicate.Candidate{
			Commit: commit, Dir: t.wt.Path(), LogPath: logPath, Env: candidateEnv(commit, t.wt.Path()),
			Baseline: t.baselines[i], BaselineDir: baseDir,
		})
		if j.Measurement != nil {
			rep.Test += j.Measurement.Wall
			rep.OutputTail = j.Measurement.Tail
		}
		rep.Metrics = mergeMetrics(rep.Metrics, j.Metrics, p.Name(), len(t.preds) > 1)
		rep.Samples = append(rep.Samples, j.Samples...)
		rep.BaselineSamples = append(rep.BaselineSamples, j.BaselineSamples...)
		if err != nil {
			return rep, err
		}
		reason := j.Reason
		if len(t.preds) > 1 {
			reason = p.Name() + ": " + reason
		}
		reasons = append(reasons, reason)
		switch j.Verdict {
		case predicate.Bad:
			rep.Verdict, rep.Reason = predicate.Bad, reason
			return rep, nil
		case predicate.Skip:
			rep.Verdict = predicate.Skip
		case predicate.Good:
		default:
			return rep, &predicate.AbortError{Reason: fmt.Sprintf("predicate %s gave no verdict (%q)", p.Name(), j.Verdict)}
		}
	}
	rep.Reason = strings.Join(reasons, "; ")
	return rep, nil
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

// candidateEnv tells a build or a test which commit it is building.
func candidateEnv(commit, dir string) []string {
	return []string{"SXBISECT_COMMIT=" + commit, "SXBISECT_WORKTREE=" + dir}
}
