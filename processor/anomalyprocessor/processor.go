package anomalyprocessor

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/loop"
	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/internal/rate"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/combine"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/metadata"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/series"
)

const scopeName = "github.com/omen-otel/omen/processor/anomalyprocessor"

// Reasons a point updated no model (the reason attribute of anomaly_points_skipped).
type skipReason uint8

const (
	skipNotFinite skipReason = iota
	skipNoValue
	skipNegative
	skipOutOfOrder
	skipCounterReset
	skipLimit
	numSkipReasons
)

var skipReasonNames = [numSkipReasons]string{"not_finite", "no_value", "negative", "out_of_order", "counter_reset", "limit"}

type anomalyProcessor struct {
	cfg     *Config
	next    consumer.Metrics
	tel     *metadata.TelemetryBuilder
	params  *detector.Params
	exclude filter.Filter // nil when nothing is excluded
	groups  []group
	now     func() time.Time

	logger     *zap.Logger
	skipAttrs  [numSkipReasons]metric.MeasurementOption
	sweepEvery time.Duration
	tickEvery  time.Duration
	quantile   string // the anomaly.feature name of the histogram quantile, "p95"

	mu        sync.Mutex
	models    *series.Store[seriesState]
	keys      keys // the composite keys' open intervals
	lastSweep time.Time
	batch     batch // scratch of one ConsumeMetrics call, reused

	cp *checkpoint.Checkpointer[modelsState]

	flusher *loop.Flusher
}

// group is a GroupConfig made ready for the hot path.
type group struct {
	name     string
	id       identity.Hash
	metrics  filter.Filter
	key      []string
	combiner combine.Combiner
	bounds   map[string]Bounds
}

