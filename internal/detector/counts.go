package detector

import "math"

const (
	// maxCountMean is the expected count up to which a series of
	// non-negative integers is scored by the count likelihood. Above it a
	// count is near enough to Gaussian for the fitted tail of |z|.
	maxCountMean = 20.0
	// countPrior is the pseudo-count of the rate's gamma prior: a series
	// that showed only zeros still expects about one event in the window
	// its level averages over, so its first event is not infinitely
	// surprising.
	countPrior = 0.5
	// maxTailTerms bounds the terms summed for an upper tail.
	maxTailTerms = 200
	// maxProductCount is the largest count whose probability is computed
	// as a product (see countTail).
	maxProductCount = 1000
)

// isCount says whether v can be an event count (a non-negative integer).
func isCount(v float64) bool { return v >= 0 && v == math.Trunc(v) && v < 1<<53 }

// countTail is P(X >= x) for the next count of a series whose recent counts
// average mean over about window points and vary with variance var: the
// predictive distribution of a gamma-mixed Poisson rate, a negative
// binomial with that mean and the variance of the counts (at least the
// Poisson variance, mean), plus the uncertainty of a rate estimated from
// mean*window events (mean²/(mean*window+countPrior)). It fits counts of
// errors or crashes, mostly 0 to 10, where a Gaussian z-score calls every
// second error of a quiet series an alert and a rare burst nothing special.
func countTail(x, mean, window, variance float64) float64 {
	mean = max(mean, countPrior/window)
	v := max(variance, mean) + mean*mean/(mean*window+countPrior)
	if x <= mean+math.Sqrt(v) {
		// Not in the upper tail: at most about one standard deviation
		// above the mean, the tail is above every test's share.
		return 1
	}
	// Negative binomial with r = mean²/(v-mean) and failure probability
	// 1-q = mean/(r+mean), computed as such: 1 - r/(r+mean) would lose the
	// digits that matter when r is large (near Poisson).
	r := mean * mean / (v - mean)
	fail := mean / (r + mean)
	// pmf(x) = q^r · Π_{k<x} (k+r)/(k+1)·(1-q). The product is exact where
	// lgamma(x+r) - lgamma(r) would cancel most of its digits (large r);
	// for a huge count, whose tail is far below any score's, lgamma will do.
	pmf := math.Exp(-r * math.Log1p(mean/r))
	if x <= maxProductCount {
		for k := 0.0; k < x; k++ {
			pmf *= (k + r) / (k + 1) * fail
		}
	} else {
		lx, _ := math.Lgamma(x + r)
		lr, _ := math.Lgamma(r)
		l1, _ := math.Lgamma(x + 1)
		pmf = math.Exp(lx - lr - l1 - r*math.Log1p(mean/r) + x*math.Log(fail))
	}
	// Sum the tail from x on: each term is the last times (k+r)/(k+1)·(1-q),
	// a ratio that falls towards 1-q; past the mode it is below 1.
	sum, term := 1.0, 1.0
	for k := x; k < x+maxTailTerms; k++ {
		ratio := (k + r) / (k + 1) * fail
		term *= ratio
		sum += term
		if term < 1e-6*sum {
			// The rest is at most term·ratio/(1-ratio).
			if ratio < 1 {
				sum += term * ratio / (1 - ratio)
			}
			break
		}
	}
	return min(1, pmf*sum)
}
