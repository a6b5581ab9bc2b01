package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// WorkerOptions configure a worker.
type WorkerOptions struct {
	// Dir holds the worker's clones (each with its worktree pool and build
	// cache), its baselines, the logs of its steps and the record of the
	// processes it runs.
	Dir string
	// Name names the worker in listings and reports (default: the host
	// name and the process id).
	Name string
	// Slots is how many steps that measure no time it runs at once
	// (default 1). A timing step runs alone, whatever Slots says.
	Slots int
	// Labels are KEY=VALUE pairs a step may ask for.
	Labels []string
	// AllowRepos restricts the worker to the repositories they match (*
	// stands for any run of characters); none allows every repository.
	AllowRepos []string
	// Log receives a line per event; nil means none.
	Log io.Writer
	// NoSharedCache keeps builds to the worker's own build caches: it
	// neither takes builds from BuildBucket nor puts any there.
	NoSharedCache bool
	// SharedCacheMax is the size of BuildBucket in bytes, should this
	// worker be the one to make it (default DefaultSharedCacheMax).
	SharedCacheMax int64
}

// Worker takes steps from the work stream and tests them on this machine,
// in scratch worktrees of its own clones; see the package documentation.
type Worker struct {
	conn    *Conn
	opts    WorkerOptions
	kv      jetstream.KeyValue
	host    string
	started time.Time
	clones  *clones
	testers *testers
	work    jetstream.Stream
	logMu   sync.Mutex

	mu sync.Mutex
	// busy marks the slots in use; timing says a timing step holds them
	// all; drain says a timing step was declined for being busy, so no
	// other step is taken until the worker has been idle once.
	busy    []bool
	timing  bool
	drain   bool
	changed chan struct{}
	running map[string]*runningStep

	procMu sync.Mutex
	procs  *journal.Journal
}

// runningStep is a step the worker runs.
type runningStep struct {
	job  Job
	slot int
	// alone says it holds every slot: a timing step.
	alone   bool
	started time.Time
	cancel  context.CancelFunc
	// dropped says the coordinator no longer wants it.
	dropped atomic.Bool
	// finishing says its result is being published (guarded by w.mu).
	finishing bool
}

// finishing writes the worker's entry with the step as finishing before
// its result goes out: its session's next step, which its coordinator
// sends as soon as the result comes, is then left to this worker (see
// leaveToPreferred) rather than taken by one that sees it still busy.
func (w *Worker) finishing(ctx context.Context, r *runningStep) {
	w.mu.Lock()
	r.finishing = true
	w.mu.Unlock()
	if w.kv == nil {
		return
	}
	if data, err := json.Marshal(w.info()); err == nil {
		pctx, cancel := context.WithTimeout(ctx, w.conn.deadlines.Heartbeat)
		_, _ = w.kv.Put(pctx, w.opts.Name, data)
		cancel()
	}
}

// Timing knobs of the worker's loop.
const (
	// pollWait is how long one pull for work waits on the server.
	pollWait = 2 * time.Second
	// declinePause is how long a worker that declined a step (labels, an
	// allowed repository) waits before it pulls again, so that the step,
	// handed back at once, goes to another worker.
	declinePause = 250 * time.Millisecond
	// A worker that left a step to another (see leaveToPreferred) pauses
	// preferPause and up to as much again before it pulls again; a step
	// is left so at most preferTries times.
	preferPause = 40 * time.Millisecond
	preferTries = 50
	// retryWait is the pause after an error of the server, such as its
	// restart.
	retryWait = 250 * time.Millisecond
	// testerIdle is how long a tester (its worktrees) is kept unused.
	testerIdle = 10 * time.Minute
)

