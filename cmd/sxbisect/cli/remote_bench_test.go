package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/natstest"
)

// The measurements of many machines, each in one run, as ratios:
//
//	go test ./cmd/sxbisect/cli -run '^$' -bench Remote -benchtime 1x
//
// They run workers as processes of this machine, so that a batch's
// timing jobs, which run alone, can run at once; their tests sleep rather
// than compute, so that a machine of two cores can hold three of them.

// benchMain runs sxbisect in this process, failing the benchmark on an
// exit status other than 0; it returns stdout.
func benchMain(b *testing.B, args ...string) string {
	b.Helper()
	var stdout, stderr strings.Builder
	if status := Main(context.Background(), &Env{Stdout: &stdout, Stderr: &stderr}, args); status != 0 {
		b.Fatalf("sxbisect %s: exit %d: %s", strings.Join(args, " "), status, stderr.String())
	}
	return stdout.String()
}

// benchWorkers starts n worker processes on the server and waits for them.
func benchWorkers(b *testing.B, url string, n int) []*child {
	return benchWorkersNamed(b, url, "bw", n)
}

// benchWorkersNamed starts n worker processes named prefix1... prefixN,
// each with a new directory, and waits for them.
func benchWorkersNamed(b *testing.B, url, prefix string, n int) []*child {
	b.Helper()
	var children []*child
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		children = append(children, startChild(b, name, "worker", "--nats", url, "--dir", filepath.Join(b.TempDir(), name), "--name", name))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := benchMain(b, "workers", "--nats", url, "--json")
		var list struct{ Workers []struct{ Name string } }
		if json.Unmarshal([]byte(out), &list) == nil && countPrefixed(list.Workers, prefix) == n {
			return children
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d workers did not start", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timingPlan writes a plan of three timing jobs, three guests' suites
// that one commit made slower: wall time over 1.5 times the good
// commit's, a test that sleeps 0.1 s, 0.25 s from commit 22 on. The jobs
// are alike, so that the best a batch can do on three workers is a third
// of one machine's time.
func timingPlan(b *testing.B) string {
	b.Helper()
	repo, commits := gitfixture.ValueRepo(b, 40)
	dir := b.TempDir()
	var jobs strings.Builder
	for _, guest := range []string{"tcl", "prolog", "erlang"} {
		fmt.Fprintf(&jobs, `
[[job]]
name = "%s-wall"
run = 'if [ "$(cat value)" -ge 22 ]; then sleep 0.25; else sleep 0.1; fi'
`, guest)
	}
	plan := filepath.Join(dir, "plan.toml")
	content := fmt.Sprintf(`repo = %q
good = %q
bad = "main"
max-ratio = ["wall=1.5"]
max-load = 1000
%s`, repo, commits[0], jobs.String())
	if err := os.WriteFile(plan, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	return plan
}

// A batch of three timing jobs on one machine runs them one after the
// other; on three workers, at once. The ratio is the workers' wall time
// over the one machine's.
func BenchmarkRemoteBatchOfThreeTimingJobs(b *testing.B) {
	for range b.N {
		local := timingPlan(b)
		began := time.Now()
		jobs, longest := batchJobs(b, benchMain(b, "batch", "--json", local))
		alone := time.Since(began)

		srv := natstest.Start(b, natstest.Options{})
		workers := benchWorkers(b, srv.URL(), 3)
		remote := timingPlan(b)
		began = time.Now()
		remoteJobs, _ := batchJobs(b, benchMain(b, "batch", "--json", remote, "--nats", srv.URL()))
		spread := time.Since(began)
		b.Logf("one machine: %s; three workers: %s", jobs, remoteJobs)
		if dir := os.Getenv("BENCHLOG"); dir != "" {
			for i, w := range workers {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("bw%d", i+1)), []byte(w.output(b)), 0o644)
			}
		}
		b.ReportMetric(alone.Seconds(), "one-machine-s")
		b.ReportMetric(spread.Seconds(), "three-workers-s")
		b.ReportMetric(spread.Seconds()/alone.Seconds(), "wall-ratio")
		// The best three machines can do: the longest job, alone.
		b.ReportMetric(longest/alone.Seconds(), "best-ratio")
	}
}

// The cost of a step through NATS: the same session (a trivial test,
// twenty-odd steps) on a local bench and on workers, the second run of
// each so that clones, bundles and worktrees are there already; the
// difference over the steps. With several idle workers, a step waits a
// little for the one that ran the session's last step (see Job.Prefer).
func BenchmarkRemoteCostPerStep(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			for range b.N {
				costPerStep(b, n)
			}
		})
	}
}

