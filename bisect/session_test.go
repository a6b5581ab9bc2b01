package bisect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// judgeBy returns a tester that judges commits by a table and counts how
// often each commit was tested.
func judgeBy(verdicts map[string]predicate.Verdict, tested map[string]int) func(context.Context, Spec, string) (Tester, error) {
	return func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			tested[commit]++
			v := verdictIn(verdicts, commit)
			return Report{Verdict: v, Reason: "table says " + string(v)}, nil
		}), nil
	}
}

// verdictIn reads a commit's verdict from a table; commits not in it are good.
func verdictIn(verdicts map[string]predicate.Verdict, commit string) predicate.Verdict {
	if v, ok := verdicts[commit]; ok {
		return v
	}
	return predicate.Good
}

// firstBadFrom marks commits[k:] bad.
func firstBadFrom(commits []string, k int) map[string]predicate.Verdict {
	m := map[string]predicate.Verdict{}
	for i, c := range commits {
		if i >= k {
			m[c] = predicate.Bad
		}
	}
	return m
}

func TestStartFindsTheFirstBadCommitAndRecordsIt(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 40)
	tested := map[string]int{}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "unused"},
		Options{NewTester: judgeBy(firstBadFrom(commits, 23), tested)})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome)
	require.NotNil(t, res.FirstBad)
	assert.Equal(t, commits[23], *res.FirstBad)
	assert.Equal(t, "change 23", res.FirstBadCommit.Subject)
	require.Len(t, res.FirstBadCommit.Parents, 1)
	assert.Equal(t, commits[22], res.FirstBadCommit.Parents[0].Commit)
	assert.Equal(t, "good", res.FirstBadCommit.Parents[0].Verdict)

	// Both ends first, then log2(40) or so tests, none twice.
	require.GreaterOrEqual(t, len(res.Steps), 4)
	assert.Equal(t, KindVerify, res.Steps[0].Kind)
	assert.Equal(t, commits[0], res.Steps[0].Commit)
	assert.Equal(t, KindVerify, res.Steps[1].Kind)
	assert.Equal(t, commits[39], res.Steps[1].Commit)
	assert.LessOrEqual(t, len(res.Steps), 2+7)
	for c, n := range tested {
		assert.Equal(t, 1, n, "commit %s tested %d times", c, n)
	}

	var onDisk Result
	data, err := os.ReadFile(filepath.Join(res.Dir, resultFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &onDisk))
	assert.Equal(t, commits[23], *onDisk.FirstBad)
	summary, err := os.ReadFile(filepath.Join(res.Dir, summaryFile))
	require.NoError(t, err)
	assert.Contains(t, string(summary), commits[23])
	assert.Contains(t, string(summary), "change 23")
}

// An end that disagrees with the premise is tested once more (one flaky
// run there must not end a real bisection); when the second run agrees,
// there is no regression. With --no-flaky one run decides, as before.
func TestEndsThatContradictThePremiseMeanNoRegression(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 10)
	for _, mode := range []FlakyMode{FlakyAuto, FlakyOff} {
		again := 1
		if mode == FlakyAuto {
			again = 2
		}
		t.Run("good end tests bad, "+string(mode), func(t *testing.T) {
			res, err := Start(context.Background(), Spec{Name: "goodbad" + string(mode), Repo: repo, Good: []string{commits[0]}, Bad: commits[9], Run: "x", Flaky: mode},
				Options{NewTester: judgeBy(firstBadFrom(commits, 0), map[string]int{})})
			require.NoError(t, err)
			assert.Equal(t, NoRegression, res.Outcome)
			assert.Contains(t, res.Message, "good end")
			assert.Nil(t, res.FirstBad)
			assert.Len(t, res.Steps, again)
		})
		t.Run("bad end tests good, "+string(mode), func(t *testing.T) {
			res, err := Start(context.Background(), Spec{Name: "badgood" + string(mode), Repo: repo, Good: []string{commits[0]}, Bad: commits[9], Run: "x", Flaky: mode},
				Options{NewTester: judgeBy(map[string]predicate.Verdict{}, map[string]int{})})
			require.NoError(t, err)
			assert.Equal(t, NoRegression, res.Outcome)
			assert.Contains(t, res.Message, "bad end")
			assert.Len(t, res.Steps, 1+again)
		})
	}
	t.Run("no-verify trusts the ends", func(t *testing.T) {
		res, err := Start(context.Background(), Spec{Name: "trust", Repo: repo, Good: []string{commits[0]}, Bad: commits[9], Run: "x", NoVerify: true},
			Options{NewTester: judgeBy(map[string]predicate.Verdict{}, map[string]int{})})
		require.NoError(t, err)
		// Every tested commit is good, so the bad end itself is the answer.
		assert.Equal(t, Found, res.Outcome)
		assert.Equal(t, commits[9], *res.FirstBad)
		for _, s := range res.Steps {
			assert.Equal(t, KindBisect, s.Kind)
		}
	})
}

