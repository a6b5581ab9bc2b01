package predicate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/predicate/stats"
)

// SuiteName is the name Suite is registered under.
const SuiteName = "suite"

// Defaults of SuiteConfig.
const (
	DefaultRepeat         = 3
	DefaultMaxRepeat      = 15
	DefaultBaselineRepeat = 5
	DefaultMaxLoadWait    = 2 * time.Minute
	// maxRepeatLimit bounds MaxRepeat and BaselineRepeat: beyond it a
	// bisection step takes too long to be worth a decision.
	maxRepeatLimit = 100
)

// SuiteConfig is what a Suite checks. Every condition given must hold for a
// commit to be good; the zero value of a field means the condition is not
// asked for (or the default, for the sampling counts).
type SuiteConfig struct {
	// Run is the test command, run with sh -c in the worktree.
	Run string
	// Env is added to the test's environment (KEY=VALUE).
	Env []string
	// Timeout, when non-zero, bounds each run's wall time.
	Timeout time.Duration
	// OnTimeout is what a timeout makes of the commit (default bad); see
	// Expect for a timeout after the expected output was seen.
	OnTimeout Policy
	// OnCrash is what a crash makes of the commit: a death by a signal
	// that is neither our timeout nor an OOM kill inside MemoryLimit, or
	// an exit status of 128 or more. The default, abort, stops the
	// session as git bisect run does; for a language runtime a segfault
	// is often the regression itself (bad), or noise to step over (skip).
	OnCrash Policy

	// MemoryLimit, when non-zero, confines each run's whole process tree
	// to that many bytes. An OOM kill inside the limit makes the commit
	// bad, reason "oom (limit 512 MiB)", although the test's status is
	// then 137. Where the runner can confine no tree (no cgroup), every
	// run fails and the session stops.
	//
	// With or without a limit, a run that fails (any condition, or a
	// death by a signal) while the machine ran out of memory outside our
	// limit says nothing about the commit: it is taken again, once, and a
	// second such failure skips the commit ("machine out of memory
	// twice"). A run that passes despite it counts, but not as quiet.
	MemoryLimit int64

	// IgnoreExit drops the git meaning of exit statuses 1-127: a
	// performance or scoreboard suite may not care whether the test
	// "failed". Exit 125 still skips the commit (the test says it cannot
	// judge it), and statuses of 128 or more and deaths by a signal that
	// is neither our timeout nor an OOM kill inside MemoryLimit still stop
	// the session, as a crashed run's figures mean nothing.
	IgnoreExit bool

	// Expect is a regular expression: the commit is bad unless at least
	// one line of output matches it. Lines are watched as they come, so a
	// run cut short by Timeout is judged on what it printed before: when
	// a line matched, the deadline is taken as the end of the test and the
	// other conditions decide (the exit status, which a killed run does
	// not have, is not consulted); when none matched, OnTimeout decides
	// as for any timeout, and its default, bad, gives the reason
	// `no line matched "(ok-len" (timeout after 2m0s)`.
	Expect string

	// Scoreboard is a regular expression with the named groups pass and
	// total, such as `(?P<pass>\d+)/(?P<total>\d+) passed`, applied to
	// each line of output; the last matching line counts. The commit is
	// bad when pass is below the baseline's (the lowest pass count of the
	// baseline runs), or when no line matches.
	Scoreboard string

	// ScoreboardFile is a JSON file, relative to the worktree, that the
	// test writes; read after each run, and compared like Scoreboard. The
	// accepted shapes are an object with a pass count ("pass", "passed",
	// "passes", "ok" or "passing") and either a total ("total", "count",
	// "tests") or a failure count ("fail", "failed", "fails", "failures"),
	// such as {"pass":530,"total":530} or {"passed":528,"failed":2}; the
	// same object under "totals", "total", "summary", "overall",
	// "scoreboard", "score", "results" or "result"; or a string "530/530"
	// under "total", "scoreboard", "score", "results" or "result". Keys
	// are matched ignoring case; counts may be numbers or numeric strings. A file the run did not write (missing, or with the size,
	// modification time and inode it had before the run: a stale one from
	// an earlier run or commit) makes the commit bad.
	ScoreboardFile string

	// Ratios are bounds relative to the baseline, such as cpu=1.5: the
	// commit is bad when the metric at the candidate is more than Max
	// times the same metric at the good commit, as package stats decides
	// from repeated samples.
	Ratios []Ratio
	// Repeat is the number of runs per commit before the first decision
	// on Ratios (default 3); MaxRepeat the most runs (default 15), added
	// one at a time while the decision is undecided. Without Ratios a
	// commit is run once: one failing run decides the other conditions.
	Repeat    int
	MaxRepeat int
	// BaselineRepeat is the number of runs at the good commit when Ratios
	// are given (default 5); a scoreboard alone needs one.
	BaselineRepeat int

	// MaxLoad, when non-zero, is a limit on the machine's 1-minute load
	// average: before each measuring run (with Ratios) the suite waits
	// for the load to fall below it, at most MaxLoadWait (default 2m),
	// and records the wait in the sample (wait_s). A run is quiet when the
	// load was under the limit before it and, less the run's own share,
	// after it; without MaxLoad the limit is the number of CPUs. Wall-time
	// ratios use quiet samples only. The 1-minute average decays slowly
	// and counts the previous run's own work, so set MaxLoad above the
	// test's own parallelism (2.5 for a single-threaded test on a machine
	// that should otherwise be idle, say).
	MaxLoad     float64
	MaxLoadWait time.Duration

	// LogCap bounds each run's log (run.Spec.LogCap): 0 is
	// run.DefaultLogCap, a negative cap keeps whole logs.
	LogCap int64
}

