package anomalyprocessor

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/metadatatest"
)

// t0 is the data's clock; the processor's own clock (for series_ttl) is set separately.
var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const step = 10 * time.Second

type testProcessor struct {
	t    *testing.T
	p    *anomalyProcessor
	sink *consumertest.MetricsSink
	tel  *componenttest.Telemetry
	now  time.Time
}

func newTestProcessor(t *testing.T, cfg *Config) *testProcessor {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tp := buildTestProcessor(t, cfg, t0)
	t.Cleanup(func() { require.NoError(t, tp.p.Shutdown(context.Background())) })
	return tp
}

// buildTestProcessor makes a processor on the test's clock, set at now, and its telemetry; the
// telemetry is shut down when the test ends, the processor is the caller's.
func buildTestProcessor(t *testing.T, cfg *Config, now time.Time) *testProcessor {
	t.Helper()
	tp := &testProcessor{t: t, sink: new(consumertest.MetricsSink), tel: componenttest.NewTelemetry(), now: now}
	p, err := newProcessor(metadatatest.NewSettings(tp.tel), cfg, tp.sink)
	require.NoError(t, err)
	p.now = func() time.Time { return tp.now }
	tp.p = p
	t.Cleanup(func() { require.NoError(t, tp.tel.Shutdown(context.Background())) })
	return tp
}

// consume runs one batch and returns what the processor passed on.
func (tp *testProcessor) consume(md pmetric.Metrics) pmetric.Metrics {
	tp.t.Helper()
	require.NoError(tp.t, tp.p.ConsumeMetrics(context.Background(), md))
	all := tp.sink.AllMetrics()
	return all[len(all)-1]
}

// points returns the points of the named metric whose attribute key has value want.
func points(md pmetric.Metrics, metric, key, want string) []pmetric.NumberDataPoint {
	var out []pmetric.NumberDataPoint
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != metric || m.Type() != pmetric.MetricTypeGauge {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					if v, ok := dp.Attributes().Get(key); ok && v.AsString() == want {
						out = append(out, dp)
					}
				}
			}
		}
	}
	return out
}

func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Detector.MinSamples = 20
	return cfg
}

// gaugeBatch is one point of the gauge "temperature" of service "boiler".
func gaugeBatch(i int, v float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "boiler")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("temperature")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step)))
	dp.SetDoubleValue(v)
	dp.Attributes().PutStr("zone", "eu")
	return md
}

func TestPassesInputThroughAndScoresAfterWarmUp(t *testing.T) {
	cfg := testConfig()
	tp := newTestProcessor(t, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	var maxNormal float64
	for i := range 500 {
		in := gaugeBatch(i, 50+rng.NormFloat64())
		want := pmetric.NewMetrics()
		in.CopyTo(want)
		out := tp.consume(in)

		// The input metric is passed on untouched, first in its scope.
		got := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
		assert.Equal(t, want.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0), got)

		scores := points(out, names.Score, names.MetricName, "temperature")
		if i < cfg.Detector.MinSamples {
			require.Emptyf(t, scores, "point %d scored during warm-up", i)
			continue
		}
		require.Lenf(t, scores, 1, "point %d", i)
		s := scores[0]
		zone, _ := s.Attributes().Get("zone")
		assert.Equal(t, "eu", zone.Str(), "the score keeps the series' attributes")
		assert.Equal(t, in.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Timestamp(), s.Timestamp())
		require.True(t, s.DoubleValue() >= 0 && s.DoubleValue() <= 10, "score %g out of [0, 10]", s.DoubleValue())
		if i > 150 {
			maxNormal = math.Max(maxNormal, s.DoubleValue())
		}
	}
	out := tp.consume(gaugeBatch(500, 50+15))
	spike := points(out, names.Score, names.MetricName, "temperature")[0].DoubleValue()
	assert.Less(t, maxNormal, 5.0, "Gaussian noise must not look anomalous")
	assert.GreaterOrEqual(t, spike, 7.0, "a 15-sigma spike must score high")
}

// counterBatch is one point of a cumulative counter growing by perSecond.
func counterBatch(i int, total float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("requests")
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(-time.Minute)))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step)))
	dp.SetDoubleValue(total)
	return md
}