// TestResumeAfterInterruptTestsNothingTwice stops a session in the middle
// of its third step, as Ctrl-C would, and resumes it: only the step that
// was in flight runs again, and the answer and the order of tests are the
// same as without the interruption.
func TestResumeAfterInterruptTestsNothingTwice(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 64)
	verdicts := firstBadFrom(commits, 41)

	straight := map[string]int{}
	want, err := Start(context.Background(), Spec{Name: "straight", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"},
		Options{NewTester: judgeBy(verdicts, straight)})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	interrupting := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(c context.Context, commit string) (Report, error) {
			calls++
			if calls == 3 {
				cancel()
				return Report{}, c.Err()
			}
			return Report{Verdict: verdictIn(verdicts, commit)}, nil
		}), nil
	}
	res, err := Start(ctx, Spec{Name: "bumpy", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, Options{NewTester: interrupting})
	require.NoError(t, err)
	assert.Equal(t, Interrupted, res.Outcome)
	assert.Len(t, res.Steps, 2)

	st, err := ReadStatus(repo, "bumpy")
	require.NoError(t, err)
	assert.Equal(t, StateInterrupted, st.State)
	require.NotNil(t, st.Testing)
	assert.Greater(t, st.Remaining, 0)

	resumed := map[string]int{}
	res, err = Resume(context.Background(), repo, "bumpy", Options{NewTester: judgeBy(verdicts, resumed)})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome)
	assert.Equal(t, *want.FirstBad, *res.FirstBad)
	require.Equal(t, len(want.Steps), len(res.Steps))
	for i := range want.Steps {
		assert.Equal(t, want.Steps[i].Commit, res.Steps[i].Commit, "step %d", i)
	}
	assert.Equal(t, len(want.Steps)-2, len(resumed), "only the untested steps run after resume")
}

// TestKill9LosesOnlyTheStepInFlight cuts a finished journal back to a
// step record, as a kill -9 during that step leaves it, and resumes.
func TestKill9LosesOnlyTheStepInFlight(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 50)
	verdicts := firstBadFrom(commits, 7)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"},
		Options{NewTester: judgeBy(verdicts, map[string]int{})})
	require.NoError(t, err)
	path := filepath.Join(res.Dir, journalFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	// start, then step/verdict pairs: keep four steps and the fifth step
	// record, and a torn half of its verdict.
	kept := strings.Join(lines[:1+4*2+1], "") + lines[1+4*2+1][:20]
	require.NoError(t, os.WriteFile(path, []byte(kept), 0o644))

	st, err := ReadStatus(repo, "default")
	require.NoError(t, err)
	assert.Equal(t, StateStopped, st.State)
	assert.Equal(t, 4, st.StepsDone)

	again := map[string]int{}
	res2, err := Resume(context.Background(), repo, "default", Options{NewTester: judgeBy(verdicts, again)})
	require.NoError(t, err)
	assert.Equal(t, *res.FirstBad, *res2.FirstBad)
	assert.Equal(t, len(res.Steps)-4, len(again))
	assert.Equal(t, 1, again[res.Steps[4].Commit], "the step in flight is tested again")
}

func TestOnlySkippedCommitsLeftListsTheCandidates(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 20)
	verdicts := firstBadFrom(commits, 10)
	for _, i := range []int{8, 9, 10, 11} {
		verdicts[commits[i]] = predicate.Skip
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"},
		Options{NewTester: judgeBy(verdicts, map[string]int{})})
	require.NoError(t, err)
	require.Equal(t, OnlySkipped, res.Outcome)
	assert.Nil(t, res.FirstBad)
	assert.ElementsMatch(t, []string{commits[8], commits[9], commits[10], commits[11], commits[12]}, res.Candidates)
}

