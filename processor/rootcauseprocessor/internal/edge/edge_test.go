package edge

import (
	"math/rand/v2"
	"testing"

	"github.com/omen-otel/omen/internal/detector"
)

const second = int64(1e9)

func newParams(t *testing.T) *Params {
	t.Helper()
	dc := detector.Default()
	dc.Seasonal = false
	dc.MinSamples = 30 // as examples/servicegraph
	p, err := NewParams(dc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// interval adds one interval of n requests, failing with probability errRate, whose mean
// latency is mean seconds with the spread of single requests' (sd) over n, then closes it.
func interval(rng *rand.Rand, s *State, ts int64, n int, errRate, mean, sd float64) Scores {
	s.Begin(ts, ts)
	failed := 0.0
	sum := 0.0
	for range n {
		if rng.Float64() < errRate {
			failed++
		}
		sum += max(mean+sd*rng.NormFloat64(), 0)
	}
	s.AddRequests(float64(n), failed)
	s.AddLatency(float64(n), sum, true)
	return s.Score(s.Take(), true)
}

func featureScore(sc Scores, f Feature) (float64, bool) {
	for _, x := range sc.Features[:sc.N] {
		if x.Feature == f {
			return x.Score, true
		}
	}
	return 0, false
}

// A canary's edge that borrows the stable edge's models is scored from its first interval: a
// slow or failing canary high, a good one low; without borrowing it has no score at all.
func TestBorrowScoresACanaryFromItsFirstInterval(t *testing.T) {
	p := newParams(t)
	rng := rand.New(rand.NewPCG(1, 2))
	stable := New(p)
	const flush = 10 * second
	ts := int64(1_700_000_000) * second
	for range 60 {
		ts += flush
		interval(rng, stable, ts, 800, 0.01, 0.1, 0.03)
	}
	for _, c := range []struct {
		name              string
		errRate, mean     float64
		feature           Feature
		wantHigh, wantLow bool
	}{
		{"latency ×3", 0.01, 0.3, Latency, true, false},
		{"20% errors", 0.21, 0.1, ErrorRatio, true, false},
		{"good canary latency", 0.01, 0.1, Latency, false, true},
		{"good canary errors", 0.01, 0.1, ErrorRatio, false, true},
	} {
		canary := New(p)
		if err := canary.Borrow(stable); err != nil {
			t.Fatal(err)
		}
		at := ts
		for i := range 3 {
			at += flush
			// 20% of the traffic: 200 of the stable's 800 requests.
			sc := interval(rng, canary, at, 200, c.errRate, c.mean, 0.03)
			got, ok := featureScore(sc, c.feature)
			switch {
			case !ok:
				t.Errorf("%s: interval %d: no %v score", c.name, i, c.feature)
			case c.wantHigh && got < 7:
				t.Errorf("%s: interval %d: score %.2f, want >= 7", c.name, i, got)
			case c.wantLow && got >= 3:
				t.Errorf("%s: interval %d: score %.2f, want < 3", c.name, i, got)
			}
			if _, ok := featureScore(sc, RequestRate); ok {
				t.Errorf("%s: interval %d: the request rate was scored on a borrowed model", c.name, i)
			}
		}
		if sc := interval(rng, New(p), at+flush, 200, c.errRate, c.mean, 0.03); sc.Scored() {
			t.Errorf("%s: a cold edge was scored on its first interval", c.name)
		}
	}
	// The stable edge's models are its own: the canaries taught them nothing.
	before := stable.Latency.State()
	canary := New(p)
	if err := canary.Borrow(stable); err != nil {
		t.Fatal(err)
	}
	interval(rng, canary, ts+flush, 200, 0.5, 5, 0.03)
	if after := stable.Latency.State(); after != before {
		t.Error("a canary's interval changed the stable edge's latency model")
	}
	if canary.Learned() != stable.Learned()+1 {
		t.Errorf("the canary learned %d intervals, want the stable's %d and its own", canary.Learned(), stable.Learned())
	}
}
