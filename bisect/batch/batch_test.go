package batch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

func TestIsTiming(t *testing.T) {
	assert.True(t, IsTiming(bisect.Spec{MaxRatio: []string{"mem=2", "cpu=1.5"}}))
	assert.True(t, IsTiming(bisect.Spec{MaxRatio: []string{"wall=1.2"}}))
	assert.True(t, IsTiming(bisect.Spec{Predicates: []bisect.PredicateRef{{Name: "binary-size"}}}))
	assert.False(t, IsTiming(bisect.Spec{MaxRatio: []string{"mem=2"}, MemoryLimit: "512M"}))
	assert.False(t, IsTiming(bisect.Spec{Expect: "^ok"}))
}

// interval is when a job's tests ran, from the marks they left.
type interval struct {
	job        string
	start, end time.Time
}

func TestTimingJobsRunAloneOthersInParallel(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 16)
	marks := t.TempDir()
	job := func(name string, timing bool) Job {
		// Each test writes when it began and ended, in nanoseconds.
		run := fmt.Sprintf(`f=%s/%s; date +%%s%%N >> $f.start; sleep 0.05; date +%%s%%N >> $f.end; test "$(cat value)" -lt 11`, marks, name)
		return Job{Name: name, Timing: timing, Spec: bisect.Spec{
			Name: name, Repo: repo, Good: []string{hashes[0]}, Bad: "main", Run: run,
		}}
	}
	jobs := []Job{job("plain-1", false), job("plain-2", false), job("timing-1", true), job("plain-3", false), job("plain-4", false), job("timing-2", true)}
	var log syncBuffer
	rep := Run(context.Background(), jobs, Options{Jobs: 2, Log: &log})
	require.NoError(t, rep.Errors())

	spans := map[string]interval{}
	for _, j := range rep.Jobs {
		assert.Equal(t, Found, j.Status, j.Error)
		require.NotNil(t, j.FirstBad)
		assert.Equal(t, hashes[11], *j.FirstBad)
		spans[j.Name] = interval{j.Name, readTimes(t, marks, j.Name, "start")[0], last(readTimes(t, marks, j.Name, "end"))}
	}
	for _, a := range jobs {
		for _, b := range jobs {
			if a.Name >= b.Name || !(a.Timing || b.Timing) {
				continue
			}
			x, y := spans[a.Name], spans[b.Name]
			assert.True(t, x.end.Before(y.start) || y.end.Before(x.start), "%s and %s overlapped: %v %v", a.Name, b.Name, x, y)
		}
	}
	// Jobs that measure no time shared the machine, two at a time.
	x, y := spans["plain-1"], spans["plain-2"]
	assert.True(t, x.start.Before(y.end) && y.start.Before(x.end), "plain-1 and plain-2 ran side by side")
	assert.Contains(t, log.String(), "timing-1: started (timing: alone)")
	assert.Contains(t, log.String(), "batch: 6 of 6 jobs done")
}

func readTimes(t *testing.T, dir, job, kind string) []time.Time {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, job+"."+kind))
	require.NoError(t, err)
	var times []time.Time
	for _, l := range strings.Fields(string(data)) {
		var ns int64
		_, err := fmt.Sscan(l, &ns)
		require.NoError(t, err)
		times = append(times, time.Unix(0, ns))
	}
	require.NotEmpty(t, times)
	return times
}

func last(ts []time.Time) time.Time { return ts[len(ts)-1] }

func TestCancelledBatchIsResumable(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 32)
	marks := filepath.Join(t.TempDir(), "count")
	spec := bisect.Spec{Name: "slow", Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		Run: fmt.Sprintf(`echo x >> %s; sleep 0.2; test "$(cat value)" -lt 13`, marks)}
	jobs := []Job{{Name: "slow", Spec: spec}}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if data, _ := os.ReadFile(marks); bytes.Count(data, []byte("\n")) >= 3 {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	rep := Run(ctx, jobs, Options{})
	cancel()
	require.Equal(t, Interrupted, rep.Jobs[0].Status)
	assert.Equal(t, []string{"slow"}, rep.Unfinished())

	rep = Run(context.Background(), jobs, Options{})
	require.Equal(t, Found, rep.Jobs[0].Status)
	assert.Equal(t, RanResumed, rep.Jobs[0].Ran)
	assert.Equal(t, hashes[13], *rep.Jobs[0].FirstBad)
	data, err := os.ReadFile(marks)
	require.NoError(t, err)
	assert.Equal(t, len(rep.Jobs[0].Steps)+1, bytes.Count(data, []byte("\n")), "only the step in flight ran again")
}

// syncBuffer is a bytes.Buffer safe for the batch's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestJobsShareTheBuildOfTheGoodCommit runs a job that measures a ratio,
// whose baseline worktree stays at the good commit with its build, and
// then a plain job over the same range with the same build command: the
// second job verifies the good end in that worktree without building it.
func TestJobsShareTheBuildOfTheGoodCommit(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 12)
	counter := filepath.Join(t.TempDir(), "builds")
	build := fmt.Sprintf(`echo "$SXBISECT_COMMIT" >> '%s'`, counter)
	// Four times the CPU from commit 7 on.
	cpu := `awk -v n=$(( $(cat value) < 7 ? 100000 : 400000 )) 'BEGIN { for (i = 0; i < n; i++) s += i }'`
	jobs := []Job{
		{Name: "cpu", Spec: bisect.Spec{Name: "cpu", Repo: repo, Good: []string{hashes[0]}, Bad: "main",
			Build: build, Run: cpu, MaxRatio: []string{"cpu=1.5"}}},
		{Name: "plain", Spec: bisect.Spec{Name: "plain", Repo: repo, Good: []string{hashes[0]}, Bad: "main",
			Build: build, Run: `test "$(cat value)" -lt 7`}},
	}
	rep := Run(context.Background(), jobs, Options{Jobs: 1, Log: &syncBuffer{}})
	require.NoError(t, rep.Errors())
	for _, j := range rep.Jobs {
		assert.Equal(t, Found, j.Status, j.Error)
		require.NotNil(t, j.FirstBad)
		assert.Equal(t, hashes[7], *j.FirstBad)
	}
	data, err := os.ReadFile(counter)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(data), hashes[0]),
		"the good end is built once, for the first job's baseline and verify step, and not again for the second job")
}

// A job with --parallel logs a probe that a verdict stopped, with the
// step's number and why, as it logs verdicts.
func TestParallelJobLogsStoppedProbes(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 64)
	// The commits above the first bad one's half take long: the first
	// bad verdict below them makes them useless while they run.
	run := `if [ "$(cat value)" -ge 40 ]; then sleep 5; fi; test "$(cat value)" -lt 10`
	jobs := []Job{{Name: "k3", Spec: bisect.Spec{Name: "k3", Repo: repo, Good: []string{hashes[0]}, Bad: "main", Run: run, Parallel: 3, NoVerify: true}}}
	var log syncBuffer
	rep := Run(context.Background(), jobs, Options{Jobs: 1, Log: &log})
	require.NoError(t, rep.Errors())
	require.NotNil(t, rep.Jobs[0].FirstBad)
	assert.Equal(t, hashes[10], *rep.Jobs[0].FirstBad)
	assert.Regexp(t, `k3: step \d+ stopped testing [0-9a-f]{12}: another verdict made it useless`, log.String())
}
