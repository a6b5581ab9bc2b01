package bisect

import (
	"fmt"
	"slices"
	"time"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
)

// The journal is a file format: users and tools read it, so its records
// are exported and documented here. A session's journal
// (.git/sxbisect/sessions/NAME/journal.jsonl) is JSON lines, one record a
// line, each fsynced before the session goes on:
//
//   - one StartRecord;
//   - for each test, a StepRecord written before the test starts and a
//     VerdictRecord written when it ends (a step without a verdict was in
//     flight when the run stopped);
//   - a ProcessRecord whenever a build or a test process starts, so that
//     what an sxbisect killed with SIGKILL left running can be killed
//     before its worktree is used again;
//   - a BaselineRecord whenever a predicate measured the good commit;
//   - a StopRecord where an aborted or interrupted run stopped (the session
//     can be resumed);
//   - an EndRecord when the session is over for good.
//
// Everything a session knows is derived from these records, so resuming is
// replaying them and going on. Every record has "type" and "time" (UTC).

// RecordType is the "type" field of a journal record.
type RecordType string

const (
	RecStart    RecordType = "start"
	RecStep     RecordType = "step"
	RecVerdict  RecordType = "verdict"
	RecBaseline RecordType = "baseline"
	RecProcess  RecordType = "process"
	RecStop     RecordType = "stop"
	RecEnd      RecordType = "end"
)

// JournalVersion is the StartRecord's version; it changes when the records
// change incompatibly. Records of an unknown type are passed over, so that
// adding one is not an incompatible change.
const JournalVersion = 1

// StartRecord is the journal's first record.
type StartRecord struct {
	Type RecordType `json:"type"`
	Time time.Time  `json:"time"`
	// Version is JournalVersion as the session was started.
	Version int `json:"version"`
	// Spec is what the session tests, with the ends resolved to commits
	// (Spec.GoodCommits, Spec.BadCommit).
	Spec Spec `json:"spec"`
}

// StepRecord says that a test started.
type StepRecord struct {
	Type RecordType `json:"type"`
	Time time.Time  `json:"time"`
	// Commit is the full object id under test.
	Commit string `json:"commit"`
	// Kind says why it is tested: the ends' verification, the search's
	// own step, or a re-test of the answer.
	Kind StepKind `json:"kind"`
	// Worktree is the scratch worktree's directory name in the pool.
	Worktree string `json:"worktree,omitempty"`
}

// VerdictRecord is a tested commit's verdict and the evidence behind it.
type VerdictRecord struct {
	Type    RecordType        `json:"type"`
	Time    time.Time         `json:"time"`
	Commit  string            `json:"commit"`
	Kind    StepKind          `json:"kind"`
	Verdict predicate.Verdict `json:"verdict"`
	// Reason says why, for people: "exit 1", "timeout", "oom", the
	// figures of a broken condition.
	Reason string `json:"reason"`
	// Duration is the whole step; Build and Test its two parts, seconds.
	Duration float64 `json:"duration_s"`
	Build    float64 `json:"build_s,omitempty"`
	Test     float64 `json:"test_s,omitempty"`
	Worktree string  `json:"worktree,omitempty"`
	// BuildTail and OutputTail are the ends of the build's and the test's
	// output; the whole logs are in the session's logs directory.
	BuildTail  string `json:"build_tail,omitempty"`
	OutputTail string `json:"output_tail,omitempty"`
	// Metrics are the step's figures by name ("exit_code", "cpu_s",
	// "cpu_ratio", "mem_mb", ...); a predicate's own are prefixed with
	// its name and a dot when a session runs several.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Samples are the measured runs behind the verdict, and
	// BaselineSamples the fresh baseline runs taken beside them.
	Samples         []predicate.Sample `json:"samples,omitempty"`
	BaselineSamples []predicate.Sample `json:"baseline_samples,omitempty"`
}

