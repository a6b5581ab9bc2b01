// Package batch runs many bisections in one unattended go: one job per
// guest language, say (the tcl suite's CPU time, the prolog suite's OOM,
// the erlang suite's markers), each its own session.
//
// # The plan
//
// 'sxbisect batch PLAN' reads the jobs from a TOML file. Top-level keys are
// defaults for every job; each [[job]] table has a name, good and bad, and
// any of 'sxbisect start's long flag names without the dashes, spelled as
// the flags are:
//
//	repo = "/srv/sx"                    # relative paths: from the plan's directory
//	build = "make -C hosts/c"
//	timeout = "10m"
//
//	[[job]]
//	name = "tcl-cpu"
//	good = "83dbb595"                   # a string, or a list of good revisions
//	bad = "architecture"
//	run = "bash lib/tcl/test.sh"
//	max-ratio = ["cpu=1.5"]
//	paths = ["hosts", "lib/tcl"]        # as after -- on start's command line
//
// A job's keys win over the defaults. Each job becomes a bisect.Spec exactly
// as 'sxbisect start' would build it from the same flags, and runs as the
// session named after the job, in its repository. The key timing (true or
// false, a batch key only) overrides how the job is scheduled (see below).
// A key that is not a flag of start is an error of that job alone, named
// with the key and the job.
//
// # Unattended, contained
//
// Jobs run one after another in the plan's order, or several at a time with
// --jobs N. A job that fails (bad input, a build broken everywhere, a range
// with no regression) never stops the others: its error is kept, and all of
// them are shown together at the end. Each job has its own session, and so
// its own scratch worktrees from the pool.
//
// # Timing jobs run alone
//
// A job whose verdicts measure time (--max-ratio with cpu or wall, or a
// named predicate, unless the job says timing = false) runs alone: no other
// job of the batch runs beside it, so that the machine's load is the job's
// own. Jobs that measure no time run up to --jobs N at a time. Jobs are
// started in the plan's order; a timing job waits for the jobs before it to
// end, and the jobs after it wait for it.
//
// With workers on other machines (Options.Remote, 'sxbisect batch --nats'),
// each worker runs a timing step alone, so timing jobs need not run alone
// here: every job runs up to --jobs N at once, and the workers share out
// their steps.
//
// # Resume: run the same command again
//
// The batch keeps no state of its own: where each job stands is read from
// its session's journal, which is the one source of truth. Running the same
// command again continues the batch: a job whose session has finished is not
// run again (its result is read back from the journal), a job that was
// interrupted, aborted or killed is resumed (only the step that was in flight
// is tested again), and a job with no session yet is started. A job whose
// ends, test or conditions changed in the plan since its session finished
// is started afresh; one whose session is unfinished is an error that says
// how to discard the session. A kill -9 in
// the middle of a batch therefore loses at most the steps in flight. A job
// that failed before its session began (bad input) is simply tried again.
// To run a finished job afresh, discard its session with
// 'sxbisect reset --name JOB --repo REPO'.
//
// # Deadline
//
// With --deadline, running jobs are stopped cleanly when the time is up:
// their sessions record that they were interrupted and can be resumed, and
// jobs that had not begun are left for the next run. The summary names the
// unfinished jobs; the same command goes on.
//
// # Progress
//
// One plain line per event: a job starting, each verdict of each job, a job
// ending, and after each job a total line (jobs done, elapsed, estimated
// time left). The command line writes them to stderr and appends them to a
// log file, <plan dir>/.sxbisect-batch/<plan name>/batch.log, that a person
// can follow with tail -f.
package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/repograph"
	"github.com/sxbisect/sxbisect/internal/text"
)

// Job is one bisection of a batch.
type Job struct {
	// Name is the job's and its session's name.
	Name string
	// Spec is the session, as start would build it; Spec.Name is Name.
	Spec bisect.Spec
	// Timing jobs run alone (see the package documentation and IsTiming).
	Timing bool
	// Err is set when the plan could not make a Spec of the job: the job
	// is reported with this error and never run.
	Err error
}

// IsTiming reports whether a session's verdicts measure time: a
// --max-ratio on cpu or wall, or a named predicate (which may measure
// anything).
func IsTiming(spec bisect.Spec) bool {
	for _, r := range spec.MaxRatio {
		metric, _, _ := strings.Cut(r, "=")
		switch strings.TrimSpace(metric) {
		case "cpu", "wall":
			return true
		}
	}
	return len(spec.Predicates) > 0
}

// Status is how a job of the batch ended.
type Status string

// The statuses of a job: a session's outcome, or error when the job
// failed before or outside its session.
const (
	Found        Status = "found"
	OnlySkipped  Status = "only-skipped"
	NoRegression Status = "no-regression"
	Aborted      Status = "aborted"
	Interrupted  Status = "interrupted"
	Error        Status = "error"
)

