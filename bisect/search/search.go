// Package search chooses the next commit to test in a bisection, exactly
// as git bisect does. It is pure: a graph and the verdicts so far go in,
// the next step comes out. It does no I/O beyond asking its Graph.
package search

// Options change which commits are candidates.
type Options struct {
	// FirstParent follows only the first parent of interesting merges,
	// as git bisect start --first-parent.
	FirstParent bool
	// Paths restricts candidates to commits that are not TREESAME for the
	// bisection's paths, as git bisect start -- <path>...; the graph's
	// Node.PathKey carries what is needed.
	Paths bool
}

// State is what is known so far.
type State struct {
	Bad  Hash
	Good []Hash
	Skip []Hash
}

// Kind says what Next found.
type Kind int

const (
	// Test: the commit in Step.Commit is to be tested next.
	Test Kind = iota
	// Found: Step.Commit is the first bad commit.
	Found
	// OnlySkipped: only skipped commits are left; the first bad commit is
	// one of Step.Candidates (as git lists them, bad included).
	OnlySkipped
)

func (k Kind) String() string {
	switch k {
	case Test:
		return "test"
	case Found:
		return "found"
	case OnlySkipped:
		return "only-skipped"
	}
	return "unknown"
}

// Step is the answer of Next.
type Step struct {
	Kind       Kind
	Commit     Hash
	Candidates []Hash
	// Remaining is the number of commits that could still be the first bad
	// one, as git counts them (nr); StepsLeft is git's estimate of the
	// tests still needed ("roughly N steps").
	Remaining int
	StepsLeft int
}
