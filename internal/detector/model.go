// Package detector holds the per-series streaming anomaly model of the
// anomaly processor: a robust adaptive baseline (EWMA level and variance
// with winsorised updates, a daily/weekly profile used as far as it
// explains the series), a CUSUM level-shift detector that re-anchors the
// baseline, and a calibration step that turns deviations into a score that
// means the same on every series.
//
// # Score calibration
//
// Score = min(10, -log10(p)), where p is the estimated probability, under
// the series' own recent behaviour, of a deviation at least as extreme as
// the current one. So on a well-behaved series
//
//	score 1 ≈ 1 point in 10
//	score 3 ≈ 1 point in 1,000
//	score 5 ≈ 1 point in 100,000
//	score 7 ≈ 1 point in 10,000,000
//
// p is the smallest of the tail probabilities of the individual tests (spike,
// anomaly likelihood, novelty, repeat, and a Bayesian online changepoint test,
// see bocpd.go), each divided by its share of the false-alarm
// budget (weighted Bonferroni: the shares sum to at most 1), so combining
// tests does not inflate the false-alarm rate. A series of small
// non-negative integers (errors per interval) is scored as a count: its
// spike is judged by a negative binomial likelihood and its likelihood
// test by a tail fitted to it (see countTail). TestCalibrationGaussian and
// TestCalibrationBeyondGaussian check the mapping empirically.
//
// After an alert (score >= AlertScore) a refractory carry suppresses repeats:
// a point only scores its surprise in excess of the decaying recent alert.
// This keeps one event from being reported on many consecutive points.
//
// The model is stdlib-only, allocation-free per update, deterministic, and
// its state is a flat struct that can be marshalled and restored.
package detector

import "math"

// Skip says why Update did not take a point. The state is untouched then.
type Skip uint8

const (
	// Accepted means the point was taken (it may still be in warm-up).
	Accepted Skip = iota
	// SkipNaN rejects a NaN value.
	SkipNaN
	// SkipInf rejects ±Inf.
	SkipInf
	// SkipOutOfOrder rejects a timestamp older than the last accepted one.
	SkipOutOfOrder
)

func (s Skip) String() string {
	switch s {
	case Accepted:
		return "accepted"
	case SkipNaN:
		return "nan"
	case SkipInf:
		return "inf"
	case SkipOutOfOrder:
		return "out_of_order"
	}
	return "unknown"
}

// Result is the outcome of one accepted point.
type Result struct {
	// Score is the calibrated anomaly score in [0, 10]; 0 during warm-up.
	Score float64
	// Expected is the baseline prediction for this point, made before the
	// point was seen; Lower and Upper are Expected ∓ BandZ standard
	// deviations.
	Expected, Lower, Upper float64
	// WarmedUp is false until MinSamples points were accepted.
	WarmedUp bool
}

// Params are the constants derived once from a validated Config and shared,
// read-only, by every Model built from it.
type Params struct {
	cfg                             Config
	aLevel, aScale, aShort, aLong   float64
	aTail, aVol, aMid               float64
	refractoryKeep                  float64
	dayBucketNanos, weekBucketNanos int64
	// invDayBucket and invWeekBucket turn a time of day or week into its
	// bucket with a multiplication instead of a division.
	invDayBucket, invWeekBucket float64
	// visitRate, dayVisitRate and weekVisitRate are the constants of
	// seasonalAlpha.
	visitRate, dayVisitRate, weekVisitRate float64
	// countWindow is the number of points the level averages over (the
	// equivalent sample size of its EWMA), for the count likelihood.
	countWindow float64
}

