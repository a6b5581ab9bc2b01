package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bruteU enumerates every ordering of n candidate and m baseline samples
// and counts them by U.
func bruteU(n, m int) []int64 {
	counts := make([]int64, n*m+1)
	var walk func(c, b, u int)
	walk = func(c, b, u int) {
		if c == n && b == m {
			counts[u]++
			return
		}
		// Samples are placed from the smallest up: a candidate sample
		// placed now exceeds the b baseline samples already placed.
		if c < n {
			walk(c+1, b, u+b)
		}
		if b < m {
			walk(c, b+1, u)
		}
	}
	walk(0, 0, 0)
	return counts
}

func TestGaussianBinomialCountsOrderings(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 7; n++ {
		for m := 1; m <= 7; m++ {
			assert.Equal(t, bruteU(n, m), gaussianBinomial(n, m), "n=%d m=%d", n, m)
		}
	}
	// The largest exact case sums to C(60, 30).
	var total int64
	for _, c := range gaussianBinomial(30, 30) {
		require.GreaterOrEqual(t, c, int64(0))
		total += c
	}
	assert.Equal(t, int64(118264581564861424), total)
}

func TestNullUTailsAndCriticalValues(t *testing.T) {
	t.Parallel()
	// Published one-sided critical values: n=m=5 at 0.05 rejects U <= 4,
	// P = 0.0476; by symmetry U >= 21.
	d := newNullU(5, 5)
	assert.InDelta(t, 0.0476, d.atLeast(21), 0.0001)
	assert.Equal(t, 21, d.critical(0.05))
	// n=3, m=5: the most extreme ordering has probability 1/56.
	d = newNullU(3, 5)
	assert.InDelta(t, 1.0/56, d.atLeast(15), 1e-12)
	assert.Equal(t, 16, d.critical(0.01), "no ordering is that unlikely")
	assert.Equal(t, 15, d.critical(0.02))
	assert.Equal(t, 1.0, d.atLeast(0))
	assert.Equal(t, 0.0, d.atLeast(16))

	// The normal approximation used beyond 60 samples agrees with the
	// exact distribution where both exist.
	exact := newNullU(25, 35)
	approx := exact
	approx.tail = nil
	for _, alpha := range []float64{0.001, 0.01, 0.05} {
		assert.InDelta(t, exact.critical(alpha), approx.critical(alpha), 0.1*exact.sd, "alpha %v", alpha)
	}
	big := newNullU(40, 40)
	require.Nil(t, big.tail)
	assert.InDelta(t, 0.5, big.atLeast(800.5), 0.01)
}

func TestDecideClearCases(t *testing.T) {
	t.Parallel()
	base := []float64{10.0, 10.2, 9.9, 10.1, 10.3}

	d := Decide([]float64{20.1, 20.5, 19.8}, base, 1.5, Options{})
	assert.Equal(t, Bad, d.Outcome)
	assert.True(t, d.FastPath, "3 against 5 cannot reach alpha 0.01 by ranks alone")
	assert.InDelta(t, 2.0, d.Ratio, 0.02)
	assert.Equal(t, 3, d.N)
	assert.Equal(t, 5, d.BaselineN)
	assert.InDelta(t, 1.0/56, d.PBad, 1e-12)

	d = Decide([]float64{10.1, 9.8, 10.4}, base, 1.5, Options{})
	assert.Equal(t, Good, d.Outcome)
	assert.InDelta(t, 1.0, d.Ratio, 0.05)

	// Enough samples: the interval decides, not the fast path, and an
	// outlier on each side changes nothing.
	c := []float64{20.1, 20.5, 19.8, 20.2, 61, 20.0, 19.9, 20.3}
	b := append([]float64{30, 10.0, 9.8}, base...)
	d = Decide(c, b, 1.5, Options{})
	assert.Equal(t, Bad, d.Outcome)
	assert.False(t, d.FastPath)
	assert.Greater(t, d.Low, 1.5)
	assert.Less(t, d.Low, d.High)
	assert.InDelta(t, 2.0, d.Estimate, 0.05)
	assert.Contains(t, d.String(), "bad")
}

