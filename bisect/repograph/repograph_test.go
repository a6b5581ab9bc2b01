package repograph

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// history is the fixture most tests share: merges (one an octopus), two
// root commits, files in nested directories, a mode change, deletions of a
// file and of a whole directory, and a committer date older than its
// parent's.
func history() []gitfixture.Commit {
	return []gitfixture.Commit{
		0: {Time: 1_600_000_000, Files: map[string]string{"a.txt": "a0", "dir/x.c": "x0", "dir/sub/y.c": "y0"}},
		1: {Parents: []int{0}, Time: 1_600_000_100, Files: map[string]string{"a.txt": "a1"},
			Message: "first line\nof the subject\n\nbody text"},
		2:  {Parents: []int{1}, Time: 1_600_000_200, Files: map[string]string{"dir/x.c": "x1"}},
		3:  {Parents: []int{0}, Time: 1_600_000_150, Files: map[string]string{"b.txt": "b0"}},
		4:  {Parents: []int{2, 3}, Time: 1_600_000_300},
		5:  {Time: 1_600_000_050, Files: map[string]string{"other.txt": "o"}},
		6:  {Parents: []int{4}, Time: 1_600_000_400, Files: map[string]string{"dir/x.c": "x1"}, Exec: map[string]bool{"dir/x.c": true}},
		7:  {Parents: []int{6}, Time: 1_600_000_500, Delete: []string{"dir/sub/y.c"}},
		8:  {Parents: []int{7}, Time: 1_600_000_600, Files: map[string]string{"a.txt": "a2"}},
		9:  {Parents: []int{3}, Time: 1_600_000_250, Files: map[string]string{"c.txt": "c0"}},
		10: {Parents: []int{8, 9, 5}, Time: 1_600_000_700},
		11: {Parents: []int{10}, Time: 1_600_000_800, Delete: []string{"dir/x.c"}},
		12: {Parents: []int{11}, Time: 1_600_000_750, Files: map[string]string{"a.txt": "a3"}},
	}
}

// fixture builds the shared history in a new repository with branch topic
// at commit 9, annotated tag v1 at commit 4, tag v1b (a tag of v1),
// lightweight tag lw at commit 8 and a remote-tracking origin/main with
// origin/HEAD pointing at it.
func fixture(t *testing.T) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	shas, err := gitfixture.Build(dir, history())
	require.NoError(t, err)
	git(t, dir, "branch", "topic", shas[9])
	git(t, dir, "tag", "-a", "v1", "-m", "release 1", shas[4])
	git(t, dir, "tag", "-a", "v1b", "-m", "tag of a tag", "v1")
	git(t, dir, "tag", "lw", shas[8])
	git(t, dir, "update-ref", "refs/remotes/origin/main", shas[12])
	git(t, dir, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	return dir, shas
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitfixture.Git(dir, args...)
	require.NoError(t, err)
	return out
}

func hash(t *testing.T, s string) search.Hash {
	t.Helper()
	h, ok := parseFullHash(s)
	require.True(t, ok, "not an object id: %q", s)
	return h
}

