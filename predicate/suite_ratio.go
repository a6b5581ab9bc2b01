package predicate

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate/stats"
)

// ratioDecision is package stats' answer for one Ratio, with how many
// samples were quiet enough to use (wall time only).
type ratioDecision struct {
	ratio Ratio
	stats.Decision
	candAll, baseAll int
}

// values returns the samples' figures for r: all of them, but for wall
// time only those of quiet runs.
func values(samples []Sample, r Ratio) []float64 {
	key := r.sampleKey()
	var out []float64
	for _, sm := range samples {
		if r.Metric == MetricWall && !sm.Quiet {
			continue
		}
		if v, ok := sm.Metrics[key]; ok {
			out = append(out, v)
		}
	}
	return out
}

func median(xs []float64) float64 { return stats.Median(xs) }

func (s *Suite) decideRatio(r Ratio, cand, base []Sample) ratioDecision {
	return ratioDecision{
		ratio:    r,
		Decision: stats.Decide(values(cand, r), values(base, r), r.Max, stats.Options{}),
		candAll:  len(cand),
		baseAll:  len(base),
	}
}

// ratioVerdict combines the ratios' decisions after n candidate samples:
// any bad makes the commit bad, all good make it good (with an empty
// reason; the caller words it), otherwise no verdict yet, or a skip when
// last, with the figures of the first undecided ratio. blind is set when
// the skip is wall time's, for want of quiet runs: the machine was too
// busy to judge it.
func (s *Suite) ratioVerdict(ds []ratioDecision, n int, last bool) (v Verdict, reason string, blind bool) {
	allGood := true
	for _, d := range ds {
		switch d.Outcome {
		case stats.Bad:
			return Bad, fmt.Sprintf("%s %s baseline (>%g)", d.ratio.Metric, times(d.Ratio), d.ratio.Max), false
		case stats.Undecided:
			allGood = false
		}
	}
	if allGood {
		return Good, "", false
	}
	if !last {
		// A wall ratio with not one quiet run among the first samples
		// will not get any by sampling more on a machine this busy: say
		// so now rather than after MaxRepeat runs (minutes per commit).
		for _, d := range ds {
			if d.Outcome == stats.Undecided && d.ratio.Metric == MetricWall && d.N == 0 && n >= s.cfg.Repeat {
				return Skip, fmt.Sprintf("wall: none of the first %d samples was quiet (load limit %g): the machine is too busy to judge wall time; judge cpu instead, or wait for quiet with --max-load",
					n, s.loadLimit()), true
			}
		}
		return "", "", false
	}
	for _, d := range ds {
		if d.Outcome != stats.Undecided {
			continue
		}
		if d.ratio.Metric == MetricWall && (d.N < stats.DefaultMinSamples || d.BaselineN < stats.DefaultMinSamples) {
			return Skip, fmt.Sprintf("wall: %d of %d samples and %d of %d baseline samples quiet (load limit %g), undecided after %d samples",
				d.N, d.candAll, d.BaselineN, d.baseAll, s.loadLimit(), n), true
		}
		return Skip, fmt.Sprintf("%s %s baseline (%s), undecided after %d samples", d.ratio.Metric, times(d.Ratio), d.Interval(), n), false
	}
	return Skip, fmt.Sprintf("undecided after %d samples", n), false
}

// wallBlindLimit is how many commits in a row may go unjudged for want of
// quiet runs before the session is stopped: a machine that stays this
// busy would only have every commit skipped, at minutes each.
const wallBlindLimit = 3