func TestDecideUndecided(t *testing.T) {
	t.Parallel()
	base := []float64{10, 12, 8, 11, 9}
	// Two candidate samples are too few, however far off.
	d := Decide([]float64{50, 51}, base, 1.5, Options{})
	assert.Equal(t, Undecided, d.Outcome)
	// Straddling the threshold.
	d = Decide([]float64{14, 16, 15, 13, 17}, base, 1.5, Options{})
	assert.Equal(t, Undecided, d.Outcome)
	assert.Less(t, d.Low, 1.5)
	assert.Greater(t, d.High, 1.5)
	assert.Regexp(t, `^1\.50x \(\d\.\d\d-\d\.\d\d, n=5/5\): undecided$`, d.String())
	// No baseline at all.
	d = Decide([]float64{1, 2, 3}, nil, 1.5, Options{})
	assert.Equal(t, Undecided, d.Outcome)
	assert.Equal(t, "?-?", d.Interval())
	// No samples on either side, or on one: no ratio, not 1 or +Inf.
	for _, cb := range [][2][]float64{{nil, nil}, {{1, 2, 3}, nil}, {nil, {1, 2, 3}}} {
		d = Decide(cb[0], cb[1], 1.5, Options{})
		assert.True(t, math.IsNaN(d.Ratio), "%v against %v: ratio %v", cb[0], cb[1], d.Ratio)
		assert.Equal(t, Undecided, d.Outcome)
	}
}

func TestDecideEdgeValues(t *testing.T) {
	t.Parallel()
	// Identical figures (a memory high-water mark that never moves).
	same := []float64{100, 100, 100}
	assert.Equal(t, Good, Decide(same, same, 1.2, Options{}).Outcome)
	// Ratios exactly at the threshold count for neither side.
	assert.Equal(t, Undecided, Decide([]float64{15, 15, 15}, []float64{10, 10, 10}, 1.5, Options{}).Outcome)
	// Zeros: a test too short to show CPU time is not a regression.
	assert.Equal(t, Good, Decide([]float64{0, 0, 0}, []float64{0, 0, 0}, 1.5, Options{}).Outcome)
	assert.Equal(t, Bad, Decide([]float64{1, 1, 1}, []float64{0, 0, 0}, 1.5, Options{}).Outcome)
	// Unusable samples are left out.
	d := Decide([]float64{math.NaN(), -1, math.Inf(1), 30, 31, 29}, []float64{10, 11, 9}, 1.5, Options{})
	assert.Equal(t, 3, d.N)
	assert.Equal(t, Bad, d.Outcome)
	// A stricter MinSamples waits.
	assert.Equal(t, Undecided, Decide([]float64{30, 31, 29}, []float64{10, 11, 9}, 1.5, Options{MinSamples: 4}).Outcome)
}

// noisy draws a sample with multiplicative log-normal noise of relative
// size sigma, and with probability outliers a contended run up to 3 times
// as long.
func noisy(r *rand.Rand, mean, sigma, outliers float64) float64 {
	v := mean * math.Exp(sigma*r.NormFloat64())
	if r.Float64() < outliers {
		v *= 1 + 2*r.Float64()
	}
	return v
}

// adaptive runs the procedure of the suite predicate: stored baseline
// samples, then pairs of one candidate and one fresh baseline sample,
// deciding after first samples and after every pair up to max.
func adaptive(r *rand.Rand, trueRatio, sigma, outliers, x float64, stored, first, max int) (Outcome, int) {
	var b, c []float64
	for i := 0; i < stored; i++ {
		b = append(b, noisy(r, 10, sigma, outliers))
	}
	for len(c) < max {
		c = append(c, noisy(r, 10*trueRatio, sigma, outliers))
		b = append(b, noisy(r, 10, sigma, outliers))
		if len(c) < first {
			continue
		}
		if d := Decide(c, b, x, Options{}); d.Outcome != Undecided {
			return d.Outcome, len(c)
		}
	}
	return Undecided, len(c)
}

