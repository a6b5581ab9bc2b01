package bisect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// The status of an unfinished session that ran several benches reads the
// graph to place its bad verdicts (resume reads it too, for the terms).
func TestStatusOfAnInterruptedParallelSession(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 100)
	st := &stepTester{commits: commits, bad: 30}
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	st.stop = func(sctx context.Context, step StepRef) error {
		if indexOf(commits, step.Commit) < 30 {
			<-sctx.Done()
			return sctx.Err()
		}
		once.Do(func() { time.AfterFunc(100*time.Millisecond, cancel) })
		return nil
	}
	res, err := Start(ctx, Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 3}, Options{NewTester: st.new})
	require.NoError(t, err)
	require.Equal(t, Interrupted, res.Outcome, res.Message)
	status, err := ReadStatus(repo, "default")
	require.NoError(t, err)
	assert.Positive(t, status.Remaining)
}