// Ratio bounds a metric relative to the baseline: bad when the candidate's
// is more than Max times the baseline's.
type Ratio struct {
	// Metric is "cpu" (user plus system time of the whole tree, where the
	// runner can count it), "wall" (elapsed time, quiet samples only) or
	// "mem" (the tree's peak memory, else the largest process's).
	Metric string
	Max    float64
}

// Metrics a Ratio can bound.
const (
	MetricCPU  = "cpu"
	MetricWall = "wall"
	MetricMem  = "mem"
)

// sampleKey is the sample metric a ratio reads.
func (r Ratio) sampleKey() string {
	switch r.Metric {
	case MetricWall:
		return "wall_s"
	case MetricMem:
		return "mem_mb"
	}
	return "cpu_s"
}

func (r Ratio) String() string { return fmt.Sprintf("%s=%g", r.Metric, r.Max) }

// Suite is the test command with every condition of its SuiteConfig: the
// exit status (with git bisect run's meanings, unless IgnoreExit), a
// timeout, a memory limit, expected output, a scoreboard, and ratios to
// the good commit decided from repeated samples. All must hold for a
// commit to be good; the first that fails decides, and Reason says which.
//
// A Suite with ratios or a scoreboard compares with the good commit, so it
// is a Baseliner; NeedsBaseline says whether it needs the baseline, and
// NeedsBaselineDir whether it takes fresh baseline samples beside the
// candidate's (see Judge).
//
// # Sampling
//
// Without Ratios a commit is run once. With them it is run Repeat times;
// when Candidate.BaselineDir is set, every candidate run is paired with a
// fresh run at the good commit there, in the order ABBA (candidate first
// in odd pairs, baseline first in even ones), so that a drift of the
// machine's speed falls on both sides alike. Every run is checked against
// every condition, and one failing run makes the commit bad at once. The
// ratios are then decided by package stats from the candidate samples
// against the stored baseline samples plus the fresh ones: any ratio bad
// makes the commit bad, all good make it good; otherwise one more pair is
// run, up to MaxRepeat, after which the commit is skipped with the figures
// in the reason ("cpu 1.48x baseline (1.31-1.62), undecided after 15
// samples"). A run cut short by the timeout after its expected line counts
// with the figures it reached, which are lower bounds. A fresh baseline
// run that fails a condition skips the commit ("baseline run failed: exit
// 1"): the candidate cannot be compared.
//
// Wall time is only compared between quiet runs (see MaxLoad): with fewer
// than 3 quiet runs on a side, the wall ratio stays undecided, more pairs
// are run, and at the cap the commit is skipped, with how many runs were
// quiet in the reason; when none of the first Repeat runs was quiet, at
// once. A busy machine thus costs samples and skips, never a wrong
// verdict. But a machine that stays busy would have every commit skipped,
// and the ends of the range taken as good and bad unverified: so when
// wall time cannot be judged for want of quiet runs at an end of the
// range (Candidate.End), or at 3 commits in a row, Judge returns an
// *AbortError that stops the session, resumably, saying that the machine
// is too busy to judge wall time and that CPU time, which contention
// hardly changes, is the metric to use.
//
// # Figures
//
// Each Sample has cpu_s, wall_s, mem_mb, exit_code and, where they apply,
// pass, total, oom, machine_oom, timed_out, wait_s, load_before,
// load_after and cpu_pressure (recorded, not used: a parallel test's own
// threads wait for CPUs too). The
// Judgement's Metrics are those of the last candidate run, with wall_s,
// user_s, sys_s and max_rss_mb as the exit-code predicate gives them,
// plus baseline_pass for a scoreboard, samples and baseline_samples (the
// fresh ones), and per ratio, under its metric's name: cpu_median,
// cpu_baseline_median, cpu_ratio (of the medians), cpu_low and cpu_high
// (the 98 % confidence interval of package stats), cpu_n and
// cpu_baseline_n (the samples used). Samples and BaselineSamples are
// every run's figures. The Baseline's Metrics are the medians cpu_s,
// wall_s (quiet runs) and mem_mb, the lowest pass with its total, and
// samples.
type Suite struct {
	cfg  SuiteConfig
	name string

	expect, scoreboard *regexp.Regexp

	// blindRun counts the commits in a row whose wall time could not be
	// judged for want of quiet runs (see wallBlind).
	blindMu  sync.Mutex
	blindRun int

	// Seams for tests: the runner, the load average and sleeping.
	run     func(context.Context, run.Spec) (run.Measurement, error)
	loadAvg func() (float64, error)
	sleep   func(context.Context, time.Duration) error
	numCPU  int
}

