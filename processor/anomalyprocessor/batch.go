package anomalyprocessor

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/rate"
)

// seriesState is what the processor keeps per scored series (or histogram/summary feature).
type seriesState struct {
	model   detector.Model
	counter rate.Counter    // monotonic cumulative sums
	delta   rate.Delta      // delta sums and histograms
	hist    *rate.Histogram // cumulative histograms, allocated on their first point
}

// batch is the scratch of one ConsumeMetrics call: counters flushed to telemetry once per call,
// and buffers reused across calls.
type batch struct {
	now     int64
	scored  int64
	skipped [numSkipReasons]int64

	found         []foundPoint // the points of the current metric whose series was found
	groups        []*group     // groups taking the current metric
	bounds        []float64
	counts        []float64
	quantileNames map[float64]string
}

// foundPoint is a number point (index i in its slice) with a finite value and its series.
type foundPoint struct {
	st *seriesState
	v  float64
	i  int
}

func (b *batch) skip(r skipReason) { b.skipped[r]++ }

// histogramInterval returns what a histogram point says of its interval, as the series' rate
// state sees it: a cumulative point is differenced against the previous one (its buckets are
// b.counts, laid out by layout), a delta point is its own interval, with its rate.
func (st *seriesState) histogramInterval(cumulative bool, layout uint64, start, ts int64, count, sum float64, buckets []float64) (rate.Interval, rate.Status) {
	if cumulative {
		if st.hist == nil {
			st.hist = &rate.Histogram{}
		}
		return st.hist.Next(layout, start, ts, count, sum, buckets)
	}
	in := rate.Interval{Count: count, Sum: sum, Buckets: buckets}
	var status rate.Status
	in.Rate, status = st.delta.Next(start, ts, count)
	return in, status
}

// finiteValue reads a number point's value; a point without one, or with NaN or ±Inf, is
// counted as skipped and not ok.
func (b *batch) finiteValue(dp pmetric.NumberDataPoint) (float64, bool) {
	var v float64
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeDouble:
		v = dp.DoubleValue()
	case pmetric.NumberDataPointValueTypeInt:
		v = float64(dp.IntValue())
	default:
		b.skip(skipNoValue)
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		b.skip(skipNotFinite)
		return 0, false
	}
	return v, true
}

// rateOK counts why a counter or histogram point gave no rate.
func (b *batch) rateOK(s rate.Status) bool {
	switch s {
	case rate.OK:
		return true
	case rate.OutOfOrder:
		b.skip(skipOutOfOrder)
	case rate.Reset:
		b.skip(skipCounterReset)
	}
	return false // rate.First starts the series: nothing to count
}

// explicitBuckets copies an explicit histogram point's buckets to b.bounds and b.counts; a
// malformed point leaves no counts, so only its rate and mean are scored.
func (b *batch) explicitBuckets(dp pmetric.HistogramDataPoint) {
	b.bounds = b.bounds[:0]
	for _, x := range dp.ExplicitBounds().All() {
		b.bounds = append(b.bounds, x)
	}
	b.counts = b.counts[:0]
	for _, c := range dp.BucketCounts().All() {
		b.counts = append(b.counts, float64(c))
	}
	if len(b.counts) != len(b.bounds)+1 {
		b.counts = b.counts[:0]
	}
}

// exponentialBuckets lays an exponential histogram point out as explicit buckets in b.bounds and
// b.counts: negative buckets from the most negative up, the zero bucket, then positive buckets.
func (b *batch) exponentialBuckets(dp pmetric.ExponentialHistogramDataPoint) {
	b.bounds, b.counts = b.bounds[:0], b.counts[:0]
	width := math.Exp2(-float64(dp.Scale())) // log2 of the bucket base
	neg := dp.Negative()
	negCounts := neg.BucketCounts()
	for j := negCounts.Len() - 1; j >= 0; j-- {
		// bucket offset+j holds values in [-base^(offset+j+1), -base^(offset+j))
		b.counts = append(b.counts, float64(negCounts.At(j)))
		b.bounds = append(b.bounds, -math.Exp2(float64(int(neg.Offset())+j)*width))
	}
	b.counts = append(b.counts, float64(dp.ZeroCount()))
	b.bounds = append(b.bounds, dp.ZeroThreshold())
	pos := dp.Positive()
	posCounts := pos.BucketCounts()
	for i := 0; i < posCounts.Len(); i++ {
		b.counts = append(b.counts, float64(posCounts.At(i)))
		b.bounds = append(b.bounds, math.Exp2(float64(int(pos.Offset())+i+1)*width))
	}
	// rate.Quantile's last bucket is open-ended; every exponential bucket is bounded, so the
	// open-ended one is empty.
	b.counts = append(b.counts, 0)
}
