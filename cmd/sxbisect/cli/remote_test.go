package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/remote"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/natstest"
)

// childArgsEnv holds the command line of a child process that is this
// test binary running sxbisect (a worker, a coordinator).
const childArgsEnv = "SXBISECT_TEST_CHILD_ARGS"

// TestChildProcess is sxbisect in a child process of a test; it does
// nothing in a test run of its own.
func TestChildProcess(t *testing.T) {
	raw := os.Getenv(childArgsEnv)
	if raw == "" {
		t.Skip("runs only as a child process of another test")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(Main(context.Background(), StdEnv(), args))
}

// child is sxbisect running as a child process, its output in a file.
type child struct {
	cmd *exec.Cmd
	out string
}

func startChild(t testing.TB, name string, args ...string) *child {
	t.Helper()
	raw, err := json.Marshal(args)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), name+".out")
	f, err := os.Create(out)
	require.NoError(t, err)
	defer f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, out: out}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = c.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-done
			}
		}
	})
	return c
}

func (c *child) output(t testing.TB) string {
	data, err := os.ReadFile(c.out)
	require.NoError(t, err)
	return string(data)
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

// Three worker processes and a coordinator, through a real JetStream
// server: a worker killed with kill -9 in the middle of a step loses only
// that step, which another worker does after the ack deadline; the
// coordinator killed with kill -9 resumes from its journal and collects
// what came meanwhile; the server restarted loses nothing. The first bad
// commit is right, and no step is journaled twice.
func TestWorkersSurviveKillsAndARestartedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 48)
	const firstBad = 29
	workers := map[string]*child{}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("w%d", i)
		workers[name] = startChild(t, name, "worker", "--nats", srv.URL(), "--dir", filepath.Join(t.TempDir(), name),
			"--name", name, "--ack-wait", "2s")
	}
	conn, err := remote.Connect(context.Background(), remote.Config{URL: srv.URL()}, remote.Deadlines{})
	require.NoError(t, err)
	defer conn.Close()
	waitFor(t, 10*time.Second, "three live workers", func() bool {
		list, _ := conn.Workers(context.Background())
		return len(list) == 3
	})

	run := fmt.Sprintf(`sleep 0.7; test "$(cat value)" -lt %d`, firstBad)
	start := startChild(t, "start", "start", "--repo", repo, "--nats", srv.URL(), "--parallel", "3", "--run", run, "--json", commits[0], "main")

	// kill -9 a worker in the middle of a step that the session needs
	// whatever the others find: an end's.
	var killed remote.WorkerInfo
	waitFor(t, 15*time.Second, "a worker testing an end", func() bool {
		list, _ := conn.Workers(context.Background())
		for _, w := range list {
			if len(w.Jobs) > 0 && w.Jobs[0].Kind == bisect.KindVerify && time.Since(w.Jobs[0].Started) > 200*time.Millisecond {
				killed = w
				return true
			}
		}
		return false
	})
	require.NoError(t, workers[killed.Name].cmd.Process.Kill())
	_ = workers[killed.Name].cmd.Wait()
	lostStep := killed.Jobs[0].ID

	// kill -9 the coordinator once three verdicts are in.
	journal := func() *bisect.Journal {
		j, err := bisect.ReadJournal(repo, "default")
		if err != nil {
			return &bisect.Journal{}
		}
		j.Close()
		return j
	}
	waitFor(t, 20*time.Second, "three verdicts and a step in flight", func() bool {
		j := journal()
		return len(j.Verdicts) >= 3 && j.InFlight != nil
	})
	require.NoError(t, start.cmd.Process.Kill())
	_ = start.cmd.Wait()
	inFlight := journal().InFlight
	require.NotNil(t, inFlight)

	// Restart the server while the workers run the steps of the dead
	// coordinator.
	srv.Restart()

	resume := startChild(t, "resume", "resume", "--repo", repo, "--json")
	done := make(chan error, 1)
	go func() { done <- resume.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatalf("resume did not end:\n%s", resume.output(t))
	}
	out := resume.output(t)
	require.Equal(t, 0, resume.cmd.ProcessState.ExitCode(), out)
	jsonStart := strings.Index(out, "{\n")
	require.GreaterOrEqual(t, jsonStart, 0, out)
	var res bisect.Result
	require.NoError(t, json.NewDecoder(strings.NewReader(out[jsonStart:])).Decode(&res), out)
	require.NotNil(t, res.FirstBad, out)
	assert.Equal(t, commits[firstBad], *res.FirstBad)

	ids, tested := map[string]bool{}, map[string]bool{}
	var lostBy string
	for _, v := range journal().Verdicts {
		assert.False(t, ids[v.ID], "step %s journaled twice", v.ID)
		assert.False(t, tested[v.Commit], "commit %s judged twice", v.Commit)
		ids[v.ID], tested[v.Commit] = true, true
		assert.NotEmpty(t, v.Worker)
		if v.ID == lostStep {
			lostBy = v.Worker
		}
	}
	for _, s := range res.Steps {
		assert.NotEmpty(t, s.Worker, "the result names the worker of every step")
	}
	if lostBy != "" {
		assert.NotEqual(t, killed.Name, lostBy, "the killed worker's step was done by another")
	}

	// Steps that ran more than once, by the workers' logs; a step sent
	// again under a new id (-r1) counts as the same step.
	runs := map[string]int{}
	started := regexp.MustCompile(`step (\S+?)(-r\d+)?: (verify|bisect) `)
	for _, w := range workers {
		for _, m := range started.FindAllStringSubmatch(w.output(t), -1) {
			runs[m[1]]++
		}
	}
	// The step in flight when the coordinator was killed ran once, or,
	// when the coordinator died before sending it and the resumed search
	// no longer needed it, never; then it has no verdict either.
	assert.LessOrEqual(t, runs[inFlight.ID], 1, "the step in flight when the coordinator was killed ran more than once")
	if runs[inFlight.ID] == 0 {
		assert.False(t, ids[inFlight.ID], "step %s has a verdict but never ran", inFlight.ID)
	}
	var redone []string
	for id, n := range runs {
		if n > 1 {
			redone = append(redone, id)
		}
	}
	assert.Equal(t, []string{lostStep}, redone, "only the killed worker's step ran twice")
	t.Logf("killed %s in step %s; %d steps ran, %d verdicts; redone: %v", killed.Name, lostStep, len(runs), len(ids), redone)
	if t.Failed() {
		t.Log(out)
		for n, w := range workers {
			t.Log(n, w.output(t))
		}
		t.Log(start.output(t))
	}
}

