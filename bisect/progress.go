package bisect

import (
	"context"
	"time"

	"github.com/sxbisect/sxbisect/predicate"
)

// Event tells a Progress what a session is doing.
type Event struct {
	Session string
	Type    EventType
	Message string

	// Step counts tests, this one included; StepsEstimate is the number
	// of tests the whole session will likely need (steps done plus git's
	// estimate of the steps left); Remaining is the number of commits that
	// could still be the first bad one.
	Step          int
	StepsEstimate int
	Remaining     int
	// Confirmation is the number of this confirmation run (--confirm),
	// from 1, and Confirmations the number of them in all: Confirm times
	// the first bad commit and each of its parents. Both are 0 for the
	// other steps.
	Confirmation, Confirmations int

	Commit  string
	Subject string
	Kind    StepKind
	Verdict predicate.Verdict
	Reason  string
	// Terms are the session's words for good and bad (--term-old,
	// --term-new, --find-fix), to show Verdict in.
	Terms Terms

	// Phase is the part of the step that starts (EventPhase). For
	// PhaseTest and PhaseBaseline, Run is the run that starts and Runs
	// the number planned (0: not known), RunsMax the most the predicate
	// may take when it adds runs while undecided (0: Runs).
	Phase   Phase
	Run     int
	Runs    int
	RunsMax int

	// Elapsed is the time spent testing so far, across resumes; ETA is
	// the expected time left, from the mean duration of a step.
	Elapsed time.Duration
	ETA     time.Duration
}

// EventType says what an Event tells.
type EventType string

const (
	// EventTest: a commit's test starts.
	EventTest EventType = "test"
	// EventVerdict: a commit's test ended with Verdict and Reason.
	EventVerdict EventType = "verdict"
	// EventNote: anything else worth saying, in Message.
	EventNote EventType = "note"
	// EventPhase: the step under test moved on to Phase.
	EventPhase EventType = "phase"
	// EventDrop: a commit's test was stopped before its verdict, since
	// another verdict made it useless (--parallel); Reason says so.
	EventDrop EventType = "drop"
)

// Phase is a part of a step, in the order a step goes through them.
type Phase string

const (
	// PhaseCheckout: the commit is being checked out in the worktree.
	PhaseCheckout Phase = "checkout"
	// PhaseBuild: the build command runs.
	PhaseBuild Phase = "build"
	// PhaseTest: the test (a predicate) runs at the commit; Event.Run
	// counts the runs of a measured test.
	PhaseTest Phase = "test"
	// PhaseBaseline: the test runs at the good commit, for comparison.
	PhaseBaseline Phase = "baseline"
)

type phaseHookKey struct{}

// withPhaseHook returns a context whose benches tell hook when the step
// they work on moves on to another phase; the runs of a predicate are told
// through predicate.WithRunHook. Contexts carry it, as they carry
// run.WithStartHook, so that benches need not know who listens.
func withPhaseHook(ctx context.Context, hook func(Phase, predicate.RunInfo)) context.Context {
	ctx = context.WithValue(ctx, phaseHookKey{}, hook)
	return predicate.WithRunHook(ctx, func(r predicate.RunInfo) {
		if r.Baseline {
			hook(PhaseBaseline, r)
		} else {
			hook(PhaseTest, r)
		}
	})
}

// enterPhase tells the context's phase hook, if any, that phase starts.
func enterPhase(ctx context.Context, phase Phase) {
	if hook, _ := ctx.Value(phaseHookKey{}).(func(Phase, predicate.RunInfo)); hook != nil {
		hook(phase, predicate.RunInfo{})
	}
}

// Progress receives a session's events. It must not block for long.
type Progress interface {
	Event(e Event)
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(Event)

func (f ProgressFunc) Event(e Event) { f(e) }
