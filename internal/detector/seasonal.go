package detector

import "math"

const (
	dayNanos  = int64(24 * 3600 * 1e9)
	weekNanos = 7 * dayNanos
	// maxBuckets bounds a profile so a config typo cannot allocate
	// megabytes per series.
	maxBuckets = 10080 // one bucket per minute of a week
	// maxQ is the largest quantised offset; a profile whose offsets outgrow
	// it doubles its scale.
	maxQ = math.MaxInt16
	// minQ is the largest quantised offset below which a profile halves its
	// scale, to keep about 12 bits of precision for its largest offset.
	minQ = 1 << 12
	// rescaleEvery is how often, in points, a profile checks whether it may
	// halve its scale (a scan of its buckets).
	rescaleEvery = 256
)

// The seasonal profile is the learned daily and weekly shape of one series:
// additive offsets from the level per time-of-day and time-of-week bucket
// (UTC), DayBuckets day offsets followed by WeekBuckets week offsets, in
// one allocation. An offset is stored as an int16 in units of the state's
// ProfileScale: 2 bytes a bucket instead of 8 keep a series with the default
// 24 + 42 buckets within the memory budget, and the scale follows the
// largest offset (doubled when one outgrows int16, halved when all fit in
// 12 bits), so the largest keeps 12 to 15 bits of precision. Updates are
// rounded with a deterministic dither, which keeps the slow EWMA of a bucket
// unbiased where plain rounding would freeze it once its steps fall below
// half a unit.

// profileBytes is the memory a profile of n buckets holds (its backing array).
func profileBytes(n int) int { return 2 * n }

func bucket(ts, period int64, inv float64, n int) int {
	r := ((ts % period) + period) % period
	return min(int(float64(r)*inv), n-1)
}

// indices returns the day and week bucket of ts, or -1 for a disabled one.
func (p *Params) indices(ts int64) (d, w int) {
	d, w = -1, -1
	if p.cfg.Seasonal && p.cfg.DayBuckets > 0 {
		d = bucket(ts, dayNanos, p.invDayBucket, p.cfg.DayBuckets)
	}
	if p.cfg.Seasonal && p.cfg.WeekBuckets > 0 {
		w = p.cfg.DayBuckets + bucket(ts, weekNanos, p.invWeekBucket, p.cfg.WeekBuckets)
	}
	return d, w
}

// offsetAt is the value of bucket i, 0 for a disabled one.
func (m *Model) offsetAt(i int) float64 {
	if i < 0 {
		return 0
	}
	return float64(m.profile[i]) * m.s.ProfileScale
}

// offset is the seasonal part of the expected value at ts.
func (m *Model) offset(d, w int) float64 {
	return finite(m.offsetAt(d) + m.offsetAt(w))
}

// updateProfile moves the buckets of ts towards resid = value - level. Each
// bucket has a half-life of SeasonalHalfLife visits; a visit spans
// bucketWidth/meanDT samples, so the per-sample rate is scaled accordingly.
// Day and week offsets each learn what the other does not explain. The
// convex update form keeps offsets finite for inputs near ±MaxFloat64.
func (m *Model) updateProfile(ts int64, d, w int, meanDT, resid float64) {
	p := m.p
	if d >= 0 {
		a := seasonalAlpha(p.visitRate, p.dayVisitRate, meanDT)
		m.store(ts, d, (1-a)*m.offsetAt(d)+a*finite(resid-m.offsetAt(w)))
	}
	if w >= 0 {
		a := seasonalAlpha(p.visitRate, p.weekVisitRate, meanDT)
		m.store(ts, w, (1-a)*m.offsetAt(w)+a*finite(resid-m.offsetAt(d)))
	}
	if m.s.N%rescaleEvery == 0 {
		m.shrinkScale()
	}
}

// store quantises x into bucket i, doubling the scale while x does not fit.
func (m *Model) store(ts int64, i int, x float64) {
	s := &m.s
	if s.ProfileScale == 0 {
		if x == 0 {
			return
		}
		s.ProfileScale = max(math.Abs(x)/minQ, math.SmallestNonzeroFloat64)
	}
	for math.Abs(x) > maxQ*s.ProfileScale && s.ProfileScale < math.MaxFloat64/(4*maxQ) {
		s.ProfileScale *= 2
		for j, q := range m.profile {
			m.profile[j] = int16(math.Round(float64(q) / 2))
		}
	}
	q := math.Floor(x/s.ProfileScale + dither(ts, i))
	m.profile[i] = int16(max(-maxQ, min(maxQ, q)))
}

// shrinkScale halves the scale while every offset would still fit, so a
// profile that learned a large transient regains precision once it fades.
func (m *Model) shrinkScale() {
	largest := 0
	for _, q := range m.profile {
		largest = max(largest, abs(int(q)))
	}
	for largest > 0 && largest < minQ/2 && m.s.ProfileScale > math.SmallestNonzeroFloat64*2 {
		m.s.ProfileScale /= 2
		largest *= 2
		for j := range m.profile {
			m.profile[j] *= 2
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// dither is a deterministic uniform number in [0, 1) for timestamp ts and
// bucket i (a splitmix64 step): rounding floor(x + dither) is unbiased.
func dither(ts int64, i int) float64 {
	z := uint64(ts) + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// seasonalAlpha is 1 - 2^(-1/(SeasonalHalfLife*perVisit)), the per-sample
// rate of a bucket visited for perVisit = width/meanDT samples at a time (at
// least 1). visitRate is ln2/SeasonalHalfLife and perNano ln2/(SeasonalHalfLife*width),
// precomputed so that no division is left. For the small rates of buckets
// that span many samples a third-order series replaces the exponential
// (relative error below x³/24 < 5e-8).
func seasonalAlpha(visitRate, perNano, meanDT float64) float64 {
	x := visitRate
	if meanDT > 0 {
		x = min(x, meanDT*perNano)
	}
	if x < 1e-2 {
		return x * (1 - x*(0.5-x/6))
	}
	return -math.Expm1(-x)
}
