// Package evidence scores an interval's counts against what a series usually does, knowing how
// many observations the interval holds.
//
// A model of a per-interval value (an error ratio, a mean latency) learns the spread of that
// value, not how it depends on the interval's volume: on a quiet edge most intervals see a
// handful of requests, and one stray failure or one slow request moves the value a lot. These
// tests ask instead how likely the interval's observations are if the edge behaves as it has,
// given their number: a failure count against a binomial, a request count against a Poisson, a
// mean against the spread of single observations. Their scores are on the detector's scale (a
// score of s is about as surprising as an event of probability 10^-s), so the processor can
// demand that both the model and the test find an interval unusual.
package evidence

import "math"

// maxScore is the top of the score scale.
const maxScore = 10.0

// learnBelow is the score from which an interval of failures counts as unusual (about one
// interval in a thousand on a healthy edge) and is not learned from.
const learnBelow = 3.0

func score(nats float64) float64 { return min(max(nats/math.Ln10, 0), maxScore) }

// Failures learns a failure ratio. It is plain data, so it can be copied and encoded.
type Failures struct {
	Failed, Total float64 // exponentially weighted counts
}

// prior is the pseudo-count of requests behind the starting ratio, and priorRatio that ratio: a
// new edge expects about one failure in a hundred until it has seen enough requests.
const (
	prior      = 100.0
	priorRatio = 0.01
)

// Score returns how surprising failed out of total requests are, then learns from them unless
// they are unusual; decay in (0, 1] is the weight the past keeps per interval. Fewer failures
// than usual score 0.
func (m *Failures) Score(failed, total, decay float64) float64 {
	if !(total > 0) || !(failed >= 0) || math.IsInf(total, 0) {
		return 0
	}
	failed = min(failed, total)
	p := (m.Failed + prior*priorRatio) / (m.Total + prior)
	s := score(binomialUpper(failed, total, p))
	// An unusual interval (a fault in progress) does not teach the ratio: a fault would become
	// the norm within a few intervals.
	if s < learnBelow {
		m.Failed = m.Failed*decay + failed
		m.Total = m.Total*decay + total
	}
	return s
}

// binomialUpper is the Chernoff bound, in nats, on -log P(X >= k) for X ~ Binomial(n, p):
// n·KL(k/n ‖ p), 0 when k/n <= p.
func binomialUpper(k, n, p float64) float64 {
	q := k / n
	if q <= p {
		return 0
	}
	kl := q * math.Log(q/p)
	if q < 1 { // (1-q)·log((1-q)/(1-p)) vanishes as q reaches 1
		kl += (1 - q) * math.Log((1-q)/(1-p))
	}
	return n * kl
}

// Arrivals learns a rate of arrivals (requests per second).
type Arrivals struct {
	Count, Seconds float64 // exponentially weighted
}

// Score returns how surprising count arrivals in seconds are, in either direction, then learns
// from them; ok is false for the first interval, which has nothing to compare with.
func (m *Arrivals) Score(count, seconds, decay float64) (s float64, ok bool) {
	if !(seconds > 0) || !(count >= 0) || math.IsInf(count, 0) || math.IsInf(seconds, 0) {
		return 0, false
	}
	if ok = m.Seconds > 0; ok {
		mu := m.Count / m.Seconds * seconds
		// Chernoff bound of either Poisson tail, less log 2 for asking both.
		s = score(poissonTail(count, mu) - math.Ln2)
	}
	m.Count = m.Count*decay + count
	m.Seconds = m.Seconds*decay + seconds
	return s, ok
}

// poissonTail is k·log(k/mu) - k + mu: the Chernoff bound, in nats, on -log P(X >= k) above
// the mean and on -log P(X <= k) below it, for X ~ Poisson(mu).
func poissonTail(k, mu float64) float64 {
	if mu <= 0 {
		if k > 0 {
			return math.Inf(1)
		}
		return 0
	}
	if k == 0 {
		return mu
	}
	return k*math.Log(k/mu) - k + mu
}

// Mean learns the mean and the spread of single observations (a request's latency) from the
// means of intervals and their observation counts.
type Mean struct {
	Mean      float64
	Var       float64 // of one observation
	Weight    float64 // exponentially weighted observations
	Intervals float64 // exponentially weighted intervals
}

const (
	// maxZ bounds how far an interval's mean moves the model, in standard errors, so that the
	// anomalies being scored do not teach it that they are normal; beyond it an interval does not
	// teach the spread at all.
	maxZ = 4.0
	// minIntervals is how many intervals the spread is learned from before the test answers: a
	// spread from fewer is too often too small.
	minIntervals = 10
)

// Score returns how surprising an interval's mean of n observations is, in either direction,
// then learns from it; ok is false while the model is too young to tell.
func (m *Mean) Score(mean, n, decay float64) (s float64, ok bool) {
	if !(n > 0) || math.IsNaN(mean) || math.IsInf(mean, 0) || math.IsInf(n, 0) {
		return 0, false
	}
	d := mean - m.Mean
	if m.Intervals == 0 {
		d = 0 // the first mean is the starting point, not a deviation
		m.Mean = mean
	}
	ok = m.Intervals >= minIntervals && m.Var > 0
	outlier := false
	if ok {
		z := d * math.Sqrt(n/m.Var)
		// erfc(|z|/√2) is the two-sided Gaussian tail.
		s = min(max(-math.Log10(math.Erfc(math.Abs(z)/math.Sqrt2)), 0), maxScore)
		outlier = math.Abs(z) > maxZ
		d = max(-maxZ, min(maxZ, z)) * math.Sqrt(m.Var/n)
	}
	m.Weight = m.Weight*decay + n
	m.Intervals = m.Intervals*decay + 1
	m.Mean += n / m.Weight * d
	// n·d² estimates the variance of one observation; each interval is one such estimate. An
	// outlying interval (a fault in progress) does not teach the spread: it would widen it by a
	// good part every interval and hide the fault within a few.
	if !outlier {
		a := 1 / m.Intervals
		m.Var = (1-a)*m.Var + a*n*d*d
	}
	return s, ok
}