func openRepo(t *testing.T, path string) *Repo {
	t.Helper()
	r, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// commitMore adds an empty commit on main with a fixed date.
func commitMore(t *testing.T, dir string, when int) {
	t.Helper()
	date := strconv.Itoa(when) + " +0000"
	cmd := []string{"-c", "user.name=Fixture", "-c", "user.email=fixture@example.com", "commit", "-q", "--allow-empty", "-m", "more " + date}
	t.Setenv("GIT_AUTHOR_DATE", date)
	t.Setenv("GIT_COMMITTER_DATE", date)
	git(t, dir, cmd...)
}

// assertNodesMatchGitLog compares Node with git log for every commit.
func assertNodesMatchGitLog(t *testing.T, dir string, g *Graph) {
	t.Helper()
	lines := strings.Split(git(t, dir, "log", "--all", "--format=%H %ct %P"), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		fields := strings.Fields(line)
		n, err := g.Node(hash(t, fields[0]))
		require.NoError(t, err, "commit %s", fields[0])
		assert.Equal(t, fields[1], strconv.FormatInt(n.CommitTime, 10), "commit time of %s", fields[0])
		parents := []string{}
		for _, p := range n.Parents {
			parents = append(parents, p.String())
		}
		assert.Equal(t, fields[2:], parents, "parents of %s", fields[0])
		key, err := g.PathKey(hash(t, fields[0]))
		require.NoError(t, err)
		assert.True(t, key.IsZero(), "no paths, no PathKey")
	}
}

func TestNodeMatchesGitLog(t *testing.T) {
	t.Run("objects", func(t *testing.T) {
		dir, _ := fixture(t)
		r := openRepo(t, dir)
		require.False(t, r.HasCommitGraph())
		g, err := r.Graph(nil)
		require.NoError(t, err)
		assertNodesMatchGitLog(t, dir, g)
	})
	t.Run("commit-graph", func(t *testing.T) {
		dir, _ := fixture(t)
		git(t, dir, "commit-graph", "write", "--reachable")
		commitMore(t, dir, 1_600_000_900) // not in the file: read from its object
		require.FileExists(t, filepath.Join(dir, ".git", "objects", "info", "commit-graph"))
		r := openRepo(t, dir)
		require.True(t, r.HasCommitGraph())
		g, err := r.Graph(nil)
		require.NoError(t, err)
		assertNodesMatchGitLog(t, dir, g)
	})
	t.Run("commit-graph chain", func(t *testing.T) {
		dir, _ := fixture(t)
		git(t, dir, "commit-graph", "write", "--reachable", "--split")
		commitMore(t, dir, 1_600_000_900)
		git(t, dir, "commit-graph", "write", "--reachable", "--split=no-merge")
		commitMore(t, dir, 1_600_001_000)
		info := filepath.Join(dir, ".git", "objects", "info")
		require.NoFileExists(t, filepath.Join(info, "commit-graph"))
		chain, err := os.ReadFile(filepath.Join(info, "commit-graphs", "commit-graph-chain"))
		require.NoError(t, err)
		require.Len(t, strings.Fields(string(chain)), 2, "two layers")
		r := openRepo(t, dir)
		require.True(t, r.HasCommitGraph())
		g, err := r.Graph(nil)
		require.NoError(t, err)
		assertNodesMatchGitLog(t, dir, g)
	})
	t.Run("go-git object storage only", func(t *testing.T) {
		// As where pack files cannot be mapped.
		dir, shas := fixture(t)
		r := openRepo(t, dir)
		require.NoError(t, r.packs.Close())
		r.packs = nil
		g, err := r.Graph([]string{"dir"})
		require.NoError(t, err)
		for _, s := range shas {
			key, err := g.PathKey(hash(t, s))
			require.NoError(t, err)
			present := git(t, dir, "ls-tree", s, "--", "dir") != ""
			assert.Equal(t, present, !key.IsZero())
		}
		g, err = r.Graph(nil)
		require.NoError(t, err)
		assertNodesMatchGitLog(t, dir, g)
		h, err := r.Resolve(shas[7][:6])
		require.NoError(t, err)
		assert.Equal(t, shas[7], h.String())
	})
	t.Run("core.commitGraph=false", func(t *testing.T) {
		dir, _ := fixture(t)
		git(t, dir, "commit-graph", "write", "--reachable")
		git(t, dir, "config", "core.commitGraph", "false")
		r := openRepo(t, dir)
		assert.False(t, r.HasCommitGraph())

		graphFile := filepath.Join(dir, ".git", "objects", "info", "commit-graph")
		require.NoError(t, os.Remove(graphFile))
		wrote, err := r.EnsureCommitGraph(context.Background(), nil)
		require.NoError(t, err)
		assert.False(t, wrote)
		assert.NoFileExists(t, graphFile, "not written against the configuration")
	})
}

// Generation gives git's topological levels for the commits of the
// commit-graph, single file or chain, and nothing for those made after it.
func TestGenerationsFromTheCommitGraph(t *testing.T) {
	for name, write := range map[string]func(t *testing.T, dir string){
		"single file": func(t *testing.T, dir string) { git(t, dir, "commit-graph", "write", "--reachable") },
		"chain": func(t *testing.T, dir string) {
			git(t, dir, "commit-graph", "write", "--split", "--reachable")
			commitMore(t, dir, 1_600_000_850)
			git(t, dir, "commit-graph", "write", "--reachable", "--split=no-merge")
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir, _ := fixture(t)
			write(t, dir)
			commitMore(t, dir, 1_600_000_900) // not in the file
			r := openRepo(t, dir)
			require.True(t, r.HasCommitGraph())
			g, err := r.Graph(nil)
			require.NoError(t, err)
			lines := strings.Split(git(t, dir, "log", "--all", "--reverse", "--topo-order", "--format=%H %P"), "\n")
			levels := map[string]uint64{}
			for i, line := range lines {
				fields := strings.Fields(line)
				level := uint64(1)
				for _, p := range fields[1:] {
					level = max(level, levels[p]+1)
				}
				levels[fields[0]] = level
				gen, known, err := g.Generation(hash(t, fields[0]))
				require.NoError(t, err)
				if i == len(lines)-1 {
					assert.False(t, known, "the commit made after the commit-graph")
					continue
				}
				require.True(t, known, "commit %s", fields[0])
				assert.Equal(t, level, gen, "commit %s", fields[0])
			}
		})
	}
	t.Run("no commit-graph", func(t *testing.T) {
		dir, shas := fixture(t)
		g, err := openRepo(t, dir).Graph(nil)
		require.NoError(t, err)
		_, known, err := g.Generation(hash(t, shas[0]))
		require.NoError(t, err)
		assert.False(t, known)
	})
}