// NewSuite checks cfg and returns the Suite, or a one-line error that
// names the field and how to fix it.
func NewSuite(cfg SuiteConfig) (*Suite, error) {
	s, err := newSuite(cfg, SuiteName)
	if err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", SuiteName, err)
	}
	return s, nil
}

// newSuite fills the defaults and compiles the expressions; it checks no
// more than it must, so that Command keeps its own, later errors.
func newSuite(cfg SuiteConfig, name string) (*Suite, error) {
	if cfg.OnTimeout == "" {
		cfg.OnTimeout = PolicyBad
	}
	if cfg.OnCrash == "" {
		cfg.OnCrash = PolicyAbort
	}
	if cfg.Repeat == 0 {
		cfg.Repeat = DefaultRepeat
	}
	if cfg.MaxRepeat == 0 {
		cfg.MaxRepeat = max(DefaultMaxRepeat, cfg.Repeat)
	}
	if cfg.BaselineRepeat == 0 {
		cfg.BaselineRepeat = DefaultBaselineRepeat
	}
	if cfg.MaxLoadWait == 0 {
		cfg.MaxLoadWait = DefaultMaxLoadWait
	}
	s := &Suite{cfg: cfg, name: name, run: run.Run, loadAvg: loadAverage, sleep: sleepCtx, numCPU: runtime.NumCPU()}
	var err error
	if cfg.Expect != "" {
		if s.expect, err = regexp.Compile(cfg.Expect); err != nil {
			return nil, fmt.Errorf("%s: expect %q is no regular expression: %v", name, cfg.Expect, text.OneLine(err.Error()))
		}
	}
	if cfg.Scoreboard != "" {
		if s.scoreboard, err = regexp.Compile(cfg.Scoreboard); err != nil {
			return nil, fmt.Errorf("%s: scoreboard %q is no regular expression: %v", name, cfg.Scoreboard, text.OneLine(err.Error()))
		}
	}
	return s, nil
}