// ProcessRecord says that a process tree started for a step: a build, a
// test run, a plugin. Until the step's verdict, it may still be running;
// resume and reset kill what is left of it (run.KillLeftovers).
type ProcessRecord struct {
	Type   RecordType `json:"type"`
	Time   time.Time  `json:"time"`
	Commit string     `json:"commit"`
	// Process names the tree: its main process, with its start time and
	// boot, and its cgroups.
	Process run.Started `json:"process"`
}

// BaselineRecord is what a predicate measured at the good commit, kept so
// that a resumed session does not measure it again.
type BaselineRecord struct {
	Type RecordType `json:"type"`
	Time time.Time  `json:"time"`
	// Index is the predicate's place in the session's list of predicates,
	// Predicate its name.
	Index     int                 `json:"index"`
	Predicate string              `json:"predicate"`
	Worktree  string              `json:"worktree,omitempty"`
	Baseline  *predicate.Baseline `json:"baseline"`
}

// StopRecord marks where an aborted or interrupted run stopped; the
// session can be resumed.
type StopRecord struct {
	Type    RecordType `json:"type"`
	Time    time.Time  `json:"time"`
	Outcome Outcome    `json:"outcome"`
	// Commit is the commit that was to be tested, or under test.
	Commit  string `json:"commit,omitempty"`
	Message string `json:"message"`
}

// EndRecord ends a session for good.
type EndRecord struct {
	Type    RecordType `json:"type"`
	Time    time.Time  `json:"time"`
	Outcome Outcome    `json:"outcome"`
	// FirstBad is set when Outcome is Found; Candidates when it is
	// OnlySkipped.
	FirstBad   string   `json:"first_bad,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
	Message    string   `json:"message"`
	// Confirmed says whether --confirm's re-tests held (nil without it).
	Confirmed *bool `json:"confirmed,omitempty"`
}

// history is a journal decoded.
type history struct {
	start    StartRecord
	verdicts []VerdictRecord
	// inFlight is the step started last if no verdict followed it.
	inFlight  *StepRecord
	stop      *StopRecord
	end       *EndRecord
	baselines []BaselineRecord
	// running are the process trees started since the last verdict of
	// their commit: what may be left running after a kill -9.
	running []ProcessRecord
	// elapsed adds up the time spent in steps.
	elapsed float64
}

func decodeHistory(entries []journal.Entry) (*history, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("the journal is empty")
	}
	h := &history{}
	for i, e := range entries {
		switch RecordType(e.Type) {
		case RecStart:
			if i != 0 {
				return nil, fmt.Errorf("journal line %d: a second start record", e.Line)
			}
			if err := e.Decode(&h.start); err != nil {
				return nil, err
			}
			if h.start.Version > JournalVersion {
				return nil, fmt.Errorf("journal version %d is newer than this sxbisect understands (%d): use a newer sxbisect", h.start.Version, JournalVersion)
			}
		case RecStep:
			var s StepRecord
			if err := e.Decode(&s); err != nil {
				return nil, err
			}
			h.inFlight = &s
			h.stop = nil
		case RecVerdict:
			var v VerdictRecord
			if err := e.Decode(&v); err != nil {
				return nil, err
			}
			h.verdicts = append(h.verdicts, v)
			h.running = slices.DeleteFunc(h.running, func(p ProcessRecord) bool { return p.Commit == v.Commit })
			h.elapsed += v.Duration
			h.inFlight = nil
		case RecBaseline:
			var b BaselineRecord
			if err := e.Decode(&b); err != nil {
				return nil, err
			}
			h.baselines = append(h.baselines, b)
		case RecProcess:
			var p ProcessRecord
			if err := e.Decode(&p); err != nil {
				return nil, err
			}
			h.running = append(h.running, p)
		case RecStop:
			var s StopRecord
			if err := e.Decode(&s); err != nil {
				return nil, err
			}
			h.stop = &s
			// A run that stopped with a word killed its trees first.
			h.running = nil
		case RecEnd:
			var s EndRecord
			if err := e.Decode(&s); err != nil {
				return nil, err
			}
			h.end = &s
		default:
			// Records of a newer minor version are passed over, so that an
			// older sxbisect can still show an old session's status.
		}
		if i == 0 && RecordType(e.Type) != RecStart {
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
