package binarysize_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/binarysize"
)

// sizes are the sizes of bin/server along the history: the regression is
// at commit 3 (+45% over the good commit 0).
var sizes = []int{1000, 1010, 1030, 1450, 1460, 0}

// history makes a repository where bin/server has the given sizes, commit
// i of it, and two linked worktrees, as a session would: one for the good
// commit (the baseline) and one for the candidates. Commit 5 has no
// bin/server.
func history(t *testing.T) (commits []string, baseDir, candDir string) {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	linear := gitfixture.Linear(len(sizes), func(i int) map[string]string {
		files := map[string]string{"README": "commit " + strings.Repeat("!", i)}
		if sizes[i] > 0 {
			files["bin/server"] = strings.Repeat("x", sizes[i])
		}
		return files
	})
	for i, size := range sizes {
		if size == 0 {
			linear[i].Delete = []string{"bin/server"}
		}
	}
	commits, err := gitfixture.Build(repo, linear)
	require.NoError(t, err)
	baseDir, candDir = filepath.Join(t.TempDir(), "base"), filepath.Join(t.TempDir(), "cand")
	for _, dir := range []string{baseDir, candDir} {
		_, err := gitfixture.Git(repo, "worktree", "add", "--detach", dir, commits[0])
		require.NoError(t, err)
	}
	return commits, baseDir, candDir
}

func checkout(t *testing.T, dir, commit string) {
	t.Helper()
	_, err := gitfixture.Git(dir, "checkout", "-q", "--detach", commit)
	require.NoError(t, err)
}

func open(t *testing.T, params map[string]string) predicate.Predicate {
	t.Helper()
	p, err := predicate.New("binary-size", params)
	require.NoError(t, err)
	return p
}

func TestBisectsTheGrowth(t *testing.T) {
	t.Parallel()
	commits, baseDir, candDir := history(t)
	p := open(t, map[string]string{"file": "bin/server", "max-growth": "1.2"})
	b, ok := p.(predicate.Baseliner)
	require.True(t, ok, "binary-size compares with the good commit")
	require.True(t, p.(interface{ NeedsBaseline() bool }).NeedsBaseline())

	ctx := context.Background()
	base, err := b.MeasureBaseline(ctx, predicate.Candidate{Commit: commits[0], Dir: baseDir})
	require.NoError(t, err)
	assert.Equal(t, commits[0], base.Commit)
	assert.Equal(t, map[string]float64{"size_bytes": 1000}, base.Metrics)

	want := []predicate.Verdict{predicate.Good, predicate.Good, predicate.Good, predicate.Bad, predicate.Bad, predicate.Skip}
	for i, commit := range commits {
		checkout(t, candDir, commit)
		j, err := p.Judge(ctx, predicate.Candidate{Commit: commit, Dir: candDir, Baseline: base, BaselineDir: baseDir})
		require.NoError(t, err, "commit %d", i)
		assert.Equal(t, want[i], j.Verdict, "commit %d: %s", i, j.Reason)
		if sizes[i] > 0 {
			assert.Equal(t, float64(sizes[i]), j.Metrics["size_bytes"])
			assert.InDelta(t, float64(sizes[i])/1000, j.Metrics["growth"], 1e-9)
			assert.Equal(t, 1000.0, j.Metrics["baseline_size_bytes"])
		}
	}

	checkout(t, candDir, commits[3])
	j, err := p.Judge(ctx, predicate.Candidate{Commit: commits[3], Dir: candDir, Baseline: base})
	require.NoError(t, err)
	assert.Equal(t, "bin/server is 1450 bytes, +45.0% from the good commit's 1000, over max-growth 1.2", j.Reason)
	checkout(t, candDir, commits[5])
	j, err = p.Judge(ctx, predicate.Candidate{Commit: commits[5], Dir: candDir, Baseline: base})
	require.NoError(t, err)
	assert.Equal(t, "no bin/server after the build", j.Reason)
}