func (s *Suite) validate() error {
	c := s.cfg
	switch {
	case strings.TrimSpace(c.Run) == "":
		return errors.New("run (the test command) is required")
	case c.Timeout < 0:
		return fmt.Errorf("timeout %s is negative: give a duration such as 10m, or 0 for none", c.Timeout)
	case c.MemoryLimit < 0 || (c.MemoryLimit > 0 && c.MemoryLimit < 1<<20):
		return fmt.Errorf("memory limit of %d bytes is too small: give a size such as 512M or 2G", c.MemoryLimit)
	case c.Repeat < 1 || c.MaxRepeat < 1 || c.BaselineRepeat < 1:
		return errors.New("repeat, max-repeat and baseline-repeat must be at least 1")
	case c.MaxRepeat < c.Repeat:
		return fmt.Errorf("max-repeat %d is less than repeat %d: raise max-repeat", c.MaxRepeat, c.Repeat)
	case c.MaxRepeat > maxRepeatLimit || c.BaselineRepeat > maxRepeatLimit:
		return fmt.Errorf("max-repeat and baseline-repeat are at most %d", maxRepeatLimit)
	case c.MaxLoad < 0 || math.IsNaN(c.MaxLoad) || math.IsInf(c.MaxLoad, 0):
		return fmt.Errorf("max-load %v is not a load average: give e.g. 2 (or 0 for the number of CPUs)", c.MaxLoad)
	case c.MaxLoadWait < 0:
		return fmt.Errorf("max-load-wait %s is negative", c.MaxLoadWait)
	}
	if _, err := ParsePolicy(string(c.OnTimeout)); err != nil {
		return fmt.Errorf("on-timeout: %w", err)
	}
	if _, err := ParsePolicy(string(c.OnCrash)); err != nil {
		return fmt.Errorf("on-crash: %w", err)
	}
	if s.scoreboard != nil {
		for _, group := range []string{"pass", "total"} {
			if s.scoreboard.SubexpIndex(group) < 0 {
				return fmt.Errorf(`scoreboard %q has no group named %s: write it as in (?P<pass>\d+)/(?P<total>\d+)`, c.Scoreboard, group)
			}
		}
	}
	if c.ScoreboardFile != "" {
		if c.Scoreboard != "" {
			return errors.New("give scoreboard (a regular expression on the output) or scoreboard-file, not both")
		}
		if filepath.IsAbs(c.ScoreboardFile) || !filepath.IsLocal(c.ScoreboardFile) {
			return fmt.Errorf("scoreboard-file %q must be a path inside the worktree, relative to its top", c.ScoreboardFile)
		}
	}
	seen := map[string]bool{}
	for _, r := range c.Ratios {
		if err := r.validate(); err != nil {
			return err
		}
		if seen[r.Metric] {
			return fmt.Errorf("ratio for %s given twice: keep one", r.Metric)
		}
		seen[r.Metric] = true
	}
	if len(c.Ratios) > 0 {
		if c.MaxRepeat < 3 || c.BaselineRepeat < 3 {
			return errors.New("ratios need max-repeat and baseline-repeat of at least 3: fewer samples never decide")
		}
	}
	if c.IgnoreExit && c.Expect == "" && c.Scoreboard == "" && c.ScoreboardFile == "" && len(c.Ratios) == 0 && c.MemoryLimit == 0 {
		return errors.New("ignore-exit leaves nothing to judge: add expect, scoreboard, scoreboard-file, ratio or memory-limit")
	}
	return nil
}

