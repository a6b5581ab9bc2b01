package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/worktree"
)

// linearRepo builds a line of n commits with files(i) at commit i.
func linearRepo(t *testing.T, n int, files func(i int) map[string]string) (string, []string) {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, gitfixture.Linear(n, files))
	require.NoError(t, err)
	return repo, hashes
}

// everyFifth is a range where the build's input, src/level, changes at
// every fifth commit (it holds i/5), and docs/n, which the build does not
// read, at every commit.
func everyFifth(i int) map[string]string {
	return map[string]string{"src/level": fmt.Sprint(i / 5), "docs/n": fmt.Sprint(i)}
}

// copyBuild builds out/level from src/level, counting the builds that run
// (in counter, outside every worktree); countingBuild's "broken" marker
// fails it.
func copyBuild(counter string) string {
	return countingBuild(counter) + ` && mkdir -p out && cp src/level out/level`
}

// inputTrees maps each commit to the id of its src tree.
func inputTrees(t *testing.T, repo string, commits []string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, c := range commits {
		id, err := gitfixture.Git(repo, "rev-parse", c+":src")
		require.NoError(t, err)
		ids[c] = id
	}
	return ids
}

func stepCommits(res *Result) []string {
	var out []string
	for _, s := range res.Steps {
		out = append(out, s.Commit)
	}
	return out
}

func total(n map[string]int) int {
	sum := 0
	for _, v := range n {
		sum += v
	}
	return sum
}

// TestBuildsRunOncePerInputTree bisects a range where only every fifth
// commit changes the build's inputs. The test reads the build's output,
// so a wrong restore would give a wrong answer. The first session builds
// each distinct input tree it tests once; a second session over the same
// range builds nothing; a session without the cache builds at every step.
func TestBuildsRunOncePerInputTree(t *testing.T) {
	repo, hashes := linearRepo(t, 41, everyFifth)
	counter := filepath.Join(t.TempDir(), "builds")
	spec := Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		Build: copyBuild(counter), Run: `test "$(cat out/level)" -lt 5`,
		BuildInputs: []string{"src"}, BuildOutputs: []string{"out"},
	}

	first := spec
	first.Name = "first"
	res, err := Start(context.Background(), first, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[25], *res.FirstBad)
	assert.False(t, res.BuildUnchanged, "the first bad commit changed the build")
	trees := inputTrees(t, repo, stepCommits(res))
	distinct := map[string]bool{}
	for _, id := range trees {
		distinct[id] = true
	}
	built := builds(t, counter)
	assert.Equal(t, len(distinct), total(built), "one build per distinct input tree tested")
	cached := 0
	for _, s := range res.Steps {
		if s.Metrics[buildCachedMetric] != 1 {
			continue
		}
		cached++
		assert.NotEqual(t, s.Commit, s.BuildFrom)
		assert.Equal(t, trees[s.Commit], inputTrees(t, repo, []string{s.BuildFrom})[s.BuildFrom],
			"%s reused the build of a commit with other inputs", text.ShortID(s.Commit))
		assert.Zero(t, built[s.Commit], "%s was built although its build was reused", text.ShortID(s.Commit))
	}
	assert.Positive(t, cached, "the range has commits with equal inputs among those tested")
	t.Logf("first session: %d steps, %d distinct input trees, %d builds", len(res.Steps), len(distinct), total(built))

	again := spec
	again.Name = "again"
	res, err = Start(context.Background(), again, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[25], *res.FirstBad)
	assert.Equal(t, built, builds(t, counter), "a second session over the range builds nothing")
	for _, s := range res.Steps {
		assert.True(t, s.Metrics[buildCachedMetric] == 1 || s.Metrics[buildReusedMetric] == 1, "step at %s", text.ShortID(s.Commit))
	}

	without := spec
	without.Name, without.NoBuildCache = "without", true
	res, err = Start(context.Background(), without, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	rebuilt := total(builds(t, counter)) - total(built)
	assert.Greater(t, rebuilt, len(distinct), "without the cache, equal inputs are built again")
}

