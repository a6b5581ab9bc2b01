package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestBuildCacheFlags runs start twice over one range with the build
// cache's flags: the second session's steps all reuse builds, and say
// whose in the documented JSON fields.
func TestBuildCacheFlags(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, gitfixture.Linear(16, func(i int) map[string]string {
		return map[string]string{"src/level": fmt.Sprint(i / 4), "docs/n": fmt.Sprint(i)}
	}))
	require.NoError(t, err)
	cache := filepath.Join(t.TempDir(), "cache")
	args := func(name string) []string {
		return []string{"start", "-q", "--json", "--repo", repo, "--name", name,
			"--build", "mkdir -p out && cp src/level out/level", "--run", `test "$(cat out/level)" -lt 2`,
			"--build-input", "src", "--build-output", "out", "--build-env", "CC", "--build-cache", cache, "--build-cache-size", "1G",
			hashes[0], "main"}
	}
	type result struct {
		FirstBad string `json:"first_bad"`
		Steps    []struct {
			Commit    string             `json:"commit"`
			BuildFrom string             `json:"build_from"`
			Metrics   map[string]float64 `json:"metrics"`
		} `json:"steps"`
	}
	status, _, stderr := sxbisect(t, args("first")...)
	require.Equal(t, exitFound, status, stderr)
	status, out, stderr := sxbisect(t, args("second")...)
	require.Equal(t, exitFound, status, stderr)
	var res result
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	assert.Equal(t, hashes[8], res.FirstBad)
	require.NotEmpty(t, res.Steps)
	for _, s := range res.Steps {
		if s.Metrics["build_reused"] == 1 {
			continue // the worktree held it
		}
		assert.Equal(t, 1.0, s.Metrics["build_cached"], s.Commit)
		assert.Len(t, s.BuildFrom, 40)
		assert.Contains(t, s.Metrics, "build_saved_s")
	}
	assert.FileExists(t, filepath.Join(cache, ".sxbisect-build-cache"))

	status, _, stderr = sxbisect(t, "start", "--repo", repo, "--build", "make", "--run", "true", "--build-env", "SXBISECT_COMMIT", hashes[0], "main")
	assert.Equal(t, exitUsage, status)
	assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
	assert.Contains(t, stderr, "--no-build-cache")

	// --prefer-cached without a cache would be ignored: it is refused.
	for _, build := range [][]string{nil, {"--build", "make", "--no-build-cache"}} {
		args := append(append([]string{"start", "--repo", repo, "--run", "true", "--prefer-cached"}, build...), hashes[0], "main")
		status, _, stderr = sxbisect(t, args...)
		assert.Equal(t, exitUsage, status, stderr)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		assert.Contains(t, stderr, "or drop --prefer-cached")
	}
}

// TestPlanJobsTakeTheBuildCacheKeys: a batch job has start's build cache
// flags as keys, with a relative cache read from the plan's directory.
func TestPlanJobsTakeTheBuildCacheKeys(t *testing.T) {
	dir := t.TempDir()
	plan := writePlan(t, dir, `
repo = "/srv/sx"
good = "v1"
bad = "main"
build = "cd hosts/ocaml && dune build bin/sx_server.exe"
build-input = ["hosts", "spec"]
build-output = ["hosts/ocaml/_build/default/bin/sx_server.exe"]
build-cache = "cache"
build-cache-size = "2G"

[[job]]
name = "tcl"
run = "bash lib/tcl/test.sh"

[[job]]
name = "prolog"
run = "bash lib/prolog/test.sh"
no-build-cache = true
`)
	jobs, err := readPlan(plan)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	for _, j := range jobs {
		require.NoError(t, j.Err)
		assert.Equal(t, []string{"hosts", "spec"}, j.Spec.BuildInputs)
		assert.Equal(t, []string{"hosts/ocaml/_build/default/bin/sx_server.exe"}, j.Spec.BuildOutputs)
		assert.Equal(t, filepath.Join(dir, "cache"), j.Spec.BuildCache)
		assert.Equal(t, "2G", j.Spec.BuildCacheSize)
	}
	assert.False(t, jobs[0].Spec.NoBuildCache)
	assert.True(t, jobs[1].Spec.NoBuildCache)
}
