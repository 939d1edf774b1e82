// Package rate turns counters and histograms into the values the detectors score: per-second
// rates, means and quantiles over the interval between two points. It knows nothing of pdata:
// callers pass plain numbers and reuse the state between points of one series.
package rate

import "math"

// Status says whether a point gave a value, and if not, why.
type Status uint8

const (
	// OK means the value is valid.
	OK Status = iota
	// First is the first point of a series: it starts the interval, there is nothing to score yet.
	First
	// Reset is a counter that went down or restarted (new start time): the interval starts anew.
	Reset
	// OutOfOrder is a point not newer than the previous one; the state is unchanged.
	OutOfOrder
)

// Counter remembers the previous point of a cumulative counter. The zero value is ready.
type Counter struct {
	start, ts int64 // unix nanos
	value     float64
	seen      bool
}

// Next returns the per-second rate of the counter between the previous point and this one.
func (c *Counter) Next(start, ts int64, value float64) (float64, Status) {
	prev := c.ts
	inc, st := c.Increase(start, ts, value)
	if st != OK {
		return 0, st
	}
	return inc / seconds(ts-prev), OK
}

// Increase returns how much the counter grew between the previous point and this one.
func (c *Counter) Increase(start, ts int64, value float64) (float64, Status) {
	if !c.seen {
		*c = Counter{start: start, ts: ts, value: value, seen: true}
		return 0, First
	}
	if ts <= c.ts {
		return 0, OutOfOrder
	}
	if value < c.value || (start != 0 && start != c.start) {
		*c = Counter{start: start, ts: ts, value: value, seen: true}
		return 0, Reset
	}
	inc := value - c.value
	c.ts, c.value = ts, value
	return inc, OK
}

// Delta turns delta points into per-second rates: over the point's own interval when it has a
// start time, otherwise over the time since the previous point.
type Delta struct {
	ts   int64
	seen bool
}

// Next returns the per-second rate of a delta point.
func (d *Delta) Next(start, ts int64, value float64) (float64, Status) {
	if d.seen && ts <= d.ts {
		return 0, OutOfOrder
	}
	prev, seen := d.ts, d.seen
	d.ts, d.seen = ts, true
	switch {
	case start != 0 && start < ts:
		return value / seconds(ts-start), OK
	case seen:
		return value / seconds(ts-prev), OK
	default:
		return 0, First
	}
}

func seconds(nanos int64) float64 { return float64(nanos) / 1e9 }

// Quantile estimates the q-quantile of a histogram with explicit bounds (counts[i] counts values
// in (bounds[i-1], bounds[i]], the last bucket everything above), interpolating linearly inside a
// bucket as Prometheus' histogram_quantile does. The open-ended first and last buckets answer
// with their finite bound. It returns NaN for an empty histogram.
func Quantile(q float64, bounds []float64, counts []float64) float64 {
	total := 0.0
	for _, c := range counts {
		total += c
	}
	if total <= 0 || len(counts) == 0 {
		return math.NaN()
	}
	rank := q * total
	cum := 0.0
	for i, c := range counts {
		if cum+c >= rank && c > 0 {
			switch {
			case len(bounds) == 0:
				return math.NaN()
			case i == 0:
				return bounds[0]
			case i >= len(bounds):
				return bounds[len(bounds)-1]
			}
			lo, hi := bounds[i-1], bounds[i]
			return lo + (hi-lo)*(rank-cum)/c
		}
		cum += c
	}
	return bounds[len(bounds)-1]
}

// Histogram remembers the previous point of a cumulative histogram, so that each new point gives
// the histogram of the interval between the two. The zero value is ready.
type Histogram struct {
	start, ts  int64
	count, sum float64
	layout     uint64    // identifies the bucket boundaries
	buckets    []float64 // previous cumulative bucket counts
	delta      []float64 // this interval's bucket counts, reused
	seen       bool
}

// Interval is what happened between two histogram points.
type Interval struct {
	Rate    float64   // observations per second
	Count   float64   // observations
	Sum     float64   // sum of the observed values
	Buckets []float64 // observations per bucket; valid until the next call
}

// Next takes a cumulative point. layout identifies the bucket boundaries: a point whose
// boundaries differ from the previous one's cannot be subtracted from it and restarts the
// interval, as does a count, sum of buckets or start time that went back.
func (h *Histogram) Next(layout uint64, start, ts int64, count, sum float64, buckets []float64) (Interval, Status) {
	if h.seen && ts <= h.ts {
		return Interval{}, OutOfOrder
	}
	st := OK
	switch {
	case !h.seen:
		st = First
	case layout != h.layout || count < h.count || (start != 0 && start != h.start) || len(buckets) != len(h.buckets):
		st = Reset
	default:
		h.delta = h.delta[:0]
		for i, b := range buckets {
			d := b - h.buckets[i]
			if d < 0 {
				st = Reset
				break
			}
			h.delta = append(h.delta, d)
		}
	}
	in := Interval{}
	if st == OK {
		dCount := count - h.count
		in = Interval{Rate: dCount / seconds(ts-h.ts), Count: dCount, Sum: sum - h.sum, Buckets: h.delta}
	}
	h.start, h.ts, h.count, h.sum, h.layout, h.seen = start, ts, count, sum, layout, true
	h.buckets = append(h.buckets[:0], buckets...)
	return in, st
}