// NewParams validates cfg and precomputes its per-point constants.
func NewParams(cfg Config) (*Params, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Params{
		cfg:            cfg,
		aLevel:         alpha(cfg.LevelHalfLife),
		aScale:         alpha(cfg.ScaleHalfLife),
		aShort:         alpha(cfg.ShortHalfLife),
		aLong:          alpha(cfg.LongHalfLife),
		aTail:          alpha(50),
		aVol:           alpha(cfg.VolatilityHalfLife),
		aMid:           alpha(midWindows * cfg.ShortHalfLife),
		refractoryKeep: 1 - alpha(cfg.RefractoryHalfLife),
	}
	p.countWindow = (2 - p.aLevel) / p.aLevel
	if cfg.Seasonal && cfg.DayBuckets > 0 {
		p.dayBucketNanos = dayNanos / int64(cfg.DayBuckets)
		p.invDayBucket = float64(cfg.DayBuckets) / float64(dayNanos)
		p.dayVisitRate = math.Ln2 / (cfg.SeasonalHalfLife * float64(p.dayBucketNanos))
	}
	if cfg.Seasonal && cfg.WeekBuckets > 0 {
		p.weekBucketNanos = weekNanos / int64(cfg.WeekBuckets)
		p.invWeekBucket = float64(cfg.WeekBuckets) / float64(weekNanos)
		p.weekVisitRate = math.Ln2 / (cfg.SeasonalHalfLife * float64(p.weekBucketNanos))
	}
	if cfg.Seasonal {
		p.visitRate = math.Ln2 / cfg.SeasonalHalfLife
	}
	return p, nil
}

// Config returns the configuration the parameters were built from.
func (p *Params) Config() Config { return p.cfg }

// State is the per-series model state. It is plain data (no pointers) so it
// can be copied, marshalled and compared; the seasonal profile lives in a
// separate allocation because it is optional and its size is configured.
type State struct {
	N      int64 // accepted points
	LastTS int64 // unix nanos of the last accepted point

	Level float64 // robust EWMA of the deseasonalised value
	Var   float64 // robust EWMA of the squared residual

	// VolVar is a short EWMA of the same squared residual as Var: the
	// current volatility regime, which floors the scale (see Update).
	VolVar float64

	// Recent is a short EWMA of the deseasonalised value; the baseline is
	// re-anchored to it when the CUSUM confirms a level shift.
	Recent float64

	// Max and Min are the range of every value accepted so far, for the
	// novelty test.
	Max, Min float64

	// PlainErr and SeasonalErr are long EWMAs of the squared residual
	// without and with the seasonal offset; their ratio says how much of
	// the series the profile explains (0 when seasonality is off).
	PlainErr, SeasonalErr float64
	// ProfileScale is the unit of the seasonal profile's quantised offsets.
	ProfileScale float64

	// Prev is the last value, for the repeat test.
	Prev float64

	// The fields below are float32 (or smaller): statistics in standard
	// deviations or score units, rates, and the sampling interval, whose
	// precision is far beyond what they are compared with; the halved size
	// keeps the state in its budget.

	// MeanDT is an EWMA of the sampling interval in nanos (gaps excluded).
	MeanDT float32

	CusumUp, CusumDn float32
	Carry            float32 // refractory suppression, in score units
	// ShortLik and MidLik are the anomaly likelihood over the short window
	// and over one four times as long.
	ShortLik, MidLik Lik

	// SpikeTail is the fitted tail of |z| above spikeU.
	SpikeTail Tail
	// LikTail is the fitted tail of the anomaly likelihood's deviation
	// above likU.
	LikTail Tail

	// Repeats is how many points in a row repeated Prev exactly, for the
	// repeat test (a series that stops moving): RepeatStart is the
	// long-run share of the points after a change that repeat their
	// predecessor, RepeatCont the share of those after a repeat that
	// repeat again.
	Repeats                 float32
	RepeatStart, RepeatCont float32

	// Change is the truncated run-length posterior of the changepoint
	// test (see bocpd.go).
	Change Changepoint

	// NotCount is set once a value was not a non-negative integer: until
	// then the series may be a count and is scored as one while its
	// expected value is small (see countTail).
	NotCount bool
}

// Model scores one series. It is not safe for concurrent use; the processor
// keeps one Model per series and serialises updates per series.
type Model struct {
	p       *Params
	s       State
	profile []int16 // quantised seasonal offsets (see seasonal.go); nil when seasonality is off
}

// New returns an empty model. It allocates the seasonal profile when the
// configuration enables it.
func New(p *Params) *Model {
	m := &Model{p: p}
	if p.cfg.Seasonal {
		m.profile = make([]int16, p.cfg.DayBuckets+p.cfg.WeekBuckets)
	}
	return m
}

// State returns a copy of the model's state (without the profile).
func (m *Model) State() State { return m.s }

