package bisect

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
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
//     flight when the run stopped); both carry the step's id (StepRef),
//     and the verdict the worker that tested it when it ran elsewhere;
//   - a ProcessRecord whenever a build or a test process starts, so that
//     what an sxbisect killed with SIGKILL left running can be killed
//     before its worktree is used again;
//   - a DropRecord when a step running beside others was stopped because
//     another's verdict made it useless (--parallel);
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
	RecDrop     RecordType = "drop"
	RecStop     RecordType = "stop"
	RecEnd      RecordType = "end"
)

// JournalVersion is the StartRecord's version; it changes when the records
// change incompatibly. A record this version does not know (an unknown
// type, a verdict other than good, bad or skip, a commit that is not a full
// object id) is read as damage, not passed over: a writer that adds a
// record type or a value must bump JournalVersion, so that an older
// sxbisect says to use a newer one instead of misreading the session.
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
	// ID names this dispatch of the step (see StepRef): resume dispatches
	// a step that had no verdict again under the same ID, so that a
	// tester on other machines can collect its result instead of running
	// it again. Journals written before it have none.
	ID string `json:"id,omitempty"`
}

// VerdictRecord is a tested commit's verdict and the evidence behind it.
type VerdictRecord struct {
	Type    RecordType        `json:"type"`
	Time    time.Time         `json:"time"`
	Commit  string            `json:"commit"`
	Kind    StepKind          `json:"kind"`
	Verdict predicate.Verdict `json:"verdict"`
	// Reverts is set on a --validate step: the first bad commit that
	// Commit reverts on top of the bad end (Commit is that commit itself
	// when the revert did not apply).
	Reverts string `json:"reverts,omitempty"`
	// Reason says why, for people: "exit 1", "timeout", "oom", the
	// figures of a broken condition.
	Reason string `json:"reason"`
	// Duration is the whole step; Build and Test its two parts, seconds.
	Duration float64 `json:"duration_s"`
	Build    float64 `json:"build_s,omitempty"`
	Test     float64 `json:"test_s,omitempty"`
	Worktree string  `json:"worktree,omitempty"`
	// ID is the step's (see StepRecord.ID); a verdict is journaled once
	// per ID, however many times its result arrives.
	ID string `json:"id,omitempty"`
	// Worker names the machine that tested the commit when it was not
	// this one: an sxbisect worker (see package remote), by its name.
	Worker string `json:"worker,omitempty"`
	// BuildTail and OutputTail are the ends of the build's and the test's
	// output; the whole logs are in the session's logs directory.
	BuildTail  string `json:"build_tail,omitempty"`
	OutputTail string `json:"output_tail,omitempty"`
	// BuildFrom is the commit whose build the build cache gave instead of
	// building this one (then Metrics["build_cached"] is 1).
	BuildFrom string `json:"build_from,omitempty"`
	// Metrics are the step's figures by name ("exit_code", "cpu_s",
	// "cpu_ratio", "mem_mb", ...); a predicate's own are prefixed with
	// its name and a dot when a session runs several.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// CPUs are the cores the step's test runs, and the fresh baseline
	// runs beside them, were confined to, as the kernel lists them ("1",
	// "2-3"): set when benches measured side by side on cores of their
	// own (see "Cores of their own" in the package documentation).
	CPUs string `json:"cpus,omitempty"`
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

// DropRecord says that a step was stopped before its verdict because it
// had become useless: with several benches, another step's verdict
// settled what it was to find out. Its process tree was killed.
type DropRecord struct {
	Type   RecordType `json:"type"`
	Time   time.Time  `json:"time"`
	Commit string     `json:"commit"`
	Reason string     `json:"reason"`
	// ID is the dropped step's (see StepRecord.ID).
	ID string `json:"id,omitempty"`
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
	// Beliefs are the flake-aware search's conclusions, when it answered.
	Beliefs *Beliefs `json:"beliefs,omitempty"`
	// Validated is what --validate's runs of the revert gave.
	Validated *Validation `json:"validated,omitempty"`
	// BuildUnchanged says that the first bad commit's build is known to
	// be a good parent's (see Result.BuildUnchanged).
	BuildUnchanged bool `json:"build_unchanged,omitempty"`
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
	// stepTime adds up the time spent in steps, each counted whole even
	// when several ran at once (--parallel); elapsed says how long steps
	// were running.
	stepTime float64
	// attempts counts, by commit, the verdicts and drops: the attempt of
	// the commit's next dispatch (see StepRef).
	attempts map[string]int
	// open are the steps started that have had neither a verdict nor a
	// drop, by commit (but for those whose bench went on to another
	// commit: their run is gone); overlapped says that a step once started while
	// another commit's was open, so that the verdicts may have come in
	// any order (--parallel, in this run or an earlier one).
	open       map[string]StepRecord
	overlapped bool
}

// stepStarted notes that a step started (see history.open).
func (h *history) stepStarted(rec StepRecord) {
	for c, o := range h.open {
		switch {
		case c == rec.Commit:
		case rec.Worktree != "" && o.Worktree == rec.Worktree:
			// Its bench went on to another commit, so the run that
			// tested it is gone (killed, its step lost).
			delete(h.open, c)
		default:
			h.overlapped = true
		}
	}
	if h.open == nil {
		h.open = map[string]StepRecord{}
	}
	h.open[rec.Commit] = rec
}

// openSteps are the steps started that have had neither a verdict nor a
// drop, in the order they started.
func (h *history) openSteps() []StepRecord {
	steps := slices.Collect(maps.Values(h.open))
	slices.SortFunc(steps, func(a, b StepRecord) int { return a.Time.Compare(b.Time) })
	return steps
}

// stepEnded notes that commit's step had its verdict or was dropped.
func (h *history) stepEnded(commit string) { delete(h.open, commit) }

// stepRecorded, verdictRecorded and dropRecorded add a record to the
// history: as a journal is replayed, and as a running session writes it,
// so that both derive the same state.
func (h *history) stepRecorded(s StepRecord) {
	h.inFlight = &s
	h.stepStarted(s)
	h.stop = nil
}

func (h *history) verdictRecorded(v VerdictRecord) {
	h.verdicts = append(h.verdicts, v)
	h.stepTime += v.Duration
	h.stepFinished(v.Commit)
}

func (h *history) dropRecorded(commit string) { h.stepFinished(commit) }

// stepFinished is what a verdict and a drop have in common: the commit's
// step is over, and its process trees with it.
func (h *history) stepFinished(commit string) {
	h.counted(commit)
	h.stepEnded(commit)
	h.running = slices.DeleteFunc(h.running, func(p ProcessRecord) bool { return p.Commit == commit })
	// With several steps at once (--parallel) the verdict may be
	// another's than the step started last.
	if h.inFlight != nil && h.inFlight.Commit == commit {
		h.inFlight = nil
	}
}

// elapsed is the time during which at least one step was running, in
// seconds, across resumes: the length of the union of the steps' spans
// (each ends at its verdict's time and lasts its duration). With one
// bench it is the steps' time added up; with several it is the wall time
// they took together, not K times it.
func (h *history) elapsed() float64 {
	type span struct{ from, to float64 }
	spans := make([]span, 0, len(h.verdicts))
	for _, v := range h.verdicts {
		end := float64(v.Time.UnixNano()) / 1e9
		spans = append(spans, span{end - v.Duration, end})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	total, reach := 0.0, math.Inf(-1)
	for _, sp := range spans {
		if sp.to <= reach {
			continue
		}
		total += sp.to - max(sp.from, reach)
		reach = sp.to
	}
	return total
}

// decodeHistory replays a journal's records, checking each against what
// this version writes. A record that is not (an unknown type, a verdict of
// "maybe", a commit that is not a full object id, a start record without
// its ends) gives a *journal.DamagedError naming its line in the file at
// path, together with the history of the records before it when the start
// record is among them (nil otherwise), which log shows.
func decodeHistory(path string, entries []journal.Entry) (*history, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("the journal is empty")
	}
	h := &history{}
	for i, e := range entries {
		if err := h.replay(i, e); err != nil {
			var newer *newerJournalError
			if errors.As(err, &newer) {
				return nil, err
			}
			if i == 0 {
				h = nil
			}
			return h, &journal.DamagedError{Path: path, Line: e.Line, Err: err}
		}
	}
	return h, nil
}

// newerJournalError is a journal written by a newer, incompatible sxbisect.
type newerJournalError struct{ version int }

func (e *newerJournalError) Error() string {
	return fmt.Sprintf("journal version %d is newer than this sxbisect understands (%d): use a newer sxbisect", e.version, JournalVersion)
}

// replay adds the record e, the i-th, to the history, or says what is
// wrong with it.
func (h *history) replay(i int, e journal.Entry) error {
	decode := func(v any) error {
		if err := json.Unmarshal(e.Raw, v); err != nil {
			return fmt.Errorf("%s record: %v", e.Type, err)
		}
		return nil
	}
	t := RecordType(e.Type)
	if i == 0 && t != RecStart {
		return fmt.Errorf("the first record is %q, not the start", e.Type)
	}
	switch t {
	case RecStart:
		if i != 0 {
			return errors.New("a second start record")
		}
		if err := decode(&h.start); err != nil {
			return err
		}
		return checkStart(h.start)
	case RecStep:
		var s StepRecord
		if err := decode(&s); err != nil {
			return err
		}
		if err := checkCommit("step", s.Commit); err != nil {
			return err
		}
		if err := checkKind("step", s.Kind); err != nil {
			return err
		}
		h.stepRecorded(s)
	case RecVerdict:
		var v VerdictRecord
		if err := decode(&v); err != nil {
			return err
		}
		if err := checkCommit("verdict", v.Commit); err != nil {
			return err
		}
		if err := checkKind("verdict", v.Kind); err != nil {
			return err
		}
		switch v.Verdict {
		case predicate.Good, predicate.Bad, predicate.Skip:
		default:
			return fmt.Errorf("verdict %q is not %s, %s or %s", v.Verdict, predicate.Good, predicate.Bad, predicate.Skip)
		}
		h.verdictRecorded(v)
	case RecBaseline:
		var b BaselineRecord
		if err := decode(&b); err != nil {
			return err
		}
		if b.Index < 0 || b.Baseline == nil {
			return errors.New("baseline record without its predicate's index or its baseline")
		}
		h.baselines = append(h.baselines, b)
	case RecDrop:
		var d DropRecord
		if err := decode(&d); err != nil {
			return err
		}
		if err := checkCommit("drop", d.Commit); err != nil {
			return err
		}
		h.dropRecorded(d.Commit)
	case RecProcess:
		var p ProcessRecord
		if err := decode(&p); err != nil {
			return err
		}
		if err := checkCommit("process", p.Commit); err != nil {
			return err
		}
		h.running = append(h.running, p)
	case RecStop:
		var s StopRecord
		if err := decode(&s); err != nil {
			return err
		}
		if s.Outcome != Aborted && s.Outcome != Interrupted {
			return fmt.Errorf("stop record with outcome %q, not %s or %s", s.Outcome, Aborted, Interrupted)
		}
		h.stop = &s
		// A run that stopped with a word killed its trees first.
		h.running = nil
	case RecEnd:
		var s EndRecord
		if err := decode(&s); err != nil {
			return err
		}
		if err := checkEnd(s); err != nil {
			return err
		}
		h.end = &s
	default:
		return fmt.Errorf("unknown record type %q (a journal of a newer sxbisect would have a newer version)", e.Type)
	}
	return nil
}

func checkStart(st StartRecord) error {
	if st.Version > JournalVersion {
		return &newerJournalError{version: st.Version}
	}
	if st.Version < 1 {
		return errors.New("the start record has no version")
	}
	if err := CheckName(st.Spec.Name); err != nil {
		return fmt.Errorf("the start record's session name %q is not a session name", st.Spec.Name)
	}
	if err := checkCommit("the start record's bad", st.Spec.BadCommit); err != nil {
		return err
	}
	if len(st.Spec.GoodCommits) == 0 {
		return errors.New("the start record has no good commit")
	}
	for _, g := range st.Spec.GoodCommits {
		if err := checkCommit("the start record's good", g); err != nil {
			return err
		}
	}
	return nil
}

func checkEnd(e EndRecord) error {
	switch e.Outcome {
	case Found:
		return checkCommit("the end record's first bad", e.FirstBad)
	case OnlySkipped:
		if len(e.Candidates) == 0 {
			return errors.New("end record with outcome only-skipped and no candidates")
		}
		for _, c := range e.Candidates {
			if err := checkCommit("the end record's candidate", c); err != nil {
				return err
			}
		}
	case NoRegression, Inconclusive:
	default:
		return fmt.Errorf("end record with outcome %q, not %s, %s, %s or %s", e.Outcome, Found, OnlySkipped, NoRegression, Inconclusive)
	}
	return nil
}

func checkKind(what string, k StepKind) error {
	switch k {
	case KindVerify, KindBisect, KindConfirm, KindFlaky, KindValidate:
		return nil
	}
	return fmt.Errorf("%s record of kind %q, not %s, %s, %s, %s or %s", what, k, KindVerify, KindBisect, KindConfirm, KindFlaky, KindValidate)
}

// checkCommit accepts a full object id, as the journal keeps commits: 40
// (SHA-1) or 64 (SHA-256) lower-case hex digits.
func checkCommit(what, id string) error {
	ok := len(id) == 40 || len(id) == 64
	for _, c := range id {
		ok = ok && (c >= '0' && c <= '9' || c >= 'a' && c <= 'f')
	}
	if !ok {
		return fmt.Errorf("%s commit %q is not a full object id", what, id)
	}
	return nil
}

// steps lists the verdicts as result steps.
func (h *history) steps(subject func(string) string) []Step {
	out := make([]Step, 0, len(h.verdicts))
	for _, v := range h.verdicts {
		out = append(out, Step{
			Commit: v.Commit, Subject: subject(v.Commit), Verdict: v.Verdict, Term: h.start.Spec.Terms().Of(v.Verdict), Kind: v.Kind,
			Reason: v.Reason, DurationS: v.Duration, BuildS: v.Build, TestS: v.Test,
			Metrics: v.Metrics, BuildFrom: v.BuildFrom, CPUs: v.CPUs, Time: v.Time, Worker: v.Worker,
		})
	}
	return out
}