func TestEnsureCommitGraph(t *testing.T) {
	dir, shas := fixture(t)
	gitState := func() string {
		return git(t, dir, "show-ref", "--head") + "\n" + git(t, dir, "status", "--porcelain", "--ignored") +
			"\n" + git(t, dir, "ls-files", "--stage", "--debug")
	}
	before := gitState()
	r := openRepo(t, dir)
	g, err := r.Graph(nil)
	require.NoError(t, err)
	_, err = g.Node(hash(t, shas[12])) // cached before the file exists
	require.NoError(t, err)
	require.False(t, r.HasCommitGraph())

	announced := 0
	wrote, err := r.EnsureCommitGraph(context.Background(), func() { announced++ })
	require.NoError(t, err)
	assert.True(t, wrote)
	assert.Equal(t, 1, announced, "told before git runs")
	assert.True(t, r.HasCommitGraph())
	assert.FileExists(t, filepath.Join(dir, ".git", "objects", "info", "commit-graph"))
	assert.Equal(t, before, gitState(), "refs, HEAD, index and work tree untouched")
	git(t, dir, "commit-graph", "verify")
	assertNodesMatchGitLog(t, dir, g)

	// A second call finds the file and leaves it alone.
	st, err := os.Stat(filepath.Join(dir, ".git", "objects", "info", "commit-graph"))
	require.NoError(t, err)
	wrote, err = r.EnsureCommitGraph(context.Background(), func() { announced++ })
	require.NoError(t, err)
	assert.False(t, wrote)
	assert.Equal(t, 1, announced)
	st2, err := os.Stat(filepath.Join(dir, ".git", "objects", "info", "commit-graph"))
	require.NoError(t, err)
	assert.Equal(t, st.ModTime(), st2.ModTime())
}

// git's configuration at any level keeps the file from being written:
// core.commitGraph=false (git would not read it) and gc.writeCommitGraph=false
// (the user keeps git's own maintenance from writing one).
func TestEnsureCommitGraphHonoursGitConfig(t *testing.T) {
	for _, c := range []struct{ name, key, scope string }{
		{"gc.writeCommitGraph in the repository", "gc.writeCommitGraph", "--local"},
		{"gc.writeCommitGraph for the user", "gc.writeCommitGraph", "--global"},
		{"core.commitGraph for the user", "core.commitGraph", "--global"},
	} {
		t.Run(c.name, func(t *testing.T) {
			global := filepath.Join(t.TempDir(), "gitconfig")
			require.NoError(t, os.WriteFile(global, nil, 0o644))
			t.Setenv("GIT_CONFIG_GLOBAL", global)
			dir, _ := fixture(t)
			git(t, dir, "config", c.scope, c.key, "false")
			r := openRepo(t, dir)
			wrote, err := r.EnsureCommitGraph(context.Background(), func() { t.Error("announced a write") })
			require.NoError(t, err)
			assert.False(t, wrote)
			assert.False(t, r.HasCommitGraph())
			assert.NoFileExists(t, filepath.Join(dir, ".git", "objects", "info", "commit-graph"))
		})
	}
}

