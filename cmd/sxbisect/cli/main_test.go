package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// sxbisect runs the command line in-process and returns its exit status,
// stdout and stderr.
func sxbisect(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := Main(context.Background(), &Env{Stdout: &stdout, Stderr: &stderr}, args)
	return status, stdout.String(), stderr.String()
}

func TestJSONResultHasTheDocumentedShape(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 25)
	status, out, stderr := sxbisect(t, "start", "--repo", repo, "--run", `test "$(cat value)" -lt 9`, "--json", hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	var res struct {
		FirstBad   *string  `json:"first_bad"`
		Candidates []string `json:"candidates"`
		Steps      []struct {
			Commit    string   `json:"commit"`
			Verdict   string   `json:"verdict"`
			Kind      string   `json:"kind"`
			Reason    string   `json:"reason"`
			DurationS *float64 `json:"duration_s"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.NotNil(t, res.FirstBad)
	assert.Equal(t, hashes[9], *res.FirstBad)
	assert.NotNil(t, res.Candidates)
	assert.Empty(t, res.Candidates)
	require.NotEmpty(t, res.Steps)
	for _, s := range res.Steps {
		assert.Len(t, s.Commit, 40)
		assert.Contains(t, []string{"good", "bad", "skip"}, s.Verdict)
		assert.Contains(t, []string{"verify", "bisect", "confirm"}, s.Kind)
		assert.NotEmpty(t, s.Reason)
		require.NotNil(t, s.DurationS)
	}
	// Progress went to stderr, off a terminal as plain lines.
	assert.Contains(t, stderr, "testing")
}

func TestExitStatusNamesTheOutcome(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 16)
	cases := []struct {
		name, run string
		want      int
	}{
		{"found", `test "$(cat value)" -lt 5`, exitFound},
		{"no regression", `true`, exitNoRegression},
		{"only skipped", `v=$(cat value); [ $v -lt 5 ] && exit 0; [ $v -le 9 ] && exit 125; exit 1`, exitOnlySkipped},
		{"aborted", `v=$(cat value); [ $v -lt 5 ] && exit 0; [ $v -eq 15 ] && exit 1; exit 200`, exitAborted},
		// A test that cannot run at all is not a range without regressions.
		{"command not found", `no-such-command-in-any-path`, exitAborted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--name", strings.ReplaceAll(c.name, " ", "-"), "--run", c.run, hashes[0], "main")
			assert.Equal(t, c.want, status, "stdout: %s\nstderr: %s", out, stderr)
		})
	}
}

func TestBadUsageIsOneLineWithAWayOut(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 4)
	cases := [][]string{
		{"start", "--repo", repo, "--run", "true"},
		{"start", "--repo", repo, hashes[0], "main"},
		{"start", "--repo", repo, "--run", "true", "--timeout", "soon", hashes[0], "main"},
		{"start", "--repo", repo, "--run", "true", "--on-timeout", "maybe", hashes[0], "main"},
		{"start", "--repo", repo, "--run", "true", "nope", "main"},
		{"start", "--repo", repo, "--run", "true", "--cores-per-run", "-1", hashes[0], "main"},
		{"resume", "--repo", repo, "--name", "never"},
		{"frobnicate"},
	}
	for _, args := range cases {
		status, out, stderr := sxbisect(t, args...)
		assert.Equal(t, exitUsage, status, "%v: %s %s", args, out, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%v: one line, got %q", args, stderr)
		assert.Contains(t, stderr, "sxbisect")
	}
}

func TestHelpIsDerivedFromTheCommands(t *testing.T) {
	status, out, _ := sxbisect(t, "help")
	require.Equal(t, 0, status)
	for _, c := range commands() {
		assert.Contains(t, out, c.Name)
		assert.Contains(t, out, c.Short)
	}
	status, out, _ = sxbisect(t, "help", "start")
	require.Equal(t, 0, status)
	assert.Contains(t, out, "--on-build-failure")
	assert.Contains(t, out, "usage: sxbisect start")
}

// TestLogReplaysInGit feeds 'sxbisect log' to 'git bisect replay' and
// checks that git reaches the same first bad commit.
func TestLogReplaysInGit(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 40)
	status, _, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--run", `test "$(cat value)" -lt 27`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	status, log, stderr := sxbisect(t, "log", "--repo", repo)
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, log, "# first bad commit: ["+hashes[27]+"]")

	path := filepath.Join(t.TempDir(), "bisect.log")
	require.NoError(t, os.WriteFile(path, []byte(log), 0o644))
	cmd := exec.Command("git", "bisect", "replay", path)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), hashes[27]+" is the first bad commit")
}

func TestStatusAndResetAll(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 10)
	status, _, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--run", `test "$(cat value)" -lt 4`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)

	status, out, _ := sxbisect(t, "status", "--repo", repo)
	require.Equal(t, 0, status)
	assert.Contains(t, out, "finished")

	list, err := gitfixture.Git(repo, "worktree", "list")
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(list, "\n")+1, "the checkout and one scratch worktree")

	status, out, stderr = sxbisect(t, "reset", "--repo", repo, "--all")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, out, "removed session default")
	list, err = gitfixture.Git(repo, "worktree", "list")
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(list, "\n")+1, "only the checkout is left: %s", list)
}

// A program built on Main alone, as the package documentation shows, must
// stop a session cleanly on SIGTERM: the session records where it stopped,
// the test's process tree is killed, and the status is 130. The test holds
// SIGTERM itself, so that without handling in Main the signal is lost and
// the session runs on, instead of the test binary dying.
func TestMainStopsCleanlyOnSIGTERM(t *testing.T) {
	held := make(chan os.Signal, 1)
	signal.Notify(held, syscall.SIGTERM)
	defer signal.Stop(held)

	repo, hashes := gitfixture.ValueRepo(t, 8)
	pidFile := filepath.Join(t.TempDir(), "pid")
	test := fmt.Sprintf(`echo $$ > %s; exec sleep 60`, pidFile)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- Main(context.Background(), &Env{Stdout: io.Discard, Stderr: &stderr}, []string{"start", "--repo", repo, "--run", test, "--quiet", hashes[0], "main"})
	}()
	var pid int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "the test never started")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case status := <-done:
		assert.Equal(t, exitInterrupted, status, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("SIGTERM did not stop the session")
	}
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the test's process is still running")
	status, out, _ := sxbisect(t, "status", "--repo", repo)
	assert.Equal(t, 0, status)
	assert.Contains(t, out, "interrupted")
}

// A crash stops the session at its commit; resume alone would stop there
// again. Marking the commit by hand lets resume go on, as git bisect
// bad does.
func TestMarkLetsResumeGoOnPastACrash(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 16)
	crash := `if [ "$(cat value)" -ge 9 ]; then kill -SEGV $$; fi; exit 0`
	status, out, stderr := sxbisect(t, "start", "--repo", repo, "--run", crash, "--no-verify", "--quiet", hashes[0], "main")
	require.Equal(t, exitAborted, status, stderr)
	assert.Contains(t, out+stderr, "SIGSEGV")
	assert.Contains(t, out+stderr, "'sxbisect mark bad' (or skip) that commit")
	status, _, _ = sxbisect(t, "resume", "--repo", repo, "--quiet")
	require.Equal(t, exitAborted, status, "resume alone stops at the same commit")

	marks := 0
	for status == exitAborted && marks < 10 {
		status, out, stderr = sxbisect(t, "mark", "bad", "--repo", repo)
		require.Equal(t, 0, status, stderr)
		assert.Contains(t, out, "bad (bisect step)")
		marks++
		status, _, stderr = sxbisect(t, "resume", "--repo", repo, "--quiet", "--json")
	}
	require.Equal(t, exitFound, status, stderr)
	status, out, _ = sxbisect(t, "status", "--repo", repo, "--json")
	require.Equal(t, 0, status)
	assert.Contains(t, out, "marked by hand")
	log, err := os.ReadFile(filepath.Join(repo, ".git", "sxbisect", "sessions", "default", "result.json"))
	require.NoError(t, err)
	assert.Contains(t, string(log), hashes[9])

	status, _, stderr = sxbisect(t, "mark", "bad", "--repo", repo)
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "is finished")
	status, _, stderr = sxbisect(t, "mark", "maybe", "--repo", repo)
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "mark a commit good, bad or skip")
}

// A pool directory that cannot be one is bad input: refused before the
// session exists, so that nothing is left to reset.
func TestUnusablePoolIsRefusedBeforeTheSessionExists(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 4)
	otherFiles := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(otherFiles, ".profile"), []byte("x\n"), 0o644))
	for _, pool := range []string{"/", repo, otherFiles} {
		status, out, stderr := sxbisect(t, "start", "--repo", repo, "--pool", pool, "--run", "true", hashes[0], "main")
		assert.Equal(t, exitUsage, status, "--pool %s: %s %s", pool, out, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		assert.Contains(t, stderr, "--pool "+pool+": ")
		assert.Contains(t, stderr, "leave --pool out")
		_, err := os.Stat(filepath.Join(repo, ".git", "sxbisect", "sessions"))
		assert.True(t, os.IsNotExist(err), "--pool %s left a session behind", pool)
	}
}

// A default pool replaced by a symlink is never followed; the message
// names the symlink to remove, and once it is gone reset --all cleans up.
func TestPoolReplacedByASymlinkSaysWhatToRemove(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 4)
	status, _, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--run", "true", "--no-verify", hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	pool := filepath.Join(repo, ".git", "sxbisect", "worktrees")
	moved := filepath.Join(t.TempDir(), "moved")
	require.NoError(t, os.Rename(pool, moved))
	require.NoError(t, os.Symlink(moved, pool))

	for range 2 {
		status, _, stderr = sxbisect(t, "reset", "--repo", repo, "--all")
		assert.NotEqual(t, 0, status)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		assert.Contains(t, stderr, "(rm "+pool+")")
	}
	require.NoError(t, os.Remove(pool))
	status, _, stderr = sxbisect(t, "reset", "--repo", repo, "--all")
	require.Equal(t, 0, status, stderr)
	list, err := gitfixture.Git(repo, "worktree", "list", "--porcelain")
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(list, "worktree "), "only the checkout is left: %s", list)
}

// One damaged journal does not hide the other sessions from status --all,
// and log prints what the records before the damage make, saying on stderr
// where the damage is.
func TestDamagedJournalInStatusAndLog(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 20)
	for _, name := range []string{"intact", "edited"} {
		status, _, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--name", name, "--run", `test "$(cat value)" -lt 13`, hashes[0], "main")
		require.Equal(t, exitFound, status, stderr)
	}
	path := filepath.Join(repo, ".git", "sxbisect", "sessions", "edited", "journal.jsonl")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	// The verdicts of the search's first two steps: the second is damaged.
	var bisected []int
	for i, l := range lines {
		if strings.Contains(l, `"type":"verdict"`) && strings.Contains(l, `"kind":"bisect"`) {
			bisected = append(bisected, i)
		}
	}
	require.GreaterOrEqual(t, len(bisected), 2)
	first, damaged := bisected[0], bisected[1]
	lines[damaged] = strings.Replace(lines[damaged], `"verdict":"`, `"verdict":"maybe-`, 1)
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644))
	where := fmt.Sprintf("damaged at line %d", damaged+1)

	status, out, stderr := sxbisect(t, "status", "--repo", repo, "--all")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, out, "session intact: finished")
	assert.Regexp(t, `(?m)^session edited: damaged: .*`+where+`: verdict "maybe-[a-z]+" is not good, bad or skip: discard the session with 'sxbisect reset --name edited'$`, out)
	status, out, _ = sxbisect(t, "status", "--repo", repo, "--all", "--json")
	require.Equal(t, 0, status)
	var list []struct{ Session, State string }
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 2)
	assert.Equal(t, "damaged", list[0].State)
	assert.Equal(t, "finished", list[1].State)

	status, out, stderr = sxbisect(t, "log", "--repo", repo, "--name", "edited")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, out, "git bisect start ")
	var verdict struct{ Commit string }
	require.NoError(t, json.Unmarshal([]byte(lines[first]), &verdict))
	assert.Contains(t, out, "git bisect good "+verdict.Commit+"\n", "the record before the damage is in the log")
	assert.Equal(t, 1, strings.Count(out, "git bisect good ")+strings.Count(out, "git bisect bad "), "nothing from the damage on: %s", out)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	assert.Contains(t, stderr, where)
}

// Subjects and test output with terminal escape codes are shown escaped
// wherever they are printed: progress, the result, status, log, the
// session's summary and the report.
func TestEscapeCodesFromTheRepositoryAreNotPlayed(t *testing.T) {
	const evil = "\x1b[2J\x1b]0;owned\x07\x1b[31mred"
	commits := gitfixture.Linear(8, func(i int) map[string]string { return map[string]string{"value": strconv.Itoa(i)} })
	for i := range commits {
		commits[i].Message = fmt.Sprintf("change %d %s", i, evil)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, commits)
	require.NoError(t, err)
	noRaw := func(what, s string) {
		t.Helper()
		assert.NotContains(t, s, "\x1b", "%s plays escape codes: %q", what, s)
		assert.NotContains(t, s, "\x07", "%s rings the bell: %q", what, s)
		assert.Contains(t, s, `\x1b[31mred`, "%s shows the subject, escaped", what)
	}

	status, out, stderr := sxbisect(t, "start", "--repo", repo, "--run", `test "$(cat value)" -lt 5`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	noRaw("start's result", out)
	noRaw("progress", stderr)
	_, out, _ = sxbisect(t, "status", "--repo", repo)
	noRaw("status", out)
	_, out, _ = sxbisect(t, "log", "--repo", repo)
	noRaw("log", out)
	summary, err := os.ReadFile(filepath.Join(repo, ".git", "sxbisect", "sessions", "default", "summary.md"))
	require.NoError(t, err)
	noRaw("summary.md", string(summary))
	report := filepath.Join(t.TempDir(), "report.md")
	status, _, stderr = sxbisect(t, "report", "--repo", repo, "--format", "md", "-o", report)
	require.Equal(t, 0, status, stderr)
	data, err := os.ReadFile(report)
	require.NoError(t, err)
	noRaw("the report", string(data))

	// A test's output quoted in a message.
	status, out, _ = sxbisect(t, "start", "-q", "--repo", repo, "--name", "noisy", "--run", `printf '\033[31mred\n'; exit 3`, hashes[0], "main")
	require.Equal(t, exitNoRegression, status)
	noRaw("the no-regression message", out)
}

// With --json, an aborted session's reason reaches stderr too, as one line.
func TestJSONAbortSaysWhyOnStderr(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 8)
	status, out, stderr := sxbisect(t, "start", "-q", "--json", "--repo", repo, "--run", `v=$(cat value); [ $v -lt 3 ] && exit 0; [ $v -eq 7 ] && exit 1; exit 200`, hashes[0], "main")
	require.Equal(t, exitAborted, status, stderr)
	var res struct{ Outcome, Message string }
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, "aborted", res.Outcome)
	assert.Equal(t, "sxbisect start: "+res.Message+"\n", stderr)
	assert.Contains(t, stderr, "exited 200")
}

// Progress labels the confirmation runs and counts them in the estimate.
func TestProgressLabelsTheConfirmationRuns(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 12)
	status, _, stderr := sxbisect(t, "start", "--repo", repo, "--confirm", "2", "--run", `test "$(cat value)" -lt 7`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	var last string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.Contains(line, "confirmation run") {
			last = line
		}
	}
	assert.Contains(t, stderr, "(confirmation run 1 of 4)")
	assert.Regexp(t, `step (\d+) of ~(\d+) \(confirmation run 4 of 4\)`, last)
	m := regexp.MustCompile(`step (\d+) of ~(\d+)`).FindStringSubmatch(last)
	require.Len(t, m, 3)
	assert.Equal(t, m[1], m[2], "the last run is the last step of the estimate: %s", last)
}

// A SHA-256 repository is refused as such, not as "unknown revision"; a
// repository that cannot be read is an error (1), not bad usage (2).
func TestRepositoriesThatCannotBeBisected(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sha256")
	out, err := exec.Command("git", "init", "-q", "--object-format=sha256", dir).CombinedOutput()
	if err != nil {
		t.Skipf("this git cannot make a SHA-256 repository: %s", out)
	}
	status, _, stderr := sxbisect(t, "start", "--repo", dir, "--run", "true", "HEAD~1", "HEAD")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "uses sha256 object ids, which sxbisect does not read yet")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)

	repo, hashes := gitfixture.ValueRepo(t, 4)
	require.NoError(t, os.Mkdir(filepath.Join(repo, ".git", "shallow"), 0o755))
	status, _, stderr = sxbisect(t, "start", "--repo", repo, "--run", "true", hashes[0], "main")
	assert.Equal(t, exitError, status, stderr)
}

// resume --parallel K goes on with K scratch worktrees, in a session
// started with one; a negative K is refused before anything runs.
func TestResumeWithMoreBenches(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 64)
	crash := `if [ "$(cat value)" -eq 31 ]; then kill -SEGV $$; fi; test "$(cat value)" -lt 41`
	status, _, stderr := sxbisect(t, "start", "--repo", repo, "--run", crash, "--no-verify", "--quiet", hashes[0], "main")
	require.Equal(t, exitAborted, status, stderr)
	status, _, stderr = sxbisect(t, "mark", "good", "--repo", repo)
	require.Equal(t, 0, status, stderr)
	j, err := bisect.ReadJournal(repo, "default")
	require.NoError(t, err)
	before := len(j.Verdicts)
	require.NoError(t, j.Close())

	status, _, stderr = sxbisect(t, "resume", "--repo", repo, "--parallel", "-1")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "--parallel -1 cannot be negative")

	status, out, stderr := sxbisect(t, "resume", "--repo", repo, "--parallel", "3", "--quiet", "--json")
	require.Equal(t, exitFound, status, stderr)
	assert.Contains(t, out, hashes[41])
	j, err = bisect.ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	worktrees := map[string]bool{}
	for _, v := range j.Verdicts[before:] {
		worktrees[v.Worktree] = true
	}
	assert.Greater(t, len(worktrees), 1, "the steps after resuming ran in one worktree: %v", worktrees)
}
