package repograph

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// BenchmarkRange measures what preparing a bisection costs on a real
// repository — Open, Resolve of both ends, and a walk of bad ^good that
// reads every commit's Node — with and without the commit-graph and with
// paths, next to git rev-list --count on the same range:
//
//	SXBISECT_BENCH_REPO=/path/to/git.git go test -run '^$' -bench Range -benchtime 5x ./bisect/repograph/
//
// SXBISECT_BENCH_GOOD, SXBISECT_BENCH_BAD and SXBISECT_BENCH_PATHS
// (space-separated) default to v2.30.0, v2.39.0 and bisect.c, which suit
// git's own repository. The repository is only read; the commit-graph
// cases need it to have a commit-graph file already.
func BenchmarkRange(b *testing.B) {
	repo := os.Getenv("SXBISECT_BENCH_REPO")
	if repo == "" {
		b.Skip("SXBISECT_BENCH_REPO is not set: point it at a large repository, such as a clone of git's own with a commit-graph (git commit-graph write --reachable)")
	}
	good := envOr("SXBISECT_BENCH_GOOD", "v2.30.0")
	bad := envOr("SXBISECT_BENCH_BAD", "v2.39.0")
	paths := strings.Fields(envOr("SXBISECT_BENCH_PATHS", "bisect.c"))

	for _, useGraph := range []bool{true, false} {
		for _, pathMode := range []string{"", "paths", "paths-lazy"} {
			name := "objects"
			if useGraph {
				name = "commit-graph"
			}
			var ps []string
			if pathMode != "" {
				ps = paths
				name += "/" + pathMode + "=" + strings.Join(paths, ",")
			}
			lazy := pathMode == "paths-lazy"
			b.Run("repograph/"+name, func(b *testing.B) {
				if useGraph && !hasCommitGraphFile(b, repo) {
					b.Skip("the repository has no commit-graph file: run git commit-graph write --reachable in it")
				}
				var count, nodes int
				for b.Loop() {
					count, nodes = prepareRange(b, repo, useGraph, bad, good, ps, lazy)
				}
				b.ReportMetric(float64(count), "commits")
				b.ReportMetric(float64(nodes), "nodes")
			})
			if lazy {
				continue // git has no such variant
			}
			b.Run("git-rev-list/"+name, func(b *testing.B) {
				args := []string{"-C", repo, "-c", "core.commitGraph=" + strconv.FormatBool(useGraph),
					"rev-list", "--count", bad, "^" + good}
				if len(ps) > 0 {
					args = append(append(args, "--"), ps...)
				}
				var out []byte
				for b.Loop() {
					var err error
					if out, err = exec.Command("git", args...).Output(); err != nil {
						b.Fatalf("git %s: %v", strings.Join(args, " "), err)
					}
				}
				count, err := strconv.Atoi(strings.TrimSpace(string(out)))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(count), "commits")
			})
		}
	}
}

// prepareRange does what a session does before its first step. With
// lazyPathKeys, Node leaves PathKey out and it is read afterwards only for
// the commits in the range and their parents, which is all a path-limited
// search compares.
func prepareRange(b *testing.B, repo string, useGraph bool, bad, good string, paths []string, lazyPathKeys bool) (count, nodes int) {
	r, err := open(repo, useGraph)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if r.HasCommitGraph() != useGraph {
		b.Fatalf("commit-graph in use: %v, want %v", r.HasCommitGraph(), useGraph)
	}
	badHash, err := r.Resolve(bad)
	if err != nil {
		b.Fatal(err)
	}
	goodHash, err := r.Resolve(good)
	if err != nil {
		b.Fatal(err)
	}
	g, err := r.Graph(paths)
	if err != nil {
		b.Fatal(err)
	}
	g.lazyPathKeys = lazyPathKeys
	commits, nodes, err := walkRange(g, badHash, []search.Hash{goodHash})
	if err != nil {
		b.Fatal(err)
	}
	if lazyPathKeys {
		for _, c := range commits {
			n, err := g.Node(c)
			if err != nil {
				b.Fatal(err)
			}
			for _, h := range append([]search.Hash{c}, n.Parents...) {
				if _, err := g.PathKey(h); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return len(commits), nodes
}

func hasCommitGraphFile(b *testing.B, repo string) bool {
	r, err := Open(repo)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	return r.HasCommitGraph()
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// BenchmarkWalkSynthetic walks a generated history of 4001 commits — two
// interleaved lines merged every tenth commit, touching files in a few
// directories — from its tip to its 1000th commit.
func BenchmarkWalkSynthetic(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "repo")
	shas, err := gitfixture.Build(dir, syntheticHistory(4001))
	if err != nil {
		b.Fatal(err)
	}
	bad, good := shas[len(shas)-1], shas[1000]
	if _, err := gitfixture.Git(dir, "gc", "-q"); err != nil {
		b.Fatal(err)
	}
	withGraph := filepath.Join(b.TempDir(), "with-graph")
	if _, err := gitfixture.Git(dir, "clone", "-q", "--bare", "--no-local", dir, withGraph); err != nil {
		b.Fatal(err)
	}
	if _, err := gitfixture.Git(withGraph, "commit-graph", "write", "--reachable"); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, repo string
		useGraph   bool
		paths      []string
	}{
		{"objects", dir, false, nil},
		{"commit-graph", withGraph, true, nil},
		{"objects/paths", dir, false, []string{"d1/f1", "d3"}},
		{"commit-graph/paths", withGraph, true, []string{"d1/f1", "d3"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var count int
			for b.Loop() {
				count, _ = prepareRange(b, c.repo, c.useGraph, bad, good, c.paths, false)
			}
			b.ReportMetric(float64(count), "commits")
		})
	}
}

func syntheticHistory(n int) []gitfixture.Commit {
	commits := make([]gitfixture.Commit, n)
	for i := range commits {
		c := gitfixture.Commit{
			Time:  int64(1_600_000_000 + 60*i),
			Files: map[string]string{fmt.Sprintf("d%d/f%d", i%5, i%7): strconv.Itoa(i)},
		}
		switch {
		case i == 1:
			c.Parents = []int{0}
		case i%10 == 0 && i > 0:
			c.Parents = []int{i - 2, i - 1}
		case i > 1:
			c.Parents = []int{i - 2}
		}
		commits[i] = c
	}
	return commits
}
