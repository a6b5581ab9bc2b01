package bisect

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestSameStepsAsGitBisectRun runs the same test script under 'git bisect
// run' and under a session, on histories with merge waves, clock skew and
// skipped commits, and checks that both test the same commits in the same
// order and give the same answer. (Package search checks the choice itself
// on thousands of graphs; this checks the session around it: the ends, the
// verdicts, the journal's replay.)
func TestSameStepsAsGitBisectRun(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			repo := filepath.Join(t.TempDir(), "repo")
			hashes, err := gitfixture.Build(repo, mergeWaves(rng, 80))
			require.NoError(t, err)
			culprit := hashes[10+rng.Intn(60)]
			var skips []string
			for i := 0; i < 6; i++ {
				skips = append(skips, hashes[1+rng.Intn(len(hashes)-2)])
			}
			// The script logs each commit it tests, skips some, and calls
			// a commit bad when it descends from the culprit.
			logPath := filepath.Join(t.TempDir(), "tested")
			script := fmt.Sprintf(`h=$(git rev-parse HEAD); echo $h >> %s
case $h in %s) exit 125;; esac
git merge-base --is-ancestor %s HEAD && exit 1; exit 0`, logPath, strings.Join(skips, "|"), culprit)

			good, bad := hashes[0], hashes[len(hashes)-1]
			gitOut := gitBisectRun(t, repo, good, bad, script)
			gitTested := readLines(t, logPath)
			require.NoError(t, os.Remove(logPath))

			res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{good}, Bad: bad, Run: script, NoVerify: true}, Options{})
			require.NoError(t, err)
			assert.Equal(t, gitTested, readLines(t, logPath), "the same commits in the same order")
			switch res.Outcome {
			case Found:
				assert.Contains(t, gitOut, *res.FirstBad+" is the first bad commit")
			case OnlySkipped:
				assert.Contains(t, gitOut, "only 'skip'ped commits left to test")
				for _, c := range res.Candidates {
					assert.Contains(t, gitOut, c)
				}
			default:
				t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
			}
		})
	}
}

// mergeWaves makes a history of a main line and topic branches that fork
// and merge back, with committer dates that sometimes run backwards.
func mergeWaves(rng *rand.Rand, n int) []gitfixture.Commit {
	commits := []gitfixture.Commit{{Time: 1_700_000_000, Files: map[string]string{"f": "0"}}}
	tip := 0
	for len(commits) < n {
		base := tip
		branch := base
		for k := 1 + rng.Intn(4); k > 0 && len(commits) < n-1; k-- {
			commits = append(commits, gitfixture.Commit{Parents: []int{branch}, Time: skewedTime(rng, len(commits)),
				Files: map[string]string{fmt.Sprintf("t%d", len(commits)): "x"}})
			branch = len(commits) - 1
		}
		for k := rng.Intn(3); k > 0 && len(commits) < n-1; k-- {
			commits = append(commits, gitfixture.Commit{Parents: []int{tip}, Time: skewedTime(rng, len(commits)),
				Files: map[string]string{"f": fmt.Sprint(len(commits))}})
			tip = len(commits) - 1
		}
		parents := []int{tip}
		if branch != base {
			parents = append(parents, branch)
		}
		commits = append(commits, gitfixture.Commit{Parents: parents, Time: skewedTime(rng, len(commits)),
			Files: map[string]string{"m": fmt.Sprint(len(commits))}})
		tip = len(commits) - 1
	}
	return commits
}

func skewedTime(rng *rand.Rand, i int) int64 {
	t := int64(1_700_000_000 + i*3600)
	if rng.Intn(8) == 0 {
		t -= int64(rng.Intn(5)) * 3600
	}
	return t
}

// gitBisectRun bisects with git itself in the repository and resets.
func gitBisectRun(t *testing.T, repo, good, bad, script string) string {
	t.Helper()
	_, err := gitfixture.Git(repo, "bisect", "start", bad, good)
	require.NoError(t, err)
	cmd := exec.Command("git", "bisect", "run", "sh", "-c", script)
	cmd.Dir = repo
	out, _ := cmd.CombinedOutput()
	_, err = gitfixture.Git(repo, "bisect", "reset")
	require.NoError(t, err)
	return string(out)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Fields(string(data))
}
