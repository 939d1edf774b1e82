// Package binomial scores failure counts against a learned failure ratio.
//
// An error ratio is a poor input for a z-score: on a healthy edge most intervals see no failure
// at all, so the learned variance is tiny and one stray failure looks like a disaster. Counting
// instead asks the right question: how likely are k failures out of n requests if the ratio is
// what it has been? The Chernoff bound of the binomial tail answers it in closed form.
package binomial

import "math"

// prior is the pseudo-count of requests behind the starting ratio, and priorRatio that ratio: a
// new edge expects about one failure in a hundred until it has seen enough requests.
const (
	prior      = 100.0
	priorRatio = 0.01
	// maxScore is the top of the score scale.
	maxScore = 10.0
)

// Model learns an edge's failure ratio. It is plain data, so it can be copied and encoded.
type Model struct {
	Failures, Requests float64 // exponentially weighted counts
}

// Score returns how surprising failures out of requests are, 0 to 10 (a score of s is about as
// surprising as an event of probability 10^-s), then learns from them. decay in (0, 1] is the
// weight the past keeps per interval.
func (m *Model) Score(failures, requests, decay float64) float64 {
	if !(requests > 0) || failures < 0 || math.IsNaN(failures) || math.IsInf(requests, 0) {
		return 0
	}
	failures = min(failures, requests)
	p := (m.Failures + prior*priorRatio) / (m.Requests + prior)
	s := tail(failures, requests, p)
	m.Failures = m.Failures*decay + failures
	m.Requests = m.Requests*decay + requests
	return s
}

// tail is -log10 of the Chernoff bound on P(X >= k) for X ~ Binomial(n, p), capped at
// maxScore: n·KL(k/n ‖ p) nats.
func tail(k, n, p float64) float64 {
	q := k / n
	if q <= p {
		return 0
	}
	kl := q * math.Log(q/p)
	if q < 1 { // (1-q)·log((1-q)/(1-p)) vanishes as q reaches 1
		kl += (1 - q) * math.Log((1-q)/(1-p))
	}
	return min(n*kl/math.Ln10, maxScore)
}