// runWorker runs 'sxbisect worker' in this process until the test ends.
func runWorker(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, &Env{Stdout: io.Discard, Stderr: io.Discard}, append([]string{"worker", "--dir", t.TempDir(), "--ack-wait", "2s"}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, exitInterrupted, <-done, "a worker stopped by a signal says so")
	})
}

// The commands of many machines, in one process: a worker with a label,
// 'workers' listing it, 'start --nats' with --worker-label, 'status' and
// 'report' naming the worker of the steps, 'resume' going to the workers
// again, and 'batch --nats' running a timing job beside another.
func TestWorkerCommands(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 12)
	runWorker(t, "--nats", srv.URL(), "--name", "deb1", "--label", "os=debian", "--slots", "2")
	waitFor(t, 10*time.Second, "the worker's entry", func() bool {
		_, out, _ := sxbisect(t, "workers", "--nats", srv.URL())
		return strings.Contains(out, "deb1")
	})
	status, out, stderr := sxbisect(t, "workers", "--nats", srv.URL())
	require.Equal(t, 0, status, stderr)
	assert.Regexp(t, `deb1  host \S+  slots 2  labels os=debian  up \d+s\n    idle\n`, out)
	status, out, stderr = sxbisect(t, "workers", "--nats", srv.URL(), "--json")
	require.Equal(t, 0, status, stderr)
	var listed workersJSON
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
	assert.Equal(t, bisect.JSONSchema, listed.Schema)
	require.Len(t, listed.Workers, 1)
	assert.Equal(t, []string{"os=debian"}, listed.Workers[0].Labels)

	status, out, stderr = sxbisect(t, "start", "--repo", repo, "--nats", srv.URL(), "--worker-label", "os=debian",
		"--run", `test "$(cat value)" -lt 8`, "--json", commits[0], "main")
	require.Equal(t, exitFound, status, stderr)
	assert.Contains(t, stderr, "1 live workers with the labels os=debian")
	var res bisect.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, commits[8], *res.FirstBad)
	for _, s := range res.Steps {
		assert.Equal(t, "deb1", s.Worker)
	}
	status, out, _ = sxbisect(t, "status", "--repo", repo)
	require.Equal(t, 0, status)
	assert.Contains(t, out, fmt.Sprintf("measured by workers: deb1 (%d)", len(res.Steps)))
	status, out, _ = sxbisect(t, "report", "--repo", repo)
	require.Equal(t, 0, status)
	assert.Contains(t, out, "| seconds | worker |")
	assert.Contains(t, out, "steps measured by workers through "+srv.URL())

	// A finished session's resume prints its result again; one started
	// here cannot be sent to workers afterwards.
	status, _, stderr = sxbisect(t, "resume", "--repo", repo)
	assert.Equal(t, exitFound, status, stderr)
	local, lc := gitfixture.ValueRepo(t, 6)
	sxbisect(t, "start", "--repo", local, "--run", "exit 200", lc[0], "main")
	status, _, stderr = sxbisect(t, "resume", "--repo", local, "--nats", srv.URL())
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "was started without --nats")

	dir := t.TempDir()
	plan := writePlan(t, dir, fmt.Sprintf(`
repo = %q
good = %q
bad = "main"

[[job]]
name = "timing"
run = 'sleep 0.02; test "$(cat value)" -lt 5'
max-ratio = ["wall=3"]
max-load = 1000

[[job]]
name = "plain"
run = 'test "$(cat value)" -lt 3'
`, repo, commits[0]))
	status, got, stderr := runBatch(t, plan, "--nats", srv.URL())
	require.Equal(t, exitFound, status, stderr)
	assert.Contains(t, stderr, "timing: started (timing: alone on each worker)")
	assert.Equal(t, commits[5], *got.Jobs[got.job(t, "timing")].FirstBad)
	assert.Equal(t, commits[3], *got.Jobs[got.job(t, "plain")].FirstBad)
}

