package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// Dispatcher makes the testers of sessions whose steps go to workers: its
// NewTester is a bisect.Options.NewTester.
type Dispatcher struct {
	conn *Conn
	// defaults is where the steps of a session that recorded no remote
	// settings go (a batch that goes on with workers, say).
	defaults bisect.RemoteSpec
}

// NewDispatcher sends steps through conn; defaults are the labels and the
// repository URL of sessions that recorded none.
func NewDispatcher(conn *Conn, defaults bisect.RemoteSpec) *Dispatcher {
	return &Dispatcher{conn: conn, defaults: defaults}
}

// CheckSpec refuses, before a session is made, a spec whose steps no
// worker could test: one without a test (a person answers at this
// terminal), or whose test's conditions do not parse; what can be checked
// here is, rather than by every worker.
func CheckSpec(spec bisect.Spec) error {
	if spec.Interactive || spec.Run == "" && len(spec.Predicates) == 0 {
		return &bisect.UsageError{Msg: "nothing for the workers to test: give the test with --run CMD (or --predicate NAME)"}
	}
	if spec.PreferCached {
		// Which builds a worker's cache holds is known there alone, and
		// the worker tests the commit it is given.
		return &bisect.UsageError{Msg: "--prefer-cached needs the build cache of this machine, and with --nats each worker builds and caches on its own: drop --prefer-cached"}
	}
	if spec.Run != "" {
		if _, err := spec.Suite(); err != nil {
			return err
		}
	}
	return nil
}

// NewTester is the tester of one session.
func (d *Dispatcher) NewTester(ctx context.Context, spec bisect.Spec, _ string) (bisect.Tester, error) {
	remote := d.defaults
	if spec.Remote != nil {
		remote = *spec.Remote
	}
	labels, err := ParseLabels(remote.Labels)
	if err != nil {
		return nil, err
	}
	if err := CheckSpec(spec); err != nil {
		return nil, err
	}
	work, err := d.conn.js.Stream(ctx, WorkStream)
	if err != nil {
		return nil, err
	}
	results, err := d.conn.js.Stream(ctx, ResultStream)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	t := &Tester{conn: d.conn, spec: spec, remote: remote, labels: labels, host: host, timing: batch.IsTiming(spec),
		work: work, results: results, waiting: map[string]chan Outcome{}, sent: map[string]sentStep{}}
	t.repoName = remote.RepoURL
	if t.repoName == "" {
		t.repoName = host + ":" + spec.Repo
	}
	return t, nil
}

// Tester sends a session's steps to the workers and waits for their
// results; it is a bisect.StepTester.
//
// Each step is published with its id as the message id, so a step sent
// again by a coordinator that restarted is taken once; its result is
// published on a subject of its own, so that a result that came while the
// coordinator was away is found by its id. A durable consumer per session
// tells of results as they come; the tester also looks a step's result up
// now and then, which covers a consumer that missed one (a server that
// restarted). A step whose message is gone with no result (the server
// lost it) is sent again under a new id, the step's with -r1, -r2.
type Tester struct {
	conn     *Conn
	spec     bisect.Spec
	remote   bisect.RemoteSpec
	labels   []string
	host     string
	repoName string
	timing   bool
	work     jetstream.Stream
	results  jetstream.Stream

	setupOnce sync.Once
	setupErr  error
	consume   jetstream.ConsumeContext
	bundles   []string

	mu sync.Mutex
	// waiting are the steps waited for, by the id they were sent under.
	waiting map[string]chan Outcome
	// sent are the steps sent, by the step's id.
	sent map[string]sentStep
	// ran are the workers that ran the session's steps, the latest first.
	ran []string
}

// maxPrefer is how many workers a step prefers (see Job.Prefer).
const maxPrefer = 8

// ranOn records that a worker ran one of the session's steps.
func (t *Tester) ranOn(worker string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ran = append([]string{worker}, slices.DeleteFunc(t.ran, func(w string) bool { return w == worker })...)
	t.ran = t.ran[:min(len(t.ran), maxPrefer)]
}

// preferred are the workers a step of the session prefers.
func (t *Tester) preferred() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ran)
}

// sentStep is where a step went: the id it was sent under and its
// message's sequence in the work stream.
type sentStep struct {
	id  string
	seq uint64
}