func TestCumulativeCounterIsScoredAsRate(t *testing.T) {
	cfg := testConfig()
	cfg.Bands = true
	tp := newTestProcessor(t, cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	total := 0.0
	var out pmetric.Metrics
	for i := range 200 {
		total += (50 + rng.NormFloat64()) * step.Seconds()
		out = tp.consume(counterBatch(i, total))
	}
	expected := points(out, names.Expected, names.MetricName, "requests")
	require.Len(t, expected, 1)
	assert.InDelta(t, 50, expected[0].DoubleValue(), 2, "the model learns the per-second rate")
	lower := points(out, names.Lower, names.MetricName, "requests")[0].DoubleValue()
	upper := points(out, names.Upper, names.MetricName, "requests")[0].DoubleValue()
	assert.Less(t, lower, expected[0].DoubleValue())
	assert.Greater(t, upper, expected[0].DoubleValue())

	// A restarted counter is not a drop in rate: the point is skipped and counted.
	tp.consume(counterBatch(200, 10))
	metadatatest.AssertEqualAnomalyPointsSkipped(t, tp.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "counter_reset"))},
	}, metricdatatest.IgnoreTimestamp())
}

// histogramBatch is one cumulative point of a latency histogram: n observations per interval,
// spread over the buckets as weights says.
func histogramBatch(i int, count uint64, sum float64, buckets []uint64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("latency")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step)))
	dp.SetCount(count)
	dp.SetSum(sum)
	dp.ExplicitBounds().FromRaw([]float64{0.1, 0.2, 0.5, 1})
	dp.BucketCounts().FromRaw(buckets)
	return md
}

func TestHistogramFeatures(t *testing.T) {
	cfg := testConfig()
	cfg.Bands = true
	tp := newTestProcessor(t, cfg)
	// Each interval: 100 observations, 50 in (0, 0.1], 40 in (0.1, 0.2], 10 in (0.2, 0.5].
	var count uint64
	var sum float64
	buckets := make([]uint64, 5)
	var out pmetric.Metrics
	for i := range 100 {
		count += 100
		sum += 15
		buckets[0] += 50
		buckets[1] += 40
		buckets[2] += 10
		out = tp.consume(histogramBatch(i, count, sum, buckets))
	}
	want := map[string]float64{
		"rate": 10,   // 100 observations per 10 s
		"mean": 0.15, // 15 / 100
		"p95":  0.35, // rank 95 is halfway into (0.2, 0.5]
	}
	for feature, v := range want {
		got := points(out, names.Expected, names.Feature, feature)
		require.Lenf(t, got, 1, "feature %s", feature)
		assert.InDeltaf(t, v, got[0].DoubleValue(), 1e-6, "feature %s", feature)
	}
}

func TestExponentialHistogramAndSummaryFeatures(t *testing.T) {
	cfg := testConfig()
	cfg.Bands = true
	tp := newTestProcessor(t, cfg)
	var out pmetric.Metrics
	for i := range 50 {
		md := pmetric.NewMetrics()
		ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
		e := ms.AppendEmpty()
		e.SetName("size")
		eh := e.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		edp := eh.DataPoints().AppendEmpty()
		edp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i-1) * step)))
		edp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step)))
		edp.SetScale(0) // buckets (1, 2], (2, 4], (4, 8]
		edp.Positive().SetOffset(0)
		edp.Positive().BucketCounts().FromRaw([]uint64{10, 80, 10})
		edp.SetCount(100)
		edp.SetSum(300)

		s := ms.AppendEmpty()
		s.SetName("rpc.duration")
		sdp := s.SetEmptySummary().DataPoints().AppendEmpty()
		sdp.SetTimestamp(edp.Timestamp())
		q := sdp.QuantileValues().AppendEmpty()
		q.SetQuantile(0.99)
		q.SetValue(0.8)
		out = tp.consume(md)
	}
	for _, c := range []struct {
		metric, feature string
		want            float64
	}{
		{"size", "rate", 10},
		{"size", "mean", 3},
		{"size", "p95", 4 + 4*0.5}, // rank 95 is halfway into (4, 8]
		{"rpc.duration", "p99", 0.8},
	} {
		got := points(out, names.Expected, names.Feature, c.feature)
		require.Lenf(t, got, 1, "%s %s", c.metric, c.feature)
		m, _ := got[0].Attributes().Get(names.MetricName)
		assert.Equal(t, c.metric, m.Str())
		assert.InDeltaf(t, c.want, got[0].DoubleValue(), 1e-6, "%s %s", c.metric, c.feature)
	}
}

