package compare

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/stats"
)

// DefaultRounds is the number of rounds of Compare: the fewest with
// which a difference can be significant at Level (see stats.SmallestP).
const DefaultRounds = 5

// Level is the significance level of every decision of compare and check,
// in each direction. A difference is called significant only when its
// one-sided p-value is at most Level: never at a level other than the one
// stated.
const Level = stats.DefaultAlpha

// DefaultMinEffect is the threshold of a metric that --max-ratio does not
// bound: Compare calls a ratio higher only when it is significantly above
// it, lower only when significantly below its inverse. CPU time itself
// drifts by a few percent with the machine's load, and a difference
// smaller than a fifth is not what a night of bisecting on a shared
// machine can find; --max-ratio METRIC=X sets the threshold of METRIC to X.
const DefaultMinEffect = 1.2

// metricKeys are the figures the table compares, in its order.
func metricKeys() []string { return []string{"cpu_s", "wall_s", "mem_mb"} }

// Metric is one row of the table.
type Metric struct {
	// Name is cpu_s, wall_s or mem_mb.
	Name string `json:"metric"`
	// Good and Bad are the medians at the two commits; Ratio is Bad over
	// Good, and Low and High bound it with 98 % confidence (null when the
	// samples are too few to bound it).
	Good  Num `json:"good"`
	Bad   Num `json:"bad"`
	Ratio Num `json:"ratio"`
	Low   Num `json:"low"`
	High  Num `json:"high"`
	// Threshold is the least change that counts: the --max-ratio of the
	// metric, else DefaultMinEffect.
	Threshold Num `json:"threshold"`
	// P is the one-sided p-value of "the ratio is above Threshold" when
	// the ratio is at least 1, of "below 1/Threshold" otherwise.
	P Num `json:"p"`
	// Significant says P is at most Level (with at least 3 samples a
	// side); Change is then "higher" or "lower" (at the bad commit), else
	// "none".
	Significant bool   `json:"significant"`
	Change      string `json:"change"`
	N           int    `json:"n"`

	// Benchstat's figures, from golang.org/x/perf/benchmath, assuming
	// nothing of the distributions. GoodSpread and BadSpread are each
	// median's ± as a percentage: its 95 % confidence interval, or, when
	// fewer runs than that takes (6) cannot bound it, half the
	// interquartile range (SpreadIQR). Delta is the change of the median
	// from good to bad, "+86.67%", or "~" when a two-sided Mann-Whitney U
	// test does not tell the samples apart at Level; DeltaP is its p.
	// GoodN and BadN count the runs.
	GoodSpread string `json:"good_spread"`
	BadSpread  string `json:"bad_spread"`
	SpreadIQR  bool   `json:"spread_iqr,omitempty"`
	GoodN      int    `json:"good_n"`
	BadN       int    `json:"bad_n"`
	Delta      string `json:"delta"`
	DeltaP     Num    `json:"delta_p"`
}

// Result is what Compare measured.
type Result struct {
	Good   *Side    `json:"good"`
	Bad    *Side    `json:"bad"`
	Rounds int      `json:"rounds"`
	Rows   []Metric `json:"metrics"`
	// Interpretation reads the table in one line.
	Interpretation string `json:"interpretation"`
}

// Compare measures the test at good and bad, interleaved, for
// opt.Rounds rounds (DefaultRounds when 0), and compares every metric.
func Compare(ctx context.Context, opt Options, good, bad string) (*Result, error) {
	if opt.Rounds == 0 {
		opt.Rounds = DefaultRounds
	}
	opt.MaxRounds = opt.Rounds
	m, err := newMeasurer(opt, good, bad)
	if err != nil {
		return nil, err
	}
	defer m.release()
	if err := m.prepare(ctx); err != nil {
		return nil, err
	}
	for k := 1; k <= opt.Rounds; k++ {
		if err := m.round(ctx, k); err != nil {
			return nil, err
		}
	}
	if err := m.release(); err != nil {
		return nil, err
	}
	res := &Result{Good: m.ref, Bad: m.cand, Rounds: opt.Rounds}
	for _, key := range metricKeys() {
		res.Rows = append(res.Rows, compareMetric(key, m.cand.values(key, false), m.ref.values(key, false), m.threshold(key)))
	}
	res.Interpretation = interpret(res)
	return res, nil
}