// checkEvery is how often a step waited for is looked up directly.
const checkEvery = 2 * time.Second

// setup makes the session's results consumer and puts the range's bundle
// into the object store, once.
func (t *Tester) setup(ctx context.Context, session string) error {
	t.setupOnce.Do(func() {
		if err := checkToken("session", session); err != nil {
			t.setupErr = err
			return
		}
		cons, err := t.conn.js.CreateOrUpdateConsumer(ctx, ResultStream, jetstream.ConsumerConfig{
			Durable: "results-" + session, FilterSubject: resultPrefix + "." + session + ".>",
			AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
			InactiveThreshold: keepFor, Description: "sxbisect: the results of session " + t.spec.Name,
		})
		if err != nil {
			t.setupErr = fmt.Errorf("making the results consumer: %w", err)
			return
		}
		t.consume, err = cons.Consume(func(msg jetstream.Msg) {
			var out Outcome
			if json.Unmarshal(msg.Data(), &out) == nil {
				t.deliver(out)
			}
			_ = msg.Ack()
		})
		if err != nil {
			t.setupErr = err
			return
		}
		if t.remote.RepoURL == "" {
			obs, err := t.conn.bundles(ctx)
			if err != nil {
				t.setupErr = err
				return
			}
			tips := append([]string{t.spec.BadCommit}, t.spec.GoodCommits...)
			name, err := putBundle(ctx, obs, t.spec.Repo, tips, nil)
			if err != nil {
				t.setupErr = err
				return
			}
			t.bundles = []string{name}
		}
	})
	return t.setupErr
}

// bundlesFor names the bundles that hold commit: the range's, and one of
// its own for a commit outside it (the revert that --validate tests).
func (t *Tester) bundlesFor(ctx context.Context, commit string) ([]string, error) {
	if t.remote.RepoURL != "" {
		return nil, nil
	}
	for _, tip := range append([]string{t.spec.BadCommit}, t.spec.GoodCommits...) {
		if _, err := git(ctx, t.spec.Repo, "merge-base", "--is-ancestor", commit, tip); err == nil {
			return t.bundles, nil
		}
	}
	obs, err := t.conn.bundles(ctx)
	if err != nil {
		return nil, err
	}
	base := append([]string{t.spec.BadCommit}, t.spec.GoodCommits...)
	name, err := putBundle(ctx, obs, t.spec.Repo, []string{commit}, base)
	if err != nil {
		return nil, err
	}
	return append(append([]string(nil), t.bundles...), name), nil
}

// deliver hands a result to the step waiting for it; a result nobody
// waits for (one that came twice, or before its session asked again) is
// left in the stream, where the step's lookup finds it.
func (t *Tester) deliver(out Outcome) {
	t.mu.Lock()
	ch := t.waiting[out.ID]
	delete(t.waiting, out.ID)
	t.mu.Unlock()
	if ch != nil {
		ch <- out
	}
}

// TestStep implements bisect.StepTester: it sends the step, or finds it
// sent by the session's last run, and waits for its result.
func (t *Tester) TestStep(ctx context.Context, _ int, step bisect.StepRef, logs bisect.LogPaths) (bisect.Report, error) {
	if err := t.setup(ctx, step.Session); err != nil {
		return bisect.Report{}, err
	}
	bundles, err := t.bundlesFor(ctx, step.Commit)
	if err != nil {
		return bisect.Report{}, err
	}
	job := Job{Session: step.Session, SessionName: t.spec.Name, Coordinator: t.host, Repo: t.repoName,
		Fetch: t.remote.RepoURL, Bundles: bundles, Commit: step.Commit, Kind: step.Kind,
		Spec: t.jobSpec(), Labels: t.labels, Timing: t.timing, Prefer: t.preferred()}
	for retry := 0; ; retry++ {
		job.ID = step.ID
		if retry > 0 {
			job.ID = fmt.Sprintf("%s-r%d", step.ID, retry)
		}
		ch := make(chan Outcome, 1)
		t.mu.Lock()
		t.waiting[job.ID] = ch
		t.mu.Unlock()
		out, found, seq, err := t.send(ctx, &job)
		if err == nil && !found && seq != 0 {
			t.mu.Lock()
			t.sent[step.ID] = sentStep{id: job.ID, seq: seq}
			t.mu.Unlock()
			out, found, err = t.wait(ctx, job.Session, job.ID, seq, ch)
		}
		t.mu.Lock()
		delete(t.waiting, job.ID)
		t.mu.Unlock()
		switch {
		case err != nil:
			return bisect.Report{}, err
		case found:
			return t.report(out, logs)
		}
		// Its message is gone and no result came: send it again.
	}
}