func TestResolve(t *testing.T) {
	dir, shas := fixture(t)
	r := openRepo(t, dir)
	revs := []string{
		shas[3], strings.ToUpper(shas[3]), shas[3][:7], shas[3][:5],
		"HEAD", "@", "main", "heads/main", "refs/heads/main", "topic",
		"v1", "v1b", "refs/tags/v1", "tags/v1b", "lw", "origin/main", "origin",
		"HEAD~2", "HEAD^", "HEAD~", "HEAD^0", "HEAD~2^2", "HEAD~2^3", "HEAD~2^2~1", "HEAD^^^",
		"v1^2", "v1^{commit}", "v1b^{}", "v1~1", "main~2^1~2", "@~3",
		"v1-3-g" + shas[8][:7], // git describe output
	}
	for _, rev := range revs {
		want := git(t, dir, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
		got, err := r.Resolve(rev)
		if assert.NoError(t, err, rev) {
			assert.Equal(t, want, got.String(), rev)
		}
	}

	tree := git(t, dir, "rev-parse", "HEAD^{tree}")
	unknown := []string{
		"nosuch", "HEAD~20", "v1^3", shas[0] + "^", "main..topic", "",
		"HEAD:a.txt", "v1^{tree}", tree, "0000000000000000000000000000000000000000",
		"ffffffffff", "config", "heads", "refs/heads", "remotes/origin/", "v1-3-gzzzz",
	}
	// Forms git accepts but a bisection has no use for: a negation, the
	// reflog, and a search of messages.
	unsupported := []string{"^main", "HEAD@{1}", "HEAD^{/subject}"}
	for _, rev := range append(unknown, unsupported...) {
		_, err := r.Resolve(rev)
		var unknownErr *UnknownRevisionError
		if assert.ErrorAs(t, err, &unknownErr, rev) {
			assert.Equal(t, rev, unknownErr.Rev)
			assert.True(t, strings.HasPrefix(err.Error(), "unknown revision "+rev+": "), err.Error())
			assert.NotContains(t, err.Error(), "\n")
		}
	}
	for _, rev := range unknown {
		_, gitErr := gitfixture.Git(dir, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
		assert.Error(t, gitErr, "git agrees that %q is not a commit", rev)
	}
}

func TestResolveAmbiguousAbbreviation(t *testing.T) {
	// 600 commits make two that share four leading hex digits all but
	// certain, and the fixture is reproducible, so the pair is fixed.
	dir := filepath.Join(t.TempDir(), "repo")
	commits := make([]gitfixture.Commit, 600)
	for i := range commits {
		commits[i] = gitfixture.Commit{Time: int64(1_700_000_000 + i), Files: map[string]string{"n": strconv.Itoa(i)}}
		if i > 0 {
			commits[i].Parents = []int{i - 1}
		}
	}
	shas, err := gitfixture.Build(dir, commits)
	require.NoError(t, err)
	byPrefix := map[string]int{}
	var prefix string
	for _, s := range shas {
		if byPrefix[s[:4]]++; byPrefix[s[:4]] == 2 {
			prefix = s[:4]
		}
	}
	require.NotEmpty(t, prefix, "no two commits share a 4-digit prefix")
	r := openRepo(t, dir)
	_, err = r.Resolve(prefix)
	require.ErrorContains(t, err, "unknown revision "+prefix+": abbreviated commit id is ambiguous")
	_, gitErr := gitfixture.Git(dir, "rev-parse", "--verify", prefix+"^{commit}")
	require.Error(t, gitErr)

	// Longer prefixes of the same commits are unambiguous again.
	for _, s := range shas {
		if strings.HasPrefix(s, prefix) {
			got, err := r.Resolve(s[:12])
			require.NoError(t, err)
			assert.Equal(t, s, got.String())
		}
	}
}

func TestPathKey(t *testing.T) {
	dir, shas := fixture(t)
	r := openRepo(t, dir)
	pathSets := [][]string{
		{"a.txt"}, {"dir"}, {"dir/sub"}, {"dir/x.c"}, {"b.txt", "dir/sub/y.c"}, {"missing.txt"}, {"."},
	}
	for _, paths := range pathSets {
		g, err := r.Graph(paths)
		require.NoError(t, err)
		keys := make([]search.Hash, len(shas))
		for i, s := range shas {
			key, err := g.PathKey(hash(t, s))
			require.NoError(t, err)
			keys[i] = key
			present := git(t, dir, append([]string{"ls-tree", "--name-only", s, "--"}, paths...)...) != ""
			assert.Equal(t, present, !keys[i].IsZero(), "paths %v at commit %d: zero PathKey exactly when absent", paths, i)
		}
		// Equal keys exactly when git sees no difference at the paths.
		for i := range shas {
			for j := i + 1; j < len(shas); j++ {
				_, diffErr := gitfixture.Git(dir, append([]string{"diff", "--quiet", shas[i], shas[j], "--"}, paths...)...)
				assert.Equal(t, diffErr == nil, keys[i] == keys[j], "paths %v, commits %d and %d", paths, i, j)
			}
		}
	}

	t.Run("spelling", func(t *testing.T) {
		plain, err := r.Graph([]string{"dir", "a.txt"})
		require.NoError(t, err)
		spelled, err := r.Graph([]string{"./dir/", "a.txt", "dir//", "x/../a.txt"})
		require.NoError(t, err)
		for _, s := range shas {
			a, err := plain.PathKey(hash(t, s))
			require.NoError(t, err)
			b, err := spelled.PathKey(hash(t, s))
			require.NoError(t, err)
			assert.Equal(t, a, b)
		}
	})

	t.Run("rejected", func(t *testing.T) {
		for path, want := range map[string]string{
			"*.c":         "glob characters",
			"dir/[xy].c":  "glob characters",
			"a?.txt":      "glob characters",
			":(glob)*.c":  "glob characters",
			":!a.txt":     "pathspec magic",
			"/etc/passwd": "absolute",
			"../x":        "outside the repository",
			"":            "empty path",
		} {
			_, err := r.Graph([]string{"a.txt", path})
			assert.ErrorContains(t, err, want, path)
		}
	})
}

func TestInfo(t *testing.T) {
	dir, shas := fixture(t)
	r := openRepo(t, dir)
	for _, s := range shas {
		info, err := r.Info(hash(t, s))
		require.NoError(t, err)
		want := strings.Split(git(t, dir, "log", "-1", "--format=%s%n%an%n%ae%n%at%n%ct%n%P%n%an <%ae>", s), "\n")
		assert.Equal(t, want[0], info.Subject)
		assert.Equal(t, want[1], info.AuthorName)
		assert.Equal(t, want[2], info.AuthorEmail)
		assert.Equal(t, want[3], strconv.FormatInt(info.AuthorDate.Unix(), 10))
		assert.Equal(t, want[4], strconv.FormatInt(info.CommitDate.Unix(), 10))
		assert.Equal(t, want[5], joinHashes(info.Parents))
		assert.Equal(t, want[6], info.Author)
		assert.Equal(t, s, info.Hash.String())
	}
	info, err := r.Info(hash(t, shas[1]))
	require.NoError(t, err)
	assert.Equal(t, "first line of the subject", info.Subject)

	_, err = r.Info(hash(t, git(t, dir, "rev-parse", "HEAD^{tree}")))
	var notCommit *NotCommitError
	assert.ErrorAs(t, err, &notCommit)
}

func joinHashes(hs []search.Hash) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.String())
	}
	return strings.Join(s, " ")
}

