package bisect

import (
	"context"
	"fmt"
	"time"

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
}

// TesterFunc adapts a function to Tester.
type TesterFunc func(ctx context.Context, commit string) (Report, error)

func (f TesterFunc) Test(ctx context.Context, commit string, _ LogPaths) (Report, error) {
	return f(ctx, commit)
}
func (TesterFunc) Worktree() string { return "" }
func (TesterFunc) Close() error     { return nil }

// worktreeTester runs the build and the predicate in a scratch worktree
// taken from the pool for the session's whole run, so that incremental
// builds stay warm from one step to the next.
type worktreeTester struct {
	pool  *worktree.Pool
	wt    *worktree.Worktree
	spec  Spec
	judge predicate.Predicate
}

func newWorktreeTester(ctx context.Context, pool *worktree.Pool, prefer string, spec Spec) (*worktreeTester, error) {
	judge, err := spec.predicate()
	if err != nil {
		return nil, err
	}
	wt, err := pool.Acquire(ctx, prefer)
	if err != nil {
		return nil, err
	}
	return &worktreeTester{pool: pool, wt: wt, spec: spec, judge: judge}, nil
}

func (t *worktreeTester) Worktree() string { return t.wt.Path() }

func (t *worktreeTester) Close() error { return t.wt.Release() }

func (t *worktreeTester) Test(ctx context.Context, commit string, logs LogPaths) (Report, error) {
	var rep Report
	if err := t.wt.Checkout(ctx, commit); err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		// A commit that cannot be checked out (a submodule that cannot be
		// had, say) cannot be judged: git's answer to that is skip.
		rep.Verdict, rep.Reason = predicate.Skip, "checkout failed: "+oneLine(err.Error())
		return rep, nil
	}
	if t.spec.Build != "" {
		m, err := run.Run(ctx, run.Spec{
			Command: t.spec.Build, Dir: t.wt.Path(), Timeout: t.spec.BuildTimeout.D(), LogPath: logs.Build,
			Env: candidateEnv(commit, t.wt.Path()),
		})
		rep.Build, rep.BuildTail = m.Wall, m.Tail
		if err != nil {
			return rep, err
		}
		if m.TimedOut || m.ExitCode != 0 {
			why := fmt.Sprintf("build failed (exit %d)", m.ExitCode)
			if m.TimedOut {
				why = "build timed out after " + t.spec.BuildTimeout.String()
			} else if m.Signal != "" {
				why = "build killed by " + m.Signal
			}
			switch t.spec.OnBuildFailure {
			case predicate.PolicyAbort:
				return rep, &predicate.AbortError{Reason: why + " at " + commit + " (--on-build-failure=abort); see " + logs.Build}
			case predicate.PolicyBad:
				rep.Verdict, rep.Reason = predicate.Bad, why
			default:
				rep.Verdict, rep.Reason = predicate.Skip, why
			}
			return rep, nil
		}
	}
	j, err := t.judge.Judge(ctx, predicate.Candidate{Commit: commit, Dir: t.wt.Path(), LogPath: logs.Test})
	if j.Measurement != nil {
		rep.Test, rep.OutputTail = j.Measurement.Wall, j.Measurement.Tail
	}
	if err != nil {
		return rep, err
	}
	rep.Verdict, rep.Reason, rep.Metrics = j.Verdict, j.Reason, j.Metrics
	return rep, nil
}

// candidateEnv tells a build or a test which commit it is building.
func candidateEnv(commit, dir string) []string {
	return []string{"SXBISECT_COMMIT=" + commit, "SXBISECT_WORKTREE=" + dir}
}
