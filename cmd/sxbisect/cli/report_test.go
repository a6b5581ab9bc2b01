package cli

import (
	"encoding/json"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

func TestReportWritesEachFormat(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 12)
	status, _, stderr := sxbisect(t, "start", "--repo", repo, "--name", "v", "-q", "--run", `test "$(cat value)" -lt 5`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	dir := t.TempDir()

	for _, format := range []string{"md", "json", "html"} {
		out := filepath.Join(dir, "r."+format)
		status, stdout, stderr := sxbisect(t, "report", "--repo", repo, "--name", "v", "--format", format, "-o", out)
		require.Equal(t, 0, status, stderr)
		assert.Empty(t, stdout)
		data, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Contains(t, string(data), hashes[5], format)
		switch format {
		case "json":
			var v struct {
				Sessions []struct {
					FirstBad struct{ Commit string } `json:"first_bad"`
				} `json:"sessions"`
			}
			require.NoError(t, json.Unmarshal(data, &v))
			require.Len(t, v.Sessions, 1)
			assert.Equal(t, hashes[5], v.Sessions[0].FirstBad.Commit)
		case "html":
			assert.True(t, strings.HasPrefix(string(data), "<!DOCTYPE html>"))
			// Each step's logs are copied beside the page, which links them.
			link := regexp.MustCompile(`<a href="(r-logs/v/001-[0-9a-f]{12}-test\.log)">`).FindStringSubmatch(string(data))
			require.NotNil(t, link, "no link to the first step's test log")
			assert.FileExists(t, filepath.Join(dir, link[1]))
		}
	}

	status, stdout, _ := sxbisect(t, "report", "--repo", repo, "--name", "v")
	assert.Equal(t, 0, status)
	assert.Contains(t, stdout, "## Session v: finished")

	status, _, stderr = sxbisect(t, "report", "--repo", repo, "--name", "v", "--format", "pdf")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "md, json or html")
	status, _, _ = sxbisect(t, "report", "--repo", repo, "--name", "nosuch")
	assert.Equal(t, exitUsage, status)

	_, help, _ := sxbisect(t, "help", "report")
	assert.Contains(t, help, "bisect/report")
}

// start and report show the first bad commit's author date, in the
// author's time zone, as git log does; not the committer date, and not in
// this machine's zone.
func TestFirstBadCommitShowsTheAuthorDateAsGitLogDoes(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 6)
	require.NoError(t, os.WriteFile(filepath.Join(repo, "value"), []byte("6"), 0o644))
	commit := exec.Command("git", "commit", "-q", "-am", "change 6")
	commit.Dir = repo
	commit.Env = append(os.Environ(), "GIT_AUTHOR_DATE=2021-03-04T05:06:07+05:30", "GIT_COMMITTER_DATE=2022-01-01T00:00:00-0800")
	out, err := commit.CombinedOutput()
	require.NoError(t, err, string(out))
	gitDate, err := gitfixture.Git(repo, "log", "-1", "--format=%ad")
	require.NoError(t, err)
	require.Equal(t, "Thu Mar 4 05:06:07 2021 +0530", gitDate)

	status, stdout, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--run", `test "$(cat value)" -lt 6`, hashes[0], "main")
	require.Equal(t, exitFound, status, stderr)
	assert.Contains(t, stdout, "    Date:   "+gitDate+"\n")
	summary, err := os.ReadFile(filepath.Join(repo, ".git", "sxbisect", "sessions", "default", "summary.md"))
	require.NoError(t, err)
	assert.Contains(t, string(summary), "- date: "+gitDate+"\n")
	for _, format := range []string{"md", "html"} {
		path := filepath.Join(t.TempDir(), "report."+format)
		status, _, stderr = sxbisect(t, "report", "--repo", repo, "--format", format, "-o", path)
		require.Equal(t, 0, status, stderr)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Contains(t, html.UnescapeString(string(data)), "date: "+gitDate, format)
	}
}