// NewWorker makes a worker on conn.
func NewWorker(conn *Conn, opts WorkerOptions) (*Worker, error) {
	if opts.Dir == "" {
		return nil, &bisect.UsageError{Msg: "the worker needs a directory for its clones: give --dir DIR"}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	if opts.Slots < 1 {
		opts.Slots = 1
	}
	if opts.SharedCacheMax < 0 {
		return nil, &bisect.UsageError{Msg: "--shared-cache-max must be more than 0: to do without the shared build cache, give --no-shared-cache"}
	}
	if opts.SharedCacheMax == 0 {
		opts.SharedCacheMax = DefaultSharedCacheMax
	}
	if opts.Labels, err = ParseLabels(opts.Labels); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if err := checkToken("worker name", opts.Name); err != nil {
		return nil, &bisect.UsageError{Msg: fmt.Sprintf("--name %q: give a name without dots, spaces or wildcards", opts.Name)}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w := &Worker{conn: conn, opts: opts, host: host, started: time.Now(),
		busy: make([]bool, opts.Slots), changed: make(chan struct{}), running: map[string]*runningStep{}}
	w.clones = newClones(dir, w.getBundle)
	w.testers = newTesters(dir, w.say, w.processStarted)
	return w, nil
}

// Name is the worker's name.
func (w *Worker) Name() string { return w.opts.Name }

// Run takes and runs steps until ctx ends. Steps still running then are
// stopped and handed back, so that other workers take them at once.
func (w *Worker) Run(ctx context.Context) error {
	w.killLeftovers()
	var err error
	if w.work, err = w.conn.js.Stream(ctx, WorkStream); err != nil {
		return err
	}
	var consumers [2]jetstream.Consumer
	for i, name := range []string{timingConsumer, sharedConsumer} {
		consumers[i], err = w.conn.js.CreateOrUpdateConsumer(ctx, WorkStream, jetstream.ConsumerConfig{
			Durable: name, FilterSubject: workSubject(name == timingConsumer), AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: w.conn.deadlines.AckWait, MaxDeliver: -1, MaxAckPending: -1,
			Description: "sxbisect workers: " + name + " steps",
		})
		if err != nil {
			return fmt.Errorf("making the work consumer %s: %w", name, err)
		}
	}
	kv, err := w.conn.workers(ctx)
	if err != nil {
		return err
	}
	w.kv = kv
	w.openSharedCache(ctx)
	sub, err := w.conn.nc.Subscribe(cancelPrefix+".>", func(m *nats.Msg) {
		w.dropped(m.Subject[len(cancelPrefix)+1:])
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	w.say("worker %s: %d slots, labels %v, dir %s, server %s", w.opts.Name, w.opts.Slots, w.opts.Labels, w.opts.Dir, w.conn.url)

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); w.heartbeat(ctx, kv) }()
	go func() { defer wg.Done(); w.take(ctx, consumers[0], true) }()
	go func() { defer wg.Done(); w.take(ctx, consumers[1], false) }()
	wg.Wait()
	// The steps running were stopped with ctx; wait for them to hand
	// their messages back.
	for !w.idle() {
		w.waitChange(context.Background())
	}
	_ = kv.Delete(context.Background(), w.opts.Name)
	w.testers.closeAll()
	w.say("worker %s: stopped", w.opts.Name)
	return nil
}

// take pulls steps from one consumer whenever the worker can run one of
// its kind: a timing step only when idle, another when a slot is free and
// no timing step runs or waits.
func (w *Worker) take(ctx context.Context, cons jetstream.Consumer, timing bool) {
	for {
		if !w.waitUntil(ctx, func() bool {
			if timing {
				return w.idleLocked()
			}
			return !w.timing && !w.drain && w.freeSlotLocked() >= 0
		}) {
			return
		}
		fctx, cancel := context.WithTimeout(ctx, pollWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err == nil {
			for msg := range batch.Messages() {
				switch w.offer(ctx, msg, timing) {
				case declined:
					sleep(ctx, declinePause)
				case held:
					// Not at once, so that the preferred worker's pull
					// comes first; by a random span, so that two workers
					// holding each other's steps do not swap them forever.
					sleep(ctx, preferPause+rand.N(preferPause))
				}
			}
			err = batch.Error()
		}
		cancel()
		if timing {
			// The worker was idle for this pull: a timing step declined
			// before has had its chance.
			w.mu.Lock()
			w.drain = false
			w.mu.Unlock()
			w.notify()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			sleep(ctx, retryWait)
		}
	}
}

// offered is what a worker did with a step it was offered.
type offered int

const (
	// taken: the worker runs it, or gave it back because it got busy
	// (or discarded it: it was no step).
	taken offered = iota
	// declined: the worker may not run it (labels, repositories).
	declined
	// held: the worker left it, for a short while, to a worker that ran
	// the session's steps before and is free to take it.
	held
)

// offer runs the step of msg if the worker may and can, and gives it back
// otherwise.
func (w *Worker) offer(ctx context.Context, msg jetstream.Msg, timing bool) offered {
	var job Job
	err := json.Unmarshal(msg.Data(), &job)
	if err == nil {
		err = errors.Join(checkToken("step id", job.ID), checkToken("session", job.Session))
	}
	if err != nil {
		w.say("a message that is not a step (%v): discarded", text.OneLine(err.Error()))
		_ = msg.TermWithReason("not an sxbisect step")
		return taken
	}
	// A step fetches from its URL into the clone named by its repository:
	// both must be allowed.
	if !Matches(w.opts.Labels, job.Labels) || !allowed(w.opts.AllowRepos, job.Repo) || job.Fetch != "" && !allowed(w.opts.AllowRepos, job.Fetch) {
		_ = msg.Nak()
		return declined
	}
	if w.leaveToPreferred(ctx, msg, job, timing) {
		// Back at once, to the pull that waits longest: the preferred
		// worker's, since this one pauses before it pulls again.
		_ = msg.Nak()
		return held
	}
	w.mu.Lock()
	slot := -1
	switch {
	case timing && w.idleLocked():
		w.timing = true
		for i := range w.busy {
			w.busy[i] = true
		}
		slot = 0
	case timing:
		w.drain = true
	case !w.timing:
		if slot = w.freeSlotLocked(); slot >= 0 {
			w.busy[slot] = true
		}
	}
	var r *runningStep
	if slot >= 0 {
		r = &runningStep{job: job, slot: slot, alone: timing, started: time.Now()}
		w.running[job.ID] = r
	}
	w.mu.Unlock()
	w.notify()
	if r == nil {
		// Busy since the pull went out: another worker may take it now.
		_ = msg.Nak()
		return taken
	}
	go w.run(ctx, msg, r)
	return taken
}

// leaveToPreferred says whether a step is better left to a worker that
// ran its session's steps before and is free to take it now: that one has
// the session's baseline measured and its worktrees built, where this one
// would measure and build them again. A step is left so for a second or
// so at most (preferTries offers), then any worker takes it.
func (w *Worker) leaveToPreferred(ctx context.Context, msg jetstream.Msg, job Job, timing bool) bool {
	if len(job.Prefer) == 0 || slices.Contains(job.Prefer, w.opts.Name) || w.kv == nil {
		return false
	}
	meta, err := msg.Metadata()
	if err != nil || meta.NumDelivered > preferTries {
		return false
	}
	now := time.Now()
	for _, name := range job.Prefer {
		e, err := w.kv.Get(ctx, name)
		if err != nil {
			continue
		}
		var other WorkerInfo
		if json.Unmarshal(e.Value(), &other) != nil || !other.live(now) {
			continue
		}
		if Matches(other.Labels, job.Labels) && allowed(other.AllowRepos, job.Repo) && other.free(timing) {
			return true
		}
	}
	return false
}

// run runs one step and publishes its outcome, then acknowledges it.
func (w *Worker) run(ctx context.Context, msg jetstream.Msg, r *runningStep) {
	job := r.job
	defer w.release(r)
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.mu.Lock()
	r.cancel = cancel
	w.mu.Unlock()
	what := ""
	if r.alone {
		what = ", timing: alone"
	}
	w.say("step %s: %s %s (%s) of session %s from %s%s", job.ID, job.Kind, text.ShortID(job.Commit), job.Repo, job.SessionName, job.Coordinator, what)
	seq := uint64(0)
	if meta, err := msg.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	alive := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		w.keepAlive(jctx, msg, seq, r, alive)
	}()
	out := w.execute(jctx, &job, r.slot)
	switch {
	case r.dropped.Load() && w.hasResult(ctx, job):
		w.say("step %s: done by another worker meanwhile (this one was silent past the ack deadline): stopped", job.ID)
	case r.dropped.Load():
		w.say("step %s: dropped by its session", job.ID)
	case ctx.Err() != nil:
		// Handed back at once rather than after the ack deadline.
		_ = msg.Nak()
		w.say("step %s: stopped with the worker; handed back", job.ID)
	default:
		w.finishing(ctx, r)
		w.finish(ctx, msg, job, out)
	}
	close(alive)
	<-stopped
}

// keepAlive tells the server that the step is in progress, four times per
// ack deadline, and stops the step when its message is gone: its session
// dropped it, or another worker did it while this one was cut off.
func (w *Worker) keepAlive(ctx context.Context, msg jetstream.Msg, seq uint64, r *runningStep, done chan struct{}) {
	tick := time.NewTicker(w.conn.deadlines.AckWait / 4)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		_ = msg.InProgress()
		if seq == 0 || ctx.Err() != nil {
			continue
		}
		gctx, cancel := context.WithTimeout(ctx, w.conn.deadlines.AckWait/4)
		_, err := w.work.GetMsg(gctx, seq)
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			w.drop(r)
		}
	}
}

