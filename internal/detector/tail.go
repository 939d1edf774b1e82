package detector

import "math"

// Tail is a streaming peaks-over-threshold fit of the upper tail of a
// non-negative statistic x: P(X > t) ≈ Rate·exp(-(t-u)/Excess) for t > u.
// Rate is the EWMA frequency of exceedances of u and Excess the EWMA mean
// excess over u (the maximum-likelihood scale of an exponential tail).
// Fitting the tail per series is what makes a score mean the same on a
// heavy-tailed series as on a Gaussian one, with two floats of state.
type Tail struct {
	Rate, Excess float64
}

// P is the fitted probability of a value at least x; 1 at or below u.
func (t *Tail) P(x, u float64) float64 {
	if x <= u {
		return 1
	}
	return min(1, t.Rate*math.Exp(-(x-u)/t.Excess))
}

// Learn folds x into the fit. aRate is the per-point rate, aExcess the
// per-exceedance rate. The excess is capped at maxExcessGrowth times the
// current scale so that one giant value cannot flatten the tail it is
// scored against.
func (t *Tail) Learn(x, u, aRate, aExcess float64) {
	hit := 0.0
	if x > u {
		hit = 1
		e := min(x-u, maxExcessGrowth*t.Excess)
		t.Excess = min((1-aExcess)*t.Excess+aExcess*e, maxZ)
	}
	t.Rate += aRate * (hit - t.Rate)
}

const maxExcessGrowth = 10