// What cannot work, or would open the workers to anyone, is refused with
// one line that says what to do.
func TestRemoteFlagsRefuseWhatCannotWork(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 4)
	srv := natstest.Start(t, natstest.Options{})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"start", "--repo", repo, "--run", "true", "--worker-label", "os=debian", commits[0], "main"}, "give the server with --nats URL"},
		{[]string{"start", "--repo", repo, "--run", "true", "--nats", "nats://me:pw@127.0.0.1:4222", commits[0], "main"}, "holds credentials"},
		{[]string{"start", "--repo", repo, "--run", "true", "--nats", "nats://127.0.0.1:4222", "--worker-label", "debian", commits[0], "main"}, "is not KEY=VALUE"},
		{[]string{"worker", "--nats", "nats://build-farm.example:4222"}, "no credentials are given"},
		{[]string{"worker", "--nats", "nats://127.0.0.1:4222", "--slots", "0"}, "--slots must be 1 or more"},
		{[]string{"worker", "--nats", "nats://127.0.0.1:4222", "--shared-cache-max", "lots"}, "is not a size"},
		{[]string{"worker", "--nats", "nats://127.0.0.1:4222", "--shared-cache-max", "0"}, "must be more than 0"},
		{[]string{"worker", "--nats", "nats://127.0.0.1:4222", "--no-shared-cache", "--shared-cache-max", "1G"}, "give one of them"},
		{[]string{"workers"}, "give the NATS server with --nats URL"},
		{[]string{"start", "--repo", repo, "--nats", srv.URL(), commits[0], "main"}, "nothing for the workers to test"},
		{[]string{"start", "--repo", repo, "--nats", srv.URL(), "--run", "true", "--build", "true", "--prefer-cached", commits[0], "main"}, "drop --prefer-cached"},
		{[]string{"start", "--repo", repo, "--run", "true", "--worker-wait", "30m", commits[0], "main"}, "give the server with --nats URL"},
		{[]string{"start", "--repo", repo, "--nats", srv.URL(), "--run", "true", "--worker-wait", "-1m", commits[0], "main"}, "a duration cannot be negative"},
	}
	for _, c := range cases {
		status, _, stderr := sxbisect(t, c.args...)
		assert.Equal(t, exitUsage, status, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	}
}

