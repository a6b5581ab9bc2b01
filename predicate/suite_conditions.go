package predicate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/predicate/run"
)

// runPlace is where one run happens: the worktree, the environment that
// names the commit, and the log.
type runPlace struct {
	dir string
	env []string
	log string
}

// runResult is one run checked against every condition.
type runResult struct {
	m run.Measurement
	// measured is set when the test ran, so that m means something.
	measured bool
	sample   Sample
	// verdict is "" when every condition held, else what the run makes
	// of the commit (Bad or Skip), and reason says why.
	verdict Verdict
	reason  string
	// err stops the judgement: an *AbortError, a cancelled context, or a
	// failure to run the test at all.
	err error
	// machineOOM: the machine, not our limit, ran out of memory; the run
	// says nothing and is taken again.
	machineOOM bool
}

// sample runs the test once at p and checks it. A run that failed while
// the machine ran out of memory (not the test's limit) is taken again,
// once; a second such run makes the commit skipped. basePass, when not nil, is the baseline's scoreboard
// pass count.
func (s *Suite) sample(ctx context.Context, p runPlace, basePass *float64) runResult {
	r := s.runOnce(ctx, p, basePass)
	if r.machineOOM && r.err == nil {
		r = s.runOnce(ctx, p, basePass)
		if r.machineOOM && r.err == nil {
			r.verdict, r.reason = Skip, "machine out of memory twice (not the test's limit)"
		}
	}
	return r
}

// loadPoll is how often the load average is read while waiting for a
// quiet machine; the kernel updates it every 5 seconds.
const loadPoll = 5 * time.Second

func (s *Suite) runOnce(ctx context.Context, p runPlace, basePass *float64) runResult {
	measuring := len(s.cfg.Ratios) > 0
	var waited time.Duration
	if measuring && s.cfg.MaxLoad > 0 {
		var err error
		if waited, err = s.waitQuiet(ctx); err != nil {
			return runResult{err: err}
		}
	}

	watch := newOutputWatch(s.expect, s.scoreboard)
	logPath := p.log
	var before fileState
	if s.cfg.ScoreboardFile != "" {
		before = statFile(p.dir, s.cfg.ScoreboardFile)
	}

	spec := run.Spec{
		Command:     s.cfg.Run,
		Dir:         p.dir,
		Env:         append(append([]string(nil), s.cfg.Env...), p.env...),
		Timeout:     s.cfg.Timeout,
		LogPath:     logPath,
		LogCap:      s.cfg.LogCap,
		MemoryLimit: s.cfg.MemoryLimit,
	}
	if watch.needed() {
		spec.OnOutput = watch.block
	}
	loadBefore := s.readLoad()
	m, err := s.run(ctx, spec)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return runResult{m: m, measured: !m.Start.IsZero(), err: err}
		}
		return runResult{err: fmt.Errorf("%s: %w", s.name, err)}
	}
	loadAfter := s.readLoad()
	// The runner's figures where it has them (-1 when unknown; 0 from a
	// runner that does not measure load), else ours.
	if m.LoadBefore > 0 || m.LoadAfter > 0 {
		loadBefore, loadAfter = m.LoadBefore, m.LoadAfter
	}
	watch.finish(logPath, m)

	r := runResult{m: m, measured: true, sample: s.sampleOf(m, waited, loadBefore, loadAfter)}
	s.check(&r, watch, p.dir, before, basePass)
	if m.MachineOOM && !m.OOMKilled {
		// The machine ran out of memory during the run. A run that
		// passed anyway is good evidence (an OOM kill cannot make a test
		// pass), though not for wall time; a failure may be the
		// machine's doing, not the commit's.
		r.sample.Metrics["machine_oom"] = 1
		r.sample.Quiet = false
		var abort *AbortError
		if r.verdict != "" || errors.As(r.err, &abort) {
			r.machineOOM, r.verdict, r.reason, r.err = true, "", "", nil
		}
	}
	return r
}

// sampleOf names the figures of one run: cpu_s (user plus system time,
// of the whole tree where the runner counts it), wall_s, mem_mb (the
// tree's peak memory, else the largest process's; none when the runner
// knows neither), exit_code, and as they apply timed_out, oom, wait_s,
// load_before and load_after.
func (s *Suite) sampleOf(m run.Measurement, waited time.Duration, loadBefore, loadAfter float64) Sample {
	mem := m.PeakMemory
	if mem <= 0 {
		mem = m.MaxRSS
	}
	x := map[string]float64{
		"cpu_s":     (m.User + m.Sys).Seconds(),
		"wall_s":    m.Wall.Seconds(),
		"exit_code": float64(m.ExitCode),
	}
	if mem > 0 {
		// A run too short to be sampled has no figure, not 0.
		x["mem_mb"] = float64(mem) / (1 << 20)
	}
	if m.TimedOut {
		x["timed_out"] = 1
	}
	if s.cfg.MemoryLimit > 0 || m.OOMKilled {
		x["oom"] = b2f(m.OOMKilled)
	}
	if waited > 0 {
		x["wait_s"] = waited.Seconds()
	}
	if loadBefore >= 0 {
		x["load_before"] = loadBefore
	}
	if loadAfter >= 0 {
		x["load_after"] = loadAfter
	}
	if m.CPUPressure > 0 {
		x["cpu_pressure"] = m.CPUPressure
	}
	return Sample{Metrics: x, Quiet: s.quiet(x, loadBefore, loadAfter)}
}

