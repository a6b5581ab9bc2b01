package bisect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/worktree"
)

// stepTester is a StepTester that judges by the commit's index, and
// remembers the steps it was given and the ones dropped.
type stepTester struct {
	TesterFunc
	commits []string
	bad     int
	mu      sync.Mutex
	steps   []StepRef
	dropped []StepRef
	// stop, when set, is called with each step before it is judged: it may
	// block until the test's context ends.
	stop func(ctx context.Context, step StepRef) error
}

func (st *stepTester) TestStep(ctx context.Context, _ int, step StepRef, _ LogPaths) (Report, error) {
	st.mu.Lock()
	st.steps = append(st.steps, step)
	st.mu.Unlock()
	if st.stop != nil {
		if err := st.stop(ctx, step); err != nil {
			return Report{}, err
		}
	}
	if indexOf(st.commits, step.Commit) >= st.bad {
		return Report{Verdict: predicate.Bad, Reason: "exit 1", Worker: "far"}, nil
	}
	return Report{Verdict: predicate.Good, Reason: "exit 0", Worker: "far"}, nil
}

func (st *stepTester) Drop(step StepRef) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.dropped = append(st.dropped, step)
}

func (st *stepTester) new(context.Context, Spec, string) (Tester, error) { return st, nil }

// A step interrupted before its verdict is dispatched again by resume
// under the same id, so that a tester on other machines collects its
// result instead of running it again; the journal's verdicts carry the id
// and the worker.
func TestAStepInFlightKeepsItsIDAcrossResume(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 40)
	st := &stepTester{commits: commits, bad: 23}
	ctx, cancel := context.WithCancel(context.Background())
	st.stop = func(sctx context.Context, step StepRef) error {
		if step.Kind == KindBisect {
			cancel()
			<-sctx.Done()
			return sctx.Err()
		}
		return nil
	}
	res, err := Start(ctx, Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome, res.Message)
	interrupted := st.steps[len(st.steps)-1]

	st.stop = nil
	before := len(st.steps)
	res, err = Resume(context.Background(), repo, "default", Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[23], *res.FirstBad)
	again := st.steps[before]
	assert.Equal(t, interrupted.Commit, again.Commit, "resume tests the interrupted commit first")
	assert.Equal(t, interrupted.ID, again.ID)
	assert.Equal(t, 0, again.Attempt)

	j, err := ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	seen := map[string]bool{}
	for _, v := range j.Verdicts {
		assert.NotEmpty(t, v.ID)
		assert.False(t, seen[v.ID], "id %s twice", v.ID)
		seen[v.ID] = true
		assert.Equal(t, "far", v.Worker)
		assert.Contains(t, v.ID, v.Commit)
	}
	for _, s := range res.Steps {
		assert.Equal(t, "far", s.Worker)
	}
}

// A step dropped because another verdict made it useless is told to the
// tester, and its id is never given again: a later test of its commit is
// a new attempt.
func TestADroppedStepIsToldAndItsIDNeverGivenAgain(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	st := &stepTester{commits: commits, bad: 30}
	var once sync.Once
	st.stop = func(ctx context.Context, step StepRef) error {
		// The middle answers at once; the others wait, so that its
		// verdict makes some of them useless while they run.
		if isEnd(Spec{GoodCommits: []string{commits[0]}, BadCommit: commits[99]}, step.Commit) {
			return nil
		}
		answer := false
		if indexOf(commits, step.Commit) == 50 {
			once.Do(func() { answer = true })
		}
		if answer {
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true},
		Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[30], *res.FirstBad)
	require.NotEmpty(t, st.dropped, "no step was dropped")
	ids := map[string]bool{}
	for _, s := range st.steps {
		assert.False(t, ids[s.ID], "step id %s given twice", s.ID)
		ids[s.ID] = true
	}
	j, err := ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	for _, d := range st.dropped {
		for _, v := range j.Verdicts {
			assert.NotEqual(t, d.ID, v.ID, "a dropped step's id has no verdict")
		}
	}
}

// Steps dropped when a worktree was lost under another are dispatched
// again in the same run under new ids: the tester was told to stop them,
// and a step sent elsewhere under an id it stopped would never come back.
func TestStepsDroppedAndSentAgainGetNewIDs(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	st := &stepTester{commits: commits, bad: 30}
	var lost sync.Once
	var lostCommit string
	st.stop = func(ctx context.Context, step StepRef) error {
		if step.Kind != KindBisect {
			return nil
		}
		var err error
		lost.Do(func() {
			time.Sleep(50 * time.Millisecond) // the others are under way
			lostCommit = step.Commit
			err = &worktree.LostError{Path: "wt-1", Commit: step.Commit, Why: "removed by hand"}
		})
		if err != nil {
			return err
		}
		select {
		case <-time.After(150 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true},
		Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	require.NotEmpty(t, st.dropped, "no step was dropped")
	given := map[string]int{}
	for _, s := range st.steps {
		if s.Commit != lostCommit {
			given[s.ID]++
		}
	}
	for _, d := range st.dropped {
		assert.Equal(t, 1, given[d.ID], "the dropped step %s was given again under its id", d.ID)
	}
}

// Steps dropped when a parallel run was interrupted get new ids when
// resume sends their commits again: the journal's drop records count.
func TestResumeGivesStepsDroppedAtAnInterruptNewIDs(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	st := &stepTester{commits: commits, bad: 30}
	ctx, cancel := context.WithCancel(context.Background())
	st.stop = func(sctx context.Context, step StepRef) error {
		if step.Kind == KindBisect {
			time.AfterFunc(50*time.Millisecond, cancel)
			<-sctx.Done()
			return sctx.Err()
		}
		return nil
	}
	spec := Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true}
	res, err := Start(ctx, spec, Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome, res.Message)
	require.NotEmpty(t, st.dropped)
	dropped := map[string]bool{}
	for _, d := range st.dropped {
		dropped[d.ID] = true
	}
	st.stop = nil
	before := len(st.steps)
	res, err = Resume(context.Background(), repo, "default", Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	for _, s := range st.steps[before:] {
		assert.False(t, dropped[s.ID], "resume gave the dropped step %s again under its id", s.ID)
	}
}
