package rate

import (
	"math"
	"testing"
)

const sec = int64(1e9)

func TestCounter(t *testing.T) {
	var c Counter
	steps := []struct {
		start, ts int64
		value     float64
		rate      float64
		status    Status
	}{
		{start: 1, ts: 10 * sec, value: 100, status: First},
		{start: 1, ts: 20 * sec, value: 150, rate: 5, status: OK},
		{start: 1, ts: 20 * sec, value: 160, status: OutOfOrder}, // duplicate timestamp
		{start: 1, ts: 15 * sec, value: 160, status: OutOfOrder},
		{start: 1, ts: 30 * sec, value: 170, rate: 2, status: OK}, // the skipped points changed nothing
		{start: 1, ts: 40 * sec, value: 20, status: Reset},        // went down
		{start: 1, ts: 50 * sec, value: 40, rate: 2, status: OK},
		{start: 45 * sec, ts: 60 * sec, value: 90, status: Reset}, // new start time, value went up
		{start: 45 * sec, ts: 70 * sec, value: 100, rate: 1, status: OK},
		{start: 0, ts: 80 * sec, value: 110, rate: 1, status: OK}, // no start time: value decides
	}
	for i, s := range steps {
		r, st := c.Next(s.start, s.ts, s.value)
		if st != s.status || r != s.rate {
			t.Fatalf("step %d: got (%g, %d), want (%g, %d)", i, r, st, s.rate, s.status)
		}
	}
}

func TestDelta(t *testing.T) {
	var d Delta
	if _, st := d.Next(0, 10*sec, 5); st != First {
		t.Fatalf("a delta without start time starts the series, got %d", st)
	}
	if r, st := d.Next(0, 20*sec, 50); st != OK || r != 5 {
		t.Fatalf("got (%g, %d), want 5/s over the time since the last point", r, st)
	}
	if r, st := d.Next(25*sec, 30*sec, 50); st != OK || r != 10 {
		t.Fatalf("got (%g, %d), want 10/s over the point's own interval", r, st)
	}
	if _, st := d.Next(25*sec, 30*sec, 50); st != OutOfOrder {
		t.Fatalf("a repeated timestamp must be out of order, got %d", st)
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4}
	cases := []struct {
		q      float64
		counts []float64
		want   float64
	}{
		{0.5, []float64{0, 10, 0, 0}, 1.5},   // middle of (1, 2]
		{0.95, []float64{0, 10, 10, 0}, 3.8}, // rank 19 of 20: 90% into (2, 4]
		{0.5, []float64{10, 0, 0, 0}, 1},     // first bucket: its upper bound
		{0.99, []float64{0, 0, 0, 10}, 4},    // open-ended last bucket: its lower bound
		{0.5, []float64{0, 0, 0, 0}, math.NaN()},
	}
	for _, c := range cases {
		got := Quantile(c.q, bounds, c.counts)
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("Quantile(%g, %v) = %g, want %g", c.q, c.counts, got, c.want)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	if _, st := h.Next(1, 0, 10*sec, 10, 5, []float64{4, 6}); st != First {
		t.Fatalf("first point: %d", st)
	}
	in, st := h.Next(1, 0, 20*sec, 30, 15, []float64{10, 20})
	if st != OK || in.Rate != 2 || in.Count != 20 || in.Sum != 10 || in.Buckets[0] != 6 || in.Buckets[1] != 14 {
		t.Fatalf("got %+v (%d)", in, st)
	}
	if _, st := h.Next(2, 0, 30*sec, 40, 20, []float64{15, 25}); st != Reset {
		t.Fatalf("new bucket layout must restart, got %d", st)
	}
	if _, st := h.Next(2, 0, 40*sec, 50, 25, []float64{14, 36}); st != Reset {
		t.Fatalf("a bucket that went down must restart, got %d", st)
	}
	if in, st := h.Next(2, 0, 50*sec, 60, 30, []float64{20, 40}); st != OK || in.Count != 10 {
		t.Fatalf("after a reset the next interval is valid, got %+v (%d)", in, st)
	}
	if _, st := h.Next(2, 0, 50*sec, 70, 30, []float64{20, 50}); st != OutOfOrder {
		t.Fatalf("same timestamp: %d", st)
	}
}
