package detector

import "math"

// Tail is a streaming peaks-over-threshold fit of the upper tail of a
// non-negative statistic x: P(X > t) ≈ Rate·exp(-(t-u)/Excess) for t > u.
// Rate is the EWMA frequency of exceedances of u and Excess the EWMA mean
// excess over u (the maximum-likelihood scale of an exponential tail).
// Fitting the tail per series is what makes a score mean the same on a
// heavy-tailed series as on a Gaussian one, with two floats of state. They
// are float32: a rate and a mean excess of at most maxZ need no more.
type Tail struct {
	Rate, Excess float32
}

// P is the fitted probability of a value at least x; 1 at or below u.
func (t *Tail) P(x, u float64) float64 { return t.pAt(x, u, float64(t.Rate)) }

// pFloor is P with the fitted rate floored by aRate: after a window of about
// 1/aRate points without an exceedance, their rate is not 0 but up to about
// one in the window (a quiet count's tail would otherwise call its next
// exceedance impossible).
func (t *Tail) pFloor(x, u, aRate float64) float64 {
	return t.pAt(x, u, max(float64(t.Rate), aRate))
}

// pAt is P with the rate of exceedances given.
func (t *Tail) pAt(x, u, rate float64) float64 {
	if x <= u {
		return 1
	}
	return min(1, rate*math.Exp(-(x-u)/float64(t.Excess)))
}

// pPareto is pFloor, but beyond knee the tail goes on as a power law with
// the exponential's slope at the knee (P ∝ x^(-knee/Excess)): far beyond the
// values the tail was fitted on, a heavy tail (Student-t, Pareto) keeps
// falling by a factor per doubling, not per unit, and an exponential would
// call its rare large values impossible. Below the knee it is pFloor.
func (t *Tail) pPareto(x, u, aRate, knee float64) float64 {
	if x <= knee {
		return t.pFloor(x, u, aRate)
	}
	e := float64(t.Excess)
	return t.pFloor(knee, u, aRate) * math.Exp(-knee/e*math.Log(x/knee))
}

// Learn folds x into the fit. aRate is the per-point rate, aExcess the
// per-exceedance rate. The excess is capped at maxExcessGrowth times the
// current scale so that one giant value cannot flatten the tail it is
// scored against.
func (t *Tail) Learn(x, u, aRate, aExcess float64) {
	hit := 0.0
	if x > u {
		hit = 1
		excess := float64(t.Excess)
		e := min(x-u, maxExcessGrowth*excess)
		t.Excess = float32(min((1-aExcess)*excess+aExcess*e, maxZ))
	}
	rate := float64(t.Rate)
	t.Rate = float32(rate + aRate*(hit-rate))
}

const maxExcessGrowth = 10