func TestChangedFiles(t *testing.T) {
	dir, shas := fixture(t)
	r := openRepo(t, dir)
	for i, s := range shas {
		var out string
		if len(history()[i].Parents) == 0 {
			out = git(t, dir, "diff-tree", "-r", "--root", "--no-commit-id", "--name-only", s)
		} else {
			out = git(t, dir, "diff", "--no-renames", "--name-only", s+"^", s)
		}
		want := strings.Fields(out)
		slices.Sort(want)
		got, err := r.ChangedFiles(hash(t, s))
		require.NoError(t, err)
		if len(want) == 0 {
			assert.Empty(t, got, "commit %d", i)
		} else {
			assert.Equal(t, want, got, "commit %d", i)
		}
	}
}

func TestOpen(t *testing.T) {
	dir, shas := fixture(t)
	realDir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	gitDir := filepath.Join(realDir, ".git")

	bare := filepath.Join(t.TempDir(), "bare.git")
	git(t, dir, "clone", "-q", "--bare", dir, bare)
	realBare, err := filepath.EvalSymlinks(bare)
	require.NoError(t, err)

	for _, c := range []struct {
		path, gitDir, workTree string
	}{
		{dir, gitDir, realDir},
		{filepath.Join(dir, "a.txt"), gitDir, realDir},
		{filepath.Join(dir, ".git"), gitDir, realDir},
		{filepath.Join(dir, ".git", "refs", "heads"), gitDir, realDir},
		{bare, realBare, ""},
		{filepath.Join(bare, "refs"), realBare, ""},
	} {
		r := openRepo(t, c.path)
		assert.Equal(t, c.gitDir, evalSymlinks(t, r.GitDir()), c.path)
		assert.Equal(t, c.gitDir, evalSymlinks(t, r.CommonDir()), c.path)
		assert.Equal(t, c.workTree, evalSymlinks(t, r.WorkTree()), c.path)
		h, err := r.Resolve("HEAD")
		require.NoError(t, err, c.path)
		assert.Equal(t, shas[12], h.String(), c.path)
	}
	t.Run("subdirectory", func(t *testing.T) {
		git(t, dir, "checkout", "-q", shas[2]) // dir/sub exists here
		r := openRepo(t, filepath.Join(dir, "dir", "sub"))
		assert.Equal(t, realDir, evalSymlinks(t, r.WorkTree()))
	})
}

