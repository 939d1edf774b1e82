package detector

import (
	"math"
	"math/rand/v2"
	"testing"
)

func newChangepoint() *Changepoint {
	var c Changepoint
	c.init0()
	return &c
}

// TestChangepointCountRise: on an hourly failure count of 0.05 a point (one a day), whose rate
// rises to 0.3 and stays there, the run-length posterior takes the change as a fact within a
// few days (no single hour shows more than a failure or two), and learns the new rate; before
// the rise it accepts no change, and a fall to no failures at all is no evidence.
func TestChangepointCountRise(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 41))
		c := newChangepoint()
		c.mode(true)
		const mean = 0.05
		before := math.Inf(-1)
		for range 3000 {
			before = max(before, c.stepCount(poisson(rng, mean), mean, 1, 0))
		}
		if before > bocAccept {
			t.Errorf("seed %d: log odds %.1f before the rise", seed, before)
		}
		at := -1
		for i := range 300 {
			c.stepCount(poisson(rng, 0.3), mean, 1, 0)
			if c.Ref > 0.1 {
				at = i
				break
			}
		}
		if at < 0 || at > 150 {
			t.Errorf("seed %d: the rise to 0.3 accepted after %d points, want within 150", seed, at)
		}
		if r := mean + float64(c.Ref); r < 0.15 || r > 0.6 {
			t.Errorf("seed %d: rate after the change %.2f, want about 0.3", seed, r)
		}

		quiet := newChangepoint()
		quiet.mode(true)
		for range 500 {
			if d := quiet.stepCount(0, 1, 1, 0); d > bocU {
				t.Fatalf("seed %d: no failures at a rate of 1 give log odds %.1f", seed, d)
			}
		}
	}
}

// TestChangepointShift: a gauge's level moving by one and a half standard deviations is taken
// as a change within a few dozen points and its size learned; a lone outlier (winsorised at
// 4) among standard normal deviations does not lift the evidence to where its tail starts.
func TestChangepointShift(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, 43))
		c := newChangepoint()
		for i := range 3000 {
			z := rng.NormFloat64()
			if i == 2000 {
				z = 4
			}
			if d := c.step(z, 0); i >= 2000 && i < 2010 && d > bocU {
				t.Errorf("seed %d: an outlier lifts the log odds to %.1f", seed, d)
			}
		}
		ref, at := float64(c.Ref), -1
		for i := range 200 {
			c.step(1.5+rng.NormFloat64(), 0)
			if math.Abs(float64(c.Ref)-ref) > 0.75 {
				at = i
				break
			}
		}
		if at < 0 || at > 40 {
			t.Errorf("seed %d: the shift accepted after %d points, want within 40", seed, at)
		}
		if r := float64(c.Ref); r < 0.8 || r > 2.5 {
			t.Errorf("seed %d: shift learned as %.2f, want about 1.5", seed, r)
		}
	}
}

// TestChangepointScoresOnce: through the whole model, on a gauge whose level moves by one
// standard deviation for good, the changepoint's evidence is declustered: the run of high
// log odds that the change brings teaches the tail one peak, so the tail's rate is one of runs,
// not of the points in them.
func TestChangepointScoresOnce(t *testing.T) {
	vals := gaussian(6000, 45)
	for i := 4000; i < len(vals); i++ {
		vals[i] += 5
	}
	m := New(mustParams(t, Default()))
	run(m, 0, vals)
	// Learned point by point, the rate is about 0.006 here; declustered, 0.0007.
	if r := m.State().Change.Tail.Rate; !(r < 0.002) {
		t.Errorf("rate of runs above the tail's threshold %.3g after one change, want < 0.002", r)
	}
}

// TestExpW: the changepoint's own exponential, log1p and log agree with the math package's over
// the range of log weights and odds they see.
func TestExpW(t *testing.T) {
	for x := float64(bocMinLW); x <= bocMaxLW; x += 0.001 {
		if got, want := expW(x), math.Exp(x); math.Abs(got-want) > 1e-8*want {
			t.Fatalf("expW(%v) = %v, math.Exp %v", x, got, want)
		}
	}
	for y := 1.0; y < 1e30; y *= 1.0001 {
		if got, want := logW(y), math.Log(y); math.Abs(got-want) > 1e-10*max(want, 1) {
			t.Fatalf("logW(%v) = %v, math.Log %v", y, got, want)
		}
	}
	for x := 0.0; x < 10; x += 1e-5 {
		if got, want := log1pW(x), math.Log1p(x); math.Abs(got-want) > 2e-10 {
			t.Fatalf("log1pW(%v) = %v, math.Log1p %v", x, got, want)
		}
	}
}
