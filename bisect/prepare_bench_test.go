package bisect

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// BenchmarkPrepare measures what a session pays before its first test,
// next to what git pays for the same: opening the repository, resolving
// and checking the ends, and the search's first answer (the merge-base
// check and the choice of a commit), against `git bisect start
// --no-checkout <bad> <good>`, which does the same work and writes its
// refs without touching the work tree. Each range is a sub-benchmark of
// both, so the ratio comes from one run:
//
//	SXBISECT_BENCH_REPO=/path/to/git.git go test -run '^$' -bench Prepare -benchtime 5x ./bisect/
//
// SXBISECT_BENCH_RANGES lists good..bad ranges, space-separated (default
// v2.38.0..v2.39.0 v2.30.0..v2.39.0, which suit git's own repository).
// Both sides read the repository's commit-graph file, which the benchmark
// does not write (write it with git commit-graph write --reachable), and
// honour core.commitGraph, so running it once more with
// `git -C REPO config core.commitGraph false` compares them without one.
// For a long history, genrepo -linear -commits 1000000 and the range
// main~10..main. git bisect start leaves its state in the
// repository between runs of its side, and `git bisect reset` (not timed)
// removes it, so the repository must not be in the middle of a bisection.
func BenchmarkPrepare(b *testing.B) {
	repo := os.Getenv("SXBISECT_BENCH_REPO")
	if repo == "" {
		b.Skip("SXBISECT_BENCH_REPO is not set: point it at a large repository, such as a clone of git's own")
	}
	ranges := strings.Fields(os.Getenv("SXBISECT_BENCH_RANGES"))
	if len(ranges) == 0 {
		ranges = []string{"v2.38.0..v2.39.0", "v2.30.0..v2.39.0"}
	}
	for _, rg := range ranges {
		good, bad, ok := strings.Cut(rg, "..")
		if !ok {
			b.Fatalf("range %q is not of the form good..bad", rg)
		}
		b.Run("sxbisect/"+rg, func(b *testing.B) {
			var remaining int
			for b.Loop() {
				remaining = prepareFirstStep(b, repo, good, bad)
			}
			b.ReportMetric(float64(remaining), "candidates")
		})
		b.Run("git-bisect-start/"+rg, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				gitBench(b, repo, "bisect", "start", "--no-checkout", bad, good)
				b.StopTimer()
				gitBench(b, repo, "bisect", "reset")
				b.StartTimer()
			}
		})
	}
}

// prepareFirstStep does what Start does before the first test of a
// session with --no-verify, and returns the number of candidates.
func prepareFirstStep(b *testing.B, repo, good, bad string) int {
	spec := Spec{Repo: repo, Good: []string{good}, Bad: bad}
	r, graph, err := openRange(&spec)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	st := search.State{Bad: hashOf(spec.BadCommit), Good: []search.Hash{hashOf(spec.GoodCommits[0])}}
	run := search.NewRun(graph, search.Options{})
	if mb, err := run.CheckMergeBases(st); err != nil || mb.Kind != search.MergeBaseOK {
		b.Fatalf("merge-base check: %v, %v", mb.Kind, err)
	}
	step, err := run.Next(st)
	if err != nil {
		b.Fatal(err)
	}
	return step.Remaining
}

func gitBench(b *testing.B, repo string, args ...string) {
	cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
