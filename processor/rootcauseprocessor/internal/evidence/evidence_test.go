package evidence

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func binomial(r *rand.Rand, n int, p float64) float64 {
	k := 0
	for range n {
		if r.Float64() < p {
			k++
		}
	}
	return float64(k)
}

func poisson(r *rand.Rand, mu float64) float64 {
	// Knuth's method is enough for the small means of these tests.
	l, k, p := math.Exp(-mu), 0.0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func TestStrayFailuresAreCalm(t *testing.T) {
	var m Failures
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for i := range 5000 {
		if s := m.Score(binomial(r, 200, 0.005), 200, 0.99); i > 50 {
			worst = max(worst, s)
		}
	}
	assert.Less(t, worst, 5.0, "binomial noise at 0.5%% never looks like an incident")
}

func TestErrorBurstScoresHigh(t *testing.T) {
	var m Failures
	for range 100 {
		m.Score(1, 200, 0.99)
	}
	assert.Equal(t, 10.0, m.Score(20, 200, 0.99), "10% failures where 0.5% is usual")
	assert.Greater(t, m.Score(6, 200, 0.99), 1.0)
	assert.Zero(t, m.Score(0, 200, 0.99))
}

func TestFailuresBadInput(t *testing.T) {
	var m Failures
	for _, c := range [][2]float64{{1, 0}, {-1, 10}, {math.NaN(), 10}, {1, math.Inf(1)}, {1, math.NaN()}} {
		assert.Zero(t, m.Score(c[0], c[1], 0.99), "%v", c)
	}
	assert.Equal(t, Failures{}, m, "bad input teaches nothing")
	assert.Equal(t, 10.0, m.Score(50, 10, 0.99), "failures are capped at the requests")
}

func TestArrivals(t *testing.T) {
	var m Arrivals
	r := rand.New(rand.NewPCG(3, 4))
	_, ok := m.Score(5, 10, 0.99)
	assert.False(t, ok, "the first interval has nothing to compare with")
	worst := 0.0
	for i := range 5000 {
		s, ok := m.Score(poisson(r, 8), 2, 0.99) // 4 per second
		assert.True(t, ok)
		if i > 50 {
			worst = max(worst, s)
		}
	}
	assert.Less(t, worst, 5.0, "Poisson noise on a quiet edge is calm")
	drop, _ := m.Score(0, 20, 0.99)
	surge, _ := m.Score(200, 2, 0.99)
	assert.Greater(t, drop, 7.0, "no request in 20 s where 80 are usual")
	assert.Equal(t, 10.0, surge)
	_, ok = m.Score(1, 0, 0.99)
	assert.False(t, ok)
}

func TestMean(t *testing.T) {
	var m Mean
	r := rand.New(rand.NewPCG(5, 6))
	sample := func(n int, scale float64) float64 {
		sum := 0.0
		for range n {
			sum += scale * math.Exp(0.5*r.NormFloat64()) // log-normal latencies
		}
		return sum / float64(n)
	}
	worst := 0.0
	for i := range 3000 {
		n := 1 + r.IntN(40) // volume varies a lot from interval to interval
		s, ok := m.Score(sample(n, 0.05), float64(n), 0.99)
		if i < minIntervals-1 {
			assert.False(t, ok)
		}
		if i > 100 {
			worst = max(worst, s)
		}
	}
	assert.Less(t, worst, 6.0, "the mean of few requests is noisy, and the test knows it")
	slow, ok := m.Score(sample(20, 0.15), 20, 0.99)
	assert.True(t, ok)
	assert.Equal(t, 10.0, slow, "three times slower")
	_, ok = m.Score(math.NaN(), 3, 0.99)
	assert.False(t, ok)
}

func TestMeanKeepsScoringASustainedShift(t *testing.T) {
	var m Mean
	r := rand.New(rand.NewPCG(7, 8))
	sample := func(n int, scale float64) float64 {
		sum := 0.0
		for range n {
			sum += scale * math.Exp(0.3*r.NormFloat64())
		}
		return sum / float64(n)
	}
	for range 40 {
		m.Score(sample(20, 1), 20, 0.99)
	}
	for i := range 20 {
		s, _ := m.Score(sample(20, 2), 20, 0.99)
		assert.Equal(t, 10.0, s, "interval %d of a doubled latency", i)
	}
}

func TestFailuresKeepScoringASustainedRise(t *testing.T) {
	var m Failures
	r := rand.New(rand.NewPCG(9, 10))
	for range 40 {
		m.Score(binomial(r, 20, 0.01), 20, 0.99)
	}
	for i := range 20 {
		assert.Greater(t, m.Score(binomial(r, 60, 0.3), 60, 0.99), 7.0, "interval %d of 30%% failures", i)
	}
}