// Ways a job ran in this run of the batch.
const (
	// RanStarted: a new session was started.
	RanStarted = "started"
	// RanResumed: an unfinished session was continued.
	RanResumed = "resumed"
	// RanRecorded: the session had finished before; its result was read.
	RanRecorded = "recorded"
	// RanNot: the job did not run (an error, or the deadline came first).
	RanNot = "not-run"
)

// JobResult is one job's result: the session's Result (the fields of
// 'sxbisect start --json'), with the job's name, status and error.
type JobResult struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
	// Ran says what this run did with the job (RanStarted, ...).
	Ran  string `json:"ran"`
	Repo string `json:"repo"`
	// Timing says whether the job ran alone.
	Timing bool `json:"timing"`
	*bisect.Result
	err error
}

// Report is a whole batch's result.
type Report struct {
	// Schema is bisect.JSONSchema.
	Schema  int         `json:"schema"`
	Jobs    []JobResult `json:"jobs"`
	Elapsed float64     `json:"elapsed_s"`
	// DeadlinePassed says the deadline stopped the batch.
	DeadlinePassed bool `json:"deadline_passed,omitempty"`
}

// Errors collects the errors of the jobs that failed or were aborted, one
// per job, or nil.
func (r *Report) Errors() error {
	var errs *multierror.Error
	for _, j := range r.Jobs {
		if j.err != nil {
			errs = multierror.Append(errs, j.err)
		}
	}
	return errs.ErrorOrNil()
}

// Unfinished lists the jobs whose session has not ended: interrupted or
// aborted ones, and those the deadline kept from starting.
func (r *Report) Unfinished() []string {
	var names []string
	for _, j := range r.Jobs {
		if j.Status == Interrupted || j.Status == Aborted {
			names = append(names, j.Name)
		}
	}
	return names
}

// Options say how a batch runs.
type Options struct {
	// Jobs is how many jobs that measure no time may run at once
	// (default 1). Timing jobs always run alone.
	Jobs int
	// Deadline, when positive, stops the batch cleanly after that long.
	Deadline time.Duration
	// Log receives the progress lines; nil means none.
	Log io.Writer
	// Progress, when set, receives every job's session events, with the
	// job's name in Event.Session, for a live view of the running jobs.
	Progress bisect.Progress
	// Totals, when set, is told after each job ends how far the batch is.
	Totals func(Totals)
	// NewTester, when set, is every job's session's tester (see
	// bisect.Options): benches on other machines, say.
	NewTester func(ctx context.Context, spec bisect.Spec, prefer string) (bisect.Tester, error)
	// Remote says that NewTester's benches stand on other machines, each
	// of which runs a timing step alone: timing jobs then need not run
	// alone here, and run up to Jobs at once as the others do.
	Remote bool
}

// Totals is how far a batch is, as each job ends.
type Totals struct {
	// Ended is the job that just ended, with its status.
	Ended  string
	Status Status
	// Done of Total jobs have ended, Elapsed after the batch began.
	Done, Total int
	Elapsed     time.Duration
	// Left is the estimated time to the end: the mean time of the jobs
	// that ran in this run, times the jobs left; -1 while unknown.
	Left time.Duration
}

