package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// slowRepo makes two commits: the second does 2.5 times the CPU work.
func slowRepo(t *testing.T) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	works := []int{1000000, 1000000, 2500000}
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(len(works), func(i int) map[string]string {
		return map[string]string{"work": fmt.Sprint(works[i])}
	}))
	require.NoError(t, err)
	return dir, hashes
}

const awkTest = `awk -v n="$(cat work)" 'BEGIN { for (i = 0; i < n; i++) s += i }'`

func TestCompareJSON(t *testing.T) {
	repo, hashes := slowRepo(t)
	status, out, stderr := sxbisect(t, "compare", "--repo", repo, "--run", awkTest, "--rounds", "5", "-q", "--json", hashes[0], "main")
	require.Equal(t, 0, status, stderr)
	var res struct {
		Rounds  int `json:"rounds"`
		Metrics []struct {
			Metric      string  `json:"metric"`
			Ratio       float64 `json:"ratio"`
			Significant bool    `json:"significant"`
		} `json:"metrics"`
		Interpretation string `json:"interpretation"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, 5, res.Rounds)
	require.NotEmpty(t, res.Metrics)
	assert.Equal(t, "cpu_s", res.Metrics[0].Metric)
	assert.True(t, res.Metrics[0].Significant)
	assert.Regexp(t, `^cpu [12]\.\d\dx \(higher, beyond 1\.20x\)`, res.Interpretation)
}

func TestCheckExitStatus(t *testing.T) {
	repo, hashes := slowRepo(t)
	status, out, stderr := sxbisect(t, "check", "--repo", repo, "--run", awkTest, "--max-ratio", "cpu=1.5", "-q", "--against", hashes[0])
	assert.Equal(t, exitCheckFailed, status, out+stderr)
	// The work is 2.5 times; on a loaded machine the measured ratio of
	// these short runs reads lower, but it is the verdict that counts.
	assert.Regexp(t, `(?m)^FAIL cpu [1-9]\.\d\dx > 1\.5 \(n=\d+, p(<0\.001|=0\.00\d|=0\.010)\): [\d.]+ ± \d+%¹? → [\d.]+ ± \d+%¹?, (\S+%|~) \(p=[\d.]+ n=\d+\)$`, out)
	assert.Regexp(t, `(?m)^ok   test: exit 0 \(n=\d+\)$`, out)
	assert.Regexp(t, `(?m)^fail: `, out)

	status, out, stderr = sxbisect(t, "check", "--repo", repo, "--run", awkTest, "--max-ratio", "cpu=1.5", "-q", "--against", hashes[0], hashes[1])
	assert.Equal(t, 0, status, out+stderr)
	assert.Regexp(t, `(?m)^ok   cpu [01]\.\d\dx <= 1\.5 \(n=\d+, p(<0\.001|=0\.00\d|=0\.010)\): [\d.]+ ± \d+%¹? → [\d.]+ ± \d+%¹?, (\S+%|~) \(p=[\d.]+ n=\d+\)$`, out)

	status, _, stderr = sxbisect(t, "check", "--repo", repo, "--run", awkTest)
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "--against")
}

// writeComparePlan writes a plan comparing the first commit of slowRepo with the
// second (equal work), with the third (2.5 times the work) and with a
// revision that does not exist.
func writeComparePlan(t *testing.T, repo string, hashes []string) string {
	t.Helper()
	plan := filepath.Join(t.TempDir(), "plan.toml")
	text := fmt.Sprintf(`repo = %q
run = %q

[[job]]
name = "slower"
good = %q
bad = "main"

[[job]]
name = "same"
good = %q
bad = %q

[[job]]
name = "typo"
good = %q
bad = "no-such-revision"
`, repo, awkTest, hashes[0], hashes[0], hashes[1], hashes[0])
	require.NoError(t, os.WriteFile(plan, []byte(text), 0o644))
	return plan
}

func TestComparePlanSummary(t *testing.T) {
	repo, hashes := slowRepo(t)
	plan := writeComparePlan(t, repo, hashes)
	status, out, stderr := sxbisect(t, "compare", "--plan", plan, "--rounds", "5", "-q")
	assert.Equal(t, exitError, status, stderr)
	_, summary, ok := strings.Cut(out, "== summary ==\n")
	require.True(t, ok, out)
	lines := strings.Split(strings.TrimSpace(summary), "\n")
	require.Len(t, lines, 5, summary)
	assert.Regexp(t, `^job +cpu good +cpu bad +ratio +sig +wall good +wall bad +ratio +sig +mem good +mem bad +ratio +pass good +pass bad +reading$`, lines[0])
	// cpu: good, bad, ratio, significant; then wall, mem and pass/total.
	assert.Regexp(t, `^slower +[\d.]+ +[\d.]+ +[12]\.\d\dx +yes +[\d.]+ +[\d.]+ +[\d.]+x +(yes|no) +[\d.-]+ +[\d.-]+ +\S+ +- +- +the bad commit does more work`, lines[1])
	// Equal work: no CPU difference. Wall time may well differ on a
	// loaded machine (that is what compare is there to show), so neither
	// its columns nor the reading are pinned.
	assert.Regexp(t, `^same +[\d.]+ +[\d.]+ +[01]\.\d\dx +no +[\d.]+ +[\d.]+ +[\d.]+x +(yes|no) `, lines[2])
	assert.Regexp(t, `^typo +error: .*no-such-revision`, lines[3])
	// benchstat's geomean row, across the jobs that were measured.
	assert.Regexp(t, `^geomean +[\d.]+ +[\d.]+ +[\d.]+x +[\d.]+ +[\d.]+ +[\d.]+x +[\d.]+ +[\d.]+ +[\d.]+x +across 2 jobs$`, lines[4])
	// Each job's own table comes first.
	assert.Contains(t, out, "== slower ==\ngood "+hashes[0][:8])
	assert.Regexp(t, `== typo ==\nerror: `, out)
}

func TestComparePlanJSON(t *testing.T) {
	repo, hashes := slowRepo(t)
	plan := writeComparePlan(t, repo, hashes)
	status, out, stderr := sxbisect(t, "compare", "--plan", plan, "--rounds", "3", "-q", "--json")
	assert.Equal(t, exitError, status, stderr)
	var res struct {
		Jobs []struct {
			Name   string `json:"name"`
			Result *struct {
				Rounds         int    `json:"rounds"`
				Interpretation string `json:"interpretation"`
				Metrics        []struct {
					Metric string `json:"metric"`
				} `json:"metrics"`
			} `json:"result"`
			Error *string `json:"error"`
		} `json:"jobs"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res.Jobs, 3)
	for i, name := range []string{"slower", "same"} {
		j := res.Jobs[i]
		assert.Equal(t, name, j.Name)
		assert.Nil(t, j.Error)
		require.NotNil(t, j.Result)
		assert.Equal(t, 3, j.Result.Rounds)
		assert.Len(t, j.Result.Metrics, 3)
		assert.Regexp(t, `^cpu `, j.Result.Interpretation)
	}
	assert.Equal(t, "typo", res.Jobs[2].Name)
	assert.Nil(t, res.Jobs[2].Result)
	require.NotNil(t, res.Jobs[2].Error)
	assert.Contains(t, *res.Jobs[2].Error, "no-such-revision")
	// Both keys are always there, one of them null.
	assert.Contains(t, out, `"error": null`)
	assert.Contains(t, out, `"result": null`)
}

func TestComparePlanUsage(t *testing.T) {
	repo, hashes := slowRepo(t)
	plan := writeComparePlan(t, repo, hashes)
	status, _, stderr := sxbisect(t, "compare", "--plan", plan, hashes[0], "main")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "give no revisions")
	status, _, stderr = sxbisect(t, "compare", "--plan", plan, "--run", "true")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "put --run in the plan")
}
