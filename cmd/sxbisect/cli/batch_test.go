package cli

import (
	"context"
	"encoding/json"
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
)

// batchJSON is the part of 'batch --json' the tests read.
type batchJSON struct {
	Jobs []struct {
		Name     string  `json:"name"`
		Status   string  `json:"status"`
		Error    string  `json:"error"`
		Ran      string  `json:"ran"`
		FirstBad *string `json:"first_bad"`
		Steps    []struct {
			Commit  string `json:"commit"`
			Verdict string `json:"verdict"`
		} `json:"steps"`
	} `json:"jobs"`
}

func (b batchJSON) job(t *testing.T, name string) int {
	t.Helper()
	for i, j := range b.Jobs {
		if j.Name == name {
			return i
		}
	}
	t.Fatalf("no job %s in %+v", name, b)
	return -1
}

func runBatch(t *testing.T, args ...string) (int, batchJSON, string) {
	t.Helper()
	status, out, stderr := sxbisect(t, append([]string{"batch", "--json"}, args...)...)
	var res batchJSON
	require.NoError(t, json.Unmarshal([]byte(out), &res), "stdout: %s\nstderr: %s", out, stderr)
	return status, res, stderr
}

func writePlan(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "plan.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

func lines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(data), "\n")
}

func TestBatchContainsFailuresAndDoesNotRunFinishedJobsAgain(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 20)
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	plan := writePlan(t, dir, fmt.Sprintf(`
repo = %q
good = %q
bad = "main"

[[job]]
name = "found"
run = 'echo found >> %s; test "$(cat value)" -lt 7'

[[job]]
name = "bad-input"
good = "no-such-rev"
run = 'echo bad-input >> %s; true'

[[job]]
name = "no-regression"
run = 'echo no-regression >> %s; true'
`, repo, hashes[0], count, count, count))

	status, res, stderr := runBatch(t, plan)
	assert.Equal(t, exitError, status, stderr)
	require.Len(t, res.Jobs, 3)
	found := res.Jobs[res.job(t, "found")]
	assert.Equal(t, "found", found.Status)
	require.NotNil(t, found.FirstBad)
	assert.Equal(t, hashes[7], *found.FirstBad)
	assert.Equal(t, "started", found.Ran)
	bad := res.Jobs[res.job(t, "bad-input")]
	assert.Equal(t, "error", bad.Status)
	assert.Contains(t, bad.Error, "no-such-rev")
	assert.Equal(t, "no-regression", res.Jobs[res.job(t, "no-regression")].Status)
	// The errors are collected and shown together at the end.
	assert.Contains(t, stderr, "1 error occurred")
	assert.Contains(t, stderr, "* job bad-input: ")
	// The progress log is there for tail -f.
	log, err := os.ReadFile(filepath.Join(dir, ".sxbisect-batch", "plan", "batch.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), "found: found "+hashes[7][:12])
	assert.Contains(t, string(log), "batch: 3 of 3 jobs done")
	// The morning's report is written in all three formats; the job
	// that never made a session has nothing to report.
	reportDir := filepath.Join(dir, ".sxbisect-batch", "plan", "report")
	assert.Contains(t, stderr, "report in "+reportDir)
	md, err := os.ReadFile(filepath.Join(reportDir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), hashes[7])
	assert.Contains(t, string(md), "no-regression")
	for _, f := range []string{"report.html", "report.json"} {
		st, err := os.Stat(filepath.Join(reportDir, f))
		require.NoError(t, err)
		assert.Greater(t, st.Size(), int64(100), f)
	}
	status, out, rstderr := sxbisect(t, "report", "--format", "md", plan)
	require.Equal(t, 0, status, rstderr)
	assert.Contains(t, out, hashes[7], "report PLAN covers the plan's sessions")

	ran := lines(t, count)
	require.Greater(t, ran, 2)

	// Again: nothing that finished runs again, and the results are the same.
	status, again, stderr := runBatch(t, plan)
	assert.Equal(t, exitError, status, stderr)
	assert.Equal(t, ran, lines(t, count), "no test ran again")
	assert.Equal(t, "recorded", again.Jobs[again.job(t, "found")].Ran)
	assert.Equal(t, "recorded", again.Jobs[again.job(t, "no-regression")].Ran)
	assert.Equal(t, res.Jobs[0].Steps, again.Jobs[0].Steps)
	assert.Equal(t, *found.FirstBad, *again.Jobs[0].FirstBad)

	// A job changed in the plan is not the job that finished: it runs afresh.
	text, err := os.ReadFile(plan)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(plan, []byte(strings.Replace(string(text), "-lt 7", "-lt 5", 1)), 0o644))
	_, changed, stderr := runBatch(t, plan)
	assert.Equal(t, "started", changed.Jobs[0].Ran)
	require.NotNil(t, changed.Jobs[0].FirstBad, stderr)
	assert.Equal(t, hashes[5], *changed.Jobs[0].FirstBad)
	assert.Equal(t, "recorded", changed.Jobs[changed.job(t, "no-regression")].Ran)
	assert.Contains(t, stderr, "found: the plan changed since the session finished: starting afresh")
}