// Run runs the jobs and returns what each of them came to. It never stops
// at a job's failure; errors are in the report (Errors).
func Run(ctx context.Context, jobs []Job, opts Options) *Report {
	started := time.Now()
	if opts.Jobs < 1 {
		opts.Jobs = 1
	}
	if opts.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Deadline)
		defer cancel()
	}
	b := &runner{log: opts.Log, progress: opts.Progress, totals: opts.Totals, started: started, total: len(jobs), newTester: opts.NewTester}
	rep := &Report{Schema: bisect.JSONSchema, Jobs: make([]JobResult, len(jobs))}

	// Dispatch in the plan's order: a timing job holds the whole batch
	// (the write lock), other jobs share it (read locks) up to opts.Jobs.
	var (
		batchLock sync.RWMutex
		slots     = make(chan struct{}, opts.Jobs)
		wg        sync.WaitGroup
	)
	for i, job := range jobs {
		res := JobResult{Name: job.Name, Timing: job.Timing, Repo: job.Spec.Repo, Ran: RanNot}
		alone := job.Timing && !opts.Remote
		if job.Err != nil {
			rep.Jobs[i] = b.failed(res, job.Err)
			continue
		}
		state, changed, err := sessionState(job.Spec)
		switch {
		case err != nil:
			rep.Jobs[i] = b.failed(res, err)
			continue
		case changed && state == bisect.StateFinished:
			// The plan's job is not the one that finished: start it
			// afresh (Start replaces a finished session).
			b.say("%s: the plan changed since the session finished: starting afresh", job.Name)
			state = ""
		case changed:
			rep.Jobs[i] = b.failed(res, &bisect.UsageError{Msg: fmt.Sprintf("the unfinished session %q was made from another version of this job: restore the job in the plan, or discard the session with 'sxbisect reset --name %s --repo %s'", job.Name, job.Name, job.Spec.Repo)})
			continue
		}
		if state == bisect.StateFinished {
			// Nothing to run: read the result back, without a slot.
			rep.Jobs[i] = b.finish(res, RanRecorded, time.Now(), func() (*bisect.Result, error) {
				return bisect.Resume(ctx, job.Spec.Repo, job.Name, bisect.Options{})
			})
			continue
		}
		if alone {
			batchLock.Lock()
		} else {
			slots <- struct{}{}
			batchLock.RLock()
		}
		if ctx.Err() != nil {
			release(alone, &batchLock, slots)
			rep.Jobs[i] = b.notStarted(res, ctx)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release(alone, &batchLock, slots)
			rep.Jobs[i] = b.run(ctx, job, res, state, alone)
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(started).Seconds()
	rep.DeadlinePassed = errors.Is(ctx.Err(), context.DeadlineExceeded)
	return rep
}

func release(timing bool, alone *sync.RWMutex, slots chan struct{}) {
	if timing {
		alone.Unlock()
		return
	}
	alone.RUnlock()
	<-slots
}

// sessionState says where the job's session stands: "" when there is
// none, else bisect.Status's State; changed says the session was made
// from another version of the job (other ends, test or conditions).
func sessionState(spec bisect.Spec) (state bisect.SessionState, changed bool, err error) {
	name := spec.Name
	if err := bisect.CheckName(name); err != nil {
		return "", false, err
	}
	repo, err := repograph.Open(spec.Repo)
	if err != nil {
		return "", false, &bisect.UsageError{Msg: err.Error()}
	}
	defer repo.Close()
	path := filepath.Join(bisect.SessionDir(repo.CommonDir(), name), "journal.jsonl")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	st, err := bisect.ReadStatus(spec.Repo, name)
	if err != nil {
		return "", false, err
	}
	if st.State == bisect.StateRunning {
		return "", false, &bisect.UsageError{Msg: fmt.Sprintf("session %q is being run by another process (%s): wait for it, or stop it and run the batch again", name, st.Holder)}
	}
	entries, err := journal.Read(path)
	if err != nil || len(entries) == 0 {
		return st.State, false, err
	}
	var first struct {
		Spec bisect.Spec `json:"spec"`
	}
	if err := entries[0].Decode(&first); err != nil {
		return "", false, err
	}
	return st.State, !sameJob(repo, spec, first.Spec), nil
}

// sameJob reports whether the plan's spec is the one a session recorded:
// the same ends (as commits), test, build and conditions.
func sameJob(repo *repograph.Repo, plan, recorded bisect.Spec) bool {
	plan.GoodCommits = nil
	for _, g := range plan.Good {
		h, err := repo.Resolve(g)
		if err != nil {
			return false
		}
		plan.GoodCommits = append(plan.GoodCommits, h.String())
	}
	h, err := repo.Resolve(plan.Bad)
	if err != nil {
		return false
	}
	plan.BadCommit = h.String()
	// What a session fills in by itself.
	plan = plan.WithDefaults()
	// Where the steps run is not what the job is: a job started here
	// goes on with workers, and the other way round.
	plan.Remote, recorded.Remote = nil, nil
	a, errA := json.Marshal(plan)
	b, errB := json.Marshal(recorded)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// runner runs jobs and reports their progress.
type runner struct {
	mu       sync.Mutex
	log      io.Writer
	progress bisect.Progress
	totals   func(Totals)
	started  time.Time
	total    int
	done     int
	// ran counts the jobs that did work in this run, and busy their time,
	// for the estimate of the time left.
	ran  int
	busy time.Duration
	// newTester is the sessions' tester (nil: their scratch worktrees).
	newTester func(ctx context.Context, spec bisect.Spec, prefer string) (bisect.Tester, error)
}

func (b *runner) run(ctx context.Context, job Job, res JobResult, state bisect.SessionState, alone bool) JobResult {
	how := RanStarted
	if state != "" {
		how = RanResumed
	}
	why := ""
	switch {
	case alone:
		why = " (timing: alone)"
	case job.Timing:
		why = " (timing: alone on each worker)"
	}
	b.say("%s: %s%s", job.Name, how, why)
	opts := bisect.Options{Progress: bisect.ProgressFunc(func(e bisect.Event) { b.event(job.Name, e) }), NewTester: b.newTester}
	return b.finish(res, how, time.Now(), func() (*bisect.Result, error) {
		if how == RanStarted {
			return bisect.Start(ctx, job.Spec, opts)
		}
		return bisect.Resume(ctx, job.Spec.Repo, job.Name, opts)
	})
}

// finish runs do and turns its outcome into the job's result.
func (b *runner) finish(res JobResult, how string, began time.Time, do func() (*bisect.Result, error)) JobResult {
	r, err := do()
	if err != nil {
		return b.failed(res, err)
	}
	res.Ran, res.Result, res.Status = how, r, Status(r.Outcome)
	if r.Outcome == bisect.Aborted {
		res.Error = text.OneLine(r.Message)
		res.err = fmt.Errorf("job %s: %s", res.Name, res.Error)
	}
	if how != RanRecorded {
		b.mu.Lock()
		b.ran++
		b.busy += time.Since(began)
		b.mu.Unlock()
	}
	b.ended(res)
	return res
}

func (b *runner) failed(res JobResult, err error) JobResult {
	res.Status, res.Error = Error, text.OneLine(err.Error())
	res.err = fmt.Errorf("job %s: %s", res.Name, res.Error)
	res.Result = &bisect.Result{Schema: bisect.JSONSchema, Session: res.Name, Message: res.Error, Candidates: []string{}, Steps: []bisect.Step{}}
	b.ended(res)
	return res
}

func (b *runner) notStarted(res JobResult, ctx context.Context) JobResult {
	why := "interrupted"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		why = "the deadline passed"
	}
	msg := fmt.Sprintf("not started: %s first; run the batch again to start it", why)
	res.Status = Interrupted
	res.Result = &bisect.Result{Schema: bisect.JSONSchema, Session: res.Name, Outcome: bisect.Interrupted, Message: msg, Candidates: []string{}, Steps: []bisect.Step{}}
	b.ended(res)
	return res
}

// ended reports a job's end and the batch's total.
func (b *runner) ended(res JobResult) {
	what := string(res.Status)
	switch {
	case res.Status == Found && res.FirstBad != nil:
		what = "found " + text.ShortID(*res.FirstBad)
	case res.Status == Error:
		what = "error: " + res.Error
	case res.Result != nil && res.Message != "":
		what += ": " + firstLine(res.Message)
	}
	steps := ""
	if res.Result != nil && len(res.Steps) > 0 {
		steps = fmt.Sprintf(" (%d steps)", len(res.Steps))
	}
	if res.Ran == RanRecorded {
		steps += " (finished before)"
	}
	b.mu.Lock()
	b.done++
	done, total, ran, busy := b.done, b.total, b.ran, b.busy
	b.mu.Unlock()
	b.say("%s: %s%s", res.Name, what, steps)
	elapsed := time.Since(b.started).Round(time.Second)
	left := "unknown"
	if ran > 0 {
		left = "about " + (busy / time.Duration(ran) * time.Duration(total-done)).Round(time.Second).String()
	}
	if done == total {
		left = "none"
	}
	b.say("batch: %d of %d jobs done, %s elapsed, %s left", done, total, elapsed, left)
	if b.totals != nil {
		t := Totals{Ended: res.Name, Status: res.Status, Done: done, Total: total, Elapsed: time.Since(b.started), Left: -1}
		switch {
		case done == total:
			t.Left = 0
		case ran > 0:
			t.Left = busy / time.Duration(ran) * time.Duration(total-done)
		}
		b.totals(t)
	}
}

// event reports a session's verdicts and notes.
func (b *runner) event(job string, e bisect.Event) {
	if b.progress != nil {
		e.Session = job
		b.progress.Event(e)
	}
	switch e.Type {
	case bisect.EventVerdict:
		est := ""
		if e.StepsEstimate > 0 {
			est = fmt.Sprintf(" of ~%d", e.StepsEstimate)
		}
		kind := string(e.Kind)
		if e.Kind == bisect.KindConfirm && e.Confirmations > 0 {
			kind = fmt.Sprintf("confirmation run %d of %d", e.Confirmation, e.Confirmations)
		}
		b.say("%s: step %d%s (%s) %s %s: %s", job, e.Step, est, kind, text.ShortID(e.Commit), e.Verdict, e.Reason)
	case bisect.EventDrop:
		b.say("%s: step %d stopped testing %s: %s", job, e.Step, text.ShortID(e.Commit), e.Reason)
	case bisect.EventNote:
		b.say("%s: %s", job, firstLine(e.Message))
	}
}

func (b *runner) say(format string, args ...any) {
	if b.log == nil {
		return
	}
	line := time.Now().Format("15:04:05") + " " + text.Escape(fmt.Sprintf(format, args...)) + "\n"
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = io.WriteString(b.log, line)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