func TestMaxBytesNeedsNoBaseline(t *testing.T) {
	t.Parallel()
	commits, _, candDir := history(t)
	p := open(t, map[string]string{"file": "bin/server", "max-bytes": "1020"})
	assert.False(t, p.(interface{ NeedsBaseline() bool }).NeedsBaseline())
	for i, want := range []predicate.Verdict{predicate.Good, predicate.Good, predicate.Bad} {
		checkout(t, candDir, commits[i])
		j, err := p.Judge(context.Background(), predicate.Candidate{Commit: commits[i], Dir: candDir})
		require.NoError(t, err)
		assert.Equal(t, want, j.Verdict, "commit %d: %s", i, j.Reason)
	}
	j, err := p.Judge(context.Background(), predicate.Candidate{Commit: commits[2], Dir: candDir})
	require.NoError(t, err)
	assert.Equal(t, "bin/server is 1030 bytes, over max-bytes 1020", j.Reason)
}

func TestBaselineFailures(t *testing.T) {
	t.Parallel()
	commits, baseDir, _ := history(t)
	p := open(t, map[string]string{"file": "bin/server", "max-growth": "1.1"})

	// A good commit without the file cannot be compared with.
	checkout(t, baseDir, commits[5])
	_, err := p.(predicate.Baseliner).MeasureBaseline(context.Background(), predicate.Candidate{Commit: commits[5], Dir: baseDir})
	var abort *predicate.AbortError
	require.ErrorAs(t, err, &abort)
	assert.Contains(t, abort.Reason, "has no bin/server after its build")

	// Judging with max-growth and no baseline is a mistake of the session.
	checkout(t, baseDir, commits[0])
	_, err = p.Judge(context.Background(), predicate.Candidate{Commit: commits[0], Dir: baseDir})
	assert.EqualError(t, err, "binary-size: max-growth compares with the good commit, and no baseline size was measured there")

	// An empty file at the good commit: any growth is bad.
	empty := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(empty, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(empty, "bin", "server"), nil, 0o644))
	base, err := p.(predicate.Baseliner).MeasureBaseline(context.Background(), predicate.Candidate{Commit: "good", Dir: empty})
	require.NoError(t, err)
	j, err := p.Judge(context.Background(), predicate.Candidate{Commit: commits[0], Dir: baseDir, Baseline: base})
	require.NoError(t, err)
	assert.Equal(t, predicate.Bad, j.Verdict)
	assert.Equal(t, "bin/server is 1000 bytes, empty at the good commit", j.Reason)
}

func TestParameters(t *testing.T) {
	t.Parallel()
	p := open(t, map[string]string{"file": "out/a.exe", "max-growth": "1.05", "max-bytes": "4096"})
	assert.Equal(t, binarysize.Predicate{File: "out/a.exe", MaxGrowth: 1.05, MaxBytes: 4096}, p)
	assert.Equal(t, "binary-size", p.Name())

	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"max-growth": "1.1"}, "binary-size: parameter file (the file to weigh) is required"},
		{map[string]string{"file": "", "max-growth": "1.1"}, "binary-size: parameter file (the file to weigh) is required"},
		{map[string]string{"file": "a"}, "binary-size: give max-growth, max-bytes or both"},
		{map[string]string{"file": "/usr/bin/sx", "max-bytes": "1"}, `binary-size: file "/usr/bin/sx" must be a path inside the worktree, such as _build/sx_server`},
		{map[string]string{"file": "../sx", "max-bytes": "1"}, `binary-size: file "../sx" must be a path inside the worktree, such as _build/sx_server`},
		{map[string]string{"file": "a", "max-growth": "0.9"}, `binary-size: max-growth "0.9" is not a ratio of 1 or more, such as 1.05 for 5% growth`},
		{map[string]string{"file": "a", "max-growth": "5%"}, `binary-size: max-growth "5%" is not a ratio of 1 or more, such as 1.05 for 5% growth`},
		{map[string]string{"file": "a", "max-bytes": "1M"}, `binary-size: max-bytes "1M" is not a positive number of bytes`},
		{map[string]string{"file": "a", "max-bytes": "1", "max-grwoth": "1.1"}, `binary-size: unknown parameter "max-grwoth" (valid: file, max-growth, max-bytes)`},
	} {
		_, err := predicate.New("binary-size", tc.params)
		assert.EqualError(t, err, tc.want, "%v", tc.params)
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := open(t, map[string]string{"file": "a", "max-bytes": "1"}).Judge(ctx, predicate.Candidate{Dir: t.TempDir()})
	assert.ErrorIs(t, err, context.Canceled)
}
