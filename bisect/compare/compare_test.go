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
	"github.com/sxbisect/sxbisect/predicate"
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
	assert.Regexp(t, `^FAIL cpu [1-9]\.\d\dx > 1\.5 \(n=\d+, p(<0\.001|=0\.00\d|=0\.010)\): [\d.]+ ± \d+%¹? → [\d.]+ ± \d+%¹?, (\S+%|~) \(p=[\d.]+ n=\d+\)$`, res.Checks[2].Line)

	res, err = Check(context.Background(), Options{Spec: sp}, hashes[0], hashes[1])
	require.NoError(t, err)
	assert.Equal(t, OK, res.Status, res.Text())
	assert.Regexp(t, `^ok   cpu [01]\.\d\dx <= 1\.5 \(n=\d+, p(<0\.001|=0\.00\d|=0\.010)\): [\d.]+ ± \d+%¹? → [\d.]+ ± \d+%¹?, (\S+%|~) \(p=[\d.]+ n=\d+\)$`, res.Checks[2].Line)
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
		compareMetric("cpu_s", []float64{1.01, 0.99, 1.0, 0.98, 1.02}, []float64{1.0, 1.01, 0.99, 1.02, 0.98}, DefaultMinEffect),
		compareMetric("wall_s", []float64{2.9, 3.1, 3.0, 2.8, 3.2}, []float64{1.0, 1.1, 0.9, 1.05, 0.95}, DefaultMinEffect),
		compareMetric("mem_mb", []float64{10, 10, 10, 10, 10}, []float64{10, 10, 10, 10, 10}, DefaultMinEffect),
	}}
	assert.Equal(t, "cpu 1.00x (no change beyond 1.20x), wall 3.00x (higher, beyond 1.20x): wall time moved without CPU time: "+
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

// The field report: load came only during the bad commit's runs, wall time
// doubled, and CPU time moved by 0.4 %, every bad run a little above every
// good one. That is no change of the code.
func TestATinyCPUDifferenceIsNoChange(t *testing.T) {
	good := []float64{0.2340, 0.2338, 0.2342, 0.2339, 0.2341}
	bad := []float64{0.2350, 0.2349, 0.2352, 0.2348, 0.2351}
	cpu := compareMetric("cpu_s", bad, good, DefaultMinEffect)
	assert.False(t, cpu.Significant, "%+v", cpu)
	assert.Equal(t, "none", cpu.Change)
	assert.Equal(t, 1.0, float64(cpu.P), "the p-value of a change beyond the threshold")
	wall := compareMetric("wall_s", []float64{0.485, 0.475, 0.495, 0.48, 0.49}, []float64{0.24, 0.235, 0.245, 0.238, 0.242}, DefaultMinEffect)
	require.True(t, wall.Significant, "%+v", wall)
	runs := &Side{Runs: []Run{{Exit: "0", Quiet: true}}}
	res := &Result{Good: runs, Bad: runs, Rounds: 5, Rows: []Metric{cpu, wall, compareMetric("mem_mb", nil, nil, DefaultMinEffect)}}
	assert.Equal(t, "cpu 1.00x (no change beyond 1.20x), wall 2.02x (higher, beyond 1.20x): wall time moved without CPU time: "+
		"the machine was busier (or the test waits more: I/O, sleeps, locks), not the code slower", interpret(res))
	// benchstat's form: a change of 0.43 % is real (p=0.008), and below
	// the threshold that counts.
	assert.Contains(t, res.Text(), "cpu_s   0.234 ± 0%¹      5  0.235 ± 0%¹      5  +0.43% (p=0.008 n=5)    1.20x: none (p=1.000)")
	assert.Contains(t, res.Text(), "wall_s  0.240 ± 1%¹      5  0.485 ± 1%¹      5  +102.08% (p=0.008 n=5)  1.20x: higher (p=0.004)")
	assert.Contains(t, res.Text(), "level 0.01")
	assert.Contains(t, res.Text(), "¹ ± half the interquartile range: fewer than 6 runs cannot bound the median with 95% confidence")

	// The threshold of --max-ratio counts: 1.3x is a change beyond 1.2x,
	// none beyond 1.5x.
	slower := []float64{0.304, 0.305, 0.306, 0.303, 0.307}
	assert.Equal(t, "higher", compareMetric("cpu_s", slower, good, DefaultMinEffect).Change)
	assert.Equal(t, "none", compareMetric("cpu_s", slower, good, 1.5).Change)
	m := &measurer{ratios: []predicate.Ratio{{Metric: predicate.MetricCPU, Max: 1.5}}}
	assert.Equal(t, 1.5, m.threshold("cpu_s"))
	assert.Equal(t, DefaultMinEffect, m.threshold("wall_s"))
}

// Samples that do not overlap at all are significant at 1/C(n+m, n): 1/20
// with 3 rounds, which is not the level stated.
func TestThreeRoundsAreNeverSignificantAtTheLevelStated(t *testing.T) {
	good := []float64{1.0, 1.01, 0.99}
	bad := []float64{2.5, 2.51, 2.49}
	cpu := compareMetric("cpu_s", bad, good, DefaultMinEffect)
	assert.False(t, cpu.Significant, "%+v", cpu)
	assert.InDelta(t, 0.05, float64(cpu.P), 1e-9)
	runs := &Side{Runs: []Run{{Exit: "0", Quiet: true}}}
	res := &Result{Good: runs, Bad: runs, Rounds: 3, Rows: []Metric{cpu, compareMetric("wall_s", bad, good, DefaultMinEffect)}}
	assert.Equal(t, "cpu 2.50x (no change beyond 1.20x), wall 2.50x (no change beyond 1.20x): "+
		"no change can be significant at level 0.01 with 3 rounds: use --rounds 5 or more", interpret(res))
	assert.Contains(t, res.Text(), "none (p=0.050)")
	assert.Contains(t, res.Text(), "~ (p=0.100 n=3)", "no difference at the level stated")

	// check: the same samples leave the bound undecided, and say why.
	side := func(xs []float64) *Side {
		s := &Side{}
		for _, x := range xs {
			s.Runs = append(s.Runs, Run{Metrics: map[string]float64{"cpu_s": x}, Quiet: true})
		}
		return s
	}
	m := &measurer{ref: side(good), cand: side(bad)}
	it := m.ratioItem(predicate.Ratio{Metric: predicate.MetricCPU, Max: 1.5})
	assert.Equal(t, Undecided, it.Status, it.Line)
	assert.Equal(t, "?    cpu 2.50x undecided against 1.5 (?-?, n=3: too few runs to be significant at level 0.01, which takes 5 a side): 1.000 ± 0%¹ → 2.500 ± 0%¹, ~ (p=0.100 n=3)", it.Line)
	m = &measurer{ref: side(append(good, 1.02, 0.98)), cand: side(append(bad, 2.52, 2.48))}
	it = m.ratioItem(predicate.Ratio{Metric: predicate.MetricCPU, Max: 1.5})
	assert.Equal(t, Fail, it.Status, it.Line)
	assert.Equal(t, "FAIL cpu 2.50x > 1.5 (n=5, p=0.004): 1.000 ± 1%¹ → 2.500 ± 0%¹, +150.00% (p=0.008 n=5)", it.Line)
}

// With 6 runs a side, the spread is benchstat's 95 % confidence interval
// of the median.
func TestBenchstatFiguresWithEnoughRuns(t *testing.T) {
	good := []float64{1.00, 1.02, 0.98, 1.01, 0.99, 1.03}
	bad := []float64{1.50, 1.55, 1.45, 1.52, 1.48, 1.51}
	m := compareMetric("cpu_s", bad, good, DefaultMinEffect)
	assert.False(t, m.SpreadIQR)
	assert.Equal(t, "2%", m.GoodSpread, "the 95 % interval of the median is the whole range at n=6: 0.98 to 1.03 around 1.005")
	assert.Equal(t, "+49.75%", m.Delta)
	assert.InDelta(t, 0.002, float64(m.DeltaP), 0.0005)
	assert.Equal(t, 6, m.GoodN)
	assert.Equal(t, "+49.75% (p=0.002 n=6)", deltaText(m))
}