// finish publishes the step's outcome and then acknowledges its message,
// in that order: a worker that dies in between has its step run again
// elsewhere, and the second result is taken for a duplicate of the first.
func (w *Worker) finish(ctx context.Context, msg jetstream.Msg, job Job, out Outcome) {
	data, err := json.Marshal(out)
	if err != nil {
		out = Outcome{ID: job.ID, Worker: out.Worker, Host: out.Host, Error: "cannot encode the report: " + err.Error(), Started: out.Started, Ended: out.Ended}
		data, _ = json.Marshal(out)
	}
	var ack *jetstream.PubAck
	for {
		ack, err = w.conn.js.Publish(ctx, resultSubject(job.Session, job.ID), data, jetstream.WithMsgID(job.ID))
		if err == nil || ctx.Err() != nil {
			break
		}
		sleep(ctx, retryWait)
	}
	if err != nil {
		_ = msg.Nak()
		return
	}
	for i := 0; i < 20; i++ {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = msg.DoubleAck(actx)
		cancel()
		// Only a server that did not answer is asked again: one that
		// refused knows the step done already.
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders) {
			break
		}
		sleep(ctx, retryWait)
	}
	if ack.Duplicate {
		w.say("step %s: its result was there already: another worker ran it too (this one was silent past the ack deadline)", job.ID)
	}
	verdict := string(out.verdict())
	if out.Error != "" {
		verdict = "no verdict: " + out.Error
	} else if out.Report != nil && out.Report.Reason != "" {
		verdict += ": " + out.Report.Reason
	}
	w.say("step %s: %s (%s)", job.ID, text.OneLine(verdict), out.Ended.Sub(out.Started).Round(10*time.Millisecond))
}