func newProcessor(set processor.Settings, cfg *Config, next consumer.Metrics) (*anomalyProcessor, error) {
	params, err := detector.NewParams(cfg.Detector)
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &anomalyProcessor{
		cfg:        cfg,
		next:       next,
		tel:        tel,
		params:     params,
		logger:     set.Logger,
		now:        time.Now,
		models:     series.New[seriesState](cfg.MaxSeries),
		keys:       newKeys(int64(cfg.TimestampTolerance)),
		sweepEvery: min(max(cfg.SeriesTTL/4, time.Second), time.Minute),
		tickEvery:  max(cfg.IntervalWait/4, 10*time.Millisecond),
		quantile:   quantileName(cfg.HistogramQuantile),
	}
	if len(cfg.Exclude) > 0 {
		p.exclude = filter.CreateFilter(cfg.Exclude)
	}
	for _, g := range cfg.Groups {
		c, err := g.combiner()
		if err != nil {
			return nil, err
		}
		p.groups = append(p.groups, group{
			name:     g.Name,
			id:       identity.String(g.Name),
			metrics:  filter.CreateFilter(g.Metrics),
			key:      g.Key,
			combiner: c,
			bounds:   g.StaticBounds,
		})
	}
	for r := range p.skipAttrs {
		p.skipAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", skipReasonNames[r])))
	}
	p.cp = p.newCheckpointer(set)
	if err := tel.RegisterAnomalySeriesTrackedCallback(func(_ context.Context, o metric.Int64Observer) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		o.Observe(int64(p.models.Len()))
		return nil
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// Start restores the models from their checkpoint (with storage set), then starts the ticker
// that emits the unified scores of the keys whose other features are overdue.
func (p *anomalyProcessor) Start(ctx context.Context, host component.Host) error {
	if err := p.cp.Start(ctx, host); err != nil {
		return err
	}
	p.flusher = loop.StartFlusher(p.tickEvery, p.flush, p.next, p.logger, "unified scores")
	return nil
}

// Shutdown stops the ticker and emits the unified scores of every open key: the next consumers
// are still running while a processor shuts down.
func (p *anomalyProcessor) Shutdown(ctx context.Context) error {
	p.flusher.Stop(ctx)
	err := p.cp.Shutdown(ctx)
	p.tel.Shutdown()
	return err
}

// flush closes the keys whose interval has waited interval_wait (every key with all) and
// returns their unified scores.
func (p *anomalyProcessor) flush(all bool) pmetric.Metrics {
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := p.now().Add(-p.cfg.IntervalWait).UnixNano()
	if all {
		deadline = math.MaxInt64
	}
	md := pmetric.NewMetrics()
	p.keys.closeDue(deadline, md)
	return md
}

func (*anomalyProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// ConsumeMetrics scores every point, appends the scores to md and passes md on. The models are
// updated under one lock; the next consumer is called outside it.
func (p *anomalyProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	p.mu.Lock()
	now := p.now()
	if now.Sub(p.lastSweep) >= p.sweepEvery {
		p.lastSweep = now
		if n := p.models.Expire(now.Add(-p.cfg.SeriesTTL).UnixNano()); n > 0 {
			p.tel.AnomalySeriesEvicted.Add(ctx, int64(n))
		}
		p.keys.expire(now.Add(-p.cfg.SeriesTTL).UnixNano())
	}
	b := &p.batch
	b.now = now.UnixNano()
	rms := md.ResourceMetrics()
	for i, n := 0, rms.Len(); i < n; i++ { // only the resources that came in
		p.scoreResource(rms.At(i))
	}
	p.keys.emit(md)
	p.flushStats(ctx)
	p.mu.Unlock()
	return p.next.ConsumeMetrics(ctx, md)
}

func (p *anomalyProcessor) flushStats(ctx context.Context) {
	b := &p.batch
	if b.scored > 0 {
		p.tel.AnomalyPointsScored.Add(ctx, b.scored)
		b.scored = 0
	}
	for r, n := range b.skipped {
		if n > 0 {
			p.tel.AnomalyPointsSkipped.Add(ctx, n, p.skipAttrs[r])
			b.skipped[r] = 0
		}
	}
	if n := p.keys.late; n > 0 {
		p.tel.AnomalyKeyScoresLate.Add(ctx, n)
		p.keys.late = 0
	}
}

func (p *anomalyProcessor) scoreResource(rm pmetric.ResourceMetrics) {
	res := rm.Resource().Attributes()
	resID := identity.Map(res)
	sms := rm.ScopeMetrics()
	for i, n := 0, sms.Len(); i < n; i++ {
		sm := sms.At(i)
		scope := sm.Scope()
		scopeID := resID.Then(identity.String(scope.Name())).Then(identity.String(scope.Version()))
		out := emitter{metrics: sm.Metrics(), bands: p.cfg.Bands}
		ms := sm.Metrics()
		for j, m := 0, ms.Len(); j < m; j++ { // only the metrics that came in, not the scores added
			p.scoreMetric(&out, res, scopeID, ms.At(j))
		}
	}
}

// metricScope is what the points of one metric share.
type metricScope struct {
	out    *emitter
	res    pcommon.Map
	id     identity.Hash // resource, scope and metric name
	name   string
	groups []*group // the groups that take this metric
}

func (p *anomalyProcessor) scoreMetric(out *emitter, res pcommon.Map, scopeID identity.Hash, m pmetric.Metric) {
	name := m.Name()
	if strings.HasPrefix(name, names.Prefix) {
		return
	}
	if p.exclude != nil && p.exclude.Matches(name) {
		return
	}
	b := &p.batch
	b.groups = b.groups[:0]
	for gi := range p.groups {
		if p.groups[gi].metrics.Matches(name) {
			b.groups = append(b.groups, &p.groups[gi])
		}
	}
	if len(b.groups) == 0 && !p.cfg.ScoreUngrouped {
		return
	}
	ms := metricScope{out: out, res: res, id: scopeID.Then(identity.String(name)), name: name, groups: b.groups}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		p.scoreNumbers(&ms, m.Gauge().DataPoints(), level)
	case pmetric.MetricTypeSum:
		s := m.Sum()
		kind := level
		if s.IsMonotonic() {
			kind = cumulativeCounter
			if s.AggregationTemporality() == pmetric.AggregationTemporalityDelta {
				kind = deltaCounter
			}
		}
		p.scoreNumbers(&ms, s.DataPoints(), kind)
	case pmetric.MetricTypeHistogram:
		p.scoreHistograms(&ms, m.Histogram())
	case pmetric.MetricTypeExponentialHistogram:
		p.scoreExponentialHistograms(&ms, m.ExponentialHistogram())
	case pmetric.MetricTypeSummary:
		p.scoreSummaries(&ms, m.Summary().DataPoints())
	}
}

// numberKind says how a number point becomes the value scored.
type numberKind uint8

const (
	level             numberKind = iota // gauges and non-monotonic sums: the value itself
	cumulativeCounter                   // monotonic cumulative sums: the per-second rate
	deltaCounter                        // monotonic delta sums: the per-second rate
)

func (p *anomalyProcessor) scoreNumbers(ms *metricScope, dps pmetric.NumberDataPointSlice, kind numberKind) {
	b := &p.batch
	// First the series of every point, then the scores: looked up one after the other, the
	// series' states are fetched from memory together rather than one per point between two
	// model updates. A series is created, or refused at max_series, in the order of the points,
	// as when each point was scored before the next was looked up.
	b.found = b.found[:0]
	for i, n := 0, dps.Len(); i < n; i++ {
		dp := dps.At(i)
		v, ok := b.finiteValue(dp)
		if !ok {
			continue
		}
		st, ok := p.series(ms.id.Then(identity.Map(dp.Attributes())))
		if !ok {
			continue
		}
		b.found = append(b.found, foundPoint{st: st, v: v, i: i})
	}
	for _, f := range b.found {
		dp := dps.At(f.i)
		st, v := f.st, f.v
		ts := p.timestamp(dp.Timestamp())
		switch kind {
		case cumulativeCounter:
			r, status := st.counter.Next(int64(dp.StartTimestamp()), ts, v)
			if !b.rateOK(status) {
				continue
			}
			v = r
		case deltaCounter:
			if v < 0 {
				b.skip(skipNegative)
				continue
			}
			r, status := st.delta.Next(int64(dp.StartTimestamp()), ts, v)
			if !b.rateOK(status) {
				continue
			}
			v = r
		}
		p.score(ms, st, dp.Attributes(), ts, v, "")
	}
	clear(b.found) // holds no state beyond the call (a restore replaces the store)
}

// series returns the state of series id, creating it when new; ok is false at max_series.
func (p *anomalyProcessor) series(id identity.Hash) (*seriesState, bool) {
	st, created, ok := p.models.Get(id, p.batch.now)
	if !ok {
		p.batch.skip(skipLimit)
		return nil, false
	}
	if created {
		st.model = *detector.New(p.params)
	}
	return st, true
}

// timestamp is the point's time, or the time of arrival for a point without one.
func (p *anomalyProcessor) timestamp(ts pcommon.Timestamp) int64 {
	if ts == 0 {
		return p.batch.now
	}
	return int64(ts)
}

// score feeds one value to a model and emits its score.
func (p *anomalyProcessor) score(ms *metricScope, st *seriesState, attrs pcommon.Map, ts int64, v float64, feature string) {
	b := &p.batch
	res, skip := st.model.Update(ts, v)
	switch skip {
	case detector.Accepted:
	case detector.SkipOutOfOrder:
		b.skip(skipOutOfOrder)
		return
	default:
		b.skip(skipNotFinite)
		return
	}
	b.scored++
	score := res.Score
	if !res.WarmedUp {
		var ok bool
		if score, ok = staticScore(ms.groups, ms.name, v); !ok {
			return
		}
	}
	ms.out.emit(ts, attrs, ms.name, feature, score, res)
	for _, g := range ms.groups {
		p.keys.contribute(g, ms.res, attrs, ts, b.now, score)
	}
}

// staticScore scores a value against the first static bounds a group gives for the metric.
func staticScore(groups []*group, name string, v float64) (float64, bool) {
	for _, g := range groups {
		if bounds, ok := g.bounds[name]; ok {
			if (bounds.Min != nil && v < *bounds.Min) || (bounds.Max != nil && v > *bounds.Max) {
				return combine.MaxScore, true
			}
			return 0, true
		}
	}
	return 0, false
}

// Features of histogram series, and of each summary quantile.
var (
	featureRate     = identity.String("rate")
	featureMean     = identity.String("mean")
	featureQuantile = identity.String("quantile")
)

func (p *anomalyProcessor) scoreHistograms(ms *metricScope, h pmetric.Histogram) {
	b := &p.batch
	cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	dps := h.DataPoints()
	for i, n := 0, dps.Len(); i < n; i++ {
		dp := dps.At(i)
		b.explicitBuckets(dp)
		p.scoreHistogram(ms, dp.Attributes(), cumulative, dp.StartTimestamp(), dp.Timestamp(),
			float64(dp.Count()), dp.Sum(), dp.HasSum(), layoutOf(b.bounds))
	}
}

func (p *anomalyProcessor) scoreExponentialHistograms(ms *metricScope, h pmetric.ExponentialHistogram) {
	b := &p.batch
	cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	dps := h.DataPoints()
	for i, n := 0, dps.Len(); i < n; i++ {
		dp := dps.At(i)
		b.exponentialBuckets(dp)
		p.scoreHistogram(ms, dp.Attributes(), cumulative, dp.StartTimestamp(), dp.Timestamp(),
			float64(dp.Count()), dp.Sum(), dp.HasSum(), exponentialLayout(dp, len(b.counts)))
	}
}

// scoreHistogram scores the request rate, mean and quantile of one histogram point whose
// buckets are in the batch's bounds and counts.
func (p *anomalyProcessor) scoreHistogram(ms *metricScope, attrs pcommon.Map, cumulative bool, start, ts pcommon.Timestamp, count, sum float64, hasSum bool, layout uint64) {
	b := &p.batch
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		hasSum = false
	}
	base := ms.id.Then(identity.Map(attrs))
	st, ok := p.series(base.Then(featureRate))
	if !ok {
		return
	}
	t := p.timestamp(ts)
	in, status := st.histogramInterval(cumulative, layout, int64(start), t, count, sum, b.counts)
	if !b.rateOK(status) {
		return
	}
	p.score(ms, st, attrs, t, in.Rate, "rate")
	if in.Count <= 0 {
		return // no observation in the interval: no mean, no quantile
	}
	if hasSum {
		if st, ok := p.series(base.Then(featureMean)); ok {
			p.score(ms, st, attrs, t, in.Sum/in.Count, "mean")
		}
	}
	if len(in.Buckets) > 0 {
		if q := rate.Quantile(p.cfg.HistogramQuantile, b.bounds, in.Buckets); !math.IsNaN(q) {
			if st, ok := p.series(base.Then(featureQuantile)); ok {
				p.score(ms, st, attrs, t, q, p.quantile)
			}
		}
	}
}

func (p *anomalyProcessor) scoreSummaries(ms *metricScope, dps pmetric.SummaryDataPointSlice) {
	b := &p.batch
	for i, n := 0, dps.Len(); i < n; i++ {
		dp := dps.At(i)
		attrs := dp.Attributes()
		base := ms.id.Then(identity.Map(attrs))
		t := p.timestamp(dp.Timestamp())
		for _, qv := range dp.QuantileValues().All() {
			q, v := qv.Quantile(), qv.Value()
			if math.IsNaN(v) || math.IsInf(v, 0) || !(q >= 0 && q <= 1) {
				b.skip(skipNotFinite)
				continue
			}
			st, ok := p.series(base.Then(featureQuantile).Then(identity.Hash{Lo: math.Float64bits(q)}))
			if !ok {
				continue
			}
			p.score(ms, st, attrs, t, v, p.summaryFeature(q))
		}
	}
}

// summaryFeature names a summary quantile ("p99"); the names are few and kept.
func (p *anomalyProcessor) summaryFeature(q float64) string {
	b := &p.batch
	if name, ok := b.quantileNames[q]; ok {
		return name
	}
	name := quantileName(q)
	if len(b.quantileNames) < 64 {
		if b.quantileNames == nil {
			b.quantileNames = map[float64]string{}
		}
		b.quantileNames[q] = name
	}
	return name
}

func quantileName(q float64) string {
	return "p" + strconv.FormatFloat(q*100, 'g', 6, 64)
}

// exponentialLayout identifies the bucket layout of an exponential histogram point laid out as n
// explicit buckets, so a histogram whose scale or offsets change restarts.
func exponentialLayout(dp pmetric.ExponentialHistogramDataPoint, n int) uint64 {
	layout := uint64(uint32(dp.Scale())) | uint64(uint32(dp.Positive().Offset()))<<32
	return layout*31 + uint64(uint32(dp.Negative().Offset()))<<16 + uint64(n)
}

// layoutOf identifies explicit bucket bounds, so a histogram whose bounds change restarts.
func layoutOf(bounds []float64) uint64 {
	h := uint64(len(bounds))
	for _, x := range bounds {
		h = (h ^ math.Float64bits(x)) * 0x100000001b3
	}
	return h
}
