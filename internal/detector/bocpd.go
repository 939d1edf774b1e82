package detector

import "math"

// Bayesian online changepoint detection (Adams and MacKay 2007), truncated to fit the state
// budget. The run-length posterior is kept as the long run (no change since the last accepted
// one) and at most bocK younger hypotheses, "the level changed n points ago", each with its
// own posterior mean of the new level and its posterior weight relative to the long run. Every
// point, each hypothesis is weighed by how well it predicted the point; a hypothesis "the
// change is now" is born with the hazard's share of the mass and, the slots being full, takes
// the place of the least likely young hypothesis if it is more likely than that one (the long
// run is never dropped); a hypothesis older than bocMaxAge, or whose weight fell below
// bocMinLW, is folded back into the long run.
//
// The evidence of a change is the posterior odds of the young hypotheses against the long run,
// relative to the prior odds the hazard gives them. Its logarithm is scored by a tail fitted
// per series, as one more test of the weighted-Bonferroni calibration (changeShare of the
// false-alarm budget). The log odds of successive points are strongly dependent (one change
// lifts them for many points), so the tail is fitted to the peak of each run above bocU, not
// to every point of it (runs declustering, as for the extremes of any dependent series): the
// points of one change do not teach the tail that changes are ordinary.
//
// For a gauge the hypotheses live in z units (the winsorised deviation from the baseline, in
// standard deviations): a hypothesis' mean is the new level's shift from the baseline, and
// follows the baseline as it moves, so a shift the baseline has absorbed stops adding
// evidence. The predictive log-likelihood is Huber's (quadratic within bocHuber standard
// deviations, linear beyond), so a lone outlier of a heavy-tailed series, which the spike test
// scores, gives a young hypothesis little weight, and the next ordinary point takes it back;
// a sustained shift of a fraction of a standard deviation adds its evidence point after point.
// A shift smaller than bocMinShift is routine drift: its hypotheses take part in the
// posterior but are not evidence of an anomaly. For a count the hypotheses are of its rate,
// weighed by the Poisson likelihood (see stepCount): a rate of failures that doubles, at a
// tenth of an event per interval, shows in no single interval.
//
// Once one young hypothesis is bocAccept more likely than the long run, the change is taken
// as a fact: its level becomes the long run's (Ref, a shift from the baseline that fades as the
// baseline learns it) and the posterior starts again, so one change is scored once. The
// baseline itself is not moved (the CUSUM re-anchors it): a daily shape that the profile has
// not learned yet must not be learned by the level instead.

const (
	// bocK is the number of young run-length hypotheses kept besides the long run.
	bocK = 2
	// bocHazard is the prior probability of a change at each point (one in 250, as NAB's
	// reference BOCPD detector).
	bocHazard = 1.0 / 250
	// bocPrior is the prior standard deviation of a gauge's shift, in standard deviations:
	// a new segment's level is drawn from N(Ref, bocPrior²).
	bocPrior = 1.5
	// bocHuber is where the predictive log-likelihood turns from quadratic to linear.
	bocHuber = 1.5
	// bocMinShift is the smallest shift, in standard deviations, whose hypotheses count as
	// evidence of a change.
	bocMinShift = 1.0
	// bocCountPrior is the weight, in points, of a count hypothesis' prior: its rate starts
	// at the long run's and is its own once it has seen a few points.
	bocCountPrior = 2.0
	// bocMaxAge is the age, in points, at which a young hypothesis is folded back into the
	// long run: by then the baseline (level half-life 50 by default) has learned the shift.
	bocMaxAge = 400
	// bocMinLW is the log weight below which a young hypothesis is dropped.
	bocMinLW = -30
	// bocMaxLW caps a hypothesis' log weight, so the odds stay finite.
	bocMaxLW = 80
	// bocEmpty marks an unused slot.
	bocEmpty = -1e30
	// bocAccept is the log posterior odds of one young hypothesis against the long run from
	// which its change is taken as a fact.
	bocAccept = 15.0
	// bocMinAccept is the fewest points a hypothesis must have seen to be accepted.
	bocMinAccept = 3
	// bocU is where the fitted tail of the log odds starts; runs above it are declustered.
	bocU = 8.0
)

// Changepoint is the truncated run-length posterior (see bocpd.go).
type Changepoint struct {
	// D is each young hypothesis' posterior mean of the shift (of a count: the sum of the
	// counts it has seen), LW its log posterior weight relative to the long run (bocEmpty for
	// an unused slot).
	D, LW [bocK]float32
	// Ref is the long run's shift from the baseline since the last accepted change, in the
	// hypotheses' units (standard deviations; for a count, events per point).
	Ref float32
	// Peak is the highest log odds of the current run above bocU (0 outside one).
	Peak float32
	// Tail is the fitted tail of the peaks of those runs above bocU.
	Tail Tail
	// N is the number of points each young hypothesis has seen.
	N [bocK]uint16
	// Counts says the hypotheses are of a count's rate (stepCount), not of a shift of z.
	Counts bool
}