// hasResult reports whether the job's result is in the result stream.
func (w *Worker) hasResult(ctx context.Context, job Job) bool {
	results, err := w.conn.js.Stream(ctx, ResultStream)
	if err != nil {
		return false
	}
	_, err = results.GetLastMsgForSubject(ctx, resultSubject(job.Session, job.ID))
	return err == nil
}

func (o Outcome) verdict() predicate.Verdict {
	if o.Report == nil {
		return ""
	}
	return o.Report.Verdict
}

// execute brings the job's commit to a clone, and tests it on bench slot
// of the tester for the job's spec.
func (w *Worker) execute(ctx context.Context, job *Job, slot int) Outcome {
	out := Outcome{ID: job.ID, Worker: w.opts.Name, Host: w.host, Started: time.Now()}
	fail := func(err error) Outcome {
		var abort *predicate.AbortError
		if errors.As(err, &abort) {
			out.Abort, out.Crash = true, abort.Crash
		}
		out.Error = text.OneLine(err.Error())
		out.Ended = time.Now()
		return out
	}
	repo, err := w.clones.ensure(ctx, job)
	if err != nil {
		return fail(err)
	}
	spec := job.Spec
	spec.Repo, spec.PoolDir, spec.Remote, spec.Parallel = repo, "", nil, 0
	logDir := filepath.Join(w.opts.Dir, "logs", job.Session)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fail(err)
	}
	logs := bisect.LogPaths{Build: filepath.Join(logDir, job.ID+"-build.log"), Test: filepath.Join(logDir, job.ID+"-test.log")}
	out.Logs = logDir
	for attempt := 0; ; attempt++ {
		t, key, err := w.testers.get(ctx, repo, spec)
		if err != nil {
			return fail(err)
		}
		rep, err := t.TestOn(ctx, slot, job.Commit, logs)
		w.testers.put(key)
		var lost *worktree.LostError
		if errors.As(err, &lost) && attempt == 0 && ctx.Err() == nil {
			// No verdict from a worktree that vanished: a new one.
			w.testers.discard(key)
			continue
		}
		if err != nil {
			return fail(err)
		}
		rep.Worker = w.opts.Name
		out.Report, out.Ended = &rep, time.Now()
		return out
	}
}

