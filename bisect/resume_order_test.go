package bisect

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
)

// A parallel session journals the verdict of a probe that finished as a
// verdict below it made it useless (a bad commit above the bad one so
// far). Resumed with --parallel 1, the session must go on from the
// lowest bad commit, as git would have, and test no commit twice.
func TestResumeWithOneBenchAfterVerdictsOutOfOrder(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	next := gitsNext(t, repo, commits)
	root := next(0, 99)
	below := next(0, root)
	firstBad := 10
	verdict := func(i int) Report {
		if i >= firstBad {
			return Report{Verdict: predicate.Bad}
		}
		return Report{Verdict: predicate.Good}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started atomic.Int32
	first := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(c context.Context, commit string) (Report, error) {
			n := started.Add(1)
			if n == 6 {
				cancel()
			}
			switch i := indexOf(commits, commit); i {
			case below:
				return verdict(i), nil
			case root:
				// Its test ends just as the verdict below stops it.
				<-c.Done()
				return verdict(i), nil
			default:
				<-c.Done()
				return Report{}, c.Err()
			}
		}), nil
	}
	res, err := Start(ctx, Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3, NoVerify: true}, Options{NewTester: first})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome, res.Message)
	var judged []int
	for _, s := range res.Steps {
		judged = append(judged, indexOf(commits, s.Commit))
	}
	t.Logf("judged before resuming: %v (root %d, below %d)", judged, root, below)
	require.Contains(t, judged, root, "the stopped probe's verdict was journaled")

	var mu sync.Mutex
	var tested []int
	again := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(c context.Context, commit string) (Report, error) {
			i := indexOf(commits, commit)
			mu.Lock()
			tested = append(tested, i)
			mu.Unlock()
			return verdict(i), nil
		}), nil
	}
	res, err = Resume(context.Background(), repo, "default", Options{NewTester: again, Parallel: 1})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[firstBad], *res.FirstBad)
	t.Logf("tested after resuming with --parallel 1: %v", tested)
	for _, i := range judged {
		assert.NotContains(t, tested, i, "commit %d, judged before resuming, was tested again", i)
	}
	require.NotEmpty(t, tested)
	assert.Equal(t, next(0, below), tested[0], "git's next commit after the verdicts so far")
}