func (r Ratio) validate() error {
	switch r.Metric {
	case MetricCPU, MetricWall, MetricMem:
	default:
		return fmt.Errorf("ratio metric %q is unknown: use cpu, wall or mem, as in cpu=1.5", r.Metric)
	}
	if !(r.Max > 1) || math.IsInf(r.Max, 0) {
		return fmt.Errorf("ratio %s=%g: the limit must be a number above 1 (bad when the candidate is more than that many times the baseline)", r.Metric, r.Max)
	}
	return nil
}

// Config returns the configuration with its defaults filled in.
func (s *Suite) Config() SuiteConfig { return s.cfg }

// Name returns "suite".
func (s *Suite) Name() string { return s.name }

// NeedsBaseline reports whether the suite compares with the good commit
// (it has ratios or a scoreboard), so that the session must call
// MeasureBaseline before testing. A session that gets false skips the
// baseline and passes no Candidate.Baseline; see also the function
// NeedsBaseline, which answers for any Predicate.
func (s *Suite) NeedsBaseline() bool {
	return len(s.cfg.Ratios) > 0 || s.scoreboard != nil || s.cfg.ScoreboardFile != ""
}

// NeedsBaselineDir reports whether the suite takes fresh baseline samples
// beside the candidate's when Candidate.BaselineDir is set (it has
// ratios); a session may spare the second worktree and its build when it
// is false.
func (s *Suite) NeedsBaselineDir() bool { return len(s.cfg.Ratios) > 0 }

// NeedsBaseline reports whether the session must call MeasureBaseline for
// p: p is a Baseliner, and does not say otherwise through a method
// NeedsBaseline() bool.
func NeedsBaseline(p Predicate) bool {
	if _, ok := p.(Baseliner); !ok {
		return false
	}
	if n, ok := p.(interface{ NeedsBaseline() bool }); ok {
		return n.NeedsBaseline()
	}
	return true
}

// MeasureBaseline runs the test at the good commit: BaselineRepeat times
// when the suite has ratios, once for a scoreboard alone, never otherwise
// (it then returns a Baseline with no samples). Every run must pass every
// condition (the scoreboard only has to be found): a good commit that
// fails its own test stops the session with an *AbortError that says so,
// since no candidate could be judged against it.
func (s *Suite) MeasureBaseline(ctx context.Context, c Candidate) (*Baseline, error) {
	b := &Baseline{Commit: c.Commit}
	if !s.NeedsBaseline() {
		return b, nil
	}
	n := 1
	if len(s.cfg.Ratios) > 0 {
		n = s.cfg.BaselineRepeat
	}
	for k := 1; k <= n; k++ {
		AnnounceRun(ctx, RunInfo{N: k, Of: n, Baseline: true})
		r := s.sample(ctx, runPlace{dir: c.Dir, env: c.Env, log: sampleLog(c.LogPath, "", k)}, nil)
		if r.err != nil {
			return nil, r.err
		}
		if r.verdict != "" {
			return nil, &AbortError{Reason: fmt.Sprintf("the good commit %s does not pass the test itself (%s, baseline run %d of %d): fix the test or choose another good commit",
				text.ShortID(c.Commit), r.reason, k, n)}
		}
		b.Samples = append(b.Samples, r.sample)
	}
	b.Metrics = s.summarise(b.Samples)
	return b, nil
}

