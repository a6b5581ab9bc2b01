// Package stats decides whether a measured metric at a candidate commit is
// more than a threshold times the same metric at the good commit, from a
// few noisy samples of each, with three outcomes: Good, Bad, or Undecided
// when the samples do not allow either answer with the required
// confidence. It is pure: numbers in, a Decision out.
//
// # The method
//
// The question is a ratio, "is the candidate more than X times the
// baseline?", so the model is multiplicative: the candidate's samples are
// distributed like θ times the baseline's, and the verdict is about θ
// against X. Timings are skewed and now and then far off (a page-cache
// miss, a neighbour's burst), and there are only 3 to 15 samples a side,
// so the test is rank-based and exact: the Mann-Whitney U test of the
// candidate c against X·b, in both directions.
//
// Equivalently, and that is how it is computed and reported, the decision
// is read off a distribution-free confidence interval for θ built from the
// n·m pairwise ratios c_i/b_j (the ratio form of the Hodges-Lehmann
// interval): with u the smallest count whose null tail P(U ≥ u) is at most
// Alpha, the lower bound is the u-th largest pairwise ratio and the upper
// bound the u-th smallest. Then
//
//	Bad        when the lower bound exceeds X,
//	Good       when the upper bound is below X,
//	Undecided  otherwise.
//
// Each direction is a one-sided test at level Alpha (default 0.01), so the
// interval is a two-sided 1-2·Alpha interval. The tail probabilities come
// from the exact null distribution of U (the coefficients of a Gaussian
// binomial, computed in integers) up to n+m = 60, and from the normal
// approximation beyond. Ties of a pairwise ratio with X count for neither
// side, which can only make a decision less likely.
//
// A fast path answers when the samples do not overlap at all: every
// candidate sample above X times the largest baseline sample is Bad, every
// one below X times the smallest is Good, given at least MinSamples (3) on
// each side. Without outliers this is the U test's most extreme outcome;
// its error probability when θ equals X exactly is 1/C(n+m, n): 1/56 for
// 3 candidate and 5 baseline samples, 1/165 for 3 and 8, and smaller as θ
// moves away from X.
//
// # Error rates
//
// The guarantee is on wrong decisions, not on deciding: a single call
// with θ on the wrong side of X (or equal to it) decides wrongly with
// probability at most Alpha per direction, whatever the distribution of
// the noise (or 1/C(n+m, n) where the fast path answers and that is
// larger). A caller that samples adaptively and asks again after every
// new sample (as the suite predicate does, up to 15 samples) looks many
// times, which raises the error above Alpha; the package's tests measure
// the whole adaptive procedure on synthetic data (multiplicative noise of
// 2 to 20 %, true ratios 1.0, 1.4, 1.5, 1.6 and 2.0 against X = 1.5) and
// bound its wrong decisions. With Alpha 0.01, 3 to 15 candidate samples
// and 5 stored plus one fresh baseline sample per candidate sample, over
// 4000 trials a cell:
//
//	true ratio   wrong decisions                     undecided
//	1.0, 2.0     none; with 10 % of runs inflated    < 0.5 % at noise <= 10 %,
//	             up to 3x, at most 1 in 4000          up to 14 % at 20 %
//	1.4, 1.6     <= 0.2 % at noise <= 10 %,           5-9 % at 5 % noise,
//	             1.1 % and 0.7 % at 20 % noise        55-87 % at 10-20 %
//	1.5          3.5-4.5 % each way (a coin toss)     about 92 %
//
// Most samples are needed where the truth is close to X and the noise is
// high; there the procedure mostly answers Undecided rather than guess.
package stats

import (
	"fmt"
	"math"
	"sort"
)

// Outcome is the answer to "is the candidate more than X times the
// baseline?".
type Outcome int

const (
	// Undecided: the samples allow neither answer; take more.
	Undecided Outcome = iota
	// Good: the candidate is at most X times the baseline.
	Good
	// Bad: the candidate is more than X times the baseline.
	Bad
)

func (o Outcome) String() string {
	switch o {
	case Good:
		return "good"
	case Bad:
		return "bad"
	}
	return "undecided"
}

// Defaults of Options.
const (
	DefaultAlpha      = 0.01
	DefaultMinSamples = 3
)

// Options tune Decide; the zero value means the defaults.
type Options struct {
	// Alpha is the probability of a wrong decision in each direction for
	// one call (default 0.01).
	Alpha float64
	// MinSamples is the least number of samples on each side before any
	// decision (default 3).
	MinSamples int
}