func TestAbortStopsAndResumeGoesOn(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 30)
	verdicts := firstBadFrom(commits, 12)
	aborting := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			if commit != commits[0] && commit != commits[29] {
				return Report{}, &predicate.AbortError{Reason: "test exited 137"}
			}
			return Report{Verdict: verdictIn(verdicts, commit)}, nil
		}), nil
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, Options{NewTester: aborting})
	require.NoError(t, err)
	assert.Equal(t, Aborted, res.Outcome)
	assert.Contains(t, res.Message, "exited 137")

	_, err = Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, Options{NewTester: aborting})
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), "sxbisect resume")
	assert.Contains(t, err.Error(), "sxbisect reset")

	res, err = Resume(context.Background(), repo, "default", Options{NewTester: judgeBy(verdicts, map[string]int{})})
	require.NoError(t, err)
	assert.Equal(t, Found, res.Outcome)
	assert.Equal(t, commits[12], *res.FirstBad)
}

func TestBadInputIsRefusedWithAWayOut(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 5)
	noTest := Options{NewTester: judgeBy(nil, map[string]int{})}
	cases := []struct {
		name string
		spec Spec
		opts Options
		want string
	}{
		{"unknown revision", Spec{Repo: repo, Good: []string{"no-such-rev"}, Bad: "main", Run: "x"}, noTest, "no-such-rev"},
		{"good equals bad", Spec{Repo: repo, Good: []string{"main"}, Bad: commits[4], Run: "x"}, noTest, "same commit"},
		{"bad before good", Spec{Repo: repo, Good: []string{commits[4]}, Bad: commits[1], Run: "x"}, noTest, "<good> <bad>"},
		{"not a repository", Spec{Repo: t.TempDir(), Good: []string{"a"}, Bad: "b", Run: "x"}, noTest, "not a git repository"},
		{"no test", Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main"}, Options{}, "--run"},
		{"bad name", Spec{Name: "../x", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, noTest, "session name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Start(context.Background(), c.spec, c.opts)
			var usage *UsageError
			require.ErrorAs(t, err, &usage)
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestASessionRunsOnlyOnce(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 5)
	common := filepath.Join(repo, ".git")
	lock, err := journal.TryLock(filepath.Join(SessionDir(common, "busy"), lockFile))
	require.NoError(t, err)
	defer lock.Unlock()
	_, err = Start(context.Background(), Spec{Name: "busy", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"},
		Options{NewTester: judgeBy(nil, map[string]int{})})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already running")
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d", os.Getpid()))
}

func TestFinishedSessionIsReplacedAndDamagedJournalReported(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 12)
	opts := Options{NewTester: judgeBy(firstBadFrom(commits, 5), map[string]int{})}
	_, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, opts)
	require.NoError(t, err)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[2]}, Bad: "main", Run: "x"}, opts)
	require.NoError(t, err)
	assert.Equal(t, commits[2], res.Steps[0].Commit, "the new session replaced the finished one")

	path := filepath.Join(res.Dir, journalFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append([]byte("not json\n"), data...), 0o644))
	_, err = Resume(context.Background(), repo, "default", opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "damaged")
	assert.Contains(t, err.Error(), "sxbisect reset")
	_, err = ReadStatus(repo, "default")
	assert.Contains(t, err.Error(), "damaged")

	removed, err := Reset(repo, "default", false)
	require.NoError(t, err)
	assert.Contains(t, removed, "session default")
	_, err = os.Stat(res.Dir)
	assert.True(t, os.IsNotExist(err))
}

func TestConfirmRetestsTheAnswerAndCatchesAFlakyTest(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 30)
	verdicts := firstBadFrom(commits, 14)

	tested := map[string]int{}
	res, err := Start(context.Background(), Spec{Name: "steady", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Confirm: 3},
		Options{NewTester: judgeBy(verdicts, tested)})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome)
	require.NotNil(t, res.Confirmed)
	assert.True(t, *res.Confirmed, res.Message)
	var confirms []string
	for _, s := range res.Steps {
		if s.Kind == KindConfirm {
			confirms = append(confirms, s.Commit)
		}
	}
	assert.Equal(t, []string{commits[14], commits[13], commits[14], commits[13], commits[14], commits[13]}, confirms, "alternating, first bad first")

	// A test that lets the culprit pass once in a while.
	calls := 0
	flaky := func(context.Context, Spec, string) (Tester, error) {
		return TesterFunc(func(ctx context.Context, commit string) (Report, error) {
			v := verdictIn(verdicts, commit)
			if commit == commits[14] {
				calls++
				if calls == 3 {
					v = predicate.Good
				}
			}
			return Report{Verdict: v, Reason: string(v)}, nil
		}), nil
	}
	res, err = Start(context.Background(), Spec{Name: "flaky", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Confirm: 3, NoVerify: true, Flaky: FlakyOff},
		Options{NewTester: flaky})
	require.NoError(t, err)
	require.NotNil(t, res.Confirmed)
	assert.False(t, *res.Confirmed)
	assert.Contains(t, res.Message, "NOT confirmed")
}

