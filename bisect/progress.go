package bisect

import (
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
)

// Progress receives a session's events. It must not block for long.
type Progress interface {
	Event(e Event)
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(Event)

func (f ProgressFunc) Event(e Event) { f(e) }
