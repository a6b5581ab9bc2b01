package bisect

import (
	"context"
	"fmt"
	"testing"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
)

// BenchmarkParallelScheduling measures what a session with seven benches
// costs beside its tests, which answer at once here: the plans made at
// every verdict and the journal.
func BenchmarkParallelScheduling(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run(fmt.Sprint("commits=", n), func(b *testing.B) {
			repo, commits := gitfixture.ValueRepo(b, n)
			firstBad := n * 2 / 3
			tester := func(context.Context, Spec, string) (Tester, error) {
				return TesterFunc(func(_ context.Context, commit string) (Report, error) {
					if indexOf(commits, commit) >= firstBad {
						return Report{Verdict: predicate.Bad}, nil
					}
					return Report{Verdict: predicate.Good}, nil
				}), nil
			}
			i := 0
			for b.Loop() {
				i++
				res, err := Start(context.Background(), Spec{Name: fmt.Sprint("s", i), Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: "x", Parallel: 7},
					Options{NewTester: tester})
				if err != nil || res.Outcome != Found || *res.FirstBad != commits[firstBad] {
					b.Fatalf("%v %+v", err, res)
				}
			}
		})
	}
}