func TestATestThatCannotRunIsNotCalledNoRegression(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 8)
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "no-such-command-in-any-path"}, Options{})
	require.NoError(t, err)
	assert.Equal(t, Aborted, res.Outcome)
	assert.Contains(t, res.Message, "exit 127: command not found")
	assert.Contains(t, res.Message, "no-such-command-in-any-path")

	// A test that runs and fails at the good end is what git calls bad:
	// no regression in range, with the output's end in the message.
	res, err = Start(context.Background(), Spec{Name: "fails", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "echo broken everywhere; exit 3"}, Options{})
	require.NoError(t, err)
	assert.Equal(t, NoRegression, res.Outcome)
	assert.Contains(t, res.Message, "broken everywhere")
}

// TestAWorktreeThatCannotBeHadStopsCleanly breaks the pool after it was
// made (its lock directory replaced by a file), so that opening it works
// and acquiring a worktree fails: the session stops with the reason
// instead of crashing on the tester it could not make.
func TestAWorktreeThatCannotBeHadStopsCleanly(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 6)
	spec := Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "true", NoVerify: true}
	_, err := Start(context.Background(), spec, Options{})
	require.NoError(t, err)
	locks := filepath.Join(StateDir(filepath.Join(repo, ".git")), "worktrees", ".locks")
	require.NoError(t, os.RemoveAll(locks))
	require.NoError(t, os.WriteFile(locks, nil, 0o644))

	spec.Name = "second"
	res, err := Start(context.Background(), spec, Options{})
	require.NoError(t, err)
	assert.Equal(t, Aborted, res.Outcome, res.Message)
	assert.Contains(t, res.Message, ".locks")
	assert.Empty(t, res.Worktree)
}

