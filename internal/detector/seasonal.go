package detector

import "math"

const (
	dayNanos  = int64(24 * 3600 * 1e9)
	weekNanos = 7 * dayNanos
	// maxBuckets bounds a profile so a config typo cannot allocate
	// megabytes per series.
	maxBuckets = 10080 // one bucket per minute of a week
)

// Profile is the learned daily and weekly shape of one series: additive
// offsets from the level per time-of-day and time-of-week bucket (UTC).
// It is a separate allocation from State because it is optional and its
// size depends on the bucket counts: 8 bytes per bucket plus a slice header.
type Profile struct {
	// Offsets holds DayBuckets day offsets followed by WeekBuckets week
	// offsets, in one allocation.
	Offsets []float64
	day     int
}

func newProfile(dayBuckets, weekBuckets int) *Profile {
	return &Profile{Offsets: make([]float64, dayBuckets+weekBuckets), day: dayBuckets}
}

// Bytes is the memory held by the profile.
func (pr *Profile) Bytes() int { return 8*len(pr.Offsets) + 32 }

func bucket(ts, period, width int64) int {
	return int(((ts%period)+period)%period) / int(width)
}

// indices returns the day and week bucket of ts, or -1 for a disabled one.
func (pr *Profile) indices(p *Params, ts int64) (d, w int) {
	d, w = -1, -1
	if p.dayBucketNanos > 0 {
		d = bucket(ts, dayNanos, p.dayBucketNanos)
	}
	if p.weekBucketNanos > 0 {
		w = pr.day + bucket(ts, weekNanos, p.weekBucketNanos)
	}
	return d, w
}

// offset is the seasonal part of the expected value at ts.
func (pr *Profile) offset(p *Params, ts int64) float64 {
	d, w := pr.indices(p, ts)
	o := 0.0
	if d >= 0 {
		o += pr.Offsets[d]
	}
	if w >= 0 {
		o += pr.Offsets[w]
	}
	return finite(o)
}

// update moves the buckets of ts towards resid = value - level. Each bucket
// has a half-life of SeasonalHalfLife visits; a visit spans
// bucketWidth/meanDT samples, so the per-sample rate is scaled accordingly.
// Day and week offsets each learn what the other does not explain. The
// convex update form keeps offsets finite for inputs near ±MaxFloat64.
func (pr *Profile) update(p *Params, ts int64, meanDT, resid float64) {
	d, w := pr.indices(p, ts)
	h := p.cfg.SeasonalHalfLife
	if d >= 0 {
		a := seasonalAlpha(h, float64(p.dayBucketNanos), meanDT)
		other := 0.0
		if w >= 0 {
			other = pr.Offsets[w]
		}
		pr.Offsets[d] = (1-a)*pr.Offsets[d] + a*finite(resid-other)
	}
	if w >= 0 {
		a := seasonalAlpha(h, float64(p.weekBucketNanos), meanDT)
		other := 0.0
		if d >= 0 {
			other = pr.Offsets[d]
		}
		pr.Offsets[w] = (1-a)*pr.Offsets[w] + a*finite(resid-other)
	}
}

func seasonalAlpha(halfLifeVisits, width, meanDT float64) float64 {
	perVisit := 1.0
	if meanDT > 0 && width > meanDT {
		perVisit = width / meanDT
	}
	return 1 - math.Exp2(-1/(halfLifeVisits*perVisit))
}
