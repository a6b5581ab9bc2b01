package bisect

import (
	"fmt"
	"time"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/predicate"
)

// The journal's records. A session's journal is: one start record, then
// for each test a step record (written before the test starts) and a
// verdict record (written when it ends), then an end record when the
// session is over for good. A stop record marks where an aborted or
// interrupted run stopped. Everything a session knows is derived from
// these, so resuming is replaying them and going on.
const (
	recStart   = "start"
	recStep    = "step"
	recVerdict = "verdict"
	recStop    = "stop"
	recEnd     = "end"
	// recBaseline holds what a predicate measured at the good commit.
	recBaseline = "baseline"
	// journalVersion changes when the records change incompatibly.
	journalVersion = 1
)

type startRecord struct {
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Version int       `json:"version"`
	Spec    Spec      `json:"spec"`
}

type stepRecord struct {
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Commit   string    `json:"commit"`
	Kind     string    `json:"kind"`
	Worktree string    `json:"worktree,omitempty"`
}

type verdictRecord struct {
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Commit   string    `json:"commit"`
	Kind     string    `json:"kind"`
	Verdict  string    `json:"verdict"`
	Reason   string    `json:"reason"`
	Duration float64   `json:"duration_s"`
	Build    float64   `json:"build_s,omitempty"`
	Test     float64   `json:"test_s,omitempty"`
	Worktree string    `json:"worktree,omitempty"`
	// The ends of the build's and the test's output; the whole logs are
	// in the session's logs directory.
	BuildTail  string             `json:"build_tail,omitempty"`
	OutputTail string             `json:"output_tail,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	// Samples are the measured runs behind the verdict, and
	// BaselineSamples the fresh baseline runs taken beside them.
	Samples         []predicate.Sample `json:"samples,omitempty"`
	BaselineSamples []predicate.Sample `json:"baseline_samples,omitempty"`
}

type baselineRecord struct {
	Type      string              `json:"type"`
	Time      time.Time           `json:"time"`
	Index     int                 `json:"index"`
	Predicate string              `json:"predicate"`
	Worktree  string              `json:"worktree,omitempty"`
	Baseline  *predicate.Baseline `json:"baseline"`
}

type stopRecord struct {
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Outcome Outcome   `json:"outcome"`
	Commit  string    `json:"commit,omitempty"`
	Message string    `json:"message"`
}

type endRecord struct {
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	Outcome    Outcome   `json:"outcome"`
	FirstBad   string    `json:"first_bad,omitempty"`
	Candidates []string  `json:"candidates,omitempty"`
	Message    string    `json:"message"`
	// Confirmed says whether --confirm's re-tests held (nil without it).
	Confirmed *bool `json:"confirmed,omitempty"`
}

// history is a journal decoded.
type history struct {
	start    startRecord
	verdicts []verdictRecord
	// inFlight is the step started last if no verdict followed it.
	inFlight  *stepRecord
	stop      *stopRecord
	end       *endRecord
	baselines []baselineRecord
	// elapsed adds up the time spent in steps.
	elapsed float64
}

func decodeHistory(entries []journal.Entry) (*history, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("the journal is empty")
	}
	h := &history{}
	for i, e := range entries {
		switch e.Type {
		case recStart:
			if i != 0 {
				return nil, fmt.Errorf("journal line %d: a second start record", e.Line)
			}
			if err := e.Decode(&h.start); err != nil {
				return nil, err
			}
			if h.start.Version > journalVersion {
				return nil, fmt.Errorf("journal version %d is newer than this sxbisect understands (%d): use a newer sxbisect", h.start.Version, journalVersion)
			}
		case recStep:
			var s stepRecord
			if err := e.Decode(&s); err != nil {
				return nil, err
			}
			h.inFlight = &s
			h.stop = nil
		case recVerdict:
			var v verdictRecord
			if err := e.Decode(&v); err != nil {
				return nil, err
			}
			h.verdicts = append(h.verdicts, v)
			h.elapsed += v.Duration
			h.inFlight = nil
		case recBaseline:
			var b baselineRecord
			if err := e.Decode(&b); err != nil {
				return nil, err
			}
			h.baselines = append(h.baselines, b)
		case recStop:
			var s stopRecord
			if err := e.Decode(&s); err != nil {
				return nil, err
			}
			h.stop = &s
		case recEnd:
			var s endRecord
			if err := e.Decode(&s); err != nil {
				return nil, err
			}
			h.end = &s
		default:
			// Records of a newer minor version are passed over, so that an
			// older sxbisect can still show an old session's status.
		}
		if i == 0 && e.Type != recStart {
			return nil, fmt.Errorf("journal line %d: the first record is %q, not the start", e.Line, e.Type)
		}
	}
	return h, nil
}

// steps lists the verdicts as result steps.
func (h *history) steps(subject func(string) string) []Step {
	out := make([]Step, 0, len(h.verdicts))
	for _, v := range h.verdicts {
		out = append(out, Step{
			Commit: v.Commit, Subject: subject(v.Commit), Verdict: v.Verdict, Kind: v.Kind,
			Reason: v.Reason, DurationS: v.Duration, BuildS: v.Build, TestS: v.Test,
			Metrics: v.Metrics, Time: v.Time,
		})
	}
	return out
}
