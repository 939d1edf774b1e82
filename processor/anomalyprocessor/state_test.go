package anomalyprocessor

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/omen-otel/omen/internal/binpart"
	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/metadatatest"
)

// TestStateEncodingCoversEveryField is a tripwire: a field added to seriesState must be encoded
// too (and seriesVersion bumped), or a restored processor would not continue where it stopped.
func TestStateEncodingCoversEveryField(t *testing.T) {
	assert.Equal(t, 4, reflect.TypeFor[seriesState]().NumField(), "seriesState changed: update appendSeries and decodeSeries")
}

// stream produces a realistic mix for one resource, batch by batch: gauges (one without
// timestamp), a non-monotonic sum, a cumulative counter, delta counters with and without start
// time, a cumulative explicit histogram, a delta exponential histogram and a summary. Its faults
// (a spike, a counter reset, a change of histogram bounds, a latency shift) come at fixed
// batches, after the restore.
type stream struct {
	rng   *rand.Rand
	total float64 // the cumulative counter
	start int64   // and its start time
	// the cumulative histogram
	count   uint64
	sum     float64
	buckets []uint64
	bounds  []float64
}

func newStream() *stream {
	return &stream{
		rng:     rand.New(rand.NewPCG(5, 6)),
		start:   int64(pcommon.NewTimestampFromTime(t0.Add(-time.Minute))),
		buckets: make([]uint64, 5),
		bounds:  []float64{0.1, 0.2, 0.5, 1},
	}
}

// The batches of the stream's faults.
const (
	streamSpike     = 90  // the cpu of host a jumps from 50 ± 1 to 80
	streamReset     = 95  // the counter restarts
	streamNewBounds = 100 // the histogram's bounds change
	streamSlowFrom  = 105 // latencies triple
)

func (s *stream) batch(i int) pmetric.Metrics {
	ts := pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step))
	noise := func(sd float64) float64 { return sd * s.rng.NormFloat64() }
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()

	cpu := ms.AppendEmpty()
	cpu.SetName("cpu")
	cpus := cpu.SetEmptyGauge().DataPoints()
	for _, host := range []string{"a", "b"} {
		dp := cpus.AppendEmpty()
		dp.SetTimestamp(ts)
		v := 50 + noise(1)
		if host == "a" && i == streamSpike {
			v = 80
		}
		dp.SetDoubleValue(v)
		dp.Attributes().PutStr("host", host)
	}

	hb := ms.AppendEmpty()
	hb.SetName("heartbeat") // no timestamp: scored at the processor's clock
	hb.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(int64(10 + i%3))

	conns := ms.AppendEmpty()
	conns.SetName("connections")
	cdp := conns.SetEmptySum().DataPoints().AppendEmpty()
	cdp.SetTimestamp(ts)
	cdp.SetIntValue(int64(100 + noise(5)))

	if i == streamReset {
		s.total, s.start = 0, int64(ts)-int64(step)
	}
	s.total += (20 + noise(1)) * step.Seconds()
	reqs := ms.AppendEmpty()
	reqs.SetName("requests")
	rs := reqs.SetEmptySum()
	rs.SetIsMonotonic(true)
	rs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	rdp := rs.DataPoints().AppendEmpty()
	rdp.SetStartTimestamp(pcommon.Timestamp(s.start))
	rdp.SetTimestamp(ts)
	rdp.SetDoubleValue(s.total)

	sent := ms.AppendEmpty()
	sent.SetName("bytes")
	bs := sent.SetEmptySum()
	bs.SetIsMonotonic(true)
	bs.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	bdp := bs.DataPoints().AppendEmpty()
	bdp.SetStartTimestamp(ts - pcommon.Timestamp(step))
	bdp.SetTimestamp(ts)
	bdp.SetIntValue(int64(5000 + noise(100)))

	errs := ms.AppendEmpty()
	errs.SetName("errors") // delta without start time: a rate over the time since the last point
	es := errs.SetEmptySum()
	es.SetIsMonotonic(true)
	es.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	edp := es.DataPoints().AppendEmpty()
	edp.SetTimestamp(ts)
	edp.SetIntValue(int64(1 + s.rng.IntN(5)))

	if i == streamNewBounds {
		s.bounds = []float64{0.1, 0.25, 0.5, 1}
		s.count, s.sum, s.buckets = 0, 0, make([]uint64, 5)
	}
	slow := 1.0
	if i >= streamSlowFrom {
		slow = 3
	}
	for range 100 {
		d := 0.12 * slow * math.Exp(0.3*s.rng.NormFloat64())
		s.count++
		s.sum += d
		s.buckets[bucketOf(s.bounds, d)]++
	}
	lat := ms.AppendEmpty()
	lat.SetName("latency")
	h := lat.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts)
	hdp.SetCount(s.count)
	hdp.SetSum(s.sum)
	hdp.ExplicitBounds().FromRaw(s.bounds)
	hdp.BucketCounts().FromRaw(s.buckets)

	size := ms.AppendEmpty()
	size.SetName("size")
	eh := size.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	xdp := eh.DataPoints().AppendEmpty()
	xdp.SetStartTimestamp(ts - pcommon.Timestamp(step))
	xdp.SetTimestamp(ts)
	n := uint64(90 + s.rng.IntN(20))
	xdp.Positive().BucketCounts().FromRaw([]uint64{n / 10, n - n/5, n / 10})
	xdp.SetCount(n/10 + n - n/5 + n/10)
	xdp.SetSum(3 * float64(xdp.Count()))

	rpc := ms.AppendEmpty()
	rpc.SetName("rpc.duration")
	sdp := rpc.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetTimestamp(ts)
	for _, q := range []float64{0.5, 0.99} {
		qv := sdp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q)
		qv.SetValue(slow * (0.1 + q/10 + noise(0.005)))
	}
	return md
}