// quiet says whether the machine was quiet during a run: the 1-minute
// load under the limit (MaxLoad, else the number of CPUs) before the run,
// and after it less the run's own share (its CPU time over its wall
// time, what it can have added to the load). A run whose load is unknown
// counts as quiet.
func (s *Suite) quiet(x map[string]float64, before, after float64) bool {
	if before < 0 && after < 0 {
		return true
	}
	limit := s.cfg.MaxLoad
	if limit <= 0 {
		limit = float64(s.numCPU)
	}
	own := 0.0
	if w := x["wall_s"]; w > 0 {
		own = min(x["cpu_s"]/w, float64(s.numCPU))
	}
	return before < limit && after < limit+own
}

// check applies the conditions to a run, in this order: an OOM kill inside
// the limit (bad), a timeout (see Expect and OnTimeout), the exit status,
// the expected line, the scoreboard.
func (s *Suite) check(r *runResult, w *outputWatch, dir string, before fileState, basePass *float64) {
	m := r.m
	if m.OOMKilled {
		r.verdict, r.reason = Bad, "oom"
		if s.cfg.MemoryLimit > 0 {
			r.reason = "oom (limit " + formatSize(s.cfg.MemoryLimit) + ")"
		}
		return
	}
	switch {
	case m.TimedOut && w.matched:
		// The expected output came before the deadline: the deadline
		// is the end of the test, and there is no exit status to read.
	case m.TimedOut:
		s.onTimeout(r)
		return
	default:
		v, reason, err := exitMeaning(m)
		var crash *AbortError
		if errors.As(err, &crash) && crash.Crash && s.cfg.OnCrash != PolicyAbort {
			v, reason, err = Bad, "crash: "+crashReason(m), nil
			if s.cfg.OnCrash == PolicySkip {
				v = Skip
			}
		}
		switch {
		case err != nil:
			r.err = err
			return
		case v == Skip, v == Bad && !s.cfg.IgnoreExit:
			r.verdict, r.reason = v, reason
			return
		}
	}
	if why := w.unseen(); why != "" {
		// Output the watch did not see may hold what it looks for: no
		// verdict from the rest.
		r.verdict, r.reason = Skip, why
		return
	}
	if s.expect != nil && !w.matched {
		r.verdict, r.reason = Bad, "no line matched "+s.cfg.Expect
		return
	}
	if !s.hasScoreboard() {
		return
	}
	pass, total, problem := w.pass, w.total, ""
	if s.scoreboard != nil && !w.scored {
		problem = "no line matched the scoreboard " + s.cfg.Scoreboard
	}
	if s.cfg.ScoreboardFile != "" {
		pass, total, problem = readScoreboardFile(dir, s.cfg.ScoreboardFile, before)
	}
	if problem != "" {
		r.verdict, r.reason = Bad, problem
		return
	}
	r.sample.Metrics["pass"], r.sample.Metrics["total"] = pass, total
	if basePass != nil && pass < *basePass {
		r.verdict, r.reason = Bad, fmt.Sprintf("scoreboard %g/%g < baseline %g", pass, total, *basePass)
	}
}

// onTimeout applies the OnTimeout policy to a run that timed out before
// any expected line.
func (s *Suite) onTimeout(r *runResult) {
	reason := "timeout after " + s.cfg.Timeout.String()
	if s.expect != nil {
		reason = "no line matched " + s.cfg.Expect + " (" + reason + ")"
	}
	switch s.cfg.OnTimeout {
	case PolicyBad, "":
		r.verdict, r.reason = Bad, reason
	case PolicySkip:
		r.verdict, r.reason = Skip, reason
	case PolicyAbort:
		r.err = &AbortError{Reason: fmt.Sprintf("test timed out after %s and on-timeout is abort", s.cfg.Timeout)}
	default:
		r.err = fmt.Errorf("%s: test timed out after %s and on-timeout %q is no policy (valid: skip, bad, abort)", s.name, s.cfg.Timeout, s.cfg.OnTimeout)
	}
}

// waitQuiet waits, at most MaxLoadWait, for the 1-minute load average to
// fall below MaxLoad, and returns how long it waited. When the load cannot
// be read it does not wait.
func (s *Suite) waitQuiet(ctx context.Context) (time.Duration, error) {
	var waited time.Duration
	for {
		load, err := s.loadAvg()
		if err != nil || load < s.cfg.MaxLoad || waited >= s.cfg.MaxLoadWait {
			return waited, nil
		}
		step := min(loadPoll, s.cfg.MaxLoadWait-waited)
		if err := s.sleep(ctx, step); err != nil {
			return waited, err
		}
		waited += step
	}
}

// readLoad returns the 1-minute load average, or -1 when it is unknown.
func (s *Suite) readLoad() float64 {
	load, err := s.loadAvg()
	if err != nil || load < 0 {
		return -1
	}
	return load
}

// loadAverage reads the 1-minute load average from /proc/loadavg.
func loadAverage() (float64, error) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, errors.New("/proc/loadavg is empty")
	}
	return strconv.ParseFloat(fields[0], 64)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// crashReason says how a run crashed: "SIGSEGV", "exit 139".
func crashReason(m run.Measurement) string {
	if m.Signal != "" {
		return m.Signal
	}
	return fmt.Sprintf("exit %d", m.ExitCode)
}