// send publishes the job, unless its result is there already (found). A
// job published before under the same id (by the session's last run) is
// not published again: seq is its message's, or 0 when that is gone and
// the job must be sent under a new id.
func (t *Tester) send(ctx context.Context, job *Job) (Outcome, bool, uint64, error) {
	if out, ok, err := t.lookup(ctx, job.Session, job.ID); ok || err != nil {
		return out, ok, 0, err
	}
	job.Sent = time.Now().UTC()
	data, err := json.Marshal(job)
	if err != nil {
		return Outcome{}, false, 0, err
	}
	var ack *jetstream.PubAck
	for {
		ack, err = t.conn.js.Publish(ctx, workSubject(job.Timing), data, jetstream.WithMsgID(job.ID), jetstream.WithExpectStream(WorkStream))
		if err == nil || ctx.Err() != nil {
			break
		}
		// The server restarting: it will be back.
		sleep(ctx, retryWait)
	}
	if err != nil {
		return Outcome{}, false, 0, err
	}
	if !ack.Duplicate {
		return Outcome{}, false, ack.Sequence, nil
	}
	// Sent by the session's last run: still queued or running, or done.
	if _, err := t.work.GetMsg(ctx, ack.Sequence); err == nil {
		return Outcome{}, false, ack.Sequence, nil
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return Outcome{}, false, 0, err
	}
	// A worker publishes the result before it acknowledges the step, so
	// a step that is gone has its result in the stream, unless it was
	// lost.
	out, ok, err := t.lookup(ctx, job.Session, job.ID)
	return out, ok, 0, err
}

// wait waits for the result of the session's job sent under id as
// message seq.
// found is false when the message is gone and no result came.
func (t *Tester) wait(ctx context.Context, session, id string, seq uint64, ch chan Outcome) (Outcome, bool, error) {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	watch := t.newWorkerWatch()
	for {
		select {
		case out := <-ch:
			return out, true, nil
		case <-ctx.Done():
			// The step goes on: a run that resumes collects its result.
			return Outcome{}, false, ctx.Err()
		case <-tick.C:
		}
		if err := watch.check(ctx); err != nil {
			return Outcome{}, false, err
		}
		_, err := t.work.GetMsg(ctx, seq)
		gone := errors.Is(err, jetstream.ErrMsgNotFound)
		if out, ok, lerr := t.lookup(ctx, session, id); ok {
			return out, true, nil
		} else if lerr == nil && gone {
			return Outcome{}, false, nil
		}
	}
}

// workerWatch gives up on a step that no live worker could take for the
// session's --worker-wait.
type workerWatch struct {
	t         *Tester
	lastSeen  time.Time
	nextCheck time.Time
}

func (t *Tester) newWorkerWatch() *workerWatch {
	now := time.Now()
	return &workerWatch{t: t, lastSeen: now, nextCheck: now}
}

// workerCheckEvery is how often a waiting step asks for the live workers
// (at most; a short --worker-wait asks more often).
const workerCheckEvery = 15 * time.Second

// check returns an abort when no live worker with the session's labels
// has been seen for the --worker-wait: the session stops, resumable, and
// the step stays queued for a worker that comes later.
func (w *workerWatch) check(ctx context.Context) error {
	wait := w.t.remote.WorkerWait.D()
	now := time.Now()
	if wait <= 0 || now.Before(w.nextCheck) {
		return nil
	}
	w.nextCheck = now.Add(min(workerCheckEvery, wait/4))
	list, err := w.t.conn.Workers(ctx)
	if err != nil {
		return nil // the server restarting: the next look will tell
	}
	for _, info := range list {
		if Matches(info.Labels, w.t.labels) {
			w.lastSeen = now
			return nil
		}
	}
	if now.Sub(w.lastSeen) < wait {
		return nil
	}
	with := ""
	if len(w.t.labels) > 0 {
		with = " with the labels " + strings.Join(w.t.labels, ", ")
	}
	url := w.t.conn.URL()
	return &predicate.AbortError{Reason: fmt.Sprintf("no live worker%s on %s for %s (--worker-wait): start one ('sxbisect worker --nats %s'), then 'sxbisect resume' goes on", with, url, wait, url)}
}