// bucketOf is the bucket of d: that of the first bound at or above it.
func bucketOf(bounds []float64, d float64) int {
	i, _ := slices.BinarySearch(bounds, d)
	return i
}

// stateConfig scores everything, with bands, one group per service and the seasonal profile on.
func stateConfig() *Config {
	cfg := testConfig()
	cfg.Bands = true
	cfg.Groups = []GroupConfig{{Name: "service", Metrics: []filter.Config{{Regex: ".*"}}, Key: []string{"service.name"}}}
	return cfg
}

// consumeCopy runs a copy of md, so the same batch can be given to several processors.
func (tp *testProcessor) consumeCopy(md pmetric.Metrics) pmetric.Metrics {
	c := pmetric.NewMetrics()
	md.CopyTo(c)
	return tp.consume(c)
}

// requireSameMetrics demands identical output, to the bit and in the same order.
func requireSameMetrics(t *testing.T, want, got pmetric.Metrics, msgAndArgs ...any) {
	t.Helper()
	var m pmetric.ProtoMarshaler
	wb, err := m.MarshalMetrics(want)
	require.NoError(t, err)
	gb, err := m.MarshalMetrics(got)
	require.NoError(t, err)
	if !bytes.Equal(wb, gb) {
		require.NoError(t, pmetrictest.CompareMetrics(want, got), msgAndArgs...)
		require.Fail(t, "outputs differ in order or in bits", msgAndArgs...)
	}
}

func snapshotOf(t *testing.T, tp *testProcessor) map[identity.Hash][]byte {
	t.Helper()
	snap, err := tp.p.snapshot()
	require.NoError(t, err)
	return snap
}

// TestRestoredProcessorContinues stops a processor after a realistic stream has warmed its
// models, restores its snapshot into a new processor, and feeds both the rest of the stream:
// the restored processor must answer exactly as the one that never stopped.
func TestRestoredProcessorContinues(t *testing.T) {
	const before, after = 80, 60
	orig := newTestProcessor(t, stateConfig())
	s := newStream()
	for i := range before {
		orig.consume(s.batch(i))
		orig.now = orig.now.Add(step)
	}
	// A stopping processor emits its keys' open intervals: only the models are restored.
	orig.p.flush(true)
	snap := snapshotOf(t, orig)
	require.Len(t, snap, orig.p.models.Len())

	restored := newTestProcessor(t, stateConfig())
	restored.now = orig.now
	require.NoError(t, restored.p.restore(snap))
	require.Equal(t, orig.p.models.Len(), restored.p.models.Len())
	cold := newTestProcessor(t, stateConfig()) // never restored: shows the snapshot matters
	cold.now = orig.now

	spike := 0.0
	for i := before; i < before+after; i++ {
		md := s.batch(i)
		want := orig.consumeCopy(md)
		got := restored.consumeCopy(md)
		requireSameMetrics(t, want, got, "batch %d", i)
		if i == before {
			require.Empty(t, points(cold.consumeCopy(md), names.Score, names.MetricName, "cpu"), "a cold processor is warming up")
			require.Len(t, points(got, names.Score, names.MetricName, "cpu"), 2, "the restored one scores at once")
		}
		if i == streamSpike {
			for _, dp := range points(got, names.Score, "host", "a") {
				spike = dp.DoubleValue()
			}
		}
		orig.now = orig.now.Add(step)
		restored.now = orig.now
	}
	assert.GreaterOrEqual(t, spike, 5.0, "the restored models still know what normal is")
	assert.Equal(t, snapshotOf(t, orig), snapshotOf(t, restored), "the state went on identically")
}

// encodedSeries returns an encoding of a series with a cumulative histogram, which has every
// part, from a processor that ran the stream.
func encodedSeries(t *testing.T, snap map[identity.Hash][]byte) (identity.Hash, []byte) {
	t.Helper()
	for id, data := range snap {
		if data[9]&seriesHasHist != 0 {
			return id, data
		}
	}
	t.Fatal("no series with a histogram")
	return identity.Hash{}, nil
}