// release frees the step's slots and forgets it.
func (w *Worker) release(r *runningStep) {
	w.mu.Lock()
	delete(w.running, r.job.ID)
	if r.alone {
		w.timing = false
		for i := range w.busy {
			w.busy[i] = false
		}
	} else {
		w.busy[r.slot] = false
	}
	idle := w.idleLocked()
	w.mu.Unlock()
	if idle {
		w.forgetProcesses()
	}
	w.notify()
}

// dropped stops the step with the id, if it runs here.
func (w *Worker) dropped(id string) {
	w.mu.Lock()
	r := w.running[id]
	w.mu.Unlock()
	if r != nil {
		w.drop(r)
	}
}

func (w *Worker) drop(r *runningStep) {
	r.dropped.Store(true)
	w.mu.Lock()
	cancel := r.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// heartbeat writes the worker's entry into the workers bucket, at every
// heartbeat and whenever a step starts or ends (other workers read it to
// leave steps to this one), and closes the testers left unused.
func (w *Worker) heartbeat(ctx context.Context, kv jetstream.KeyValue) {
	tick := time.NewTicker(w.conn.deadlines.Heartbeat)
	defer tick.Stop()
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		info := w.info()
		if data, err := json.Marshal(info); err == nil {
			pctx, cancel := context.WithTimeout(ctx, w.conn.deadlines.Heartbeat)
			_, _ = kv.Put(pctx, w.opts.Name, data)
			cancel()
		}
		w.testers.closeIdle(testerIdle)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
		}
	}
}

// info is the worker's entry in the workers bucket.
func (w *Worker) info() WorkerInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	info := WorkerInfo{Name: w.opts.Name, Host: w.host, PID: os.Getpid(), Labels: w.opts.Labels, Slots: w.opts.Slots,
		AllowRepos: w.opts.AllowRepos, Started: w.started, Seen: time.Now(), Heartbeat: w.conn.deadlines.Heartbeat, Jobs: []RunningJob{}}
	for _, r := range w.running {
		info.Jobs = append(info.Jobs, RunningJob{ID: r.job.ID, Session: r.job.SessionName, Coordinator: r.job.Coordinator,
			Commit: r.job.Commit, Kind: r.job.Kind, Timing: r.job.Timing, Started: r.started, Finishing: r.finishing})
	}
	return info
}