// lookup finds the result published for the step id.
func (t *Tester) lookup(ctx context.Context, session, id string) (Outcome, bool, error) {
	msg, err := t.results.GetLastMsgForSubject(ctx, resultSubject(session, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Outcome{}, false, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return Outcome{}, false, ctx.Err()
		}
		// The server restarting: the next look will tell.
		return Outcome{}, false, nil
	}
	var out Outcome
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		return Outcome{}, false, fmt.Errorf("the result of step %s cannot be read: %v", id, err)
	}
	return out, true, nil
}

// jobSpec is the spec as the workers get it: without this machine's paths
// (each worker has its own pool and build cache) and what only this
// machine's scheduling uses.
func (t *Tester) jobSpec() bisect.Spec {
	s := t.spec
	s.Repo, s.PoolDir, s.BuildCache, s.Remote = "", "", "", nil
	s.Parallel, s.BuildAhead, s.PreferCached = 0, false, false
	return s
}

// report turns a worker's outcome into the step's report, and writes the
// ends of its output into the session's logs.
func (t *Tester) report(out Outcome, logs bisect.LogPaths) (bisect.Report, error) {
	if out.Worker != "" {
		t.ranOn(out.Worker)
	}
	where := fmt.Sprintf("tested on worker %s (%s); its whole logs are there, in %s\n", out.Worker, out.Host, out.Logs)
	if out.Error != "" {
		writeLog(logs.Build, where)
		if out.Abort {
			return bisect.Report{}, &predicate.AbortError{Reason: fmt.Sprintf("on worker %s: %s", out.Worker, out.Error), Crash: out.Crash}
		}
		return bisect.Report{}, fmt.Errorf("worker %s: %s", out.Worker, out.Error)
	}
	if out.Report == nil {
		return bisect.Report{}, fmt.Errorf("worker %s sent neither a report nor an error for step %s", out.Worker, text.ShortID(out.ID))
	}
	rep := *out.Report
	rep.Worker = out.Worker
	writeLog(logs.Build, where+rep.BuildTail)
	writeLog(logs.Test, where+rep.OutputTail)
	return rep, nil
}

func writeLog(path, content string) {
	if path == "" {
		return
	}
	// The logs are for people; the verdict is in the journal.
	_ = os.WriteFile(path, []byte(strings.TrimRight(content, "\n")+"\n"), 0o644)
}

// Drop implements bisect.StepTester: the step's message is deleted, so
// that no worker takes it, and the worker running it is told to stop.
func (t *Tester) Drop(step bisect.StepRef) {
	t.mu.Lock()
	s, ok := t.sent[step.ID]
	delete(t.sent, step.ID)
	t.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.work.DeleteMsg(ctx, s.seq)
	_ = t.conn.nc.Publish(cancelPrefix+"."+s.id, nil)
}

// Test implements bisect.Tester, for callers that do not name steps.
func (t *Tester) Test(ctx context.Context, commit string, logs bisect.LogPaths) (bisect.Report, error) {
	return bisect.Report{}, errors.New("remote: steps are sent by their id: use TestStep")
}

// TestOn implements bisect.ParallelTester (see Test).
func (t *Tester) TestOn(ctx context.Context, _ int, commit string, logs bisect.LogPaths) (bisect.Report, error) {
	return t.Test(ctx, commit, logs)
}

// Worktree implements bisect.Tester: the worktrees are the workers'.
func (t *Tester) Worktree() string { return "" }

// WorktreeOf implements bisect.ParallelTester.
func (t *Tester) WorktreeOf(int) string { return "" }

// Close stops taking results; the session's consumer stays, for a run that
// resumes.
func (t *Tester) Close() error {
	if t.consume != nil {
		t.consume.Stop()
	}
	return nil
}
