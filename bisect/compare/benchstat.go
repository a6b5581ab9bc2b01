package compare

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// Confidence is the confidence of the interval benchstat puts around each
// median.
const Confidence = 0.95

// sideFigures are benchstat's figures of one side of a metric: the
// median and its spread, as benchstat writes it.
type sideFigures struct {
	median float64
	// spread is "3%", "∞" or "?" (benchmath's PctRangeString).
	spread string
	iqr    bool
	n      int
}

// summarise is benchstat's summary of values: the median with the
// Confidence interval of the median, assuming nothing of the
// distribution (benchmath.AssumeNothing). Fewer than 6 runs cannot bound
// the median at 95%, where benchstat writes "± ∞"; the spread is then the
// interquartile range, as a percentage of the median, and iqr says so.
func summarise(values []float64) sideFigures {
	if len(values) == 0 {
		return sideFigures{median: math.NaN(), spread: "?"}
	}
	s := benchmath.NewSample(slices.Clone(values), &benchmath.Thresholds{CompareAlpha: Level})
	sum := benchmath.AssumeNothing.Summary(s, Confidence)
	f := sideFigures{median: sum.Center, spread: sum.PctRangeString(), n: len(values)}
	if math.IsInf(sum.Lo, 0) || math.IsInf(sum.Hi, 0) {
		f.spread, f.iqr = iqrPct(s.Values, sum.Center), true
	}
	return f
}

// iqrPct is half the interquartile range of sorted as a percentage of the
// median: the ± of a spread that holds the middle half of the runs.
func iqrPct(sorted []float64, median float64) string {
	if median == 0 {
		return "?"
	}
	q := func(p float64) float64 {
		pos := p * float64(len(sorted)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(sorted)-1)
		return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
	}
	return fmt.Sprintf("%.0f%%", 100*(q(0.75)-q(0.25))/2/math.Abs(median))
}

// delta is benchstat's change from good to bad: the two-sided
// Mann-Whitney U test of benchmath at Level, and the change of the
// medians as a percentage, "~" when the test does not tell the samples
// apart at Level.
func delta(good, bad []float64, gm, bm float64) (string, float64) {
	if len(good) == 0 || len(bad) == 0 {
		return "?", math.NaN()
	}
	th := &benchmath.Thresholds{CompareAlpha: Level}
	c := benchmath.AssumeNothing.Compare(benchmath.NewSample(slices.Clone(good), th), benchmath.NewSample(slices.Clone(bad), th))
	return c.FormatDelta(gm, bm), c.P
}

// benchstatFigures fills a row's benchstat figures from the samples.
func (m *Metric) benchstatFigures(bad, good []float64) {
	g, b := summarise(good), summarise(bad)
	m.GoodSpread, m.BadSpread, m.SpreadIQR = g.spread, b.spread, g.iqr || b.iqr
	m.GoodN, m.BadN = g.n, b.n
	d, p := delta(good, bad, g.median, b.median)
	m.Delta, m.DeltaP = d, Num(p)
}

// spreadText is "0.015 ± 3%" (with ¹ when it is the interquartile range).
func spreadText(median Num, spread string, iqr bool) string {
	mark := ""
	if iqr {
		mark = "¹"
	}
	return fmt.Sprintf("%s ± %s%s", figure(median), spread, mark)
}

// deltaText is benchstat's "+86.67% (p=0.008 n=5)", or "~ (p=0.310 n=5)".
func deltaText(m Metric) string {
	n := fmt.Sprintf("n=%d", m.GoodN)
	if m.GoodN != m.BadN {
		n = fmt.Sprintf("n=%d+%d", m.GoodN, m.BadN)
	}
	if math.IsNaN(float64(m.DeltaP)) {
		return m.Delta
	}
	return fmt.Sprintf("%s (p=%.3f %s)", m.Delta, float64(m.DeltaP), n)
}

// geomean is the geometric mean of xs, NaN when one is not positive.
func geomean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		if !(x > 0) {
			return math.NaN()
		}
		sum += math.Log(x)
	}
	return math.Exp(sum / float64(len(xs)))
}

// iqrNote explains the ¹ of a spread.
func iqrNote() string {
	return fmt.Sprintf("¹ ± half the interquartile range: fewer than %d runs cannot bound the median with %g%% confidence",
		minRunsForInterval(), 100*Confidence)
}

// minRunsForInterval is the fewest runs whose median benchmath can bound
// at Confidence.
func minRunsForInterval() int {
	for n := 1; n < 100; n++ {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i)
		}
		s := benchmath.AssumeNothing.Summary(benchmath.NewSample(xs, &benchmath.DefaultThresholds), Confidence)
		if !math.IsInf(s.Lo, 0) && !math.IsInf(s.Hi, 0) {
			return n
		}
	}
	return 0
}