func costPerStep(b *testing.B, workers int) {
	repo, commits := gitfixture.ValueRepo(b, 1024)
	srv := natstest.Start(b, natstest.Options{})
	benchWorkers(b, srv.URL(), workers)
	args := []string{"start", "--repo", repo, "--run", `test "$(cat value)" -lt 700`, "--confirm", "5", "--json"}
	session := func(name string, remote bool) (time.Duration, int) {
		a := append(append([]string(nil), args...), "--name", name, commits[0], "main")
		if remote {
			a = append(a, "--nats", srv.URL())
		}
		began := time.Now()
		out := benchMain(b, a...)
		took := time.Since(began)
		var res bisect.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			b.Fatal(err)
		}
		return took, len(res.Steps)
	}
	session("warm-local", false)
	for i := range workers {
		session(fmt.Sprintf("warm-remote-%d", i), true)
	}
	local, steps := session("local", false)
	remote, remoteSteps := session("remote", true)
	if steps != remoteSteps {
		b.Fatalf("%d steps here, %d on the workers", steps, remoteSteps)
	}
	b.ReportMetric(float64(steps), "steps")
	b.ReportMetric(local.Seconds()*1000/float64(steps), "local-ms/step")
	b.ReportMetric(remote.Seconds()*1000/float64(steps), "remote-ms/step")
	b.ReportMetric((remote-local).Seconds()*1000/float64(steps), "nats-ms/step")
}

// batchJobs says how long each job of 'batch --json' took, in how many
// steps, and on which workers.
func batchJobs(b *testing.B, out string) (string, float64) {
	b.Helper()
	var rep struct {
		Jobs []struct {
			Name    string  `json:"name"`
			Elapsed float64 `json:"elapsed_s"`
			Steps   []struct {
				Worker string `json:"worker"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		b.Fatal(err)
	}
	var parts []string
	longest := 0.0
	for _, j := range rep.Jobs {
		longest = max(longest, j.Elapsed)
		workers := make([]string, len(j.Steps))
		for i, s := range j.Steps {
			workers[i] = s.Worker
		}
		parts = append(parts, fmt.Sprintf("%s %.1fs %d steps %s", j.Name, j.Elapsed, len(j.Steps), bisect.CountWorkers(workers)))
	}
	return strings.Join(parts, "; "), longest
}

func countPrefixed(workers []struct{ Name string }, prefix string) int {
	n := 0
	for _, w := range workers {
		if strings.HasPrefix(w.Name, prefix) {
			n++
		}
	}
	return n
}

// stopWorkers stops worker processes as Ctrl-C would, and waits for them.
func stopWorkers(workers []*child) {
	for _, w := range workers {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range workers {
		_ = w.cmd.Wait()
	}
}

// The shared build cache, in one run: a session of three workers over a
// range whose build inputs change at every fifth commit (a 0.5 s build),
// with the shared tier empty (cold), then the same session on three fresh
// workers, whose own caches are empty, with the shared tier the first
// filled (warm). The builds are counted by the build command itself.
func BenchmarkRemoteSharedBuildCache(b *testing.B) {
	for range b.N {
		repo := filepath.Join(b.TempDir(), "repo")
		commits, err := gitfixture.Build(repo, gitfixture.Linear(200, func(i int) map[string]string {
			return map[string]string{"src/level": fmt.Sprint(i / 5), "value": fmt.Sprint(i)}
		}))
		if err != nil {
			b.Fatal(err)
		}
		counter := filepath.Join(b.TempDir(), "builds")
		srv := natstest.Start(b, natstest.Options{})
		session := func(name string) (time.Duration, int, int) {
			before := countLines(counter)
			began := time.Now()
			out := benchMain(b, "start", "--repo", repo, "--name", name, "--json", "--nats", srv.URL(), "--parallel", "3",
				"--build", fmt.Sprintf(`echo x >> '%s' && sleep 0.5 && mkdir -p out && cp src/level out/level`, counter),
				"--build-input", "src", "--build-output", "out",
				"--run", `sleep 0.05; test "$(cat value)" -lt 137`, commits[0], "main")
			took := time.Since(began)
			var res bisect.Result
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				b.Fatal(err)
			}
			if res.FirstBad == nil || *res.FirstBad != commits[137] {
				b.Fatalf("session %s: %s", name, res.Message)
			}
			return took, countLines(counter) - before, len(res.Steps)
		}
		cold := benchWorkersNamed(b, srv.URL(), "cold", 3)
		coldWall, coldBuilds, coldSteps := session("cold")
		stopWorkers(cold)
		benchWorkersNamed(b, srv.URL(), "warm", 3)
		warmWall, warmBuilds, warmSteps := session("warm")
		b.Logf("cold: %d steps, %d builds, %s; warm: %d steps, %d builds, %s", coldSteps, coldBuilds, coldWall.Round(time.Millisecond),
			warmSteps, warmBuilds, warmWall.Round(time.Millisecond))
		b.ReportMetric(float64(coldBuilds), "cold-builds")
		b.ReportMetric(float64(warmBuilds), "warm-builds")
		b.ReportMetric(coldWall.Seconds(), "cold-s")
		b.ReportMetric(warmWall.Seconds(), "warm-s")
		b.ReportMetric(warmWall.Seconds()/coldWall.Seconds(), "wall-ratio")
	}
}

// countLines counts the lines of a file, 0 when it is not there.
func countLines(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}