func (o Options) withDefaults() Options {
	if !(o.Alpha > 0 && o.Alpha < 0.5) {
		o.Alpha = DefaultAlpha
	}
	if o.MinSamples < 1 {
		o.MinSamples = DefaultMinSamples
	}
	return o
}

// Decision is the outcome with the figures it was drawn from.
type Decision struct {
	Outcome Outcome
	// Threshold is X.
	Threshold float64
	// N and BaselineN are the numbers of samples used.
	N, BaselineN int
	// Median and BaselineMedian are the samples' medians, and Ratio is
	// Median / BaselineMedian (+Inf when the baseline median is 0 and the
	// candidate's is not; 1 when both are 0; NaN when either side has no
	// samples: a ratio of nothing is no figure).
	Median, BaselineMedian, Ratio float64
	// Estimate is the median of the pairwise ratios c_i/b_j, the
	// Hodges-Lehmann estimate of the ratio.
	Estimate float64
	// Low and High bound the ratio with two-sided confidence Confidence
	// (1-2·Alpha); 0 and +Inf when the samples are too few to bound it.
	Low, High  float64
	Confidence float64
	// PBad is the one-sided p-value of "the candidate is more than X times
	// the baseline" (small means bad), PGood of "less" (small means good).
	PBad, PGood float64
	// FastPath is set when the samples did not overlap at all and that
	// decided.
	FastPath bool
}

// String gives the figures in a few words, such as
// "2.03x (1.84-2.21, n=3/8): bad".
func (d Decision) String() string {
	return fmt.Sprintf("%.2fx (%s, n=%d/%d): %s", d.Ratio, d.Interval(), d.N, d.BaselineN, d.Outcome)
}

// Interval formats Low and High as "1.31-1.62" ("?" for an open end).
func (d Decision) Interval() string {
	f := func(v float64) string {
		if v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return "?"
		}
		return fmt.Sprintf("%.2f", v)
	}
	return f(d.Low) + "-" + f(d.High)
}

// Decide compares candidate samples c with baseline samples b of one
// non-negative metric against threshold x (> 0): Bad when the candidate is
// more than x times the baseline. Samples that are negative, NaN or
// infinite are left out. It does not modify c or b.
func Decide(c, b []float64, x float64, opt Options) Decision {
	opt = opt.withDefaults()
	c, b = clean(c), clean(b)
	n, m := len(c), len(b)
	d := Decision{
		Threshold: x, N: n, BaselineN: m,
		Median: Median(c), BaselineMedian: Median(b),
		High: math.Inf(1), Confidence: 1 - 2*opt.Alpha,
		PBad: 1, PGood: 1,
	}
	d.Ratio = ratio(d.Median, d.BaselineMedian)
	if n == 0 || m == 0 || !(x > 0) || math.IsInf(x, 0) {
		return d
	}

	pairs := make([]float64, 0, n*m)
	above, below := 0, 0
	for _, ci := range c {
		for _, bj := range b {
			r := ratio(ci, bj)
			pairs = append(pairs, r)
			switch {
			case r > x:
				above++
			case r < x:
				below++
			}
		}
	}
	sort.Float64s(pairs)
	d.Estimate = Median(pairs)

	dist := newNullU(n, m)
	// U counts pairs with c_i > x·b_j; ties with x count a half.
	u := float64(above) + float64(len(pairs)-above-below)/2
	d.PBad = dist.atLeast(u)
	d.PGood = dist.atLeast(float64(len(pairs)) - u)

	if k := dist.critical(opt.Alpha); k <= len(pairs) {
		d.Low = pairs[len(pairs)-k]
		d.High = pairs[k-1]
	}
	if n < opt.MinSamples || m < opt.MinSamples {
		return d
	}
	switch {
	case d.Low > x:
		d.Outcome = Bad
	case d.High < x:
		d.Outcome = Good
	case above == len(pairs):
		d.Outcome, d.FastPath = Bad, true
	case below == len(pairs):
		d.Outcome, d.FastPath = Good, true
	}
	return d
}

// Median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none. It does not modify xs.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	h := len(s) / 2
	if len(s)%2 == 1 {
		return s[h]
	}
	if math.IsInf(s[h-1], 1) {
		return s[h-1]
	}
	return (s[h-1] + s[h]) / 2
}

// ratio is a/b for non-negative figures, with 0/0 = 1 (both nothing) and
// a/0 = +Inf; NaN (the median of no samples) on either side gives NaN.
func ratio(a, b float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return math.NaN()
	case b > 0:
		return a / b
	case a > 0:
		return math.Inf(1)
	}
	return 1
}

func clean(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if x >= 0 && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}
