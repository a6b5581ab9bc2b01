package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/natstest"
	"github.com/sxbisect/sxbisect/predicate"
)

// testDeadlines make a lost worker's step go elsewhere within seconds.
var testDeadlines = Deadlines{AckWait: 2 * time.Second, Heartbeat: 250 * time.Millisecond}

func connect(t testing.TB, url string) *Conn {
	t.Helper()
	conn, err := Connect(context.Background(), Config{URL: url}, testDeadlines)
	require.NoError(t, err)
	t.Cleanup(conn.Close)
	return conn
}

// startWorker runs a worker in this process until the test ends.
func startWorker(t testing.TB, url string, opts WorkerOptions) *Worker {
	t.Helper()
	w, _ := runWorker(t, url, opts)
	return w
}

// runWorker runs a worker in this process until stop is called or the
// test ends.
func runWorker(t testing.TB, url string, opts WorkerOptions) (w *Worker, stop func()) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Log == nil && testing.Verbose() {
		opts.Log = os.Stderr
	}
	w, err := NewWorker(connect(t, url), opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, w.Run(ctx))
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return w, stop
}

func dispatcher(t testing.TB, url string, defaults bisect.RemoteSpec) bisect.Options {
	d := NewDispatcher(connect(t, url), defaults)
	return bisect.Options{NewTester: d.NewTester}
}

// A session whose steps go to a worker finds the first bad commit, and
// its journal names the worker and the id of every step.
func TestASessionBisectsOnAWorker(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 20)
	w := startWorker(t, srv.URL(), WorkerOptions{Name: "w1", Slots: 2})
	spec := bisect.Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: `test "$(cat value)" -lt 13`,
		Remote: &bisect.RemoteSpec{URL: srv.URL()}}
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	assert.Equal(t, commits[13], *res.FirstBad)
	j, err := bisect.ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	ids := map[string]bool{}
	for _, v := range j.Verdicts {
		assert.Equal(t, w.Name(), v.Worker)
		assert.NotEmpty(t, v.ID)
		assert.False(t, ids[v.ID], "step %s journaled twice", v.ID)
		ids[v.ID] = true
	}
	for _, s := range res.Steps {
		assert.Equal(t, "w1", s.Worker)
	}
	// The session's logs say where the step ran.
	logs, err := filepath.Glob(filepath.Join(res.Dir, "logs", "*-test.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	data, err := os.ReadFile(logs[0])
	require.NoError(t, err)
	assert.Contains(t, string(data), "tested on worker w1")
}

// Connecting where anyone could publish steps is refused unless asked
// for, and credentials never ride in a URL that a session would record.
func TestConfigRefusesWhatWouldOpenTheWorkers(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string // "" when accepted
	}{
		{Config{URL: "nats://127.0.0.1:4222"}, ""},
		{Config{URL: "nats://localhost:4222"}, ""},
		{Config{URL: "nats://[::1]:4222"}, ""},
		{Config{URL: "nats://build-farm:4222"}, "no credentials are given"},
		{Config{URL: "nats://127.0.0.1:4222,nats://10.0.0.2:4222"}, "no credentials are given"},
		{Config{URL: "nats://build-farm:4222", Insecure: true}, ""},
		{Config{URL: "nats://build-farm:4222", CredsFile: "me.creds"}, ""},
		{Config{URL: "nats://build-farm:4222", User: "me", Password: "pw"}, ""},
		{Config{URL: "tls://build-farm:4222", TLSCert: "c.pem", TLSKey: "k.pem"}, ""},
		{Config{URL: "nats://me:pw@build-farm:4222", Insecure: true}, "holds credentials"},
		{Config{URL: "nats://build-farm:4222", User: "me"}, "needs a password"},
		{Config{URL: "nats://build-farm:4222", TLSCert: "c.pem"}, "go together"},
		{Config{URL: "http://127.0.0.1:4222"}, "not nats"},
		{Config{URL: ""}, "give the NATS server"},
	}
	for _, c := range cases {
		err := c.cfg.Check()
		if c.want == "" {
			assert.NoError(t, err, "%+v", c.cfg)
			continue
		}
		var usage *bisect.UsageError
		if assert.ErrorAs(t, err, &usage, "%+v", c.cfg) {
			assert.Contains(t, err.Error(), c.want)
			assert.NotContains(t, err.Error(), "\n")
		}
	}
}