// threshold is the least ratio of metric key that counts as a change.
func (m *measurer) threshold(key string) float64 {
	for _, r := range m.ratios {
		if sampleKey(r.Metric) == key {
			return r.Max
		}
	}
	return DefaultMinEffect
}

// sampleKey is the figure of a run that a --max-ratio metric bounds.
func sampleKey(metric string) string {
	return map[string]string{predicate.MetricCPU: "cpu_s", predicate.MetricWall: "wall_s", predicate.MetricMem: "mem_mb"}[metric]
}

// compareMetric tests the ratio of bad to good against the threshold x
// both ways: higher when significantly above x, lower when significantly
// below 1/x, at Level.
func compareMetric(name string, bad, good []float64, x float64) Metric {
	up := stats.Decide(bad, good, x, stats.Options{})
	down := stats.Decide(bad, good, 1/x, stats.Options{})
	// The interval does not depend on the threshold: up's is down's.
	row := Metric{Name: name, Good: Num(up.BaselineMedian), Bad: Num(up.Median), Ratio: Num(up.Ratio),
		Low: Num(up.Low), High: Num(up.High), Threshold: Num(x), N: min(up.N, up.BaselineN), Change: "none"}
	if up.Low <= 0 {
		row.Low = Num(math.NaN())
	}
	row.benchstatFigures(bad, good)
	enough := up.N >= stats.DefaultMinSamples && up.BaselineN >= stats.DefaultMinSamples
	switch {
	case enough && up.PBad <= Level:
		row.Significant, row.Change, row.P = true, "higher", Num(up.PBad)
	case enough && down.PGood <= Level:
		row.Significant, row.Change, row.P = true, "lower", Num(down.PGood)
	case up.Ratio < 1:
		row.P = Num(down.PGood)
	default:
		row.P = Num(up.PBad)
	}
	return row
}

func (r *Result) row(name string) Metric {
	for _, m := range r.Rows {
		if m.Name == name {
			return m
		}
	}
	return Metric{Name: name, Change: "none"}
}

// interpret reads the table: what moved, and what that says.
func interpret(r *Result) string {
	return fmt.Sprintf("cpu %s, wall %s: %s", describe(r.row("cpu_s")), describe(r.row("wall_s")), reading(r))
}

// reading is what the figures say, without the figures: the plan's
// summary table shows them in columns of their own.
func reading(r *Result) string {
	cpu, wall, mem := r.row("cpu_s"), r.row("wall_s"), r.row("mem_mb")
	var notes []string
	if ge, be := r.Good.Exits(), r.Bad.Exits(); ge != be {
		notes = append(notes, fmt.Sprintf("exit statuses differ (good %s, bad %s): the test fails differently, not only slower", ge, be))
	}
	if gp, gt, ok := r.Good.Score(); ok {
		if bp, bt, ok := r.Bad.Score(); ok && bp != gp {
			notes = append(notes, fmt.Sprintf("the scoreboard moved from %g/%g to %g/%g", gp, gt, bp, bt))
		}
	}
	var line string
	switch {
	case cpu.Change == "higher" && wall.Change != "lower":
		line = "the bad commit does more work: the code is slower"
	case cpu.Change == "lower" && wall.Change != "higher":
		line = "the bad commit does less work: it is faster, not slower"
	case cpu.Change == "none" && wall.Change == "higher":
		line = "wall time moved without CPU time: the machine was busier (or the test waits more: I/O, sleeps, locks), not the code slower"
	case cpu.Change == "none" && wall.Change == "lower":
		line = "wall time fell without CPU time: the good commit ran on a busier machine (or waits more)"
	case cpu.Change == "higher" && wall.Change == "lower":
		line = "more CPU time in less wall time: more parallel work"
	case cpu.Change == "lower" && wall.Change == "higher":
		line = "less CPU time in more wall time: the test waits more (I/O, sleeps, locks) or the machine was busier"
	case tooFew(cpu) || tooFew(wall):
		line = fmt.Sprintf("no change can be significant at level %g with %d rounds: use --rounds %d or more", Level, r.Rounds, DefaultRounds)
	default:
		line = fmt.Sprintf("no significant change beyond the thresholds in CPU or wall time after %d rounds: the premise does not hold yet (more --rounds, or a bigger test)", r.Rounds)
	}
	if mem.Change != "none" {
		line += fmt.Sprintf("; peak memory %s", describe(mem))
	}
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, "; ")
	}
	return line
}