// TestFailedBuildIsCachedAsFailing: a build that fails by its exit status
// is not run again for the same inputs, in this session or another, and
// the step says whose failure it was. A build killed at its timeout is
// not kept: that says something about the machine.
func TestFailedBuildIsCachedAsFailing(t *testing.T) {
	// src/broken is there from commit 5 to 9.
	commits := gitfixture.Linear(12, func(i int) map[string]string {
		files := everyFifth(i)
		if i == 5 {
			files["src/broken"] = "yes"
		}
		return files
	})
	commits[10].Delete = []string{"src/broken"}
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, commits)
	require.NoError(t, err)
	counter := filepath.Join(t.TempDir(), "builds")
	pool, err := worktree.Open(repo, worktree.Options{})
	require.NoError(t, err)
	newTester := func(build string, timeout time.Duration) *worktreeTester {
		return testerFor(t, pool, Spec{Repo: repo, GoodCommits: []string{hashes[0]}, BadCommit: hashes[11], Run: "true",
			Build: build, BuildTimeout: Duration(timeout), BuildInputs: []string{"src"}, BuildOutputs: []string{"out"}})
	}
	st := &steps{t: t, logs: t.TempDir()}
	test := st.test
	build := `echo "$SXBISECT_COMMIT" >> '` + counter + `'; test ! -e src/broken && mkdir -p out && cp src/level out/level`

	tt := newTester(build, 0)
	rep := test(tt, hashes[5])
	assert.Equal(t, predicate.Skip, rep.Verdict)
	assert.Contains(t, rep.Reason, "build failed (exit 1)")
	assert.Equal(t, 1, builds(t, counter)[hashes[5]])

	rep = test(tt, hashes[6])
	assert.Equal(t, predicate.Skip, rep.Verdict)
	assert.Equal(t, hashes[5], rep.BuildFrom)
	assert.Equal(t, 1.0, rep.Metrics[buildCachedMetric])
	assert.Contains(t, rep.Reason, "build failed (exit 1)")
	assert.Contains(t, rep.Reason, "the build cache keeps this failure from "+text.ShortID(hashes[5]))
	assert.Zero(t, builds(t, counter)[hashes[6]])
	log, err := os.ReadFile(st.last.Build)
	require.NoError(t, err)
	assert.Contains(t, string(log), "delete ")

	// Another session's tester, as a second session or a batch job has.
	require.NoError(t, tt.Close())
	other := newTester(build, 0)
	rep = test(other, hashes[9])
	assert.Equal(t, predicate.Skip, rep.Verdict)
	assert.Equal(t, hashes[5], rep.BuildFrom)
	assert.Equal(t, 1, total(builds(t, counter)), "one failing build for the whole input tree")
	// A commit with other inputs builds, and succeeds.
	rep = test(other, hashes[10])
	assert.Equal(t, predicate.Good, rep.Verdict)
	assert.Equal(t, 2, total(builds(t, counter)))
	require.NoError(t, other.Close())

	// A build killed at its timeout, or one whose tool is not there, is
	// tried again.
	for commit, c := range map[string]struct {
		build  string
		reason string
	}{
		hashes[1]: {`sleep 30`, "timed out"},
		hashes[2]: {`no-such-build-tool`, "exit 127"},
	} {
		tt := newTester(`echo "$SXBISECT_COMMIT" >> '`+counter+`'; `+c.build, 200*time.Millisecond)
		for range 2 {
			rep = test(tt, commit)
			assert.Equal(t, predicate.Skip, rep.Verdict)
			assert.Contains(t, rep.Reason, c.reason)
			assert.NotContains(t, rep.Metrics, buildCachedMetric)
		}
		assert.Equal(t, 2, builds(t, counter)[commit], c.reason)
		require.NoError(t, tt.Close())
	}
}

