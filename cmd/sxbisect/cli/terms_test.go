package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// With --term-old and --term-new, the session speaks the user's words,
// and its log replays under git bisect replay with those terms.
func TestCustomTermsReplayInGit(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 30)
	status, out, stderr := sxbisect(t, "start", "--repo", repo, "--term-old", "fast", "--term-new", "slow",
		"--run", `test "$(cat value)" -lt 17`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	assert.Contains(t, out, hashes[17]+" is the first slow commit")
	assert.Regexp(t, `: slow \(exit 1\)`, stderr)
	assert.Regexp(t, `: fast \(exit 0\)`, stderr)

	status, log, stderr := sxbisect(t, "log", "--repo", repo)
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, log, "git bisect start '--term-old' 'fast' '--term-new' 'slow' ")
	assert.Contains(t, log, "# first slow commit: ["+hashes[17]+"]")
	path := filepath.Join(t.TempDir(), "bisect.log")
	require.NoError(t, os.WriteFile(path, []byte(log), 0o644))
	cmd := exec.Command("git", "bisect", "replay", path)
	cmd.Dir = repo
	replayed, err := cmd.CombinedOutput()
	require.NoError(t, err, string(replayed))
	assert.Contains(t, string(replayed), hashes[17]+" is the first slow commit")

	status, out, stderr = sxbisect(t, "report", "--repo", repo)
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, out, "first slow commit "+hashes[17][:12])
	assert.Contains(t, out, "| slow |")

	status, out, _ = sxbisect(t, "status", "--repo", repo, "--json")
	require.Equal(t, 0, status)
	var st struct {
		Terms struct{ Old, New string } `json:"terms"`
		Steps []struct{ Verdict, Term string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, "fast", st.Terms.Old)
	assert.Equal(t, "slow", st.Terms.New)
	for _, s := range st.Steps {
		assert.Equal(t, map[string]string{"good": "fast", "bad": "slow", "skip": "skip"}[s.Verdict], s.Term)
	}

	for _, args := range [][]string{
		{"--term-old", "slow", "--term-new", "slow"},
		{"--term-old", "bad"},
		{"--term-new", "run"},
		{"--find-fix", "--max-ratio", "cpu=1.5"},
	} {
		args = append(append([]string{"start", "-q", "--repo", repo, "--name", "x", "--run", "true"}, args...), hashes[0], "main")
		status, _, stderr := sxbisect(t, args...)
		assert.Equal(t, exitUsage, status, "%v: %s", args, stderr)
	}
}

// --find-fix looks for the first commit whose test passes, from a failing
// old end to a passing new one, and says so in the terms broken and fixed.
func TestFindFixFindsTheFirstPassingCommit(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 30)
	// The test fails up to 11 and passes from 12 on: 12 is the fix.
	status, out, stderr := sxbisect(t, "start", "--repo", repo, "--find-fix", "--json",
		"--run", `test "$(cat value)" -ge 12`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	var res struct {
		FirstBad *string `json:"first_bad"`
		Message  string  `json:"message"`
		Terms    struct{ Old, New string }
		Steps    []struct{ Commit, Verdict, Term, Reason string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.NotNil(t, res.FirstBad)
	assert.Equal(t, hashes[12], *res.FirstBad)
	assert.Equal(t, "broken", res.Terms.Old)
	assert.Equal(t, "fixed", res.Terms.New)
	assert.Contains(t, res.Message, "is the first fixed commit")
	assert.Contains(t, res.Message, "The first fixed commit is checked out in")
	assert.Regexp(t, `: fixed \(the test passed: exit 0\)`, stderr)
	for _, s := range res.Steps {
		switch s.Term {
		case "fixed":
			assert.Contains(t, s.Reason, "the test passed")
		case "broken":
			assert.Contains(t, s.Reason, "the test failed")
		}
	}
	// A range whose new end still fails has no fix to find.
	status, _, stderr = sxbisect(t, "start", "-q", "--repo", repo, "--name", "nofix", "--find-fix", "--run", "false", hashes[0], "main")
	assert.Equal(t, exitNoRegression, status, stderr)

	// Marking takes the session's terms.
	status, _, stderr = sxbisect(t, "start", "-q", "--repo", repo, "--name", "crash", "--find-fix", "--no-verify",
		"--run", `if [ "$(cat value)" -ge 14 ]; then kill -SEGV $$; fi; test "$(cat value)" -ge 12`, hashes[0], "main")
	require.Equal(t, exitAborted, status, stderr)
	status, out, stderr = sxbisect(t, "mark", "fixed", "--repo", repo, "--name", "crash")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, out, "fixed")
	status, _, stderr = sxbisect(t, "mark", "slow", "--repo", repo, "--name", "crash")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "mark a commit broken, fixed or skip")
}