func TestBatchPlanMistakes(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 8)
	dir := t.TempDir()

	// A job's unknown key is that job's error; the others run.
	plan := writePlan(t, dir, fmt.Sprintf(`
repo = %q
run = 'test "$(cat value)" -lt 3'

[[job]]
name = "typo"
good = %q
bad = "main"
max-ratioo = ["cpu=2"]

[[job]]
name = "fine"
good = [%q, %q]
bad = "main"
paths = ["value"]
`, repo, hashes[0], hashes[0], hashes[1]))
	status, res, stderr := runBatch(t, plan)
	assert.Equal(t, exitError, status)
	typo := res.Jobs[res.job(t, "typo")]
	assert.Equal(t, "error", typo.Status)
	assert.Contains(t, stderr, `job typo: plan `+plan+`: unknown key "max-ratioo": keys are the long flag names of 'sxbisect start'`)
	fine := res.Jobs[res.job(t, "fine")]
	require.NotNil(t, fine.FirstBad, stderr)
	assert.Equal(t, hashes[3], *fine.FirstBad)

	// A mistake in the defaults is the whole plan's: nothing runs.
	plan = writePlan(t, dir, "runn = 'true'\n[[job]]\nname = \"x\"\ngood = \"main~1\"\nbad = \"main\"\n")
	status, out, stderr := sxbisect(t, "batch", plan)
	assert.Equal(t, exitUsage, status, out)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	assert.Contains(t, stderr, `unknown key "runn"`)

	// Two jobs of one name would share a session: nothing runs.
	plan = writePlan(t, dir, fmt.Sprintf(`
repo = %q
run = 'test "$(cat value)" -lt 3'

[[job]]
name = "tcl"
good = %q
bad = "main"

[[job]]
name = "other"
good = %q
bad = "main"

[[job]]
name = "tcl"
good = %q
bad = "main"
`, repo, hashes[0], hashes[0], hashes[1]))
	status, out, stderr = sxbisect(t, "batch", plan)
	assert.Equal(t, exitUsage, status, out)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	assert.Contains(t, stderr, `jobs 1 and 3 are both named "tcl"`)
	_, err := os.Stat(filepath.Join(repo, ".git", "sxbisect", "sessions", "tcl"))
	assert.True(t, os.IsNotExist(err), "a job of the refused plan ran")
}

// TestBatchChildProcess runs a batch for TestBatchSurvivesKill9, which
// starts this test binary again and kills it.
func TestBatchChildProcess(t *testing.T) {
	plan := os.Getenv("SXBISECT_TEST_BATCH_PLAN")
	if plan == "" {
		t.Skip("runs only as TestBatchSurvivesKill9's child")
	}
	os.Exit(Main(context.Background(), StdEnv(), []string{"batch", plan}))
}

func TestBatchSurvivesKill9(t *testing.T) {
	const n, firstBad = 64, 41
	// Two identical repositories (the fixture is reproducible): one for
	// the uninterrupted run, one for the run that is killed.
	runPlan := func(name string) (plan, count string, hashes []string) {
		repo, hashes := gitfixture.ValueRepo(t, n)
		dir := t.TempDir()
		count = filepath.Join(dir, "count")
		plan = writePlan(t, dir, fmt.Sprintf(`
repo = %q
good = %q
bad = "main"
run = 'echo "$SXBISECT_COMMIT" >> %s; sleep 0.15; test "$(cat value)" -lt %d'

[[job]]
name = "%s-a"

[[job]]
name = "%s-b"
`, repo, hashes[0], count, firstBad, name, name))
		return plan, count, hashes
	}

	plain, plainCount, hashes := runPlan("p")
	began := time.Now()
	status, want, stderr := runBatch(t, plain)
	require.Equal(t, exitFound, status, stderr)
	plainTime := time.Since(began)

	killed, killedCount, hashes2 := runPlan("p")
	require.Equal(t, hashes, hashes2)
	out, err := os.Create(filepath.Join(t.TempDir(), "child.out"))
	require.NoError(t, err)
	defer out.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBatchChildProcess$")
	cmd.Env = append(os.Environ(), "SXBISECT_TEST_BATCH_PLAN="+killed)
	cmd.Stdout, cmd.Stderr = out, out
	began = time.Now()
	require.NoError(t, cmd.Start())
	// Kill it in the middle of the first job's search.
	deadline := time.Now().Add(20 * time.Second)
	for lines(t, killedCount) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	beforeKill := lines(t, killedCount)
	time.Sleep(300 * time.Millisecond) // the orphaned test ends

	status, got, stderr := runBatch(t, killed)
	require.Equal(t, exitFound, status, stderr)
	killedTime := time.Since(began)
	assert.Equal(t, "resumed", got.Jobs[0].Ran)
	assert.Equal(t, "started", got.Jobs[1].Ran)
	for i := range want.Jobs {
		require.NotNil(t, got.Jobs[i].FirstBad)
		assert.Equal(t, hashes[firstBad], *got.Jobs[i].FirstBad)
		assert.Equal(t, want.Jobs[i].Steps, got.Jobs[i].Steps, "the same verdicts as an uninterrupted run")
	}
	again := lines(t, killedCount) - lines(t, plainCount)
	assert.LessOrEqual(t, again, 1, "only the step in flight is tested again")
	t.Logf("kill -9 after %d tests: %d test(s) ran again; uninterrupted %s, killed and resumed %s (with the 0.3s pause)",
		beforeKill, again, plainTime.Round(10*time.Millisecond), killedTime.Round(10*time.Millisecond))
}

