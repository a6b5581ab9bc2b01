package predicate

import (
	"context"
	"fmt"

	"github.com/sxbisect/sxbisect/predicate/run"
)

// Verdict is a predicate's judgement of one commit, in git bisect's terms.
type Verdict string

const (
	// Good: the commit does not show the change searched for.
	Good Verdict = "good"
	// Bad: it does; the search looks for the first bad commit.
	Bad Verdict = "bad"
	// Skip: the commit cannot be judged; a neighbour is tried instead.
	Skip Verdict = "skip"
)

// Candidate is the commit under test, checked out and built.
type Candidate struct {
	// Commit is the full object id.
	Commit string
	// Dir is the scratch worktree where it is checked out.
	Dir string
	// LogPath, when set, is where the test's whole output should go.
	LogPath string
	// Env is added to the environment of what the predicate runs; it
	// names the candidate (SXBISECT_COMMIT, SXBISECT_WORKTREE, ...).
	Env []string
	// Baseline is what the predicate measured at the good commit (see
	// Baseliner); nil for predicates that need none.
	Baseline *Baseline
	// BaselineDir is a worktree at the good commit, built, where a
	// Baseliner may take fresh baseline samples, interleaved with the
	// candidate's, so that drift of the machine cancels out.
	BaselineDir string
	// End is set when the commit is an end of the range (a good commit or
	// the bad one). An end that cannot be judged would be taken as good or
	// bad unverified; a predicate that knows the cause will not go away
	// (a machine too busy to judge wall time) may stop the session with
	// an *AbortError instead.
	End bool
}

// Sample is one run's figures: metric name to value ("cpu_s", "wall_s",
// "mem_mb", "pass", "total", ...), and whether the machine was quiet.
type Sample struct {
	Metrics map[string]float64 `json:"metrics"`
	// Quiet is false when the machine was busier than the predicate's
	// load limit during the run; wall-time decisions ignore such samples.
	Quiet bool `json:"quiet"`
}

// Baseline is what a predicate measured at the good commit. The session
// keeps it in the journal, so that a resumed session does not measure it
// again.
type Baseline struct {
	Commit  string   `json:"commit"`
	Samples []Sample `json:"samples"`
	// Metrics summarise the samples (medians, the scoreboard's pass count).
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// Baseliner is a predicate that compares each commit with the good commit.
// The session calls MeasureBaseline once, before testing, with c at the
// good commit (checked out and built in the baseline worktree), records
// the result, and hands it to every Judge in Candidate.Baseline.
type Baseliner interface {
	Predicate
	MeasureBaseline(ctx context.Context, c Candidate) (*Baseline, error)
}

// Judgement is a predicate's answer.
type Judgement struct {
	Verdict Verdict
	// Reason says why, in a few words ("exit 1", "timeout after 30s").
	Reason string
	// Measurement of the test run, when there was one.
	Measurement *run.Measurement
	// Metrics are named numbers for the journal and the report.
	Metrics map[string]float64
	// Samples are every run at the candidate, and BaselineSamples the
	// fresh baseline runs taken beside them, for the journal and the
	// report's evidence.
	Samples         []Sample
	BaselineSamples []Sample
}

// Predicate judges a commit. An error stops the whole bisection (git's
// abort): return one only when no verdict can be trusted, such as a test
// killed by a signal that is not a timeout.
type Predicate interface {
	Name() string
	Judge(ctx context.Context, c Candidate) (Judgement, error)
}

// AbortError is returned by a predicate when the session must stop.
type AbortError struct {
	Reason string
	// Crash is set when the test crashed: it died by a signal that was
	// not our doing, or exited 128 or more. SuiteConfig.OnCrash may make
	// a verdict of it instead.
	Crash bool
}

func (e *AbortError) Error() string { return e.Reason }

// Policy says what a build failure or a timeout makes of a commit.
type Policy string

const (
	PolicySkip  Policy = "skip"
	PolicyBad   Policy = "bad"
	PolicyAbort Policy = "abort"
)

// ParsePolicy reads a policy as given in a flag or a parameter.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicySkip, PolicyBad, PolicyAbort:
		return p, nil
	}
	return "", fmt.Errorf("unknown policy %q: valid values are skip, bad, abort", s)
}
