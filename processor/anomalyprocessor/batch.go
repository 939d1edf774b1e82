package anomalyprocessor

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
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
// buffers reused across calls, and the composite keys the call touched.
type batch struct {
	now     int64
	scored  int64
	skipped [numSkipReasons]int64

	groups        []*group // groups taking the current metric
	bounds        []float64
	counts        []float64
	quantileNames map[float64]string

	keys  map[identity.Hash]*keyScores
	order []*keyScores // keys in order of first touch, for a deterministic output
	pool  []*keyScores
}

// keyScores gathers the feature scores of one composite key within a batch.
type keyScores struct {
	group  *group
	res    pcommon.Map // attributes of the first point's resource and of the point itself,
	attrs  pcommon.Map // where the key values are read when the unified score is emitted
	ts     int64
	scores []float64
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

// contribute adds a feature score to the point's key in group g; a point that lacks one of the
// key's attributes is not part of the group.
func (b *batch) contribute(g *group, res, attrs pcommon.Map, ts int64, score float64) {
	id := g.id
	for _, k := range g.key {
		v, ok := attrs.Get(k)
		if !ok {
			if v, ok = res.Get(k); !ok {
				return
			}
		}
		id = id.Then(identity.Value(v))
	}
	ks := b.keys[id]
	if ks == nil {
		if n := len(b.pool); n > 0 {
			ks = b.pool[n-1]
			b.pool = b.pool[:n-1]
		} else {
			ks = &keyScores{}
		}
		ks.group, ks.res, ks.attrs, ks.ts = g, res, attrs, ts
		b.keys[id] = ks
		b.order = append(b.order, ks)
	}
	ks.ts = max(ks.ts, ts)
	ks.scores = append(ks.scores, score)
}

const descriptionUnified = "Anomaly score of a composite key, 0 to 10, combined from the scores of its features."

// keyValue reads a key attribute of a key's first point, from the point or its resource.
func keyValue(ks *keyScores, k string) (pcommon.Value, bool) {
	if v, ok := ks.attrs.Get(k); ok {
		return v, true
	}
	return ks.res.Get(k)
}

// emitUnified appends one anomaly.unified_score per key touched in the batch, in a resource of
// its own that holds the key attributes found on the resource (the others go on the point).
func (p *anomalyProcessor) emitUnified(md pmetric.Metrics) {
	b := &p.batch
	if len(b.order) == 0 {
		return
	}
	for _, ks := range b.order {
		rm := md.ResourceMetrics().AppendEmpty()
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		m := sm.Metrics().AppendEmpty()
		m.SetName(metricUnified)
		m.SetDescription(descriptionUnified)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(ks.ts))
		score := ks.group.combiner.Combine(ks.scores)
		dp.SetDoubleValue(score)
		if p.graph != nil && ks.group.service >= 0 {
			if v, ok := keyValue(ks, ks.group.key[ks.group.service]); ok {
				p.graph.graph.Own(v.AsString(), ks.ts, score)
			}
		}
		for _, k := range ks.group.key {
			if v, ok := ks.attrs.Get(k); ok {
				v.CopyTo(dp.Attributes().PutEmpty(k))
			} else if v, ok := ks.res.Get(k); ok {
				v.CopyTo(rm.Resource().Attributes().PutEmpty(k))
			}
		}
		dp.Attributes().PutStr(attrGroup, ks.group.name)
	}
	for _, ks := range b.order {
		*ks = keyScores{scores: ks.scores[:0]} // drop the references into md
		b.pool = append(b.pool, ks)
	}
	clear(b.keys)
	b.order = b.order[:0]
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
