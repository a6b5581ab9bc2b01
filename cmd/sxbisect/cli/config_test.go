package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestPresetComesFromTheCheckoutNotTheCommits commits a project file that
// would make every commit bad, then edits it in the checkout: the session
// must follow the checkout's file, because a commit under test must not
// be able to change what runs.
func TestPresetComesFromTheCheckoutNotTheCommits(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	commits := gitfixture.Linear(20, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i)}
	})
	commits[0].Files[ConfigFile] = "[predicate.suite]\nrun = \"exit 1\"\n"
	hashes, err := gitfixture.Build(repo, commits)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(repo, ConfigFile), []byte(`
[predicate.suite]
run = 'test "$(cat value)" -lt 12'
timeout = "30s"
`), 0o644))

	status, out, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--predicate", "suite", hashes[0], "main")
	require.Equal(t, exitFound, status, "%s\n%s", out, stderr)
	assert.Contains(t, out, hashes[12]+" is the first bad commit")

	// A flag given on the command line wins over the preset.
	status, out, stderr = sxbisect(t, "start", "-q", "--repo", repo, "--name", "override", "--predicate", "suite",
		"--run", `test "$(cat value)" -lt 7`, hashes[0], "main")
	require.Equal(t, exitFound, status, "%s\n%s", out, stderr)
	assert.Contains(t, out, hashes[7]+" is the first bad commit")
}

func TestPresetMistakesAreOneLine(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 4)
	for _, file := range []string{
		"[predicate.p]\nrun_cmd = \"true\"\n",
		"[predicate.p]\ntimeout = \"soon\"\nrun = \"true\"\n",
		"[predicate.p]\nparams = { a = \"b\" }\n",
		"[predicate\n",
		"[other]\nx = 1\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(repo, ConfigFile), []byte(file), 0o644))
		status, _, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--predicate", "p", hashes[0], "main")
		assert.Equal(t, exitUsage, status, "%q: %s", file, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "%q: %q", file, stderr)
		assert.Contains(t, stderr, ConfigFile)
	}
}

// belowPlugin puts on PATH a plugin that is good while the value file is
// below its parameter limit, and returns a repository with a preset lim
// that uses it with limit 3, and a preset flags with no predicate.
func belowPlugin(t *testing.T) (string, []string) {
	t.Helper()
	bin := t.TempDir()
	plugin := "#!/bin/sh\n[ \"$(cat value)\" -lt \"$SXBISECT_PARAM_LIMIT\" ]\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "sxbisect-predicate-below"), []byte(plugin), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	repo, hashes := gitfixture.ValueRepo(t, 16)
	require.NoError(t, os.WriteFile(filepath.Join(repo, ConfigFile), []byte("[predicate.lim]\nuse = \"below\"\nparams = { limit = \"3\" }\n\n[predicate.flags]\nrun = \"true\"\n"), 0o644))
	return repo, hashes
}

// A preset's params table, as the README writes it, reaches its predicate.
func TestPresetParamsReachThePredicate(t *testing.T) {
	repo, hashes := belowPlugin(t)
	status, out, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--predicate", "lim", hashes[0], "main")
	require.Equal(t, exitFound, status, "%s\n%s", out, stderr)
	assert.Contains(t, out, hashes[3]+" is the first bad commit")
}

// --param gives a predicate its parameters on the command line, over a
// preset's params.
func TestParamsOnTheCommandLine(t *testing.T) {
	repo, hashes := belowPlugin(t)

	status, out, stderr := sxbisect(t, "start", "-q", "--repo", repo, "--name", "plugin", "--predicate", "below", "--param", "limit=9", hashes[0], "main")
	require.Equal(t, exitFound, status, "%s\n%s", out, stderr)
	assert.Contains(t, out, hashes[9]+" is the first bad commit")
	// The report's command runs the same session again.
	status, out, stderr = sxbisect(t, "report", "--repo", repo, "--name", "plugin")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, out, "--predicate below --param below:limit=9")

	status, out, stderr = sxbisect(t, "start", "-q", "--repo", repo, "--name", "preset", "--predicate", "lim", "--param", "lim:limit=6", hashes[0], "main")
	require.Equal(t, exitFound, status, "%s\n%s", out, stderr)
	assert.Contains(t, out, hashes[6]+" is the first bad commit", "the command line's param wins over the preset's")

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--run", "true", "--param", "limit=3"}, "name it with --predicate"},
		{[]string{"--predicate", "below", "--param", "limit"}, "write NAME=VALUE"},
		{[]string{"--predicate", "below", "--predicate", "lim", "--param", "limit=3"}, "say which, as in --param below:limit=3"},
		{[]string{"--predicate", "below", "--param", "other:limit=3"}, `"other" is not a predicate given with --predicate`},
		{[]string{"--predicate", "flags", "--param", "limit=3"}, "names a preset with no predicate"},
	} {
		args := append(append([]string{"start", "-q", "--repo", repo, "--name", "bad"}, c.args...), hashes[0], "main")
		status, _, stderr := sxbisect(t, args...)
		assert.Equal(t, exitUsage, status, "%v: %s", c.args, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		assert.Contains(t, stderr, c.want)
	}
}