func TestBadInputIsCountedAndSkipped(t *testing.T) {
	tp := newTestProcessor(t, testConfig())
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("g")
	dps := g.SetEmptyGauge().DataPoints()
	for i, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e308, -1e308, 5} {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Second)))
		dp.SetDoubleValue(v)
	}
	dps.AppendEmpty() // no value at all
	old := dps.AppendEmpty()
	old.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(-time.Hour)))
	old.SetIntValue(3)
	d := ms.AppendEmpty()
	d.SetName("d")
	sum := d.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	sum.DataPoints().AppendEmpty().SetDoubleValue(-4)
	ms.AppendEmpty().SetName("empty metric")
	md.ResourceMetrics().AppendEmpty() // empty resource

	tp.consume(md)
	reason := func(r string) attribute.Set { return attribute.NewSet(attribute.String("reason", r)) }
	metadatatest.AssertEqualAnomalyPointsSkipped(t, tp.tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: reason("not_finite")},
		{Value: 1, Attributes: reason("no_value")},
		{Value: 1, Attributes: reason("out_of_order")},
		{Value: 1, Attributes: reason("negative")},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAnomalyPointsScored(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())

	// The huge values left the model usable: later points are scored with finite numbers.
	for i := range 40 {
		out := tp.consume(gaugeNamed("g", i+10, float64(i%3)))
		for _, s := range points(out, names.Score, names.MetricName, "g") {
			require.False(t, math.IsNaN(s.DoubleValue()) || math.IsInf(s.DoubleValue(), 0))
		}
	}
}

func gaugeNamed(name string, i int, v float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step)))
	dp.SetDoubleValue(v)
	return md
}

