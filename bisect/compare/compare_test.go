package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// workRepo makes three commits whose file "work" holds the CPU work the
// test does: w, w again, then 2.5w, and a build that copies it, so that
// the test reads what the build made.
func workRepo(t *testing.T, w int) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	works := []int{w, w, w * 5 / 2}
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(len(works), func(i int) map[string]string {
		return map[string]string{"work": fmt.Sprint(works[i])}
	}))
	require.NoError(t, err)
	return dir, hashes
}

const cpuTest = `awk -v n="$(cat built)" 'BEGIN { for (i = 0; i < n; i++) s += i; print "3/4 passed" }'`

func spec(repo string) bisect.Spec {
	return bisect.Spec{Repo: repo, Build: "cp work built", Run: cpuTest}
}

// status is the user's checkout, which must not change.
func status(t *testing.T, repo string) string {
	out, err := gitfixture.Git(repo, "status", "--porcelain", "--ignored")
	require.NoError(t, err)
	head, err := gitfixture.Git(repo, "rev-parse", "HEAD")
	require.NoError(t, err)
	return head + "\n" + out
}

func TestCompareSeesTheCPUSlowdown(t *testing.T) {
	repo, hashes := workRepo(t, 1000000)
	before := status(t, repo)
	res, err := Compare(context.Background(), Options{Spec: spec(repo)}, hashes[0], "main")
	require.NoError(t, err)
	assert.Equal(t, before, status(t, repo), "the user's checkout changed")

	require.Len(t, res.Good.Runs, DefaultRounds)
	require.Len(t, res.Bad.Runs, DefaultRounds)
	assert.Equal(t, hashes[2], res.Bad.Commit)
	cpu := res.row("cpu_s")
	assert.True(t, cpu.Significant, "%+v", cpu)
	assert.Equal(t, "higher", cpu.Change)
	assert.InDelta(t, 2.5, float64(cpu.Ratio), 0.6)
	assert.Equal(t, "0 x5", res.Good.Exits())
	assert.Contains(t, res.Interpretation, "does more work")
	assert.Contains(t, res.Text(), "cpu_s")

	// JSON: non-finite figures are null, the shape is documented.
	b, err := json.Marshal(res)
	require.NoError(t, err)
	var shape struct {
		Good struct {
			Commit string `json:"commit"`
			Runs   []struct {
				Metrics map[string]float64 `json:"metrics"`
				Exit    string             `json:"exit"`
			} `json:"runs"`
		} `json:"good"`
		Rounds  int `json:"rounds"`
		Metrics []struct {
			Metric      string   `json:"metric"`
			Ratio       *float64 `json:"ratio"`
			Significant bool     `json:"significant"`
		} `json:"metrics"`
		Interpretation string `json:"interpretation"`
	}
	require.NoError(t, json.Unmarshal(b, &shape), string(b))
	assert.Equal(t, hashes[0], shape.Good.Commit)
	assert.Equal(t, 5, shape.Rounds)
	require.Len(t, shape.Metrics, 3)
	assert.Equal(t, "cpu_s", shape.Metrics[0].Metric)
	assert.True(t, shape.Metrics[0].Significant)
	assert.Greater(t, shape.Good.Runs[0].Metrics["cpu_s"], 0.0)
	assert.Equal(t, "0", shape.Good.Runs[0].Exit)
}

func TestCompareEqualWorkIsNotSignificant(t *testing.T) {
	repo, hashes := workRepo(t, 1000000)
	res, err := Compare(context.Background(), Options{Spec: spec(repo)}, hashes[0], hashes[1])
	require.NoError(t, err)
	cpu := res.row("cpu_s")
	assert.False(t, cpu.Significant, "%+v", cpu)
	assert.InDelta(t, 1, float64(cpu.Ratio), 0.3)
}