// tooFew reports whether m's samples are too few for any difference to
// be significant at Level, however far apart they are.
func tooFew(m Metric) bool { return stats.SmallestP(m.N, m.N) > Level }

// describe gives a row's ratio and what it means: "2.02x (higher, beyond
// 1.2x)", "1.00x (no change beyond 1.5x)".
func describe(m Metric) string {
	if m.Significant {
		return fmt.Sprintf("%s (%s, beyond %s)", times(float64(m.Ratio)), m.Change, times(float64(m.Threshold)))
	}
	return fmt.Sprintf("%s (no change beyond %s)", times(float64(m.Ratio)), times(float64(m.Threshold)))
}

func times(r float64) string {
	switch {
	case math.IsInf(r, 1):
		return "inf x"
	case math.IsNaN(r):
		return "?x"
	}
	return fmt.Sprintf("%.2fx", r)
}

// pValue writes p with enough digits to be compared with Level: 0.014 is
// not 0.01.
func pValue(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	return fmt.Sprintf("p=%.3f", p)
}

// Text is the table for people, in benchstat's form: each side's median
// ± its spread and the runs, the change of the median with its p, "~"
// when the two do not differ at Level; then, the decision this tool
// takes on it: whether the ratio is beyond the metric's threshold.
func (r *Result) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "good %s (%s)  vs  bad %s (%s): %d rounds, interleaved; level %g\n\n",
		text.ShortID(r.Good.Commit), r.Good.Rev, text.ShortID(r.Bad.Commit), r.Bad.Rev, r.Rounds, Level)
	rows := [][]string{{"", "good", "", "bad", "", "vs good", "beyond the threshold"},
		{"metric", "median ± spread", "n", "median ± spread", "n", "change (p)", ""}}
	iqr := false
	for _, m := range r.Rows {
		iqr = iqr || m.SpreadIQR
		rows = append(rows, []string{m.Name, spreadText(m.Good, m.GoodSpread, m.SpreadIQR), fmt.Sprint(m.GoodN),
			spreadText(m.Bad, m.BadSpread, m.SpreadIQR), fmt.Sprint(m.BadN), deltaText(m),
			fmt.Sprintf("%s: %s (%s)", times(float64(m.Threshold)), m.Change, pValue(float64(m.P)))})
	}
	if gp, gt, ok := r.Good.Score(); ok {
		bs := "none"
		if bp, bt, ok := r.Bad.Score(); ok {
			bs = fmt.Sprintf("%g/%g", bp, bt)
		}
		rows = append(rows, []string{"pass/total", fmt.Sprintf("%g/%g", gp, gt), "", bs, "", "", ""})
	}
	rows = append(rows, []string{"exit", r.Good.Exits(), "", r.Bad.Exits(), "", "", ""})
	b.WriteString(columns(rows))
	if iqr {
		fmt.Fprintf(&b, "%s\n", iqrNote())
	}
	for _, s := range []struct {
		name string
		side *Side
	}{{"good", r.Good}, {"bad", r.Bad}} {
		if busy := countBusy(s.side); busy > 0 {
			fmt.Fprintf(&b, "%s: %d of %d runs on a busy machine\n", s.name, busy, len(s.side.Runs))
		}
		for _, f := range s.side.Failures() {
			fmt.Fprintf(&b, "%s %s\n", s.name, f)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", r.Interpretation)
	return b.String()
}

// columns aligns rows: the first column to the left, the others to the
// left too (as benchstat does), two spaces apart; trailing blanks cut.
func columns(rows [][]string) string {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		for i, c := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			line.WriteString(c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	return b.String()
}

func countBusy(s *Side) int {
	n := 0
	for _, r := range s.Runs {
		if !r.Quiet {
			n++
		}
	}
	return n
}

func figure(v Num) string {
	x := float64(v)
	switch {
	case math.IsNaN(x):
		return "-"
	case x >= 100:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.3f", x)
}