// logPriorOdds is log(H/(1-H)), the log odds a newborn hypothesis starts with per unit of
// the mass it is born from.
var logPriorOdds = math.Log(bocHazard / (1 - bocHazard))

// bocInvSD[n] is 1/sqrt(1 + 1/(1/bocPrior² + n)), the inverse predictive standard deviation
// of a gauge hypothesis that has seen n points, bocHalfLogVar[n] half the logarithm of that
// variance, and bocGain[n] = 1/(1/bocPrior² + n + 1) the weight of its next point in its
// posterior mean.
var bocInvSD, bocHalfLogVar, bocGain [bocMaxAge + 1]float64

// evU is the odds whose log odds (see logOdds) are bocU.
var evU = math.Exp(bocU + logPriorOdds)

func init() {
	for n := range bocInvSD {
		v := 1 + 1/(1/(bocPrior*bocPrior)+float64(n))
		bocInvSD[n] = 1 / math.Sqrt(v)
		bocHalfLogVar[n] = 0.5 * math.Log(v)
		bocGain[n] = 1 / (1/(bocPrior*bocPrior) + float64(n) + 1)
	}
}

// expW is e^x for a log weight x in [bocMinLW, bocMaxLW], as e^r·2^k with r = x - k·ln2 in
// [-ln2/2, ln2/2] and e^r by its Taylor series to r⁷ (relative error below 1e-8, far below
// the float32 precision of the log weights it exponentiates), evaluated in Estrin's form. It
// is several times faster than math.Exp, where a changepoint step spent most of its time.
func expW(x float64) float64 {
	k := math.Floor(x*math.Log2E + 0.5)
	r := x - k*math.Ln2
	r2 := r * r
	p := (1 + r) + r2*(1.0/2+r*(1.0/6)) + r2*r2*((1.0/24+r*(1.0/120))+r2*(1.0/720+r*(1.0/5040)))
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// log1pW is log(1+x) for x >= 0: its series while x is small (the odds of a change, most of
// the time), with an absolute error below 2e-10, far below the float32 precision of the log
// weight it makes; logW beyond.
func log1pW(x float64) float64 {
	if x < 1.0/32 {
		return x * (1 - x*(1.0/2-x*(1.0/3-x*(1.0/4-x*(1.0/5)))))
	}
	return logW(1 + x)
}

// logW is log(y) for y >= 1 (1+x above rounds by at most 1e-16·(1+x)): y = m·2^e with m in
// [√½, √2), log m = 2·atanh(s) with s = (m-1)/(m+1), |s| < 0.172, by its series to s¹¹
// (relative error below 1e-10). math.Log cost a changepoint step as much as the rest of it.
func logW(y float64) float64 {
	b := math.Float64bits(y)
	e := int64(b>>52&0x7ff) - 1023
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52)
	if m > math.Sqrt2 {
		m /= 2
		e++
	}
	s := (m - 1) / (m + 1)
	s2 := s * s
	return float64(e)*math.Ln2 + 2*s*(1+s2*(1.0/3+s2*(1.0/5+s2*(1.0/7+s2*(1.0/9+s2*(1.0/11))))))
}

// huber is Huber's loss at r: the negative log-likelihood, up to a constant, of a Gaussian
// core with exponential tails.
func huber(r float64) float64 {
	a := math.Abs(r)
	if a <= bocHuber {
		return 0.5 * r * r
	}
	return bocHuber*a - 0.5*bocHuber*bocHuber
}

// init0 is the state of a new series: no young hypothesis, the prior tail of the runs' peaks.
func (c *Changepoint) init0() {
	c.reset()
	c.Tail = Tail{Rate: changeRate, Excess: 1}
}

// reset forgets every young hypothesis and the long run's shift: the baseline re-anchored.
func (c *Changepoint) reset() {
	c.clear()
	c.Ref = 0
}

// clear forgets every young hypothesis.
func (c *Changepoint) clear() {
	for i := range c.LW {
		c.D[i], c.LW[i], c.N[i] = 0, bocEmpty, 0
	}
}

// mode empties the hypotheses when the series turns from a count into a gauge or back: they
// are of another quantity.
func (c *Changepoint) mode(counts bool) {
	if c.Counts != counts {
		c.reset()
		c.Counts = counts
	}
}

// p is the probability of a run of log odds above bocU that reaches x, by the tail fitted to
// the peaks of the series' earlier runs; learn is false while the model holds a shift.
// aRate is the per-point rate at which the tail learns how often runs begin.
func (c *Changepoint) p(x, aRate, aExcess float64, learn bool) float64 {
	// Runs are rare: after a long window without one, their rate is not 0 but up to about
	// one in the window (aRate), which floors the fitted rate.
	p := c.Tail.pFloor(x, bocU, aRate)
	if x > bocU {
		c.Peak = max(c.Peak, float32(x))
		if learn {
			c.Tail.Learn(0, bocU, aRate, aExcess)
		}
		return p
	}
	if learn {
		// A run that ended is one exceedance: its peak (none if no run ended).
		c.Tail.Learn(float64(c.Peak), bocU, aRate, aExcess)
	}
	c.Peak = 0
	return p
}