const (
	// maxVar keeps the variance finite for inputs near ±MaxFloat64.
	maxVar = 1e300
	// maxZ bounds z so that squares and tails stay finite.
	maxZ = 1e6
	// relFloor is the smallest standard deviation relative to the level:
	// a constant series would otherwise turn float rounding into alerts.
	relFloor = 1e-9
	// absFloor is the smallest standard deviation for a series at zero.
	absFloor = 1e-12
	// maxRepeats caps the run the repeat test counts (float32 stays exact).
	maxRepeats = 1 << 20
	// maxGapSteps caps the samples a gap is worth, so decay saturates.
	maxGapSteps = 1e6
	// AlertScore is the score from which the refractory carry engages.
	AlertScore = 3.0
	// spikeShare, novelShare, likShare, midShare, repeatShare and
	// changeShare are the tests' shares of the false-alarm budget (weighted
	// Bonferroni; they sum to 1). The likelihoods get the smallest: their Gaussian tail
	// is an approximation (a short average of a heavy-tailed |z| has a
	// heavier tail), and on NAB the short one raised most of the false
	// alarms at an equal share.
	spikeShare  = 1.0 / 3
	novelShare  = 1.0 / 3
	likShare    = 1.0 / 12
	midShare    = 1.0 / 12
	repeatShare = 1.0 / 12
	changeShare = 1.0 / 12
	// changeRate is the prior rate of runs of the changepoint's log odds
	// above bocU.
	changeRate = 0.01
	// likU is where the fitted tail of the likelihood's deviation starts.
	likU = 2.0
	// gaussLikExcess is the mean excess over likU of a standard Gaussian.
	gaussLikExcess = 0.373
	// likKnee is the deviation of the short likelihood up to which its
	// Gaussian tail is trusted on every series.
	likKnee = 4.0
	// midWindows is the length of the likelihood's second window in short
	// windows.
	midWindows = 4
	// lowLik is a likelihood deviation whose one-sided Gaussian tail, 0.097,
	// is above likShare (and midShare, the same): below it the test cannot
	// raise the score.
	lowLik = 1.3
	// spikeU is where the fitted tail of |z| starts.
	spikeU = 2.0
	// spikeKnee is where the fitted tail of |z| turns into a power law.
	spikeKnee = 5.5
	// holdShort is the short average of |z| from which, with HoldShifts,
	// the recent points count as a sustained deviation: about 1 on
	// Gaussian noise, above 1.5 after one point beyond 6 standard deviations.
	holdShort = 1.5
	// volFloor is the fraction of the short-run (volatility regime)
	// standard deviation below which the scale may not fall, so a deviation
	// inside a burst of volatility is judged against that burst.
	volFloor = 0.5
)