// wallBlind counts a commit whose wall time could not be judged for want
// of quiet runs, and returns the *AbortError that stops the session when
// the commit is an end of the range (taking it as good or bad unverified
// would make the whole search rest on nothing) or the wallBlindLimit-th
// such commit in a row; nil while the session may go on, skipping it.
func (s *Suite) wallBlind(c Candidate, ds []ratioDecision, cand []Sample) error {
	s.blindMu.Lock()
	s.blindRun++
	inARow := s.blindRun
	s.blindMu.Unlock()
	where := ""
	switch {
	case c.End && c.Baseline != nil && c.Commit == c.Baseline.Commit:
		where = " at the good end " + text.ShortID(c.Commit)
	case c.End:
		where = " at " + text.ShortID(c.Commit) + ", an end of the range"
	case inARow >= wallBlindLimit:
		where = fmt.Sprintf(": %d commits in a row could not be judged; at the last, %s", inARow, text.ShortID(c.Commit))
	default:
		return nil
	}
	quiet := ""
	for _, d := range ds {
		if d.ratio.Metric != MetricWall {
			continue
		}
		if d.N == 0 {
			quiet = fmt.Sprintf("none of its first %d runs was quiet", d.candAll)
		} else {
			quiet = fmt.Sprintf("%d of its %d runs and %d of %d baseline runs were quiet, and %d a side are needed",
				d.N, d.candAll, d.BaselineN, d.baseAll, stats.DefaultMinSamples)
		}
	}
	load := fmt.Sprintf("load limit %g", s.loadLimit())
	if l := median(loads(cand)); !math.IsNaN(l) {
		load = fmt.Sprintf("1-minute load %.1f, limit %g", l, s.loadLimit())
	}
	return &AbortError{Reason: fmt.Sprintf(
		"the machine is too busy to judge wall time%s: %s (%s); use --max-ratio cpu=X instead, as CPU time hardly moves with the load, or make the machine quiet (--max-load L waits for it) and run sxbisect resume",
		where, quiet, load)}
}

// wallJudged resets the count of commits in a row whose wall time could
// not be judged.
func (s *Suite) wallJudged() {
	s.blindMu.Lock()
	s.blindRun = 0
	s.blindMu.Unlock()
}

// loads are the 1-minute load averages before the runs.
func loads(samples []Sample) []float64 {
	var out []float64
	for _, sm := range samples {
		if l, ok := sm.Metrics["load_before"]; ok {
			out = append(out, l)
		}
	}
	return out
}

func (s *Suite) loadLimit() float64 {
	if s.cfg.MaxLoad > 0 {
		return s.cfg.MaxLoad
	}
	return float64(s.numCPU)
}

// times formats a ratio as "2.03x" ("?x" for none).
func times(r float64) string {
	switch {
	case math.IsInf(r, 1):
		return "inf x"
	case math.IsNaN(r):
		return "?x"
	}
	return fmt.Sprintf("%.2fx", r)
}

// addMetrics puts the decision's figures into a Judgement's metrics, under
// the metric's name: cpu_median and cpu_baseline_median (in the unit of
// cpu_s, wall_s or mem_mb), cpu_ratio (of the medians), cpu_low and
// cpu_high (the confidence interval), cpu_n and cpu_baseline_n (the
// samples used). Figures that are not finite are left out, as JSON has no
// infinity; so is the ratio of a side without samples (NaN), such as the
// wall ratio when no run was quiet: a figure from no samples is none.
func (d ratioDecision) addMetrics(m map[string]float64) {
	p := d.ratio.Metric + "_"
	set := func(k string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			m[p+k] = v
		}
	}
	set("median", d.Median)
	set("baseline_median", d.BaselineMedian)
	set("ratio", d.Ratio)
	if d.Low > 0 {
		set("low", d.Low)
	}
	set("high", d.High)
	set("n", float64(d.N))
	set("baseline_n", float64(d.BaselineN))
}

// sampleLog names the log of one run: the candidate's first run logs to
// path itself, its k-th to "x.k.log" beside it, fresh baseline runs to
// "x.baseline-k.log".
func sampleLog(path, prefix string, k int) string {
	if path == "" || (prefix == "" && k == 1) {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s.%s%d%s", strings.TrimSuffix(path, ext), prefix, k, ext)
}