// summarise gives the baseline's figures: medians of the measured metrics
// (of quiet runs for wall time), and the lowest pass count of the runs.
func (s *Suite) summarise(samples []Sample) map[string]float64 {
	out := map[string]float64{"samples": float64(len(samples))}
	for _, r := range []Ratio{{Metric: MetricCPU}, {Metric: MetricWall}, {Metric: MetricMem}} {
		if v := median(values(samples, r)); !math.IsNaN(v) {
			out[r.sampleKey()] = v
		}
	}
	if s.hasScoreboard() {
		for i, sm := range samples {
			if i == 0 || sm.Metrics["pass"] < out["pass"] {
				out["pass"], out["total"] = sm.Metrics["pass"], sm.Metrics["total"]
			}
		}
	}
	return out
}

func (s *Suite) hasScoreboard() bool { return s.scoreboard != nil || s.cfg.ScoreboardFile != "" }

// Judge runs the test at the candidate as the type's documentation says.
// It needs Candidate.Baseline when NeedsBaseline is true.
func (s *Suite) Judge(ctx context.Context, c Candidate) (Judgement, error) {
	if strings.TrimSpace(s.cfg.Run) == "" {
		return Judgement{}, fmt.Errorf("%s: no test command", s.name)
	}
	if s.NeedsBaseline() && c.Baseline == nil {
		return Judgement{}, fmt.Errorf("%s: no baseline: MeasureBaseline must run at the good commit before commits are judged", s.name)
	}
	j := judging{s: s, c: c}
	if c.Baseline != nil {
		j.stored = c.Baseline.Samples
		if s.hasScoreboard() {
			pass, ok := c.Baseline.Metrics["pass"]
			if !ok {
				return Judgement{}, fmt.Errorf("%s: the baseline has no scoreboard (pass): measure it again", s.name)
			}
			j.basePass = &pass
		}
	}
	return j.judge(ctx)
}

// judging is one call of Judge.
type judging struct {
	s        *Suite
	c        Candidate
	stored   []Sample
	basePass *float64

	cand, fresh []Sample
	last        *run.Measurement
	lastResult  runResult
}

func (j *judging) judge(ctx context.Context) (Judgement, error) {
	s := j.s
	measuring := len(s.cfg.Ratios) > 0
	interleave := measuring && j.c.BaselineDir != ""
	planned := RunInfo{Of: 1}
	if measuring {
		planned = RunInfo{Of: s.cfg.Repeat, Max: s.cfg.MaxRepeat}
	}
	for k := 1; ; k++ {
		baselineFirst := interleave && k%2 == 0
		if baselineFirst {
			if jd, done, err := j.baselineRun(ctx, k); done {
				return jd, err
			}
		}
		planned.N = k
		AnnounceRun(ctx, planned)
		r := s.sample(ctx, runPlace{dir: j.c.Dir, env: j.c.Env, log: sampleLog(j.c.LogPath, "", k)}, j.basePass)
		if r.measured {
			j.last, j.lastResult = &r.m, r
		}
		if r.err != nil {
			// The journal still gets what was measured.
			if j.last == nil {
				return Judgement{}, r.err
			}
			return j.judgement("", "", nil), r.err
		}
		j.cand = append(j.cand, r.sample)
		if r.verdict != "" {
			return j.judgement(r.verdict, r.reason, nil), nil
		}
		if interleave && !baselineFirst {
			if jd, done, err := j.baselineRun(ctx, k); done {
				return jd, err
			}
		}
		if !measuring {
			return j.judgement(Good, s.goodReason(r, nil), nil), nil
		}
		if k < s.cfg.Repeat {
			continue
		}
		ds := j.decide()
		v, reason, blind := s.ratioVerdict(ds, k, k >= s.cfg.MaxRepeat)
		switch {
		case blind:
			return j.judgement(v, reason, ds), s.wallBlind(j.c, ds, j.cand)
		case v != "" && wallDecided(ds):
			s.wallJudged()
		}
		if v != "" {
			if v == Good {
				reason = s.goodReason(r, ds)
			}
			return j.judgement(v, reason, ds), nil
		}
	}
}

// wallDecided reports whether a wall ratio is among ds and was decided.
func wallDecided(ds []ratioDecision) bool {
	for _, d := range ds {
		if d.ratio.Metric == MetricWall && d.Outcome != stats.Undecided {
			return true
		}
	}
	return false
}