// A server that requires a user refuses a connection without one, and
// the password comes from the environment.
func TestCredentialsComeFromTheEnvironment(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{User: "sx", Password: "s3cret"})
	_, err := Connect(context.Background(), Config{URL: srv.URL()}, testDeadlines)
	var usage *bisect.UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), "refused the credentials")
	t.Setenv(EnvUser, "sx")
	t.Setenv(EnvPassword, "s3cret")
	conn, err := Connect(context.Background(), Config{URL: srv.URL()}.FromEnv(), testDeadlines)
	require.NoError(t, err)
	conn.Close()
}

// Steps that ask for a label go only to workers that have it; a worker
// restricted to other repositories leaves them to the others.
func TestLabelsAndAllowedRepositoriesChooseTheWorker(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 16)
	startWorker(t, srv.URL(), WorkerOptions{Name: "plain", Slots: 2})
	startWorker(t, srv.URL(), WorkerOptions{Name: "debian-elsewhere", Labels: []string{"os=debian"}, AllowRepos: []string{"*:/srv/*"}})
	startWorker(t, srv.URL(), WorkerOptions{Name: "debian", Labels: []string{"os=debian", "arch=amd64"}, AllowRepos: []string{"*/repo"}})
	spec := bisect.Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: `test "$(cat value)" -lt 9`,
		Remote: &bisect.RemoteSpec{URL: srv.URL(), Labels: []string{"os=debian"}}}
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	assert.Equal(t, commits[9], *res.FirstBad)
	for _, s := range res.Steps {
		assert.Equal(t, "debian", s.Worker)
	}
}

// Workers can fetch the commits from the repository's URL instead of a
// bundle.
func TestWorkersFetchFromTheRepositoryURL(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 12)
	bare := filepath.Join(t.TempDir(), "origin.git")
	_, err := gitfixture.Git(t.TempDir(), "clone", "-q", "--bare", repo, bare)
	require.NoError(t, err)
	dir := t.TempDir()
	startWorker(t, srv.URL(), WorkerOptions{Name: "w", Dir: dir})
	spec := bisect.Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: `test "$(cat value)" -lt 5`,
		Remote: &bisect.RemoteSpec{URL: srv.URL(), RepoURL: "file://" + bare}}
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	assert.Equal(t, commits[5], *res.FirstBad)
	// The clone's commits came from the URL: it holds its branches.
	clone := newClones(dir, nil).path("file://" + bare)
	out, err := gitfixture.Git(clone, "for-each-ref", "--format=%(refname)")
	require.NoError(t, err)
	assert.Contains(t, out, "refs/sxbisect/heads/main")
	assert.NotContains(t, out, "refs/sxbisect/bundles")
}

// interval is one run of a test, as the test wrote it down.
type interval struct {
	timing     bool
	start, end int64
}

// runIntervals reads the lines "timing|other start|end NANOS" that the
// tests of intervalTest wrote.
func runIntervals(t *testing.T, path string) []interval {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	open := map[string]int64{}
	var out []interval
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var kind, what, pid string
		var at int64
		_, err := fmt.Sscan(line, &kind, &what, &pid, &at)
		require.NoError(t, err, line)
		if what == "start" {
			open[pid] = at
			continue
		}
		out = append(out, interval{timing: kind == "timing", start: open[pid], end: at})
	}
	return out
}

// intervalTest is a test that writes down when it runs, as kind, sleeps
// 0.03 s (0.09 s from commit slow on: three times as long), and is bad
// from commit bad on.
func intervalTest(log, kind string, slow, bad int) string {
	return fmt.Sprintf(`echo "%s start $$ $(date +%%s%%N)" >> %s; v=$(cat value); if [ $v -ge %d ]; then sleep 0.09; else sleep 0.03; fi; echo "%s end $$ $(date +%%s%%N)" >> %s; test $v -lt %d`,
		kind, log, slow, kind, log, bad)
}

