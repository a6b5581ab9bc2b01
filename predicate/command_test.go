package predicate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/predicate"
)

func judge(t *testing.T, c predicate.Command) (predicate.Judgement, error) {
	t.Helper()
	return c.Judge(context.Background(), predicate.Candidate{Commit: "0123abcd", Dir: t.TempDir()})
}

func TestExitCodeVerdicts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		command string
		verdict predicate.Verdict
		reason  string
	}{
		{"exit 0", predicate.Good, "exit 0"},
		{"true", predicate.Good, "exit 0"},
		{"exit 1", predicate.Bad, "exit 1"},
		{"false", predicate.Bad, "exit 1"},
		{"exit 124", predicate.Bad, "exit 124"},
		{"exit 125", predicate.Skip, "exit 125"},
		{"exit 126", predicate.Bad, "exit 126"},
		{"no-such-command-anywhere", predicate.Bad, "exit 127"},
		{"exit 127", predicate.Bad, "exit 127"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			t.Parallel()
			j, err := judge(t, predicate.Command{Run: tc.command})
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, j.Verdict)
			assert.Equal(t, tc.reason, j.Reason)
			require.NotNil(t, j.Measurement)
			assert.False(t, j.Measurement.TimedOut)
			assert.Subset(t, keys(j.Metrics), []string{"wall_s", "user_s", "sys_s", "cpu_s", "exit_code"})
			assert.Equal(t, float64(j.Measurement.ExitCode), j.Metrics["exit_code"])
			assert.Greater(t, j.Metrics["wall_s"], 0.0)
			// A run this short may end before its memory is sampled: then
			// there is no figure rather than a wrong one.
			for _, k := range []string{"max_rss_mb", "mem_mb"} {
				if x, ok := j.Metrics[k]; ok {
					assert.Greater(t, x, 0.0, k)
				}
			}
		})
	}
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestExitCodesThatAbort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		command string
		message string
	}{
		{"exit 128", "test exited 128: git bisect run stops here too"},
		{"exit 137", "test exited 137 (killed by SIGKILL?): git bisect run stops here too"},
		{"exit 139", "test exited 139 (killed by SIGSEGV?): git bisect run stops here too"},
		{"exit 255", "test exited 255: git bisect run stops here too"},
		{"kill -KILL $$", "test killed by SIGKILL: git bisect run stops here too"},
		// A SIGTERM that is not our timeout is somebody else's: abort.
		{"kill -TERM $$", "test killed by SIGTERM: git bisect run stops here too"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			t.Parallel()
			j, err := judge(t, predicate.Command{Run: tc.command})
			var abort *predicate.AbortError
			require.ErrorAs(t, err, &abort)
			assert.Contains(t, abort.Error(), tc.message)
			assert.Contains(t, abort.Error(), "125 skips it")
			assert.NotContains(t, abort.Error(), "\n")
			assert.Empty(t, j.Verdict)
			require.NotNil(t, j.Measurement, "the journal still gets the measurement")
		})
	}
}

func TestTimeoutPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy  predicate.Policy
		verdict predicate.Verdict
	}{
		{"", predicate.Bad},
		{predicate.PolicyBad, predicate.Bad},
		{predicate.PolicySkip, predicate.Skip},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			j, err := judge(t, predicate.Command{Run: "sleep 30", Timeout: 100 * time.Millisecond, OnTimeout: tc.policy})
			require.NoError(t, err)
			assert.Less(t, time.Since(start), 3*time.Second)
			assert.Equal(t, tc.verdict, j.Verdict)
			assert.Equal(t, "timeout after 100ms", j.Reason)
			require.NotNil(t, j.Measurement)
			assert.True(t, j.Measurement.TimedOut)
		})
	}
	t.Run("abort", func(t *testing.T) {
		t.Parallel()
		j, err := judge(t, predicate.Command{Run: "sleep 30", Timeout: 100 * time.Millisecond, OnTimeout: predicate.PolicyAbort})
		var abort *predicate.AbortError
		require.ErrorAs(t, err, &abort)
		assert.Equal(t, "test timed out after 100ms and on-timeout is abort", abort.Error())
		require.NotNil(t, j.Measurement)
		assert.True(t, j.Measurement.TimedOut)
	})
	t.Run("unknown policy", func(t *testing.T) {
		t.Parallel()
		_, err := judge(t, predicate.Command{Run: "sleep 30", Timeout: 100 * time.Millisecond, OnTimeout: "retry"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"retry"`)
	})
}

func TestCommandUsesCandidateDirLogAndEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "marker"), []byte("in worktree\n"), 0o644))
	logPath := filepath.Join(t.TempDir(), "test.log")
	c := predicate.Command{Run: `cat marker; echo "$WHICH" >&2; exit 3`, Env: []string{"WHICH=env given"}}
	j, err := c.Judge(context.Background(), predicate.Candidate{Commit: "0123abcd", Dir: dir, LogPath: logPath})
	require.NoError(t, err)
	assert.Equal(t, predicate.Bad, j.Verdict)
	assert.Equal(t, "exit 3", j.Reason)
	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.Equal(t, "in worktree\nenv given\n", string(log))
	assert.Equal(t, "in worktree\nenv given\n", j.Measurement.Tail)
}

func TestCommandThatCannotStartIsAnErrorButNoAbort(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "gone")
	_, err := predicate.Command{Run: "true"}.Judge(context.Background(), predicate.Candidate{Dir: missing})
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
	var abort *predicate.AbortError
	assert.False(t, errors.As(err, &abort))

	_, err = judge(t, predicate.Command{Run: "  "})
	require.Error(t, err)
}

func TestCommandCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	j, err := predicate.Command{Run: "sleep 30"}.Judge(ctx, predicate.Candidate{Dir: t.TempDir()})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Empty(t, j.Verdict)
	require.NotNil(t, j.Measurement)
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"skip", "bad", "abort"} {
		p, err := predicate.ParsePolicy(s)
		require.NoError(t, err)
		assert.Equal(t, predicate.Policy(s), p)
	}
	for _, s := range []string{"", "Skip", "good", "retry"} {
		_, err := predicate.ParsePolicy(s)
		require.Error(t, err, s)
		assert.Contains(t, err.Error(), "skip, bad, abort")
		assert.NotContains(t, err.Error(), "\n")
	}
}