// Update feeds one point. Points must come in timestamp order; a point older
// than the last accepted one is rejected with SkipOutOfOrder. A duplicate
// timestamp is accepted as another observation of the same instant and does
// not advance the clock. After a gap of more than 1.5 typical intervals the
// baseline decays as if the missing points had been seen (by elapsed time).
func (m *Model) Update(ts int64, v float64) (Result, Skip) {
	if math.IsNaN(v) {
		return Result{}, SkipNaN
	}
	if math.IsInf(v, 0) {
		return Result{}, SkipInf
	}
	s := &m.s
	p := m.p
	if s.N > 0 && ts < s.LastTS {
		return Result{}, SkipOutOfOrder
	}
	if s.N == 0 {
		s.N, s.LastTS = 1, ts
		s.Level, s.Recent = v, v
		s.Max, s.Min = v, v
		// Priors: the tails for iid Gaussian residuals, and for a standard
		// Gaussian deviation of the likelihood.
		s.SpikeTail = Tail{Rate: 0.0455, Excess: 0.37}
		s.LikTail = Tail{Rate: 0.02275, Excess: 0.373}
		s.Change.init0()
		s.NotCount = !isCount(v)
		s.Prev = v
		s.RepeatCont = 0.5
		return Result{Expected: v, Lower: v, Upper: v}, Accepted
	}

	// Elapsed time in samples: 1 for regular data, more after a gap.
	steps := 1.0
	meanDT := float64(s.MeanDT)
	if dt := float64(ts - s.LastTS); dt > 0 {
		if meanDT == 0 {
			meanDT = dt
		} else if dt > 1.5*meanDT {
			steps = min(dt/meanDT, maxGapSteps)
		} else {
			meanDT += 0.05 * (dt - meanDT)
		}
		s.MeanDT = float32(meanDT)
	}
	aLevel, aScale, aVol := p.aLevel, p.aScale, p.aVol
	if steps > 1 {
		aLevel = 1 - math.Pow(1-aLevel, steps)
		aScale = 1 - math.Pow(1-aScale, steps)
		aVol = 1 - math.Pow(1-aVol, steps)
	}
	// Early on, a running mean converges faster than a slow EWMA.
	if early := 1 / float64(s.N+1); early > aScale {
		aScale = early
	}
	if early := 1 / float64(s.N+1); early > aLevel {
		aLevel = early
	}
	if early := 1 / float64(s.N+1); early > aVol {
		aVol = early
	}

	seasonal, dBucket, wBucket := 0.0, -1, -1
	if m.profile != nil {
		dBucket, wBucket = p.indices(ts)
		seasonal = m.seasonalOffset(m.offset(dBucket, wBucket), v, aScale)
	}
	expected := finite(s.Level + seasonal)
	sd := max(math.Sqrt(s.Var), volFloor*math.Sqrt(s.VolVar))
	sd = max(sd, max(relFloor*math.Abs(s.Level), absFloor))
	resid := finite(v - expected)
	z := clamp(resid/sd, maxZ)
	warm := s.N >= int64(p.cfg.MinSamples)

	// Raw deviation and its anomaly likelihood: is the average of |z| over
	// a short window, or over one four times as long, unusually high
	// against its own long-run distribution?
	absZ := math.Abs(z)
	// A sustained deviation teaches neither the likelihood's long run, nor
	// the tail, nor the scale (with HoldShifts): early in a model's life
	// they learn fast enough to absorb a fault within a few points.
	held := p.cfg.HoldShifts && warm && float64(s.ShortLik.Avg) >= holdShort
	aLong := max(p.aLong, 1/float64(s.N))
	dLik := s.ShortLik.step(min(absZ, 2*p.cfg.WinsorZ), p.aShort, aLong, !held)
	// The longer window sees a moderate deviation that lasts (a ramp, a
	// dip of a third) which the short one, noisier, does not single out.
	dMid := s.MidLik.step(min(absZ, p.cfg.WinsorZ), p.aMid, aLong, !held)

	// CUSUM on winsorised z: sustained one-sided drift is a level shift.
	zc := clamp(z, p.cfg.WinsorZ)
	up := max(0, float64(s.CusumUp)+zc-p.cfg.ShiftDrift)
	dn := max(0, float64(s.CusumDn)-zc-p.cfg.ShiftDrift)
	s.CusumUp, s.CusumDn = float32(up), float32(dn)
	cusum := max(up, dn)

	// Tail probabilities, fitted per series. A series that only ever showed
	// non-negative integers, while it expects a small count, is scored as
	// a count.
	s.NotCount = s.NotCount || !isCount(v)
	count := !s.NotCount && expected <= maxCountMean

	// The changepoint test: the posterior odds of a recent change of level
	// against none, on the winsorised z (whose shifts follow the baseline's
	// move towards this point), or for a count on its rate.
	// Before the scale is learned (warm-up) its z says nothing of a change.
	s.Change.mode(count)
	dChange := math.Inf(-1)
	switch {
	case !warm:
		s.Change.reset()
	case count:
		dChange = s.Change.stepCount(v, expected, max(1, sd*sd/max(expected, countPrior/p.countWindow)), aLevel*zc*sd)
	default:
		dChange = s.Change.step(zc, aLevel*zc)
	}
	pChange := s.Change.p(dChange, aLong, p.aTail, !held)
	// The spike test fits the tail of |z|, or for a count of its
	// count-likelihood equivalent: the |z| of a Gaussian as unlikely as the
	// count under its negative binomial. Fitting the tail of that, rather
	// than trusting the distribution, keeps bursty counts calibrated.
	spikeZ := absZ
	if count {
		spikeZ = 0
		if pc := countTail(v, expected, min(p.countWindow, float64(s.N)), sd*sd); pc < 1 {
			spikeZ = min(math.Sqrt2*math.Erfcinv(pc), maxZ)
		}
	}
	pSpike := s.SpikeTail.pPareto(spikeZ, spikeU, aLong, spikeKnee)
	if !held {
		s.SpikeTail.Learn(spikeZ, spikeU, aLong, p.aTail)
	}
	// One-sided: only increases. The deviation of a short average of |z|
	// is near Gaussian for continuous residuals; for a small count, whose
	// |z| takes a few skewed values, its tail is fitted per series like the
	// spike's (learned on every series, so it is ready when a series's
	// expected count falls below maxCountMean).
	pLik := 1.0
	switch {
	case count:
		pLik = s.LikTail.pFloor(dLik, likU, aLong)
	case dLik > likKnee && float64(s.LikTail.Excess) > gaussLikExcess:
		// On a heavy-tailed series the short average of |z| has a heavier
		// tail than a Gaussian's: beyond likKnee its deviation is shrunk by
		// the Gaussian's mean excess above likU over the series' own.
		d := likKnee + (dLik-likKnee)*gaussLikExcess/float64(s.LikTail.Excess)
		pLik = 0.5 * math.Erfc(d/math.Sqrt2)
	case dLik > lowLik:
		pLik = 0.5 * math.Erfc(dLik/math.Sqrt2)
	}
	if !held {
		s.LikTail.Learn(dLik, likU, aLong, p.aTail)
	}
	pNovel := novelty(s, v, sd, aLong)
	// A small count repeats as its rate goes up and down (an hour of no
	// errors is no fault): the repeat test is for the other series.
	pRepeat := repeated(s, v, p, aLong)
	if count {
		pRepeat = 1
	}
	s.Max = max(s.Max, v)
	s.Min = min(s.Min, v)
	pMid := 1.0
	if dMid > lowLik {
		pMid = 0.5 * math.Erfc(dMid/math.Sqrt2)
	}
	// Multiplying by the constant inverse shares saves six divisions.
	pMin := min(pSpike*(1/spikeShare), pLik*(1/likShare), pNovel*(1/novelShare), pRepeat*(1/repeatShare), pMid*(1/midShare), pChange*(1/changeShare))
	raw := 0.0
	if !(pMin >= 1) {
		raw = min(10, max(0, -math.Log10(pMin)))
		if math.IsNaN(raw) {
			raw = 10
		}
	}

	// Refractory: report only surprise beyond the decaying last alert.
	keep := p.refractoryKeep
	if steps > 1 {
		keep = math.Pow(keep, steps)
	}
	carry := float64(s.Carry) * keep
	score := max(0, raw-carry)
	// Warm-up scores are not reported, so they must not suppress later ones.
	if warm && raw >= AlertScore && raw > carry {
		carry = raw
	}
	s.Carry = float32(carry)

	// Update the baseline with the winsorised residual.
	clipped := zc * sd
	shift := cusum > p.cfg.ShiftThreshold
	// Convex form: a difference of two huge values would overflow.
	aRecent := max(p.aShort, 1/float64(s.N+1))
	s.Recent = (1-aRecent)*s.Recent + aRecent*finite(v-seasonal)
	if shift {
		// Re-anchor: the old level is stale, start from the recent one.
		s.Level = s.Recent
		s.CusumUp, s.CusumDn = 0, 0
		s.Change.reset()
	} else {
		s.Level += aLevel * clipped
	}
	sq := clipped * clipped
	if !warm {
		// Learn the scale from unclipped residuals during warm-up, when the
		// variance estimate is still too small to clip against.
		sq = min(resid*resid, maxVar)
	}
	if !held {
		s.Var = min((1-aScale)*s.Var+aScale*sq, maxVar)
		s.VolVar = min((1-aVol)*s.VolVar+aVol*sq, maxVar)
	}
	if m.profile != nil {
		m.updateProfile(ts, dBucket, wBucket, meanDT, finite(v-s.Level))
	}
	s.N++
	s.LastTS = ts

	band := p.cfg.BandZ * sd
	r := Result{Expected: expected, Lower: expected - band, Upper: expected + band, WarmedUp: warm}
	if warm {
		r.Score = score
	}
	return r, Accepted
}