func TestBatchDeadlineStopsCleanlyAndTheSameCommandGoesOn(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 32)
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	plan := writePlan(t, dir, fmt.Sprintf(`
repo = %q
good = %q
bad = "main"
run = 'echo x >> %s; sleep 0.3; test "$(cat value)" -lt 20'

[[job]]
name = "slow"

[[job]]
name = "later"
`, repo, hashes[0], count))
	began := time.Now()
	status, res, stderr := runBatch(t, "--deadline", "1s", plan)
	assert.Less(t, time.Since(began), 3*time.Second, "stopped at the deadline")
	assert.Equal(t, exitInterrupted, status, stderr)
	assert.Equal(t, "interrupted", res.Jobs[0].Status)
	assert.Equal(t, "interrupted", res.Jobs[1].Status)
	assert.Equal(t, "not-run", res.Jobs[1].Ran)
	assert.Contains(t, stderr, "unfinished (stopped at the deadline): slow, later; run the same command again to go on: sxbisect batch --json --deadline 1s")
	done := len(res.Jobs[0].Steps)

	status, res, stderr = runBatch(t, plan)
	require.Equal(t, exitFound, status, stderr)
	for _, j := range res.Jobs {
		require.NotNil(t, j.FirstBad)
		assert.Equal(t, hashes[20], *j.FirstBad)
	}
	assert.Equal(t, "resumed", res.Jobs[0].Ran)
	// Tests run = the steps of both sessions, plus at most the one the
	// deadline stopped.
	total := len(res.Jobs[0].Steps) + len(res.Jobs[1].Steps)
	assert.LessOrEqual(t, lines(t, count), total+1)
	assert.Greater(t, len(res.Jobs[0].Steps), done)
}

func TestSamplePlanReads(t *testing.T) {
	jobs, err := readPlan(filepath.Join("..", "..", "..", "testdata", "plans", "sx-night.toml"))
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	byName := map[string]bool{}
	for _, j := range jobs {
		require.NoError(t, j.Err, j.Name)
		assert.Equal(t, j.Name, j.Spec.Name)
		assert.Equal(t, "/srv/sx/rose-ash", j.Spec.Repo)
		assert.Equal(t, []string{"83dbb595"}, j.Spec.Good)
		assert.Equal(t, "architecture", j.Spec.Bad)
		assert.Equal(t, "cd hosts/ocaml && dune build bin/sx_server.exe", j.Spec.Build)
		assert.Equal(t, []string{"hosts/ocaml/_build/default/bin/sx_server.exe"}, j.Spec.BuildOutputs)
		byName[j.Name] = j.Timing
	}
	assert.Equal(t, map[string]bool{"tcl-cpu": true, "prolog-oom": false, "erlang-markers": false}, byName)
	assert.Equal(t, []string{"cpu=1.5"}, jobs[0].Spec.MaxRatio)
	assert.Equal(t, 2, jobs[0].Spec.Confirm)
	assert.Equal(t, "8G", jobs[1].Spec.MemoryLimit)
	assert.Equal(t, []string{"hosts", "lib/prolog", "spec"}, jobs[1].Spec.Paths)
	assert.Equal(t, `\(ok-len`, jobs[2].Spec.Expect)
	assert.Equal(t, 15*time.Minute, jobs[2].Spec.Timeout.D(), "a job's key wins over the default")
	assert.Equal(t, 10*time.Minute, jobs[0].Spec.Timeout.D())
}
