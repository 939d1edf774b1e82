// Package corpusgen generates a seeded, labelled corpus of operational series in the layout of the
// Numenta Anomaly Benchmark (data/<category>/<file>.csv and labels/combined_windows.json), so the
// backtest can score the detector on the kinds of series operations teams watch and NAB has
// little of: small integer counts, request rates with a daily and weekly shape, heavy-tailed
// latency, slow degradation, flatlines and gaps, sampled every minute to every hour.
//
// Each series is generated clean first and the anomalies are injected into it afterwards from a
// random stream of their own, so the clean series is known (the tests check that the series
// differs from it only where a window says so). The same seed always gives the same corpus.
package corpusgen

import (
	"math"
	"math/rand/v2"
	"time"
)

// The categories, one folder of the corpus each.
const (
	Counts      = "counts"      // errors or crashes per interval, mostly 0 to 10: bursts, sustained rises
	Requests    = "requests"    // request rates with daily and weekly shape: dips, outages, surges
	Latency     = "latency"     // heavy-tailed latency: level shifts, wider spread
	Degradation = "degradation" // slow ramps: a leak, a queue that backs up, latency creeping up
	Flatline    = "flatline"    // a series that stops moving (stuck exporter) or drops to zero
)

// Categories lists the categories in the order Generate writes them.
func Categories() []string { return []string{Counts, Requests, Latency, Degradation, Flatline} }

// Anomaly is one injected anomaly, in row indices of its series.
type Anomaly struct {
	Kind string
	// Start and End are the first and last rows the injection changed (inclusive).
	Start, End int
}

// Series is one generated file.
type Series struct {
	Category, Name string
	Step           time.Duration
	Times          []time.Time
	Values         []float64
	// Clean is the series before injection, row for row.
	Clean     []float64
	Anomalies []Anomaly
	// Windows are NAB's labelled windows as inclusive row indices, one per anomaly, each
	// starting on its anomaly's first row.
	Windows [][2]int
}

// Corpus is a generated corpus.
type Corpus struct {
	Seed   uint64
	Series []*Series
}

// Start is the first timestamp of every series: a Monday at midnight UTC, so the daily and
// weekly shapes start in phase.
var Start = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// steps are the sampling intervals, with the span each covers: a week at one minute, four
// weeks at five, eight at fifteen, half a year at one hour (4,000 to 10,000 rows).
var steps = []struct {
	step time.Duration
	span time.Duration
}{
	{time.Minute, 7 * 24 * time.Hour},
	{5 * time.Minute, 28 * 24 * time.Hour},
	{15 * time.Minute, 56 * 24 * time.Hour},
	{time.Hour, 182 * 24 * time.Hour},
}

// files per category; the first of each has no anomaly, so false alarms on normal series count.
var files = map[string]int{Counts: 16, Requests: 12, Latency: 12, Degradation: 8, Flatline: 8}

// Generate builds the corpus for seed.
func Generate(seed uint64) *Corpus {
	c := &Corpus{Seed: seed}
	for ci, cat := range Categories() {
		for i := range files[cat] {
			c.Series = append(c.Series, generate(seed, ci, cat, i, true))
		}
	}
	return c
}