// finite maps ±Inf from an overflowing subtraction to ±MaxFloat64.
func finite(x float64) float64 {
	if x > math.MaxFloat64 {
		return math.MaxFloat64
	}
	if x < -math.MaxFloat64 {
		return -math.MaxFloat64
	}
	return x
}

func clamp(x, lim float64) float64 {
	return max(-lim, min(lim, x))
}

// novelty is the probability of a value outside the range of all n values
// seen so far. For exchangeable (iid) values a new maximum or minimum has
// probability 2/(n+1); 2*aLong is that, with n capped at the long window
// (1/aLong), so that on a long trending series a marginal new high is not an
// alert by itself (-log10(3*2/4329) < AlertScore with the default long
// window). The probability then shrinks by exp(-margin/sd) with the
// distance beyond the range: conservative for light tails, whose excess
// over the running maximum is far smaller than sd.
func novelty(s *State, v, sd, aLong float64) float64 {
	margin := max(v-s.Max, s.Min-v)
	if !(margin > 0) {
		return 1
	}
	return 2 * aLong * math.Exp(-margin/sd)
}

// Lik is the anomaly likelihood over one window: Avg is an EWMA of the
// deviation |z| over the window, Mean and Var the long-run mean and
// variance of Avg.
type Lik struct {
	Avg, Mean, Var float32
}

