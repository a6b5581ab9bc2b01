package bisect

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// The worktree the result names holds the first bad commit, built, not
// whatever commit was tested last, so that a user can cd there and look.
func TestResultWorktreeHoldsTheFirstBadCommitBuilt(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 25)
	for _, firstBad := range []int{9, 14} {
		spec := Spec{
			Name: fmt.Sprint("fb", firstBad), Repo: repo, Good: []string{hashes[0]}, Bad: "main",
			Build: "cp value built", Run: fmt.Sprintf(`test "$(cat built)" -lt %d`, firstBad),
		}
		res, err := Start(context.Background(), spec, Options{})
		require.NoError(t, err)
		require.Equal(t, Found, res.Outcome, res.Message)
		require.Equal(t, hashes[firstBad], *res.FirstBad)
		last := res.Steps[len(res.Steps)-1].Commit
		head, err := exec.Command("git", "-C", res.Worktree, "rev-parse", "HEAD").Output()
		require.NoError(t, err)
		assert.Equal(t, hashes[firstBad], strings.TrimSpace(string(head)), "last tested was %s", last)
		built, err := os.ReadFile(filepath.Join(res.Worktree, "built"))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(firstBad), strings.TrimSpace(string(built)), "the build in the worktree is the first bad commit's")
		assert.Contains(t, res.Message, "checked out and built in "+res.Worktree)
	}
}

// A test that removes the worktree pool under itself and then passes must
// not give a verdict: the worktree no longer holds the commit, so the step
// is done again in a new worktree, and the answer is right.
func TestAStepWhoseWorktreeVanishedIsDoneAgain(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 25)
	mark := filepath.Join(t.TempDir(), "removed")
	// At the bad end (value 24), once: remove the whole pool, then claim
	// the commit is good. Trusted, that verdict would end the session
	// with "no regression in range".
	test := fmt.Sprintf(`v=$(cat value)
if [ "$v" = 24 ] && [ ! -e %[1]s ]; then touch %[1]s; rm -rf "$(dirname "$SXBISECT_WORKTREE")"; exit 0; fi
test "$v" -lt 9`, mark)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{hashes[0]}, Bad: "main", Run: test}, Options{})
	require.NoError(t, err)
	require.FileExists(t, mark)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[9], *res.FirstBad)
	assert.Contains(t, res.Message, "was not counted and is done again")
	for _, s := range res.Steps {
		if s.Commit == hashes[24] {
			assert.Equal(t, "bad", string(s.Verdict), "the bad end's only verdict is the one from a whole worktree")
		}
	}
}

// kill -9 of sxbisect leaves its test running; resume kills what is left
// before it tests again, so that two copies never share a worktree.
func TestResumeKillsTheTestThatADeadRunLeft(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 12)
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	hang := filepath.Join(dir, "hang")
	require.NoError(t, os.WriteFile(hang, nil, 0o644))
	// While the hang file exists, the test at the bad end records its
	// pid and hangs.
	test := fmt.Sprintf(`if [ "$(cat value)" = 11 ] && [ -e %s ]; then echo $$ >> %s; exec sleep 300; fi; test "$(cat value)" -lt 5`, hang, pids)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^TestHelperSession$")
	cmd.Env = append(os.Environ(), "SXBISECT_HELPER_SESSION="+strings.Join([]string{repo, hashes[0], test}, "\x1f"))
	require.NoError(t, cmd.Start())
	var pid int
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(pids)
		_, err := fmt.Sscan(string(data), &pid)
		return err == nil
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.True(t, alive(pid), "the test outlived sxbisect")

	require.NoError(t, os.Remove(hang))
	res, err := Resume(context.Background(), repo, "default", Options{})
	require.NoError(t, err)
	assert.False(t, alive(pid), "resume left the dead run's test running")
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[5], *res.FirstBad)
}

// TestHelperSession is not a test: it is the sxbisect process that
// TestResumeKillsTheTestThatADeadRunLeft kills.
func TestHelperSession(t *testing.T) {
	args := os.Getenv("SXBISECT_HELPER_SESSION")
	if args == "" {
		t.Skip("a helper process of another test")
	}
	a := strings.Split(args, "\x1f")
	_, _ = Start(context.Background(), Spec{Repo: a[0], Good: []string{a[1]}, Bad: "main", Run: a[2]}, Options{})
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// A failure that only part of the range has (a later commit fixed it, so
// the bad end is fine) is not blamed on the machine alone: the message
// says the problem may have been fixed before the bad end, and how to
// bisect it.
func TestABadEndThatPassesMayHaveBeenFixed(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 25)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		Run: `v=$(cat value); test "$v" -lt 9 || test "$v" -gt 12`}, Options{})
	require.NoError(t, err)
	require.Equal(t, NoRegression, res.Outcome)
	assert.Contains(t, res.Message, "the problem was fixed before "+text.ShortID(hashes[24]))
	assert.Contains(t, res.Message, "sxbisect start "+text.ShortID(hashes[0])+" <that commit>")
	assert.Contains(t, res.Message, "depends on the machine")
}

// A crash (a signal, exit 128 or more) stops the session by default, as
// git bisect run does; --on-crash makes it a verdict instead, so that a
// segfault that is the regression itself can be bisected.
func TestOnCrashMakesACrashAVerdict(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 20)
	crash := `if [ "$(cat value)" -ge 9 ]; then kill -SEGV $$; fi; exit 0`
	for _, tc := range []struct {
		policy  predicate.Policy
		outcome Outcome
	}{
		{predicate.PolicyAbort, Aborted},
		{predicate.PolicyBad, Found},
		{predicate.PolicySkip, OnlySkipped},
	} {
		res, err := Start(context.Background(), Spec{Name: string(tc.policy), Repo: repo, Good: []string{hashes[0]}, Bad: "main",
			Run: crash, OnCrash: tc.policy, NoVerify: tc.policy == predicate.PolicySkip}, Options{})
		require.NoError(t, err)
		assert.Equal(t, tc.outcome, res.Outcome, "%s: %s", tc.policy, res.Message)
		switch tc.outcome {
		case Found:
			assert.Equal(t, hashes[9], *res.FirstBad)
			for _, st := range res.Steps {
				if st.Commit == hashes[9] {
					assert.Equal(t, "crash: SIGSEGV", st.Reason)
				}
			}
		case Aborted:
			assert.Contains(t, res.Message, "killed by SIGSEGV")
		}
	}
}
