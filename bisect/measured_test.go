package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate/run"
)

// workRepo makes n commits whose file "work" holds the amount of CPU work
// the test does: w before commit k, 2.5w from it on.
func workRepo(t *testing.T, n, k, w int) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(n, func(i int) map[string]string {
		work := w
		if i >= k {
			work = w * 5 / 2
		}
		return map[string]string{"work": fmt.Sprint(work), "level": fmt.Sprint(i)}
	}))
	require.NoError(t, err)
	return dir, hashes
}

// cpuTest burns the CPU the commit's "work" file asks for, in a child the
// shell does not wait for, so that only a tree-wide measurement sees it.
const cpuTest = `awk -v n="$(cat work)" 'BEGIN { for (i = 0; i < n; i++) s += i }'`

func TestMaxRatioFindsTheCPUSlowdown(t *testing.T) {
	repo, hashes := workRepo(t, 24, 15, 400000)
	res, err := Start(context.Background(), Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		Run: cpuTest, MaxRatio: []string{"cpu=1.5"},
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[15], *res.FirstBad)

	// The evidence is kept: every bisect step has its ratio and samples.
	for _, s := range res.Steps {
		if s.Kind != KindBisect {
			continue
		}
		assert.Contains(t, s.Metrics, "cpu_ratio", "step %s: %v", text.ShortID(s.Commit), s.Metrics)
	}
	h, err := loadSession(repo, "default")
	require.NoError(t, err)
	require.Len(t, h.hist.baselines, 1)
	assert.GreaterOrEqual(t, len(h.hist.baselines[0].Baseline.Samples), 5)
	for _, v := range h.hist.verdicts {
		if v.Kind == KindBisect {
			assert.GreaterOrEqual(t, len(v.Samples), 3)
			assert.NotEmpty(t, v.BaselineSamples, "fresh baseline samples beside the candidate's")
		}
	}
}

func TestMemoryLimitFindsTheOOM(t *testing.T) {
	probe, err := run.Run(context.Background(), run.Spec{Command: "true", Dir: t.TempDir(), MemoryLimit: 64 << 20})
	if err != nil {
		t.Skipf("no memory limit on this machine: %v", err)
	}
	t.Logf("runner mode: %s", probe.Mode)
	dir := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(16, func(i int) map[string]string {
		mb := 8
		if i >= 9 {
			mb = 300
		}
		return map[string]string{"mb": fmt.Sprint(mb)}
	}))
	require.NoError(t, err)
	// tail keeps a whole line in memory: a line of mb megabytes.
	res, err := Start(context.Background(), Spec{
		Repo: dir, Good: []string{hashes[0]}, Bad: "main",
		Run: `head -c "$(cat mb)M" /dev/zero | tail -n 1 >/dev/null`, MemoryLimit: "96M",
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[9], *res.FirstBad)
	for _, s := range res.Steps {
		if s.Verdict == "bad" {
			assert.Contains(t, s.Reason, "oom", "an OOM kill is bad with the reason oom, not an abort")
		}
	}
}

func TestExpectFindsMarkersThatNeverCame(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(20, func(i int) map[string]string {
		// From commit 13 on, the suite hangs before its markers.
		hang := "0"
		if i >= 13 {
			hang = "1"
		}
		return map[string]string{"hang": hang}
	}))
	require.NoError(t, err)
	res, err := Start(context.Background(), Spec{
		Repo: dir, Good: []string{hashes[0]}, Bad: "main",
		Run:    `if [ "$(cat hang)" = 1 ]; then sleep 30; fi; echo '(ok-len 3)'`,
		Expect: `\(ok-len`, Timeout: Duration(1e9),
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[13], *res.FirstBad)
}

func TestPluginOnPathJudgesWithTheTest(t *testing.T) {
	plugins, err := filepath.Abs("../testdata/plugins")
	require.NoError(t, err)
	t.Setenv("PATH", plugins+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(20, func(i int) map[string]string {
		status := "ok"
		if i >= 6 {
			status = "failed"
		}
		return map[string]string{"STATUS": status}
	}))
	require.NoError(t, err)
	res, err := Start(context.Background(), Spec{
		Repo: dir, Good: []string{hashes[0]}, Bad: "main",
		Run: "true", Predicates: []PredicateRef{{Name: "markers"}},
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[6], *res.FirstBad)
	var bad Step
	for _, s := range res.Steps {
		if s.Commit == hashes[6] {
			bad = s
		}
	}
	assert.Contains(t, bad.Reason, "markers")
	assert.Contains(t, bad.Metrics, "markers.markers", "the plugin's metrics reach the result")
}