// TestAdaptiveErrorRates measures the whole adaptive procedure on data of
// known truth against threshold 1.5 and bounds its wrong decisions. Run
// with -v to see the table; STATS_TRIALS=4000 gives finer figures.
func TestAdaptiveErrorRates(t *testing.T) {
	t.Parallel()
	const x = 1.5
	trials := 400
	if n, err := strconv.Atoi(os.Getenv("STATS_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	r := rand.New(rand.NewPCG(1, 2))
	var table strings.Builder
	fmt.Fprintf(&table, "%-6s %-6s %-8s %6s %6s %6s %6s\n", "ratio", "noise", "outliers", "good", "bad", "undec", "mean n")
	for _, outliers := range []float64{0, 0.1} {
		for _, sigma := range []float64{0.02, 0.05, 0.10, 0.20} {
			for _, truth := range []float64{1.0, 1.4, 1.5, 1.6, 2.0} {
				var good, bad, undecided, samples int
				for i := 0; i < trials; i++ {
					o, n := adaptive(r, truth, sigma, outliers, x, 5, 3, 15)
					samples += n
					switch o {
					case Good:
						good++
					case Bad:
						bad++
					default:
						undecided++
					}
				}
				fmt.Fprintf(&table, "%-6.1f %-6.2f %-8.1f %6.3f %6.3f %6.3f %6.1f\n", truth, sigma, outliers,
					float64(good)/float64(trials), float64(bad)/float64(trials), float64(undecided)/float64(trials), float64(samples)/float64(trials))
				wrongGood, wrongBad := float64(good)/float64(trials), float64(bad)/float64(trials)
				decided := 1 - float64(undecided)/float64(trials)
				switch {
				case truth <= 1.0 || truth >= 2.0:
					// Far from the threshold: never wrong without outliers
					// (with them, three contended runs in a row can fool
					// the first look), and decided but for very noisy
					// samples.
					wrong := wrongBad
					if truth > x {
						wrong = wrongGood
					}
					if outliers == 0 {
						assert.Zero(t, wrong, "ratio %.1f noise %.2f", truth, sigma)
					} else {
						assert.LessOrEqual(t, wrong, 0.002, "ratio %.1f noise %.2f outliers %.1f", truth, sigma, outliers)
					}
					if sigma <= 0.10 {
						assert.GreaterOrEqual(t, decided, 0.98, "ratio %.1f noise %.2f outliers %.1f", truth, sigma, outliers)
					} else {
						assert.GreaterOrEqual(t, decided, 0.80, "ratio %.1f noise %.2f outliers %.1f", truth, sigma, outliers)
					}
				case truth < x:
					assert.LessOrEqual(t, wrongBad, 0.02, "ratio %.1f noise %.2f outliers %.1f", truth, sigma, outliers)
				case truth > x:
					assert.LessOrEqual(t, wrongGood, 0.02, "ratio %.1f noise %.2f outliers %.1f", truth, sigma, outliers)
				default:
					// On the threshold itself either answer is a coin
					// toss; the procedure should mostly refuse to answer.
					assert.GreaterOrEqual(t, float64(undecided)/float64(trials), 0.8, "ratio %.1f noise %.2f outliers %.1f", truth, sigma, outliers)
				}
				if sigma <= 0.05 && truth != x && outliers == 0 {
					// Low noise: 1.4 and 1.6 are decided, and correctly.
					assert.Greater(t, decided, 0.9, "ratio %.1f noise %.2f", truth, sigma)
				}
			}
		}
	}
	t.Log("\n" + table.String())
}

func TestSmallestPIsTheLeastTheTestCanGive(t *testing.T) {
	t.Parallel()
	for _, nm := range [][2]int{{3, 3}, {4, 4}, {5, 5}, {3, 8}, {6, 2}} {
		n, m := nm[0], nm[1]
		d := Decide(spread(n, 20), spread(m, 10), 1, Options{})
		assert.InDelta(t, d.PBad, SmallestP(n, m), 1e-12, "%d and %d samples that do not overlap", n, m)
	}
	assert.InDelta(t, 1.0/20, SmallestP(3, 3), 1e-12)
	assert.InDelta(t, 1.0/252, SmallestP(5, 5), 1e-12)
	assert.Equal(t, 1.0, SmallestP(0, 5))
}

// spread returns n distinct samples near v.
func spread(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v + float64(i)/100
	}
	return out
}