// A worker cut off past the ack deadline (stopped with SIGSTOP, a
// partition) has its step run by another; when it comes back, it finds the
// step done and stops it, or publishes the same step's result, of which
// the server keeps one: the session journals one verdict.
func TestAPartitionThatHealsGivesOneVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 8)
	workers := map[string]*child{}
	for _, name := range []string{"w1", "w2"} {
		workers[name] = startChild(t, name, "worker", "--nats", srv.URL(), "--dir", filepath.Join(t.TempDir(), name),
			"--name", name, "--ack-wait", "2s")
	}
	conn, err := remote.Connect(context.Background(), remote.Config{URL: srv.URL()}, remote.Deadlines{})
	require.NoError(t, err)
	defer conn.Close()
	waitFor(t, 10*time.Second, "two live workers", func() bool {
		list, _ := conn.Workers(context.Background())
		return len(list) == 2
	})
	// The good end's first run is long; the runs after it are not.
	marker := filepath.Join(t.TempDir(), "first")
	run := fmt.Sprintf(`v=$(cat value); if [ $v -eq 0 ] && mkdir %s 2>/dev/null; then sleep 3; else sleep 0.1; fi; test $v -lt 5`, marker)
	type result struct {
		status      int
		out, stderr string
	}
	done := make(chan result, 1)
	go func() {
		status, out, stderr := sxbisect(t, "start", "--repo", repo, "--nats", srv.URL(), "--run", run, "--json", commits[0], "main")
		done <- result{status, out, stderr}
	}()
	var cut remote.WorkerInfo
	waitFor(t, 10*time.Second, "a worker testing the good end", func() bool {
		list, _ := conn.Workers(context.Background())
		for _, w := range list {
			if len(w.Jobs) > 0 && w.Jobs[0].Commit == commits[0] {
				cut = w
				return true
			}
		}
		return false
	})
	require.NoError(t, workers[cut.Name].cmd.Process.Signal(syscall.SIGSTOP))
	step := cut.Jobs[0].ID
	waitFor(t, 15*time.Second, "the good end's verdict from the other worker", func() bool {
		j, err := bisect.ReadJournal(repo, "default")
		if err != nil {
			return false
		}
		j.Close()
		return len(j.Verdicts) > 0
	})
	time.Sleep(time.Second) // the cut-off worker's run ends meanwhile
	require.NoError(t, workers[cut.Name].cmd.Process.Signal(syscall.SIGCONT))
	waitFor(t, 10*time.Second, "the cut-off worker to find the step done", func() bool {
		out := workers[cut.Name].output(t)
		return strings.Contains(out, "step "+step+": its result was there already") ||
			strings.Contains(out, "step "+step+": done by another worker meanwhile")
	})
	r := <-done
	require.Equal(t, exitFound, r.status, r.stderr)
	j, err := bisect.ReadJournal(repo, "default")
	require.NoError(t, err)
	defer j.Close()
	verdicts := 0
	for _, v := range j.Verdicts {
		if v.ID == step {
			verdicts++
			assert.NotEqual(t, cut.Name, v.Worker)
		}
	}
	assert.Equal(t, 1, verdicts, "one verdict for the step that ran twice")
	js, err := jetstream.New(conn.NATS())
	require.NoError(t, err)
	results, err := js.Stream(context.Background(), remote.ResultStream)
	require.NoError(t, err)
	info, err := results.Info(context.Background(), jetstream.WithSubjectFilter("sxbisect.results.*."+step))
	require.NoError(t, err)
	assert.Len(t, info.State.Subjects, 1)
	for subject, n := range info.State.Subjects {
		assert.Equal(t, uint64(1), n, "results kept on %s", subject)
	}
}