// step folds x into the window's average and returns how far the average
// is above its long run, in long-run standard deviations. The long run
// learns only when learn is set.
func (l *Lik) step(x, a, aLong float64, learn bool) float64 {
	avg := float64(l.Avg) + a*(x-float64(l.Avg))
	mean, v := float64(l.Mean), float64(l.Var)
	d := 0.0
	if sd := math.Sqrt(v); sd > 0 {
		d = (avg - mean) / sd
	}
	l.Avg = float32(avg)
	if learn {
		dev := avg - mean
		l.Mean = float32(mean + aLong*dev)
		l.Var = float32((1 - aLong) * (v + aLong*dev*dev))
	}
	return d
}

// repeated is the probability of the current run of exact repeats of one
// value: start·cont^(run-1), where start is the series' rate of repeats
// after a change and cont its rate of repeats after a repeat. Learning the
// two apart keeps series whose repeats come in runs (coarse gauges, counts
// that sit at 0) from alerting on their routine runs, while on a series that
// never repeated (a noisy gauge) a value that sticks for a few points is an
// alert. The start rate is learned over the long window with half a repeat
// as prior, the continuation at the tail's rate from a prior of 1/2. It is
// what catches an exporter that keeps sending its last value, which no
// deviation from the level shows.
func repeated(s *State, v float64, p *Params, aLong float64) float64 {
	hit := float32(0)
	if v == s.Prev {
		hit = 1
	}
	pr := 1.0
	if hit == 1 {
		// The run's probability under the rates learned before this point.
		w := 1 / aLong
		start := (float64(s.RepeatStart)*w + 0.5) / (w + 1)
		pr = start * math.Pow(float64(s.RepeatCont), float64(s.Repeats))
	}
	if s.Repeats > 0 {
		s.RepeatCont += float32(p.aTail) * (hit - s.RepeatCont)
	} else {
		s.RepeatStart += float32(aLong) * (hit - s.RepeatStart)
	}
	s.Prev = v
	s.Repeats = hit * min(s.Repeats+1, maxRepeats)
	return pr
}

// seasonalOffset is the profile's offset, weighted by the fraction of
// the residual variance it explains: 0 on a series without a daily or
// weekly shape (the profile would only add noise to the baseline), up to
// the full offset on a strongly seasonal one. Both residual variances are
// learned at the scale's rate whether or not the offset is used.
func (m *Model) seasonalOffset(offset, v, aScale float64) float64 {
	s := &m.s
	w := 0.0
	if s.PlainErr > 0 {
		w = max(0, 1-s.SeasonalErr/s.PlainErr)
	}
	plain := finite(v - s.Level)
	seasonal := finite(plain - offset)
	s.PlainErr = min((1-aScale)*s.PlainErr+aScale*plain*plain, maxVar)
	s.SeasonalErr = min((1-aScale)*s.SeasonalErr+aScale*seasonal*seasonal, maxVar)
	return w * offset
}