// A timing step runs alone on its worker: nothing else runs beside it,
// although the worker has slots for three, and the other sessions' steps
// run three at a time around it.
func TestATimingStepRunsAloneOnItsWorker(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 10)
	startWorker(t, srv.URL(), WorkerOptions{Name: "w", Slots: 3})
	log := filepath.Join(t.TempDir(), "runs")
	remote := &bisect.RemoteSpec{URL: srv.URL()}
	jobs := []batch.Job{
		{Name: "a", Spec: bisect.Spec{Name: "a", Run: intervalTest(log, "other", 6, 7)}},
		{Name: "timing", Spec: bisect.Spec{Name: "timing", Run: intervalTest(log, "timing", 6, 100), MaxRatio: []string{"wall=1.5"}, MaxLoad: 1000}, Timing: true},
		{Name: "b", Spec: bisect.Spec{Name: "b", Run: intervalTest(log, "other", 6, 4)}},
	}
	for i := range jobs {
		jobs[i].Spec.Repo, jobs[i].Spec.Good, jobs[i].Spec.Bad, jobs[i].Spec.Remote = repo, []string{commits[0]}, "main", remote
	}
	rep := batch.Run(context.Background(), jobs, batch.Options{Jobs: 3, Remote: true, NewTester: NewDispatcher(connect(t, srv.URL()), *remote).NewTester})
	require.NoError(t, rep.Errors())
	want := map[string]int{"a": 7, "timing": 6, "b": 4}
	for _, j := range rep.Jobs {
		require.Equal(t, batch.Found, j.Status, "%s: %s", j.Name, j.Message)
		assert.Equal(t, commits[want[j.Name]], *j.FirstBad, j.Name)
	}
	runs := runIntervals(t, log)
	others, timings, together := 0, 0, false
	for _, a := range runs {
		if a.timing {
			timings++
		} else {
			others++
		}
		for _, b := range runs {
			if a.start < b.end && b.start < a.end && a != b {
				if a.timing || b.timing {
					t.Errorf("a run overlaps a timing run: %+v %+v", a, b)
				} else {
					together = true
				}
			}
		}
	}
	assert.Positive(t, timings)
	assert.Positive(t, others)
	assert.True(t, together, "the other steps never ran together")
}

// lockedBuffer is a log that workers write from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --max-ratio compares with a baseline measured on the same worker: each
// worker measures its own, once, and keeps it for the next session of the
// same spec.
func TestEachWorkerMeasuresItsOwnBaselineOnce(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 10)
	logs := map[string]*lockedBuffer{"w1": {}, "w2": {}}
	for name, log := range logs {
		startWorker(t, srv.URL(), WorkerOptions{Name: name, Log: log})
	}
	runs := filepath.Join(t.TempDir(), "runs")
	spec := bisect.Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: intervalTest(runs, "timing", 6, 100),
		MaxRatio: []string{"wall=1.5"}, MaxLoad: 1000, Parallel: 2, Remote: &bisect.RemoteSpec{URL: srv.URL()}}
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	assert.Equal(t, commits[6], *res.FirstBad)
	measured := map[string]int{}
	for _, s := range res.Steps {
		measured[s.Worker]++
		assert.Contains(t, s.Metrics, "wall_ratio", "step %s", s.Commit)
	}
	require.Len(t, measured, 2, "both workers measured steps: %v", measured)
	for name, log := range logs {
		assert.Equal(t, 1, strings.Count(log.String(), "measuring the baseline"), "%s measured its baseline once:\n%s", name, log)
	}

	spec.Name = "again"
	res, err = bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	for name, log := range logs {
		assert.Equal(t, 1, strings.Count(log.String(), "measuring the baseline"), "%s kept its baseline for the next session", name)
	}
}

// ackedMsg stands for a work message whose acknowledgement succeeds.
type ackedMsg struct{ jetstream.Msg }

func (ackedMsg) DoubleAck(context.Context) error { return nil }
func (ackedMsg) Nak() error                      { return nil }