func evalSymlinks(t *testing.T, p string) string {
	t.Helper()
	if p == "" {
		return ""
	}
	real, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return real
}

func TestOpenLinkedWorktree(t *testing.T) {
	dir, shas := fixture(t)
	wt := filepath.Join(t.TempDir(), "wt")
	git(t, dir, "worktree", "add", "-q", wt, "topic")
	require.NoError(t, os.MkdirAll(filepath.Join(wt, "deep", "er"), 0o755))

	want := strings.Split(git(t, wt, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir", "--show-toplevel"), "\n")
	for _, p := range []string{wt, filepath.Join(wt, "deep", "er"), filepath.Join(wt, "c.txt")} {
		r := openRepo(t, p)
		assert.Equal(t, evalSymlinks(t, want[0]), evalSymlinks(t, r.GitDir()), p)
		assert.Equal(t, evalSymlinks(t, want[1]), evalSymlinks(t, r.CommonDir()), p)
		assert.Equal(t, evalSymlinks(t, want[2]), evalSymlinks(t, r.WorkTree()), p)
		assert.NotEqual(t, r.GitDir(), r.CommonDir())

		head, err := r.Resolve("HEAD")
		require.NoError(t, err)
		assert.Equal(t, shas[9], head.String(), "the worktree's own HEAD")
		main, err := r.Resolve("main")
		require.NoError(t, err)
		assert.Equal(t, shas[12], main.String(), "refs come from the common directory")
		g, err := r.Graph(nil)
		require.NoError(t, err)
		assertNodesMatchGitLog(t, wt, g)
	}

	// The worktree's git directory, named directly, knows its work tree.
	r := openRepo(t, want[0])
	assert.Equal(t, evalSymlinks(t, wt), evalSymlinks(t, r.WorkTree()))
}

func TestShallowClone(t *testing.T) {
	dir, shas := fixture(t)
	git(t, dir, "commit-graph", "write", "--reachable")
	clone := filepath.Join(t.TempDir(), "shallow")
	git(t, dir, "clone", "-q", "--depth", "3", "file://"+dir, clone)
	// shas[10] is the shallow boundary: present, but not its parents.
	require.Equal(t, shas[10], git(t, clone, "rev-parse", "--verify", "HEAD~2"))

	r := openRepo(t, clone)
	assert.True(t, r.IsShallow())
	wrote, err := r.EnsureCommitGraph(context.Background(), nil)
	require.NoError(t, err)
	assert.False(t, wrote)
	assert.False(t, r.HasCommitGraph(), "git uses no commit-graph in a shallow clone")
	assert.NoFileExists(t, filepath.Join(clone, ".git", "objects", "info", "commit-graph"))

	g, err := r.Graph([]string{"a.txt"})
	require.NoError(t, err)
	boundary, err := g.Node(hash(t, shas[10]))
	require.NoError(t, err)
	assert.Equal(t, []search.Hash{hash(t, shas[8]), hash(t, shas[9]), hash(t, shas[5])}, boundary.Parents)

	_, err = g.Node(hash(t, shas[8]))
	var shallow *ShallowError
	require.ErrorAs(t, err, &shallow)
	assert.Equal(t, shas[8], shallow.Hash.String())
	assert.Contains(t, err.Error(), "shallow clone lacks history")
	assert.Contains(t, err.Error(), "git fetch --unshallow")
	var missing *search.MissingCommitError
	assert.ErrorAs(t, err, &missing, "the search's own error is in the chain")
	_, err = g.PathKey(hash(t, shas[8]))
	require.ErrorAs(t, err, &shallow, "PathKey fails as Node does")
	assert.Equal(t, shas[8], shallow.Hash.String())

	_, err = r.Resolve("HEAD~3")
	require.ErrorAs(t, err, &shallow)
	assert.Equal(t, "unknown revision HEAD~3: "+shallow.Error(), err.Error())

	// A repository that is not shallow reports the search's error alone.
	full := openRepo(t, dir)
	fg, err := full.Graph(nil)
	require.NoError(t, err)
	_, err = fg.Node(hash(t, "1111111111111111111111111111111111111111"))
	assert.ErrorAs(t, err, &missing)
	assert.False(t, errors.As(err, &shallow))
}

func TestNotARepository(t *testing.T) {
	empty := t.TempDir()
	for _, p := range []string{empty, filepath.Join(empty, "no", "such", "dir")} {
		_, err := Open(p)
		require.ErrorIs(t, err, ErrNotRepository, p)
		assert.NotContains(t, err.Error(), "\n")
		assert.Contains(t, err.Error(), "not a git repository")
	}
	_, err := Open(empty)
	assert.Contains(t, err.Error(), empty)
	assert.Contains(t, err.Error(), "run sxbisect inside a git work tree")

	// A .git file naming a vanished git directory says so.
	require.NoError(t, os.WriteFile(filepath.Join(empty, ".git"), []byte("gitdir: /nonexistent/worktrees/x\n"), 0o644))
	_, err = Open(empty)
	assert.ErrorContains(t, err, "not a git directory")
}

func TestRangeWalkMatchesRevList(t *testing.T) {
	dir, shas := fixture(t)
	r := openRepo(t, dir)
	g, err := r.Graph(nil)
	require.NoError(t, err)
	for _, c := range [][2]int{{12, 3}, {12, 9}, {12, 0}, {10, 5}, {8, 9}, {4, 2}} {
		bad, good := shas[c[0]], shas[c[1]]
		want := git(t, dir, "rev-list", "--count", bad, "^"+good)
		got, _, err := walkRange(g, hash(t, bad), []search.Hash{hash(t, good)})
		require.NoError(t, err)
		assert.Equal(t, want, strconv.Itoa(len(got)), "%d ^%d", c[0], c[1])
	}
}
