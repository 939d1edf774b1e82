// Package combine merges the calibrated scores (0..10, score = -log10 p) of
// several features of one composite key into one unified score on the same
// scale, so that a key's score can be thresholded like a single series'.
package combine

import (
	"fmt"
	"math"
)

// Method selects how feature scores are merged.
type Method uint8

const (
	// Max takes the most anomalous feature. It is the default: one broken
	// metric is enough to flag the key, and the score keeps its meaning.
	Max Method = iota
	// MeanTopK averages the TopK highest scores: it needs several features
	// to agree, which damps a single noisy metric.
	MeanTopK
	// Fisher combines the features' tail probabilities with Fisher's
	// method (-2 Σ ln p ~ χ² with 2n degrees of freedom): many moderately
	// unusual features add up to a strong signal.
	Fisher
	// Stouffer sums the features' normal quantiles (Σ Φ⁻¹(1-p) / √n); it
	// is less dominated by one extreme feature than Fisher.
	Stouffer
)

var names = [...]string{Max: "max", MeanTopK: "mean_top_k", Fisher: "fisher", Stouffer: "stouffer"}

func (m Method) String() string {
	if int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// ParseMethod maps a config name ("max", "mean_top_k", "fisher",
// "stouffer") to a Method.
func ParseMethod(s string) (Method, error) {
	for i, n := range names {
		if n == s {
			return Method(i), nil
		}
	}
	return 0, fmt.Errorf("unknown combination method %q (want max, mean_top_k, fisher or stouffer)", s)
}

// MaxTopK bounds TopK so MeanTopK can select without allocating.
const MaxTopK = 16

// MaxScore is the top of the score scale.
const MaxScore = 10.0

// Combiner merges feature scores. The zero value is Max.
type Combiner struct {
	Method Method
	// TopK is the number of highest scores MeanTopK averages (1..MaxTopK).
	TopK int
}

// Validate names the first bad field.
func (c Combiner) Validate() error {
	if int(c.Method) >= len(names) {
		return fmt.Errorf("Method: unknown value %d", c.Method)
	}
	if c.Method == MeanTopK && (c.TopK < 1 || c.TopK > MaxTopK) {
		return fmt.Errorf("TopK must be in 1..%d for mean_top_k, got %d", MaxTopK, c.TopK)
	}
	return nil
}

// Combine returns the unified score in [0, 10] of scores (each 0..10).
// An empty input scores 0. It does not allocate.
func (c Combiner) Combine(scores []float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	var out float64
	switch c.Method {
	case MeanTopK:
		out = meanTopK(scores, c.TopK)
	case Fisher:
		out = fisher(scores)
	case Stouffer:
		out = stouffer(scores)
	default:
		out = scores[0]
		for _, s := range scores[1:] {
			out = math.Max(out, s)
		}
	}
	return math.Max(0, math.Min(MaxScore, out))
}

func meanTopK(scores []float64, k int) float64 {
	k = max(1, min(k, MaxTopK, len(scores)))
	var top [MaxTopK]float64 // descending
	n := 0
	for _, s := range scores {
		if n == k && s <= top[k-1] {
			continue
		}
		i := min(n, k-1)
		for i > 0 && top[i-1] < s {
			top[i] = top[i-1]
			i--
		}
		top[i] = s
		if n < k {
			n++
		}
	}
	sum := 0.0
	for _, s := range top[:k] {
		sum += s
	}
	return sum / float64(k)
}

// fisher: with t = -Σ ln p_i = ln(10)·Σ s_i, the χ²_{2n} tail is
// p = e^{-t} Σ_{j<n} t^j/j!. It is summed in log space because t^j/j!
// overflows for many features.
func fisher(scores []float64) float64 {
	t := 0.0
	for _, s := range scores {
		t += math.Max(0, s) * math.Ln10
	}
	if t == 0 {
		return 0
	}
	lt := math.Log(t)
	// Terms grow until j ≈ t and then shrink; log-sum-exp over all of them.
	logTerm, maxLog := 0.0, 0.0
	for j := 1; j < len(scores); j++ {
		logTerm += lt - math.Log(float64(j))
		maxLog = math.Max(maxLog, logTerm)
	}
	sum, logTerm := 0.0, 0.0
	for j := 0; j < len(scores); j++ {
		if j > 0 {
			logTerm += lt - math.Log(float64(j))
		}
		sum += math.Exp(logTerm - maxLog)
	}
	logP := -t + maxLog + math.Log(sum)
	return -logP / math.Ln10
}

// stouffer maps each p = 10^-s to its upper normal quantile z, sums them
// with weight 1/√n and returns the upper tail of the sum.
func stouffer(scores []float64) float64 {
	sum := 0.0
	for _, s := range scores {
		p := math.Pow(10, -math.Max(0, math.Min(MaxScore, s)))
		sum += math.Sqrt2 * math.Erfcinv(2*math.Min(p, 1-1e-16)) // Φ⁻¹(1-p)
	}
	z := sum / math.Sqrt(float64(len(scores)))
	p := 0.5 * math.Erfc(z/math.Sqrt2)
	if p <= 0 {
		return MaxScore
	}
	return -math.Log10(p)
}