// editJournalLine rewrites line n (from 1) of the session's journal.
func editJournalLine(t *testing.T, dir string, n int, edit func(string) string) {
	t.Helper()
	path := filepath.Join(dir, journalFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	require.Greater(t, len(lines), n)
	lines[n-1] = edit(lines[n-1])
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
}

// A journal edited by hand is damage: each record is checked against the
// typed constants it may hold, and the first one that is not what sxbisect
// writes is reported with its line, never passed over.
func TestDamagedRecordsAreReportedWithTheirLine(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 12)
	opts := Options{NewTester: judgeBy(firstBadFrom(commits, 5), map[string]int{})}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, opts)
	require.NoError(t, err)
	path := filepath.Join(res.Dir, journalFile)
	pristine, err := os.ReadFile(path)
	require.NoError(t, err)
	// Lines: 1 start, 2 step and 3 verdict of the good end, 4 and 5 of
	// the bad end, 6 and 7 of the first bisection step.
	cases := []struct {
		name string
		line int
		edit func(string) string
		want string
	}{
		{"a verdict of maybe", 7, func(l string) string {
			return regexp.MustCompile(`"verdict":"[a-z]+"`).ReplaceAllString(l, `"verdict":"maybe"`)
		}, `verdict "maybe" is not good, bad or skip`},
		{"a commit that is not hex", 6, func(l string) string { return strings.Replace(l, `"commit":"`, `"commit":"zz`, 1) }, "is not a full object id"},
		{"an unknown record type", 4, func(l string) string { return strings.Replace(l, `"type":"step"`, `"type":"pause"`, 1) }, `unknown record type "pause"`},
		{"a stripped start record", 1, func(string) string { return `{"type":"start"}` }, "the start record has no version"},
		{"an unknown kind", 2, func(l string) string { return strings.Replace(l, `"kind":"verify"`, `"kind":"guess"`, 1) }, `kind "guess"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, pristine, 0o644))
			editJournalLine(t, res.Dir, c.line, c.edit)
			_, err := Resume(context.Background(), repo, "default", opts)
			var usage *UsageError
			require.ErrorAs(t, err, &usage)
			assert.Contains(t, err.Error(), fmt.Sprintf("damaged at line %d: ", c.line))
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), "sxbisect reset --name default")
			assert.NotContains(t, err.Error(), "\n")
			_, err = ReadStatus(repo, "default")
			assert.ErrorContains(t, err, fmt.Sprintf("line %d", c.line))
			_, err = Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}, opts)
			assert.ErrorContains(t, err, fmt.Sprintf("line %d", c.line), "start must not replace a damaged journal unread")
		})
	}
}

// A full disk stops the session with the way out at the end of the
// message, records no verdict from a step whose logs it cut short, and
// resume goes on once there is room.
func TestFullDiskStopsWithTheWayOut(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 10)
	dir := SessionDir(filepath.Join(repo, ".git"), "default")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).Run(); err != nil {
		t.Skip("cannot mount a small tmpfs to fill (needs root and mount rights): " + err.Error())
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	flood := filepath.Join(t.TempDir(), "flood")
	require.NoError(t, os.WriteFile(flood, nil, 0o644))
	// The test floods its log while the file flood exists.
	run := fmt.Sprintf(`[ -f %s ] && head -c 200000 /dev/zero; test "$(cat value)" -lt 6`, flood)
	spec := Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: run}

	_, err := Start(context.Background(), spec, Options{})
	require.Error(t, err)
	assert.True(t, strings.HasSuffix(err.Error(), "free space, then 'sxbisect resume --name default'"), "the way out ends the message: %v", err)
	assert.NotContains(t, err.Error(), "\n")
	j, err := ReadJournal(repo, "default")
	require.NoError(t, err)
	assert.Empty(t, j.Verdicts, "a verdict was recorded from a step whose log the full disk cut")

	require.NoError(t, os.Remove(flood))
	logs, err := filepath.Glob(filepath.Join(dir, logsDir, "*"))
	require.NoError(t, err)
	for _, l := range logs {
		require.NoError(t, os.Remove(l))
	}
	res, err := Resume(context.Background(), repo, "default", Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[6], *res.FirstBad)
}

// A shallow clone is bisected as git bisects it when it holds what the
// range needs, and refused with the way out when its history is cut
// where the range needs it.
func TestShallowCloneIsBisectedWhenItHoldsTheRange(t *testing.T) {
	// main is 0-1-3-4-...-10, with the file value holding the index; the
	// branch side forks at 1.
	commits := gitfixture.Linear(11, func(i int) map[string]string { return map[string]string{"value": strconv.Itoa(i)} })
	for i := 3; i < len(commits); i++ {
		commits[i].Parents = []int{i - 1}
	}
	// Made in the same second, as scripts make them: git's date-ordered
	// walks then meet the good commit before they know it is below bad,
	// and look at its parents, which git takes for none at the boundary.
	for i := range commits {
		commits[i].Time = 1_700_000_000
	}
	commits[3].Parents = []int{1}
	commits[2].Files = map[string]string{"side": "side"}
	src := filepath.Join(t.TempDir(), "src")
	hashes, err := gitfixture.Build(src, commits)
	require.NoError(t, err)
	_, err = gitfixture.Git(src, "branch", "side", hashes[2])
	require.NoError(t, err)
	repo := filepath.Join(t.TempDir(), "shallow")
	// main down to 6 (the boundary: its parent 5 is not fetched), and
	// side with all of its history, 2, 1 and 0.
	_, err = gitfixture.Git(src, "clone", "-q", "--depth", "5", "--no-single-branch", "file://"+src, repo)
	require.NoError(t, err)
	shallow, err := os.ReadFile(filepath.Join(repo, ".git", "shallow"))
	require.NoError(t, err)
	require.Equal(t, hashes[6]+"\n", string(shallow))

	for _, good := range []int{7, 6} {
		name := fmt.Sprintf("from-%d", good)
		res, err := Start(context.Background(), Spec{Name: name, Repo: repo, Good: []string{hashes[good]}, Bad: "main", Run: `test "$(cat value)" -lt 9`}, Options{})
		require.NoError(t, err, "good %d", good)
		require.Equal(t, Found, res.Outcome, res.Message)
		assert.Equal(t, hashes[9], *res.FirstBad)
	}

	_, err = Start(context.Background(), Spec{Name: "cut", Repo: repo, Good: []string{"origin/side"}, Bad: "main", Run: `test "$(cat value)" -lt 9`}, Options{})
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), "this shallow clone lacks history that the range from "+text.ShortID(hashes[2])+" to "+text.ShortID(hashes[10])+" needs (the parents of "+text.ShortID(hashes[6])+", which the range reaches, were not fetched)")
	assert.Contains(t, err.Error(), "git fetch --unshallow")
	_, err = os.Stat(SessionDir(filepath.Join(repo, ".git"), "cut"))
	assert.True(t, os.IsNotExist(err), "a refused range left a session")
}

// The progress estimate counts the confirmation runs that --confirm adds,
// and each of them says which it is.
func TestProgressEstimateCountsTheConfirmationRuns(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 30)
	var events []Event
	opts := Options{
		NewTester: judgeBy(firstBadFrom(commits, 14), map[string]int{}),
		Progress:  ProgressFunc(func(e Event) { events = append(events, e) }),
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Confirm: 3}, opts)
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome)
	total := len(res.Steps)
	confirmation := 0
	for _, e := range events {
		if e.Type != EventTest {
			continue
		}
		switch e.Kind {
		case KindBisect:
			assert.GreaterOrEqual(t, e.StepsEstimate, e.Step+6, "step %d: the 6 confirmation runs to come are not in the estimate", e.Step)
			assert.Zero(t, e.Confirmations)
		case KindConfirm:
			confirmation++
			assert.Equal(t, total, e.StepsEstimate, "step %d", e.Step)
			assert.Equal(t, confirmation, e.Confirmation)
			assert.Equal(t, 6, e.Confirmations)
		}
	}
	assert.Equal(t, 6, confirmation)
}

// A test script that is only in the user's checkout does not exist in the
// scratch worktree: the message says so, and how to give it.
func TestUntrackedTestScriptIsNamed(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 6)
	require.NoError(t, os.WriteFile(filepath.Join(repo, "t.sh"), []byte("#!/bin/sh\ntest \"$(cat value)\" -lt 3\n"), 0o755))
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "./t.sh"}, Options{})
	require.NoError(t, err)
	require.Equal(t, Aborted, res.Outcome, res.Message)
	assert.Contains(t, res.Message, "./t.sh is in your checkout but not in commit "+text.ShortID(commits[0]))
	assert.Contains(t, res.Message, "tests run in a scratch worktree checked out at each commit, where the untracked files of your checkout do not exist")
	assert.Contains(t, res.Message, "give its absolute path (--run "+filepath.Join(repo, "t.sh")+") or commit it")

	// A relative path that is nowhere gets the explanation, not the claim.
	res, err = Start(context.Background(), Spec{Name: "nowhere", Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "./nowhere.sh"}, Options{})
	require.NoError(t, err)
	require.Equal(t, Aborted, res.Outcome, res.Message)
	assert.NotContains(t, res.Message, "is in your checkout")
	assert.Contains(t, res.Message, "where the untracked files of your checkout do not exist: give a script of yours by its absolute path, or commit it")

	// Given as the message says, the script runs.
	_, err = Reset(repo, "default", false)
	require.NoError(t, err)
	res, err = Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: filepath.Join(repo, "t.sh")}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[3], *res.FirstBad)
}

// A session that recorded nothing yet (it stopped before its first test
// ended) is replaced by start; one with a verdict still needs resume or
// reset.
func TestStartReplacesASessionWithoutVerdicts(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 10)
	spec := Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x"}
	cannot := Options{NewTester: func(context.Context, Spec, string) (Tester, error) {
		return nil, errors.New("no worktree today")
	}}
	res, err := Start(context.Background(), spec, cannot)
	require.NoError(t, err)
	require.Equal(t, Aborted, res.Outcome)

	works := Options{NewTester: judgeBy(firstBadFrom(commits, 4), map[string]int{})}
	res, err = Start(context.Background(), spec, works)
	require.NoError(t, err, "a session with only its start and stop records")
	require.Equal(t, Found, res.Outcome)

	// Killed in its first test: a start record and a step in flight.
	path := filepath.Join(res.Dir, journalFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	require.NoError(t, os.WriteFile(path, []byte(lines[0]+lines[1]), 0o644))
	res, err = Start(context.Background(), spec, works)
	require.NoError(t, err, "a session with a step in flight and no verdict")
	require.Equal(t, Found, res.Outcome)

	// Stopped after a verdict.
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:3], "")), 0o644))
	_, err = Start(context.Background(), spec, works)
	assert.ErrorContains(t, err, "is unfinished (1 steps done)")
}