// baselineRun takes one fresh baseline sample in Candidate.BaselineDir.
// done is true when the judgement ends here: the baseline run failed (the
// commit is skipped, as it cannot be compared) or could not run.
func (j *judging) baselineRun(ctx context.Context, k int) (Judgement, bool, error) {
	env := append([]string(nil), j.c.Env...)
	for i, kv := range env {
		switch {
		case strings.HasPrefix(kv, "SXBISECT_COMMIT=") && j.c.Baseline != nil:
			env[i] = "SXBISECT_COMMIT=" + j.c.Baseline.Commit
		case strings.HasPrefix(kv, "SXBISECT_WORKTREE="):
			env[i] = "SXBISECT_WORKTREE=" + j.c.BaselineDir
		}
	}
	AnnounceRun(ctx, RunInfo{N: k, Baseline: true})
	r := j.s.sample(ctx, runPlace{dir: j.c.BaselineDir, env: env, log: sampleLog(j.c.LogPath, "baseline-", k)}, nil)
	if r.err != nil {
		return j.judgement("", "", nil), true, r.err
	}
	j.fresh = append(j.fresh, r.sample)
	if r.verdict != "" {
		return j.judgement(Skip, "baseline run failed: "+r.reason, nil), true, nil
	}
	return Judgement{}, false, nil
}

// decide asks package stats about every ratio.
func (j *judging) decide() []ratioDecision {
	base := append(append([]Sample(nil), j.stored...), j.fresh...)
	out := make([]ratioDecision, 0, len(j.s.cfg.Ratios))
	for _, r := range j.s.cfg.Ratios {
		out = append(out, j.s.decideRatio(r, j.cand, base))
	}
	return out
}

// judgement assembles the answer: the last candidate run's measurement and
// figures, the scoreboard, the ratios' figures and all samples.
func (j *judging) judgement(v Verdict, reason string, ds []ratioDecision) Judgement {
	jd := Judgement{Verdict: v, Reason: reason, Samples: j.cand, BaselineSamples: j.fresh, Metrics: map[string]float64{}}
	if j.last != nil {
		jd.Measurement = j.last
		jd.Metrics = metricsOf(*j.last)
		for k, x := range j.lastResult.sample.Metrics {
			jd.Metrics[k] = x
		}
	}
	if j.basePass != nil {
		jd.Metrics["baseline_pass"] = *j.basePass
	}
	for _, d := range ds {
		d.addMetrics(jd.Metrics)
	}
	if len(j.s.cfg.Ratios) > 0 {
		jd.Metrics["samples"] = float64(len(j.cand))
		jd.Metrics["baseline_samples"] = float64(len(j.fresh))
	}
	return jd
}

// goodReason says what held, in a few words: "exit 0", or for a suite
// with more conditions such as `exit 0, matched \(ok-len, scoreboard
// 530/530, cpu 1.02x baseline (<=1.5)`.
func (s *Suite) goodReason(r runResult, ds []ratioDecision) string {
	var parts []string
	switch {
	case r.m.TimedOut:
		parts = append(parts, "timeout after "+s.cfg.Timeout.String())
	case !s.cfg.IgnoreExit:
		parts = append(parts, fmt.Sprintf("exit %d", r.m.ExitCode))
	}
	if s.expect != nil {
		parts = append(parts, "matched "+s.cfg.Expect)
	}
	if s.hasScoreboard() {
		parts = append(parts, fmt.Sprintf("scoreboard %g/%g", r.sample.Metrics["pass"], r.sample.Metrics["total"]))
	}
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s %.2fx baseline (<=%g)", d.ratio.Metric, d.Ratio, d.ratio.Max))
	}
	if len(parts) == 0 {
		return "every condition held"
	}
	return strings.Join(parts, ", ")
}