func TestCheckFailsTheSlowCommitAndPassesEqualWork(t *testing.T) {
	repo, hashes := workRepo(t, 1000000)
	sp := spec(repo)
	sp.MaxRatio = []string{"cpu=1.5"}
	sp.Scoreboard = `(?P<pass>\d+)/(?P<total>\d+) passed`

	res, err := Check(context.Background(), Options{Spec: sp}, hashes[0], "main")
	require.NoError(t, err)
	assert.Equal(t, Fail, res.Status, res.Text())
	require.Len(t, res.Checks, 3)
	assert.Equal(t, "ok   test: exit 0, scoreboard 3/4", strings.Split(res.Checks[0].Line, " (n=")[0])
	assert.Equal(t, "ok   scoreboard 3/4 >= 3/4", res.Checks[1].Line)
	assert.Regexp(t, `^FAIL cpu [1-9]\.\d\dx > 1\.5 \(n=\d+, p[<=]0\.0\d\)$`, res.Checks[2].Line)

	res, err = Check(context.Background(), Options{Spec: sp}, hashes[0], hashes[1])
	require.NoError(t, err)
	assert.Equal(t, OK, res.Status, res.Text())
	assert.Regexp(t, `^ok   cpu [01]\.\d\dx <= 1\.5 \(n=\d+\)$`, res.Checks[2].Line)
}

func TestCheckFailsAFailingTestAndABrokenBuild(t *testing.T) {
	repo, hashes := workRepo(t, 1000)
	sp := spec(repo)
	sp.Run = `test "$(cat built)" -lt 2000`
	res, err := Check(context.Background(), Options{Spec: sp}, hashes[0], "main")
	require.NoError(t, err)
	assert.Equal(t, Fail, res.Status)
	assert.Equal(t, "FAIL test: run 1: exit 1 (n=3)", res.Checks[0].Line)

	sp.Build = `test "$(cat work)" -lt 2000`
	res, err = Check(context.Background(), Options{Spec: sp}, hashes[0], "main")
	require.NoError(t, err)
	assert.Equal(t, Fail, res.Status)
	assert.Equal(t, "FAIL build: failed (exit 1)", res.Checks[0].Line)
}

func TestInterpretationNamesABusyMachine(t *testing.T) {
	runs := func(exit string) *Side { return &Side{Runs: []Run{{Exit: exit}, {Exit: exit}}} }
	res := &Result{Good: runs("0"), Bad: runs("0"), Rounds: 5, Rows: []Metric{
		compareMetric("cpu_s", []float64{1.01, 0.99, 1.0, 0.98, 1.02}, []float64{1.0, 1.01, 0.99, 1.02, 0.98}),
		compareMetric("wall_s", []float64{2.9, 3.1, 3.0, 2.8, 3.2}, []float64{1.0, 1.1, 0.9, 1.05, 0.95}),
		compareMetric("mem_mb", []float64{10, 10, 10, 10, 10}, []float64{10, 10, 10, 10, 10}),
	}}
	assert.Equal(t, "cpu 1.00x (not significant), wall 3.00x (significant): wall time moved without CPU time: "+
		"the machine was busier (or the test waits more: I/O, sleeps, locks), not the code slower", interpret(res))

	res.Bad = runs("1")
	assert.Contains(t, interpret(res), "exit statuses differ (good 0 x2, bad 1 x2)")
}

// A commit whose build the pool already holds is not built again: a
// second compare of the same commits builds nothing.
func TestCompareReusesBuildsThePoolHolds(t *testing.T) {
	repo, hashes := workRepo(t, 1000)
	counter := filepath.Join(t.TempDir(), "builds")
	s := spec(repo)
	s.Build = fmt.Sprintf(`echo "$SXBISECT_COMMIT" >> %s; cp work built`, counter)
	s.Run = "true"
	opt := Options{Spec: s, Rounds: 1}
	for i := 0; i < 2; i++ {
		res, err := Compare(context.Background(), opt, hashes[0], "main")
		require.NoError(t, err)
		assert.Equal(t, hashes[2], res.Bad.Commit)
	}
	data, err := os.ReadFile(counter)
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(data), hashes[0]), "the good commit was built again")
	assert.Equal(t, 1, strings.Count(string(data), hashes[2]), "the bad commit was built again")
}