// generate builds one series. Its base noise, its anomalies and its gaps draw from three
// streams of their own, so inject=false gives exactly the clean series.
func generate(seed uint64, ci int, cat string, i int, inject bool) *Series {
	id := uint64(ci)<<16 | uint64(i)
	base := rand.New(rand.NewPCG(seed, id))
	anom := rand.New(rand.NewPCG(seed, id|1<<32))
	gaps := rand.New(rand.NewPCG(seed, id|2<<32))

	st := steps[(i+ci)%len(steps)]
	n := int(st.span / st.step)
	s := &Series{Category: cat, Name: cat + "_" + string(rune('a'+i)) + "_" + stepName(st.step) + ".csv", Step: st.step}
	hours := func(j int) float64 { return float64(j) * st.step.Hours() }

	var values []float64
	var injectors []injector
	switch cat {
	case Counts:
		values, injectors = counts(base, n, hours)
	case Requests:
		values, injectors = requests(base, n, hours)
	case Latency:
		values, injectors = latency(base, n, hours)
	case Degradation:
		values, injectors = degradation(base, n, hours)
	case Flatline:
		values, injectors = flatline(base, n, hours)
	}
	clean := append([]float64(nil), values...)
	// Without injection the anomalies still draw from their stream, on a scratch copy, so the
	// windows and gaps are the same as with it.
	target := values
	if !inject {
		target = append([]float64(nil), values...)
	}

	k := 0
	if i > 0 {
		k = 1 + anom.IntN(3)
	}
	width := max(10, n/10/max(k, 1))
	var anomalies []Anomaly
	var windows [][2]int
	// Anomalies go after NAB's probation (15% of the rows, at most 750) and a margin, one per
	// equal slot of the rest, at least a window width apart.
	first := min(n*15/100, 750) + n/20
	slot := (n - first) / max(k, 1)
	for a := range k {
		inj := injectors[anom.IntN(len(injectors))]
		dur := inj.duration(anom, n, width)
		lo := first + a*slot
		room := slot - width - dur
		start := lo
		if room > 0 {
			start += anom.IntN(room)
		}
		end := min(start+dur-1, n-1)
		inj.apply(anom, target, start, end)
		anomalies = append(anomalies, Anomaly{Kind: inj.kind, Start: start, End: end})
		windows = append(windows, [2]int{start, min(start+max(width, dur)-1, n-1)})
	}

	keep := gapMask(gaps, n, i, windows)
	rowOf := make([]int, n)
	for j := range n {
		rowOf[j] = len(s.Times)
		if !keep[j] {
			continue
		}
		s.Times = append(s.Times, Start.Add(time.Duration(j)*st.step))
		s.Values = append(s.Values, round(values[j], cat))
		s.Clean = append(s.Clean, round(clean[j], cat))
	}
	for a := range anomalies {
		anomalies[a].Start, anomalies[a].End = rowOf[anomalies[a].Start], rowOf[anomalies[a].End]
		windows[a] = [2]int{rowOf[windows[a][0]], rowOf[windows[a][1]]}
	}
	s.Anomalies, s.Windows = anomalies, windows
	return s
}

func stepName(d time.Duration) string {
	if d >= time.Hour {
		return "1h"
	}
	return map[time.Duration]string{time.Minute: "1m", 5 * time.Minute: "5m", 15 * time.Minute: "15m"}[d]
}

// gapMask drops rows the way a scrape that fails drops them: every third series loses one to
// three runs of 3 to 60 intervals, never inside a window nor on its first row after it, so the
// gaps are nuisances to be survived, not anomalies to be found.
func gapMask(rng *rand.Rand, n, i int, windows [][2]int) []bool {
	keep := make([]bool, n)
	for j := range keep {
		keep[j] = true
	}
	if i%3 != 1 {
		return keep
	}
	for range 1 + rng.IntN(3) {
		length := 3 + rng.IntN(58)
		start := n/5 + rng.IntN(n*3/4-length)
		clash := false
		for _, w := range windows {
			if start <= w[1]+1 && start+length >= w[0] {
				clash = true
			}
		}
		if clash {
			continue
		}
		for j := start; j < start+length; j++ {
			keep[j] = false
		}
	}
	return keep
}

// round writes what an exporter would: integer counts, and two or three decimals elsewhere.
func round(v float64, cat string) float64 {
	switch cat {
	case Counts:
		return math.Round(v)
	case Latency:
		return math.Round(v*1000) / 1000
	}
	return math.Round(v*100) / 100
}

// injector is one kind of anomaly a category can receive.
type injector struct {
	kind string
	// duration draws the number of rows the anomaly lasts, given the window width.
	duration func(rng *rand.Rand, n, width int) int
	// apply changes values[start..end].
	apply func(rng *rand.Rand, values []float64, start, end int)
}

func between(rng *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }

// daily is a smooth day shape in [-1, 1] peaking mid-afternoon; weekly is 1 on weekdays and
// lower on the weekend (the series start on a Monday).
func daily(h float64) float64 {
	return math.Sin(2*math.Pi*(h-9)/24)*0.8 + 0.2*math.Sin(4*math.Pi*(h-3)/24)
}