func (w *Worker) idleLocked() bool {
	for _, b := range w.busy {
		if b {
			return false
		}
	}
	return true
}

func (w *Worker) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idleLocked()
}

func (w *Worker) freeSlotLocked() int {
	for i, b := range w.busy {
		if !b {
			return i
		}
	}
	return -1
}

// notify wakes whoever waits for the worker's state to change.
func (w *Worker) notify() {
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// waitChange waits for the next change of the worker's state.
func (w *Worker) waitChange(ctx context.Context) {
	w.mu.Lock()
	ch := w.changed
	w.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// waitUntil waits until cond, called with w.mu held, holds; false when
// ctx ended first.
func (w *Worker) waitUntil(ctx context.Context, cond func() bool) bool {
	for {
		w.mu.Lock()
		ok, ch := cond(), w.changed
		w.mu.Unlock()
		if ok {
			return ctx.Err() == nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// openSharedCache gives the testers the shared tier of the build caches,
// unless the worker was told not to use it. A bucket that cannot be had
// is said, and the worker keeps builds to itself.
func (w *Worker) openSharedCache(ctx context.Context) {
	if w.opts.NoSharedCache {
		return
	}
	sb, differs, err := OpenSharedBuilds(ctx, w.conn, w.opts.SharedCacheMax)
	if err != nil {
		w.say("the shared build cache %s cannot be used (%v): builds are kept on this worker only", BuildBucket, text.OneLine(err.Error()))
		return
	}
	if differs != "" {
		w.say("%s", differs)
	}
	w.testers.shared = sb
}

// getBundle copies a bundle of the object store to file.
func (w *Worker) getBundle(ctx context.Context, name, file string) error {
	obs, err := w.conn.bundles(ctx)
	if err != nil {
		return err
	}
	return obs.GetFile(ctx, name, file)
}

// processesFile records the process trees the worker's steps start, so
// that a worker killed with SIGKILL kills what it left running when it
// starts again, before its worktrees are used again.
func (w *Worker) processesFile() string { return filepath.Join(w.opts.Dir, "processes.jsonl") }

// processRecord is a line of the processes file.
type processRecord struct {
	Type    string      `json:"type"`
	Commit  string      `json:"commit"`
	Process run.Started `json:"process"`
}

func (w *Worker) processStarted(commit string, p run.Started) {
	w.procMu.Lock()
	defer w.procMu.Unlock()
	if w.procs == nil {
		j, _, err := journal.Open(w.processesFile())
		if err != nil {
			return
		}
		w.procs = j
	}
	// As a session's, for a kill -9 of the worker (see
	// journal.AppendUnsynced).
	_ = w.procs.AppendUnsynced(processRecord{Type: "process", Commit: commit, Process: p})
}

// forgetProcesses empties the processes file once nothing runs.
func (w *Worker) forgetProcesses() {
	w.procMu.Lock()
	defer w.procMu.Unlock()
	if w.procs != nil {
		_ = w.procs.Close()
		w.procs = nil
	}
	_ = os.Remove(w.processesFile())
}

// killLeftovers kills what a worker killed before left running.
func (w *Worker) killLeftovers() {
	entries, _ := journal.Read(w.processesFile())
	killed := 0
	for _, e := range entries {
		var p processRecord
		if e.Decode(&p) == nil {
			n, _ := run.KillLeftovers(p.Process)
			killed += n
		}
	}
	if killed > 0 {
		w.say("killed %d processes left running by the worker that ran here before", killed)
	}
	w.forgetProcesses()
}

// say logs one line.
func (w *Worker) say(format string, args ...any) {
	if w.opts.Log == nil {
		return
	}
	line := time.Now().Format("15:04:05.000") + " " + text.Escape(fmt.Sprintf(format, args...)) + "\n"
	w.logMu.Lock()
	defer w.logMu.Unlock()
	_, _ = io.WriteString(w.opts.Log, line)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
