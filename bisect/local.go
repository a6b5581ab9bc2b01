package bisect

import (
	"context"

	"github.com/sxbisect/sxbisect/bisect/buildcache"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// BaselineCache keeps the baselines of a tester that runs steps outside a
// session, where a session's journal would keep them: an sxbisect worker
// keeps its own, since a measurement compares only with a baseline taken
// on the same machine.
type BaselineCache interface {
	// Baseline is predicate i's baseline, nil when none is kept.
	Baseline(i int) *predicate.Baseline
	// KeepBaseline keeps predicate i's baseline, measured in the named
	// worktree; an error stops the step.
	KeepBaseline(i int, predicate, worktree string, b *predicate.Baseline) error
}

// LocalOptions say how a tester made by NewLocalTester keeps what a
// session would journal.
type LocalOptions struct {
	// Baselines keeps the baselines; nil keeps them in memory only.
	Baselines BaselineCache
	// Note is told what a session would mention in its result (nil:
	// nobody).
	Note func(string)
	// Started is told of every process tree started for a commit, before
	// it runs, so that what a killed process left running can be killed
	// later (nil: nobody).
	Started func(commit string, p run.Started)
	// SharedBuildCache, when not nil, is a tier of the build cache that
	// machines share, behind this one's (see buildcache.Tiered): a build
	// this machine does not hold is asked of it, and one made here is put
	// into it.
	SharedBuildCache buildcache.Shared
}

// NewLocalTester makes the tester a session tests with, on benches in
// scratch worktrees from pool, for a program that runs steps without a
// session of its own: an sxbisect worker. It measures and keeps baselines
// as a session does (a bench kept at the good commit, baselines measured
// once), in opts.Baselines instead of a journal. Its benches are taken
// from the pool as TestOn first needs them and kept until Close.
func NewLocalTester(ctx context.Context, pool *worktree.Pool, spec Spec, opts LocalOptions) (ParallelTester, error) {
	if opts.Baselines == nil {
		opts.Baselines = &memoryBaselines{}
	}
	// nil cores: the worker shares out every core it may run on.
	t, err := newWorktreeTester(ctx, pool, "", spec.WithDefaults(), localBook{opts}, nil)
	if err != nil {
		// Not t: a nil *worktreeTester in an interface is not a nil one.
		return nil, err
	}
	return t, nil
}

// localBook is a baselineBook outside a session.
type localBook struct{ opts LocalOptions }

func (b localBook) recorded(i int) *predicate.Baseline { return b.opts.Baselines.Baseline(i) }

func (b localBook) record(i int, name, wt string, bl *predicate.Baseline) error {
	return b.opts.Baselines.KeepBaseline(i, name, wt, bl)
}

func (localBook) preferredBaselineWorktree() string { return "" }

func (b localBook) note(msg string) {
	if b.opts.Note != nil {
		b.opts.Note(msg)
	}
}

func (b localBook) say(msg string) { b.note(msg) }

func (b localBook) sharedBuildCache() buildcache.Shared { return b.opts.SharedBuildCache }

func (b localBook) started(commit string, p run.Started) {
	if b.opts.Started != nil {
		b.opts.Started(commit, p)
	}
}

// memoryBaselines keeps baselines for the tester's life only.
type memoryBaselines struct{ kept map[int]*predicate.Baseline }

func (m *memoryBaselines) Baseline(i int) *predicate.Baseline { return m.kept[i] }

func (m *memoryBaselines) KeepBaseline(i int, _, _ string, b *predicate.Baseline) error {
	if m.kept == nil {
		m.kept = map[int]*predicate.Baseline{}
	}
	m.kept[i] = b
	return nil
}