func TestSeriesEncodingRejectsCorruptData(t *testing.T) {
	src := newTestProcessor(t, stateConfig())
	s := newStream()
	for i := range 30 {
		src.consume(s.batch(i))
	}
	_, valid := encodedSeries(t, snapshotOf(t, src))
	st, lastSeen, err := decodeSeries(src.p.params, valid)
	require.NoError(t, err)
	again, err := appendSeries(nil, &st, lastSeen)
	require.NoError(t, err)
	require.Equal(t, valid, again, "decoding and encoding again is the identity")

	for n := range len(valid) {
		_, _, err := decodeSeries(src.p.params, valid[:n])
		require.ErrorIsf(t, err, binpart.ErrTruncated, "%d-byte prefix", n)
	}
	for what, data := range map[string][]byte{
		"version":      append([]byte{seriesVersion + 1}, valid[1:]...),
		"flags":        slices.Concat(valid[:9], []byte{2}, valid[10:]),
		"no histogram": slices.Concat(valid[:9], []byte{0}, valid[10:]), // its part is left over
		"trailing":     append(slices.Clone(valid), 0),
	} {
		_, _, err := decodeSeries(src.p.params, data)
		require.Errorf(t, err, what)
	}
	// The model's part length still fits, but the model inside is from a newer detector.
	model := slices.Clone(valid)
	model[seriesHead+4]++
	_, _, err = decodeSeries(src.p.params, model)
	require.ErrorContains(t, err, "series state: model: detector: state version")

	// A processor whose detector has no seasonal profile cannot take these models.
	noSeason := stateConfig()
	noSeason.Detector.Seasonal = false
	params, err := detector.NewParams(noSeason.Detector)
	require.NoError(t, err)
	_, _, err = decodeSeries(params, valid)
	require.ErrorContains(t, err, "seasonal buckets")
}

// TestRestoreIsAllOrNothing restores snapshots with one bad series into a processor that already
// holds series: each fails and leaves the processor's state as it was.
func TestRestoreIsAllOrNothing(t *testing.T) {
	src := newTestProcessor(t, stateConfig())
	s := newStream()
	for i := range 30 {
		src.consume(s.batch(i))
	}
	good := snapshotOf(t, src)
	id, valid := encodedSeries(t, good)

	dst := newTestProcessor(t, stateConfig())
	for i := range 5 {
		dst.consume(gaugeNamed("own", i, float64(i)))
	}
	held := snapshotOf(t, dst)
	require.Len(t, held, 1)

	for what, data := range map[string][]byte{
		"empty":     nil,
		"truncated": valid[:len(valid)-1],
		"version":   append([]byte{seriesVersion + 1}, valid[1:]...),
		"trailing":  append(slices.Clone(valid), 0),
	} {
		bad := make(map[identity.Hash][]byte, len(good))
		for k, v := range good {
			bad[k] = v
		}
		bad[id] = data
		require.Errorf(t, dst.p.restore(bad), what)
		require.Equalf(t, held, snapshotOf(t, dst), "%s: the state changed", what)
	}

	noSeason := stateConfig()
	noSeason.Detector.Seasonal = false
	other := newTestProcessor(t, noSeason)
	require.Error(t, other.p.restore(good), "models of another detector configuration are refused")
	require.Zero(t, other.p.models.Len())

	require.NoError(t, dst.p.restore(good))
	require.Equal(t, good, snapshotOf(t, dst), "a restore replaces what the processor held")
}

// TestRestoreRespectsMaxSeries restores five series into a processor that holds three: it keeps
// the three seen last, with the times they were last seen, so they expire when they would have.
func TestRestoreRespectsMaxSeries(t *testing.T) {
	src := newTestProcessor(t, stateConfig())
	for k := range 5 {
		src.consume(gaugeNamed("m"+strconv.Itoa(k), 0, 1))
		src.now = src.now.Add(time.Minute)
	}
	snap := snapshotOf(t, src)
	require.Len(t, snap, 5)
	newest := make([]identity.Hash, 0, 5)
	for id := range snap {
		newest = append(newest, id)
	}
	lastSeen := func(id identity.Hash) int64 { ls, _ := src.p.models.LastSeen(id); return ls }
	slices.SortFunc(newest, func(a, b identity.Hash) int { return cmp.Compare(lastSeen(b), lastSeen(a)) })

	cfg := stateConfig()
	cfg.MaxSeries = 3
	dst := newTestProcessor(t, cfg)
	require.NoError(t, dst.p.restore(snap))
	kept := snapshotOf(t, dst)
	require.Len(t, kept, 3)
	for _, id := range newest[:3] {
		require.Equal(t, snap[id], kept[id], "the most recently seen series are kept as they were")
	}

	// m2 and m3 were last seen 2 and 3 minutes after t0, m4 4 minutes after: 30 s past m3's
	// series_ttl, the next batch forgets both, m4 stays, and the store has room again.
	dst.now = t0.Add(3*time.Minute + cfg.SeriesTTL + 30*time.Second)
	dst.consume(gaugeNamed("m0", 1, 1))
	metadatatest.AssertEqualAnomalySeriesEvicted(t, dst.tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	require.Equal(t, 2, dst.p.models.Len())
	_, ok := dst.p.models.LastSeen(newest[0])
	require.True(t, ok, "m4 is within series_ttl")
	metadatatest.AssertEqualAnomalyPointsScored(t, dst.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}