func weekly(h float64, weekend float64) float64 {
	if d := int(h/24) % 7; d >= 5 {
		return weekend
	}
	return 1
}

// poisson draws a Poisson variate; Knuth's method for small means, a rounded normal above 30.
func poisson(rng *rand.Rand, mean float64) float64 {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return math.Max(0, math.Round(mean+math.Sqrt(mean)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-mean), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// gamma draws a Gamma(shape, 1) variate (Marsaglia and Tsang).
func gamma(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gamma(rng, shape+1) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := rng.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

// counts: errors or failures per interval, Poisson or over-dispersed (a gamma-mixed Poisson,
// as errors come in small clusters), with a mean of 0.03 to 3 per interval (most well below 1:
// a job that fails once a day or two, counted per hour) and, on some, a daily shape. Their
// anomalies are bursts of a few intervals and sustained rises of the rate (by half to twice
// itself, plus 0.05 to 0.5), which no single interval shows.
func counts(rng *rand.Rand, n int, hours func(int) float64) ([]float64, []injector) {
	mean := []float64{0.03, 0.08, 0.15, 0.3, 0.6, 1, 3}[rng.IntN(7)]
	shape := math.Inf(1)
	if rng.IntN(2) == 0 {
		shape = between(rng, 1.5, 5)
	}
	amp := 0.0
	if rng.IntN(2) == 0 {
		amp = between(rng, 0.3, 0.7)
	}
	vals := make([]float64, n)
	for j := range vals {
		m := mean * (1 + amp*daily(hours(j)))
		if !math.IsInf(shape, 1) {
			m *= gamma(rng, shape) / shape
		}
		vals[j] = poisson(rng, m)
	}
	return vals, []injector{
		{
			kind:     "burst",
			duration: func(rng *rand.Rand, _, _ int) int { return 1 + rng.IntN(4) },
			apply: func(rng *rand.Rand, v []float64, s, e int) {
				extra := between(rng, 2, 6) + 2*mean
				for j := s; j <= e; j++ {
					v[j] += poisson(rng, extra)
				}
			},
		},
		{
			kind:     "sustained_rise",
			duration: func(rng *rand.Rand, _, width int) int { return width/2 + rng.IntN(width) },
			apply: func(rng *rand.Rand, v []float64, s, e int) {
				extra := mean*between(rng, 0.5, 2) + between(rng, 0.05, 0.5)
				for j := s; j <= e; j++ {
					v[j] += poisson(rng, extra)
				}
			},
		},
	}
}

// requests: a request rate or an ingress volume of 20 to 2,000 per second with a daily shape,
// a weekly one (each day of the week its own level, weekends lower) and a few percent of
// multiplicative noise.
func requests(rng *rand.Rand, n int, hours func(int) float64) ([]float64, []injector) {
	level := math.Exp(between(rng, math.Log(20), math.Log(2000)))
	amp := between(rng, 0.3, 0.7)
	weekend := between(rng, 0.4, 0.8)
	var day [7]float64
	for d := range day {
		day[d] = between(rng, 0.85, 1.15)
	}
	noise := between(rng, 0.02, 0.06)
	vals := make([]float64, n)
	for j := range vals {
		h := hours(j)
		vals[j] = level * (1 + amp*daily(h)) * weekly(h, weekend) * day[int(h/24)%7] * math.Exp(noise*rng.NormFloat64())
	}
	scale := func(lo, hi float64) func(rng *rand.Rand, v []float64, s, e int) {
		return func(rng *rand.Rand, v []float64, s, e int) {
			f := between(rng, lo, hi)
			for j := s; j <= e; j++ {
				v[j] *= f
			}
		}
	}
	return vals, []injector{
		{kind: "dip", duration: func(rng *rand.Rand, _, width int) int { return 3 + rng.IntN(width/2) }, apply: scale(0.55, 0.85)},
		{kind: "outage", duration: func(rng *rand.Rand, _, _ int) int { return 2 + rng.IntN(10) }, apply: scale(0, 0.05)},
		{kind: "surge", duration: func(rng *rand.Rand, _, width int) int { return 3 + rng.IntN(width/3) }, apply: scale(1.25, 1.8)},
	}
}

// latency: a dependency's latency, log-normal around 20 to 300 ms with a spread of 0.15 to 0.4,
// a little slower at the busy hours on some, and 1 to 3 points in 100 from a Pareto tail of
// index 1.5 to 2.5 (slow requests happen, and are not incidents). Its anomalies are level
// shifts by 15% to 100% (the dependency moved, a cache went cold) and a wider spread.
func latency(rng *rand.Rand, n int, hours func(int) float64) ([]float64, []injector) {
	median := between(rng, 20, 300)
	sigma := between(rng, 0.15, 0.4)
	slow := between(rng, 0.01, 0.03)
	index := between(rng, 1.5, 2.5)
	amp := 0.0
	if rng.IntN(2) == 0 {
		amp = between(rng, 0.05, 0.2)
	}
	vals := make([]float64, n)
	for j := range vals {
		vals[j] = median * (1 + amp*daily(hours(j))) * math.Exp(sigma*rng.NormFloat64())
		if rng.Float64() < slow {
			vals[j] *= math.Pow(rng.Float64(), -1/index)
		}
	}
	return vals, []injector{
		{
			kind:     "level_shift",
			duration: func(rng *rand.Rand, _, width int) int { return width + rng.IntN(2*width) },
			apply: func(rng *rand.Rand, v []float64, s, e int) {
				f := between(rng, 1.15, 2)
				for j := s; j <= e; j++ {
					v[j] *= f
				}
			},
		},
		{
			kind:     "spread",
			duration: func(rng *rand.Rand, _, width int) int { return width/2 + rng.IntN(width) },
			apply: func(rng *rand.Rand, v []float64, s, e int) {
				f := between(rng, 1.8, 3)
				for j := s; j <= e; j++ {
					v[j] = median * math.Pow(v[j]/median, f)
				}
			},
		},
	}
}

// degradation: a gauge (memory in use, queue depth, p95 latency) with a mild daily shape and
// noise, that starts to ramp up, linearly or accelerating, to 4 to 10 noise standard
// deviations over a window or two.
func degradation(rng *rand.Rand, n int, hours func(int) float64) ([]float64, []injector) {
	level := between(rng, 100, 1000)
	sd := level * between(rng, 0.01, 0.04)
	amp := between(rng, 0, 3) * sd
	vals := make([]float64, n)
	for j := range vals {
		vals[j] = level + amp*daily(hours(j)) + sd*rng.NormFloat64()
	}
	ramp := func(power float64) func(rng *rand.Rand, v []float64, s, e int) {
		return func(rng *rand.Rand, v []float64, s, e int) {
			top := between(rng, 4, 10) * sd
			for j := s; j <= e; j++ {
				v[j] += top * math.Pow(float64(j-s+1)/float64(e-s+1), power)
			}
		}
	}
	dur := func(rng *rand.Rand, _, width int) int { return width + rng.IntN(width) }
	return vals, []injector{
		{kind: "linear_ramp", duration: dur, apply: ramp(1)},
		{kind: "accelerating_ramp", duration: dur, apply: ramp(2)},
	}
}

// flatline: a busy gauge or rate that stops moving (the exporter repeats its last value) or
// drops to zero (the source went away), for a while.
func flatline(rng *rand.Rand, n int, hours func(int) float64) ([]float64, []injector) {
	level := between(rng, 50, 500)
	amp := between(rng, 0.1, 0.5)
	noise := between(rng, 0.03, 0.1)
	vals := make([]float64, n)
	for j := range vals {
		vals[j] = level * (1 + amp*daily(hours(j))) * math.Exp(noise*rng.NormFloat64())
	}
	dur := func(rng *rand.Rand, _, width int) int { return width/4 + rng.IntN(width) }
	return vals, []injector{
		{
			kind:     "stuck",
			duration: dur,
			apply: func(_ *rand.Rand, v []float64, s, e int) {
				for j := s; j <= e; j++ {
					v[j] = v[s-1]
				}
			},
		},
		{
			kind:     "zero",
			duration: dur,
			apply: func(_ *rand.Rand, v []float64, s, e int) {
				for j := s; j <= e; j++ {
					v[j] = 0
				}
			},
		},
	}
}
