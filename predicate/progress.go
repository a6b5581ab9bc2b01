package predicate

import "context"

// RunInfo says which run of a predicate's test is starting, so that
// progress can show "run 2 of 3" while a measured judgement takes its
// samples. N counts from 1; Of is the number of runs planned (0 when the
// predicate does not know), Max the most it may take when it adds runs
// while undecided (0: no more than Of). Baseline marks a run at the good
// commit.
type RunInfo struct {
	N, Of, Max int
	Baseline   bool
}

type runHookKey struct{}

// WithRunHook returns a context whose predicates call hook as each run of
// their test starts. Like run.WithStartHook, it lets whoever calls a
// predicate follow it without the predicate knowing who listens.
func WithRunHook(ctx context.Context, hook func(RunInfo)) context.Context {
	return context.WithValue(ctx, runHookKey{}, hook)
}

// AnnounceRun tells the context's run hook, if any, that a run starts.
// Predicates that run their test several times call it before each run.
func AnnounceRun(ctx context.Context, info RunInfo) {
	if hook, _ := ctx.Value(runHookKey{}).(func(RunInfo)); hook != nil {
		hook(info)
	}
}