// TestBuildThatDidNotChangeIsFlagged: when the first bad commit's build is
// its good parent's (the same inputs, or byte-identical outputs), the
// result says that the verdict may come from the test, not the build; and
// not when the build changed or nothing is known of the parent's outputs.
func TestBuildThatDidNotChangeIsFlagged(t *testing.T) {
	const culprit = 4
	limit := func(i int) string {
		if i >= culprit {
			return "0"
		}
		return "5"
	}
	run := `test "$(cat out/level)" -lt "$(cat tests/limit)"`
	cases := []struct {
		name    string
		files   func(i int) map[string]string
		build   string
		outputs []string
		how     string // "" when no flag is wanted
	}{
		{
			name: "same inputs",
			files: func(i int) map[string]string {
				return map[string]string{"src/level": "1", "tests/limit": limit(i)}
			},
			build: `mkdir -p out && cp src/level out/level`, outputs: []string{"out"},
			how: "has the same build inputs as its good parent",
		},
		{
			name: "same outputs",
			files: func(i int) map[string]string {
				return map[string]string{"src/level": fmt.Sprintf("# revision %d\n1\n", i), "tests/limit": limit(i)}
			},
			build: `mkdir -p out && grep -v '^#' src/level > out/level`, outputs: []string{"out"},
			how: "builds the same outputs, byte for byte, as its good parent",
		},
		{
			name: "changed",
			files: func(i int) map[string]string {
				level := "1"
				if i >= culprit {
					level = "9"
				}
				return map[string]string{"src/level": level, "tests/limit": "5"}
			},
			build: `mkdir -p out && cp src/level out/level`, outputs: []string{"out"},
		},
		{
			name: "outputs unknown",
			files: func(i int) map[string]string {
				return map[string]string{"src/level": fmt.Sprintf("# revision %d\n1\n", i), "tests/limit": limit(i)}
			},
			build: `mkdir -p out && grep -v '^#' src/level > out/level`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repo, hashes := linearRepo(t, 8, c.files)
			res, err := Start(context.Background(), Spec{
				Repo: repo, Good: []string{hashes[0]}, Bad: "main", Build: c.build, Run: run,
				BuildInputs: []string{"src"}, BuildOutputs: c.outputs,
			}, Options{})
			require.NoError(t, err)
			require.Equal(t, Found, res.Outcome, res.Message)
			require.Equal(t, hashes[culprit], *res.FirstBad)
			assert.Equal(t, c.how != "", res.BuildUnchanged)
			if c.how == "" {
				assert.NotContains(t, res.Message, "the build did not change")
				return
			}
			assert.Contains(t, res.Message, "the build did not change: "+text.ShortID(hashes[culprit])+" "+c.how+" "+text.ShortID(hashes[culprit-1]))
			assert.Contains(t, res.Message, "flaky test or from the test itself changing")
			// Resumed, the finished session says it again.
			again, err := Resume(context.Background(), repo, "", Options{})
			require.NoError(t, err)
			assert.True(t, again.BuildUnchanged)
		})
	}
}

// TestBuildCacheFlagsAreChecked: mistakes in the build cache's flags are
// usage errors that say what to do.
func TestBuildCacheFlagsAreChecked(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 3)
	for _, c := range []struct {
		spec Spec
		want string
	}{
		{Spec{BuildOutputs: []string{"out"}}, "give it with --build CMD"},
		{Spec{Build: "make", BuildOutputs: []string{"../out"}}, "--build-output: path \"../out\" leads out of the repository"},
		{Spec{Build: "make", BuildOutputs: []string{"."}}, "the whole worktree"},
		{Spec{Build: "make", BuildInputs: []string{"/src"}}, "--build-input: path \"/src\" is absolute"},
		{Spec{Build: "make", BuildEnv: []string{"SXBISECT_COMMIT"}}, "differs at every commit"},
		{Spec{Build: "make", BuildEnv: []string{"CC=gcc"}}, "give the name alone"},
		{Spec{Build: "make", BuildCacheSize: "lots"}, "--build-cache-size: size \"lots\""},
		{Spec{Build: "make", BuildCacheSize: "0"}, "--no-build-cache"},
	} {
		spec := c.spec
		spec.Repo, spec.Good, spec.Bad, spec.Run = repo, []string{hashes[0]}, "main", "true"
		_, err := Start(context.Background(), spec, Options{})
		var usage *UsageError
		require.ErrorAs(t, err, &usage, "%+v", c.spec)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), "\n")
	}
	// Where the cache cannot be, the session builds every commit and says why.
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, []byte("not a directory"), 0o644))
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{hashes[0]}, Bad: "main", Run: `test "$(cat value)" -lt 2`,
		Build: "true", BuildCache: blocker, BuildOutputs: []string{"value"}}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome)
	assert.Contains(t, res.Message, "the build cache cannot be used")
	assert.True(t, strings.Contains(res.Message, blocker))
}