// Two workers that ran the same step (one was cut off past the ack
// deadline, then came back) both publish its result: the server keeps
// the first, and the second worker is told so.
func TestAStepsResultIsKeptOnce(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	job := Job{ID: "s1-c-0", Session: "s1"}
	logs := map[string]*lockedBuffer{}
	for _, name := range []string{"first", "second"} {
		logs[name] = &lockedBuffer{}
		w, err := NewWorker(connect(t, srv.URL()), WorkerOptions{Name: name, Dir: t.TempDir(), Log: logs[name]})
		require.NoError(t, err)
		rep := &bisect.Report{Verdict: predicate.Good, Reason: "exit 0 on " + name}
		w.finish(context.Background(), ackedMsg{}, job, Outcome{ID: job.ID, Worker: name, Report: rep})
	}
	conn := connect(t, srv.URL())
	results, err := conn.js.Stream(context.Background(), ResultStream)
	require.NoError(t, err)
	info, err := results.Info(context.Background(), jetstream.WithSubjectFilter(resultSubject(job.Session, job.ID)))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), info.State.Msgs)
	tester := &Tester{conn: conn, results: results}
	out, ok, err := tester.lookup(context.Background(), job.Session, job.ID)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "first", out.Worker)
	assert.NotContains(t, logs["first"].String(), "there already")
	assert.Contains(t, logs["second"].String(), "its result was there already")
}

// A session's steps stay with the worker that ran its steps before, when
// it is free: it has the session's baseline and builds, which another
// worker would measure and build again.
func TestStepsStayWithTheirWorker(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 64)
	for _, name := range []string{"w1", "w2", "w3"} {
		startWorker(t, srv.URL(), WorkerOptions{Name: name})
	}
	spec := bisect.Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: `sleep 0.05; test "$(cat value)" -lt 41`,
		Remote: &bisect.RemoteSpec{URL: srv.URL()}}
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	workers := make([]string, len(res.Steps))
	for i, s := range res.Steps {
		workers[i] = s.Worker
	}
	// Three idle workers: steps that went to any of them would stay with
	// one in a few sessions of a thousand.
	assert.NotContains(t, bisect.CountWorkers(workers), ",", "the steps went to several workers: %s", bisect.CountWorkers(workers))
}

// A worker runs only what it may: a message whose step id could name a
// file outside its directory is discarded, and a step that fetches from a
// URL its --allow-repo does not allow is left alone, whatever repository
// it names.
func TestAWorkerRunsOnlyWhatItMay(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 2)
	log := &lockedBuffer{}
	startWorker(t, srv.URL(), WorkerOptions{Name: "w", AllowRepos: []string{"file:///srv/sx.git"}, Log: log})
	conn := connect(t, srv.URL())
	marker := filepath.Join(t.TempDir(), "ran")
	spec := bisect.Spec{Run: "touch " + marker, GoodCommits: []string{commits[0]}, BadCommit: commits[1]}
	publish := func(job Job) uint64 {
		data, err := json.Marshal(job)
		require.NoError(t, err)
		ack, err := conn.js.Publish(context.Background(), workSubject(false), data)
		require.NoError(t, err)
		return ack.Sequence
	}
	publish(Job{ID: "../../escape", Session: "s", Repo: "file:///srv/sx.git", Fetch: "file:///srv/sx.git", Commit: commits[1], Spec: spec})
	elsewhere := publish(Job{ID: "s-c-0", Session: "s", Repo: "file:///srv/sx.git", Fetch: "file://" + repo, Commit: commits[1], Spec: spec})
	waitFor(t, 5*time.Second, "the escaping step to be discarded", func() bool {
		return strings.Contains(log.String(), "not a step")
	})
	time.Sleep(time.Second) // the other step had its chances
	_, err := os.Stat(marker)
	assert.ErrorIs(t, err, os.ErrNotExist, "a step ran")
	work, err := conn.js.Stream(context.Background(), WorkStream)
	require.NoError(t, err)
	_, err = work.GetMsg(context.Background(), elsewhere)
	assert.NoError(t, err, "the step fetching from elsewhere is left for another worker")
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
