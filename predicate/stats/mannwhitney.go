package stats

import "math"

// exactLimit is the largest n+m for which the null distribution of U is
// computed exactly; C(60, 30) still fits an int64 with room to spare.
const exactLimit = 60

// nullU is the distribution of the Mann-Whitney statistic U, the number of
// pairs (i, j) with c_i > b_j, for n and m samples drawn from one
// continuous distribution.
type nullU struct {
	pairs int
	// tail[k] is P(U >= k) for k = 0..pairs when exact; nil otherwise.
	tail []float64
	// mean and sd of the normal approximation.
	mean, sd float64
}

func newNullU(n, m int) nullU {
	d := nullU{pairs: n * m, mean: float64(n*m) / 2, sd: math.Sqrt(float64(n*m*(n+m+1)) / 12)}
	if n+m > exactLimit {
		return d
	}
	counts := gaussianBinomial(n, m)
	d.tail = make([]float64, len(counts)+1)
	var total, above int64
	for _, c := range counts {
		total += c
	}
	for k := len(counts) - 1; k >= 0; k-- {
		above += counts[k]
		d.tail[k] = float64(above) / float64(total)
	}
	return d
}

// gaussianBinomial returns the coefficients of the Gaussian binomial
// [n+m choose n] in q, degree n·m: the k-th is the number of orderings of
// n candidate and m baseline samples with U = k. It is the product over
// i = 1..n of (1 - q^(m+i)) / (1 - q^i), taken one factor pair at a time,
// so that every intermediate is again a Gaussian binomial and the
// arithmetic stays exact in integers.
func gaussianBinomial(n, m int) []int64 {
	if n > m {
		n, m = m, n
	}
	deg := n * m
	p := make([]int64, deg+1)
	p[0] = 1
	for i := 1; i <= n; i++ {
		a := m + i
		for k := deg; k >= a; k-- {
			p[k] -= p[k-a]
		}
		for k := i; k <= deg; k++ {
			p[k] += p[k-i]
		}
	}
	return p
}

// atLeast returns P(U >= u); a fractional u (from ties) is rounded up.
func (d nullU) atLeast(u float64) float64 {
	k := math.Ceil(u - 1e-9)
	if k <= 0 {
		return 1
	}
	if k > float64(d.pairs) {
		return 0
	}
	if d.tail != nil {
		return d.tail[int(k)]
	}
	// Normal approximation with continuity correction.
	z := (k - 0.5 - d.mean) / d.sd
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// critical returns the smallest k >= 1 with P(U >= k) <= alpha, or
// pairs+1 when no outcome is that unlikely (too few samples).
func (d nullU) critical(alpha float64) int {
	if d.tail != nil {
		for k := 1; k <= d.pairs; k++ {
			if d.tail[k] <= alpha {
				return k
			}
		}
		return d.pairs + 1
	}
	z := math.Sqrt2 * math.Erfinv(1-2*alpha)
	k := int(math.Ceil(d.mean + 0.5 + z*d.sd))
	for k > 1 && d.atLeast(float64(k-1)) <= alpha {
		k--
	}
	for k <= d.pairs && d.atLeast(float64(k)) > alpha {
		k++
	}
	return k
}

// SmallestP returns the smallest one-sided p-value the U test can give
// with n and m samples, 1/C(n+m, n): samples that do not overlap at all.
// A caller that decides at level alpha can decide nothing when it is
// above alpha: with 3 and 3 samples it is 1/20, with 4 and 4 1/70, with 5
// and 5 1/252.
func SmallestP(n, m int) float64 {
	if n <= 0 || m <= 0 {
		return 1
	}
	// C(n+m, n) as a product of ratios, in floating point: it only has to
	// be compared with a level.
	c := 1.0
	for i := 1; i <= n; i++ {
		c = c * float64(m+i) / float64(i)
	}
	return 1 / c
}
