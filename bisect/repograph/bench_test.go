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
// repository — Open, Resolve of both ends, a walk of bad ^good that reads
// every commit's Node and, with paths, the PathKey of each commit of the
// range and of its parents, which is what a path-limited search compares —
// with and without the commit-graph, next to git rev-list --count on the
// same range:
//
//	SXBISECT_BENCH_REPO=/path/to/git.git go test -run '^$' -bench Range -benchtime 5x ./bisect/repograph/
//
// SXBISECT_BENCH_GOOD, SXBISECT_BENCH_BAD and SXBISECT_BENCH_PATHS
// (space-separated) default to v2.30.0, v2.39.0 and bisect.c, which suit
// git's own repository. The repository is only read; the commit-graph
// cases need it to have a commit-graph file already. BenchmarkFirstStep
// measures the same with the search itself in place of the walk.
func BenchmarkRange(b *testing.B) {
	repo, bad, good, paths := benchRepo(b)
	for _, useGraph := range []bool{true, false} {
		for _, ps := range [][]string{nil, paths} {
			name := benchName(useGraph, ps)
			b.Run("repograph/"+name, func(b *testing.B) {
				if useGraph && !hasCommitGraphFile(b, repo) {
					b.Skip("the repository has no commit-graph file: run git commit-graph write --reachable in it")
				}
				var count, nodes int
				for b.Loop() {
					count, nodes = prepareRange(b, repo, useGraph, bad, good, ps)
				}
				b.ReportMetric(float64(count), "commits")
				b.ReportMetric(float64(nodes), "nodes")
			})
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

// BenchmarkFirstStep measures what a session pays before its first test on
// the repository of BenchmarkRange: Open, Resolve of both ends and
// search.Next, which walks the range, compares path keys where git would,
// and weighs the commits. It reports the candidates, the commits the
// search read and those whose path keys it asked for.
func BenchmarkFirstStep(b *testing.B) {
	repo, bad, good, paths := benchRepo(b)
	for _, useGraph := range []bool{true, false} {
		for _, ps := range [][]string{nil, paths} {
			b.Run(benchName(useGraph, ps), func(b *testing.B) {
				if useGraph && !hasCommitGraphFile(b, repo) {
					b.Skip("the repository has no commit-graph file: run git commit-graph write --reachable in it")
				}
				var step search.Step
				var cg *countingGraph
				for b.Loop() {
					r, err := open(repo, useGraph)
					if err != nil {
						b.Fatal(err)
					}
					st := search.State{Bad: resolve(b, r, bad), Good: []search.Hash{resolve(b, r, good)}}
					g, err := r.Graph(ps)
					if err != nil {
						b.Fatal(err)
					}
					cg = &countingGraph{g: g}
					if step, err = search.Next(cg, st, search.Options{Paths: len(ps) > 0}); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
				b.ReportMetric(float64(step.Remaining), "candidates")
				b.ReportMetric(float64(cg.nodes), "nodes")
				b.ReportMetric(float64(cg.pathKeys), "pathkeys")
			})
		}
	}
}

// countingGraph counts what the search asks of a Graph.
type countingGraph struct {
	g               *Graph
	nodes, pathKeys int
}

func (c *countingGraph) Node(h search.Hash) (search.Node, error) {
	c.nodes++
	return c.g.Node(h)
}

func (c *countingGraph) PathKey(h search.Hash) (search.Hash, error) {
	c.pathKeys++
	return c.g.PathKey(h)
}

func benchRepo(b *testing.B) (repo, bad, good string, paths []string) {
	repo = os.Getenv("SXBISECT_BENCH_REPO")
	if repo == "" {
		b.Skip("SXBISECT_BENCH_REPO is not set: point it at a large repository, such as a clone of git's own with a commit-graph (git commit-graph write --reachable)")
	}
	return repo, envOr("SXBISECT_BENCH_BAD", "v2.39.0"), envOr("SXBISECT_BENCH_GOOD", "v2.30.0"),
		strings.Fields(envOr("SXBISECT_BENCH_PATHS", "bisect.c"))
}

func benchName(useGraph bool, paths []string) string {
	name := "objects"
	if useGraph {
		name = "commit-graph"
	}
	if len(paths) > 0 {
		name += "/paths=" + strings.Join(paths, ",")
	}
	return name
}

func resolve(b *testing.B, r *Repo, rev string) search.Hash {
	h, err := r.Resolve(rev)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// prepareRange does what a session does before its first step, with
// walkRange standing for the search's walk: with paths, the search asks
// PathKey only of the commits in the range and their parents.
func prepareRange(b *testing.B, repo string, useGraph bool, bad, good string, paths []string) (count, nodes int) {
	r, err := open(repo, useGraph)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if r.HasCommitGraph() != useGraph {
		b.Fatalf("commit-graph in use: %v, want %v", r.HasCommitGraph(), useGraph)
	}
	badHash, goodHash := resolve(b, r, bad), resolve(b, r, good)
	g, err := r.Graph(paths)
	if err != nil {
		b.Fatal(err)
	}
	commits, nodes, err := walkRange(g, badHash, []search.Hash{goodHash})
	if err != nil {
		b.Fatal(err)
	}
	if len(paths) > 0 {
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
				count, _ = prepareRange(b, c.repo, c.useGraph, bad, good, c.paths)
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
