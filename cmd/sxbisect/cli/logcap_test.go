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

// A chatty build and test leave logs of --log-cap's size in logs/, with
// their start and their end, and a line that says how much was dropped.
func TestLogCapBoundsEveryLog(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 4)
	// About 1.2 MB of output each.
	const chatty = `echo start; seq 1 170000; echo end; `
	status, out, stderr := sxbisect(t, "start", "-q", "--json", "--repo", repo, "--log-cap", "64K",
		"--build", chatty+"true", "--run", chatty+`test "$(cat value)" -lt 2`, hashes[0], "main")
	require.Equal(t, exitFound, status, "stdout: %s\nstderr: %s", out, stderr)
	var res struct {
		SessionDir string `json:"session_dir"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	logs, err := filepath.Glob(filepath.Join(res.SessionDir, "logs", "*.log"))
	require.NoError(t, err)
	var builds, tests int
	for _, path := range logs {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		log := string(data)
		assert.Less(t, len(log), 64<<10+200, path)
		assert.True(t, strings.HasPrefix(log, "start\n1\n2\n"), path)
		assert.True(t, strings.HasSuffix(log, "\n169999\n170000\nend\n"), path)
		assert.Regexp(t, `\n\[sxbisect: \d+ bytes of output dropped here; the log keeps the first 32768 and the last 32768 bytes \(--log-cap\)\]\n`, log, path)
		if strings.HasSuffix(path, "-build.log") {
			builds++
		} else {
			tests++
		}
	}
	assert.Positive(t, builds)
	assert.Positive(t, tests)

	status, _, stderr = sxbisect(t, "start", "-q", "--repo", repo, "--name", "tiny", "--log-cap", "1K", "--run", "true", hashes[0], "main")
	assert.Equal(t, exitUsage, status)
	assert.Equal(t, "sxbisect start: --log-cap 1K: size \"1K\" is below the least cap, 64K; give a size such as 16M, or none to keep whole logs\n", stderr)
}
