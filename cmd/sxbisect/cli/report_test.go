package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
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