// accepted returns the young hypothesis taken as a fact, if any (see bocAccept).
func (c *Changepoint) accepted() (int, bool) {
	best := -1
	for i := range c.LW {
		if c.N[i] >= bocMinAccept && float64(c.LW[i]) > bocAccept && (best < 0 || c.LW[i] > c.LW[best]) {
			best = i
		}
	}
	return best, best >= 0
}

// newborn gives the hazard's share of all the mass (the long run's weight is 1, the young
// hypotheses' sum is odds) to the hypothesis "the change is now", which starts at level d
// and takes the least likely slot if it is more likely than that slot's hypothesis.
func (c *Changepoint) newborn(odds float64, d float32) {
	born := float32(logPriorOdds + log1pW(odds))
	weakest := 0
	for i := range c.LW {
		if c.LW[i] < c.LW[weakest] {
			weakest = i
		}
	}
	if born > c.LW[weakest] {
		c.D[weakest], c.LW[weakest], c.N[weakest] = d, born, 0
	}
}

// logOdds is the log of the evidence ev (a sum of odds) relative to the prior odds, where it
// is above bocU; below, where it is neither scored nor learned from, -Inf.
func logOdds(ev float64) float64 {
	if !(ev > evU) {
		return math.Inf(-1)
	}
	return math.Log(ev) - logPriorOdds
}

// step folds in z, the winsorised deviation from the baseline in standard deviations, and
// returns the log odds of a change of at least bocMinShift against the long run, relative to
// the prior odds of one; drift is how far the baseline moves towards the point, in the same
// units, which the shifts follow.
func (c *Changepoint) step(z, drift float64) float64 {
	ref := float64(c.Ref)
	lpLong := huber(z - ref)
	odds, ev := 0.0, 0.0
	for i := range c.LW {
		if c.LW[i] <= bocEmpty {
			continue
		}
		n := int(c.N[i])
		d := float64(c.D[i])
		// The hypothesis' predictive against the long run's.
		r := (z - d) * bocInvSD[n]
		lw := float64(c.LW[i]) + lpLong - huber(r) - bocHalfLogVar[n]
		if lw < bocMinLW || n+1 > bocMaxAge {
			c.D[i], c.LW[i], c.N[i] = 0, bocEmpty, 0
			continue
		}
		lw = min(lw, bocMaxLW)
		// The posterior mean of the shift after the point (unit variance, prior
		// N(Ref, bocPrior²) at the hypothesis' birth), less the baseline's move.
		d += (z-d)*bocGain[n] - drift
		c.D[i], c.LW[i], c.N[i] = float32(d), float32(lw), uint16(n+1)
		w := expW(lw)
		odds += w
		if math.Abs(d-(ref-drift)) >= bocMinShift {
			ev += w
		}
	}
	c.Ref = float32(ref - drift)
	if i, ok := c.accepted(); ok {
		c.Ref = c.D[i]
		c.clear()
		c.newborn(0, c.Ref)
		return logOdds(ev)
	}
	c.newborn(odds, c.Ref)
	return logOdds(ev)
}

// stepCount is step for a count x whose baseline expects mean, with dispersion phi (the
// counts' variance over their mean, at least 1); drift is the baseline's move towards the
// point, in counts. The long run expects mean+Ref. Each young hypothesis predicts the rate it
// has seen since its change, from a prior of bocCountPrior points at the long run's rate, and
// never below the long run's (fewer failures than usual are no anomaly); its weight moves by
// the Poisson log-likelihood ratio of that rate against the long run's, divided by phi (a
// quasi-likelihood: over-dispersed counts weigh less per point). Most counts are 0, for which
// the ratio needs no logarithm.
func (c *Changepoint) stepCount(x, mean, phi, drift float64) float64 {
	ref := float64(c.Ref)
	long := max(mean+ref, countPrior/bocMaxAge)
	odds := 0.0
	for i := range c.LW {
		if c.LW[i] <= bocEmpty {
			continue
		}
		n := float64(c.N[i])
		sum := float64(c.D[i])
		rate := max(long, (bocCountPrior*long+sum)/(bocCountPrior+n))
		llr := long - rate
		if x > 0 {
			llr += x * math.Log(rate/long)
		}
		lw := float64(c.LW[i]) + llr/phi
		if lw < bocMinLW || n+1 > bocMaxAge {
			c.D[i], c.LW[i], c.N[i] = 0, bocEmpty, 0
			continue
		}
		lw = min(lw, bocMaxLW)
		c.D[i], c.LW[i], c.N[i] = float32(sum+x), float32(lw), uint16(n+1)
		odds += expW(lw)
	}
	c.Ref = float32(ref - drift)
	if i, ok := c.accepted(); ok {
		rate := max(long, (bocCountPrior*long+float64(c.D[i]))/(bocCountPrior+float64(c.N[i])))
		c.Ref = float32(rate - mean)
		c.clear()
		c.newborn(0, 0)
		return logOdds(odds)
	}
	c.newborn(odds, 0)
	return logOdds(odds)
}