// A worker killed with kill -9 leaves its test running; the worker started
// again in the same directory kills it before it takes any step.
func TestARestartedWorkerKillsWhatItsPredecessorLeft(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 4)
	dir := filepath.Join(t.TempDir(), "w")
	pidFile := filepath.Join(t.TempDir(), "pid")
	first := startChild(t, "first", "worker", "--nats", srv.URL(), "--dir", dir, "--name", "w")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, &Env{Stdout: io.Discard, Stderr: io.Discard},
			[]string{"start", "--repo", repo, "--nats", srv.URL(), "--run", fmt.Sprintf(`echo $$ > %s; exec sleep 60`, pidFile), commits[0], "main"})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var pid int
	waitFor(t, 10*time.Second, "the test to run", func() bool {
		data, err := os.ReadFile(pidFile)
		_, serr := fmt.Sscan(string(data), &pid)
		return err == nil && serr == nil
	})
	require.NoError(t, first.cmd.Process.Kill())
	_ = first.cmd.Wait()
	require.NoError(t, syscall.Kill(pid, 0), "the test outlived its worker")
	second := startChild(t, "second", "worker", "--nats", srv.URL(), "--dir", dir, "--name", "w")
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for the left test to be killed; the second worker said:\n%s\nthe first:\n%s", second.output(t), first.output(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	assert.Contains(t, second.output(t), "killed 1 processes left running by the worker that ran here before")
}

// With --worker-wait, a session whose steps no live worker can take
// stops, aborted and resumable, instead of waiting all night; once a
// worker is there, resume goes on with the steps left queued.
func TestNoWorkerForTheWaitStopsTheSession(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := gitfixture.ValueRepo(t, 12)
	runWorker(t, "--nats", srv.URL(), "--name", "other", "--label", "os=fedora")
	start := startChild(t, "start", "start", "--repo", repo, "--nats", srv.URL(), "--worker-label", "os=debian", "--worker-wait", "1s",
		"--run", `test "$(cat value)" -lt 8`, commits[0], "main")
	done := make(chan error, 1)
	go func() { done <- start.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = start.cmd.Process.Kill()
		t.Fatalf("the session waited on for a worker:\n%s", start.output(t))
	}
	status, out, stderr := start.cmd.ProcessState.ExitCode(), start.output(t), ""
	require.Equal(t, exitAborted, status, out)
	assert.Contains(t, out+stderr, "no live worker with the labels os=debian on "+srv.URL()+" for 1s (--worker-wait): start one")
	status, out, _ = sxbisect(t, "status", "--repo", repo)
	require.Equal(t, 0, status)
	assert.Contains(t, out, "aborted")

	runWorker(t, "--nats", srv.URL(), "--name", "deb1", "--label", "os=debian")
	status, out, stderr = sxbisect(t, "resume", "--repo", repo, "--json")
	require.Equal(t, exitFound, status, stderr)
	var res bisect.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, commits[8], *res.FirstBad)
}
