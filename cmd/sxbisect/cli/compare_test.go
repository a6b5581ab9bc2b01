package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
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
	status, out, stderr := sxbisect(t, "compare", "--repo", repo, "--run", awkTest, "--rounds", "4", "-q", "--json", hashes[0], "main")
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
	assert.Equal(t, 4, res.Rounds)
	require.NotEmpty(t, res.Metrics)
	assert.Equal(t, "cpu_s", res.Metrics[0].Metric)
	assert.True(t, res.Metrics[0].Significant)
	assert.Regexp(t, `^cpu [12]\.\d\dx \(significant\)`, res.Interpretation)
}

func TestCheckExitStatus(t *testing.T) {
	repo, hashes := slowRepo(t)
	status, out, stderr := sxbisect(t, "check", "--repo", repo, "--run", awkTest, "--max-ratio", "cpu=1.5", "-q", "--against", hashes[0])
	assert.Equal(t, exitCheckFailed, status, out+stderr)
	assert.Regexp(t, `(?m)^FAIL cpu 2\.\d\dx > 1\.5 \(n=\d+, p[<=]0\.0\d\)$`, out)
	assert.Regexp(t, `(?m)^ok   test: exit 0 \(n=\d+\)$`, out)
	assert.Regexp(t, `(?m)^fail: `, out)

	status, out, stderr = sxbisect(t, "check", "--repo", repo, "--run", awkTest, "--max-ratio", "cpu=1.5", "-q", "--against", hashes[0], hashes[1])
	assert.Equal(t, 0, status, out+stderr)
	assert.Regexp(t, `(?m)^ok   cpu [01]\.\d\dx <= 1\.5 \(n=\d+\)$`, out)

	status, _, stderr = sxbisect(t, "check", "--repo", repo, "--run", awkTest)
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "--against")
}