func TestMaxSeriesAndTTL(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSeries = 2
	cfg.SeriesTTL = time.Hour
	tp := newTestProcessor(t, cfg)
	tp.consume(gaugeNamed("a", 0, 1))
	tp.consume(gaugeNamed("b", 0, 1))
	tp.consume(gaugeNamed("c", 0, 1)) // refused: the learned series keep their models
	metadatatest.AssertEqualAnomalyPointsSkipped(t, tp.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("reason", "limit"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAnomalySeriesTracked(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())

	// "a" keeps reporting, "b" stops: after series_ttl "b" is forgotten and "c" gets its place.
	tp.now = tp.now.Add(40 * time.Minute)
	tp.consume(gaugeNamed("a", 1, 1))
	tp.now = tp.now.Add(40 * time.Minute)
	tp.consume(gaugeNamed("c", 1, 1))
	metadatatest.AssertEqualAnomalySeriesEvicted(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualAnomalyPointsScored(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
}

func TestExcludeAndScoreUngrouped(t *testing.T) {
	cfg := testConfig()
	cfg.Detector.MinSamples = 1
	cfg.Exclude = []filter.Config{{Regex: "^sys"}}
	// Exclusion wins over a group that takes the metric too.
	cfg.Groups = []GroupConfig{{Name: "all", Metrics: []filter.Config{{Regex: ".*"}}, Key: []string{"host"}}}
	tp := newTestProcessor(t, cfg)
	for i := range 3 {
		out := tp.consume(gaugeNamed("system.load", i, 1))
		assert.Empty(t, points(out, names.Score, names.MetricName, "system.load"))
	}

	cfg = testConfig()
	cfg.ScoreUngrouped = false
	tp = newTestProcessor(t, cfg)
	tp.consume(gaugeNamed("anything", 0, 1))
	metadatatest.AssertEqualAnomalySeriesTracked(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}

// TestBurstOfNewSeries sends a million series that were never seen before to a processor that
// holds at most 10,000: the store stays at its bound, every refused point is counted, and a series
// learned before the burst keeps its model and its score.
func TestBurstOfNewSeries(t *testing.T) {
	const maxSeries, perBatch, batches = 10_000, 10_000, 100
	cfg := testConfig()
	cfg.MaxSeries = maxSeries
	tp := newTestProcessor(t, cfg)
	for i := range 30 {
		tp.consume(gaugeNamed("learned", i, float64(i%2)))
	}

	md := pmetric.NewMetrics()
	dps := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
	for range perBatch {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.SetDoubleValue(1)
	}
	for b := range batches {
		for i, dp := range dps.All() {
			dp.Attributes().PutInt("id", int64(b*perBatch+i))
		}
		require.NoError(t, tp.p.ConsumeMetrics(context.Background(), md))
	}
	tp.sink.Reset()

	require.Equal(t, maxSeries, tp.p.models.Len())
	metadatatest.AssertEqualAnomalyPointsSkipped(t, tp.tel, []metricdata.DataPoint[int64]{
		{Value: perBatch*batches - (maxSeries - 1), Attributes: attribute.NewSet(attribute.String("reason", "limit"))},
	}, metricdatatest.IgnoreTimestamp())
	out := tp.consume(gaugeNamed("learned", 30, 0))
	require.Len(t, points(out, names.Score, names.MetricName, "learned"), 1, "the learned series is still scored")
}

// keyBatch is one point of metric name for service "boiler" at interval i: a feature of the
// key [service.name] of the group "svc".
func keyBatch(name string, i int, v float64) pmetric.Metrics {
	md := gaugeNamed(name, i, v)
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.name", "boiler")
	return md
}

// TestKeyIntervals: a key's features scored at one timestamp combine whichever requests bring
// them; the unified score comes when a newer timestamp arrives, or interval_wait after the
// first score; a score for a closed interval is counted and left out.
func TestKeyIntervals(t *testing.T) {
	cfg := testConfig()
	cfg.Detector.MinSamples = 1
	cfg.Groups = []GroupConfig{{Name: "svc", Metrics: []filter.Config{{Regex: ".*"}}, Key: []string{"service.name"}, Combine: "max",
		StaticBounds: map[string]Bounds{"a": {Max: ptr(1.0)}, "b": {Max: ptr(1.0)}, "c": {Max: ptr(1.0)}}}}
	tp := newTestProcessor(t, cfg)
	unified := func(md pmetric.Metrics) []pmetric.NumberDataPoint {
		return points(md, names.Unified, names.Group, "svc")
	}

	// Interval 0: a is calm, b is out of bounds (10), in two requests, b stamped 2 ms later (as
	// receivers stamp metrics of one collection).
	assert.Empty(t, unified(tp.consume(keyBatch("a", 0, 0))))
	b := keyBatch("b", 0, 5)
	dp := b.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0)
	dp.SetTimestamp(dp.Timestamp() + pcommon.Timestamp(2*time.Millisecond))
	assert.Empty(t, unified(tp.consume(b)), "the interval is still open")
	// Interval 1 closes interval 0: max(0, 10).
	got := unified(tp.consume(keyBatch("a", 1, 0)))
	require.Len(t, got, 1)
	assert.Equal(t, 10.0, got[0].DoubleValue())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0), got[0].Timestamp())
	res := tp.sink.AllMetrics()[len(tp.sink.AllMetrics())-1]
	svc, ok := res.ResourceMetrics().At(1).Resource().Attributes().Get("service.name")
	require.True(t, ok, "the key attribute found on the resource goes on the unified score's resource")
	assert.Equal(t, "boiler", svc.Str())

	// A score of a new feature c for interval 0 comes late: counted, left out.
	assert.Len(t, points(tp.consume(keyBatch("c", 0, 0)), names.Score, names.MetricName, "c"), 1, "c itself is scored")
	metadatatest.AssertEqualAnomalyKeyScoresLate(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	// Interval 1 has only a; nothing newer comes: it closes interval_wait after its first score.
	assert.Zero(t, tp.p.flush(false).DataPointCount(), "not yet")
	tp.now = tp.now.Add(cfg.IntervalWait)
	got = unified(tp.p.flush(false))
	require.Len(t, got, 1)
	assert.Equal(t, 0.0, got[0].DoubleValue())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(step)), got[0].Timestamp())
}

func ptr[T any](v T) *T { return &v }
