package anomalyprocessor

import (
	"math"
	"regexp"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/rate"
	"github.com/omen-otel/omen/internal/servicegraph"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/evidence"
)

// What the service graph adds.
const (
	// Features of an edge (the anomaly.feature of its scores).
	featureRequestRate = "request_rate"
	featureErrorRatio  = "error_ratio"
	featureLatency     = "latency_mean"

	// evidenceDecay is the weight the evidence tests' learned ratio, rate and mean keep per
	// interval: a half-life of about 70 intervals, so a fault of a few minutes does not become
	// normal.
	evidenceDecay = 0.99
)

type edgeRole uint8

const (
	roleRequests edgeRole = iota
	roleFailed
	roleLatency
)

// edgeMetric is what an edge metric's name says: its source and its role there.
type edgeMetric struct {
	src  *edgeSource
	role edgeRole
}

type edgeSource struct {
	cfg        EdgeSourceConfig
	failedWhen *regexp.Regexp // nil without failed_when
	errors     bool           // the source can tell failed requests
	variant    identity.Hash  // starts an edge's variant: the connection type attribute's name
}

// serviceGraph learns the topology from edge metrics, keeps one set of models per edge and emits
// edge, service and root-cause scores. Its state is guarded by the processor's lock.
type serviceGraph struct {
	cfg     ServiceGraphConfig
	params  *detector.Params // the processor's detector, made to report every interval
	metrics map[string]edgeMetric
	dimIDs  []identity.Hash // of the dimensions' names, in cfg.Dimensions' order
	graph   *servicegraph.Graph
	edges   map[servicegraph.EdgeKey]*edgeState

	expired, refused int64 // since the last flush to telemetry

	// scratch of one batch
	accs  map[servicegraph.EdgeKey]*edgeAcc
	order []*edgeAcc
	pool  []*edgeAcc
}

// edgeState is what the processor keeps per edge: a model and an evidence test per feature.
type edgeState struct {
	lastTS                    int64
	rate, errorRatio, latency detector.Model
	arrivals                  evidence.Arrivals
	failures                  evidence.Failures
	latencyMean               evidence.Mean
}

// edgeAcc sums the points of one edge within a batch: an edge is often several series (the
// connector splits failed from successful requests, Istio splits by response code).
type edgeAcc struct {
	key      servicegraph.EdgeKey
	src      *edgeSource
	attrs    pcommon.Map // client, server, connection type and dimensions
	ts       int64
	requests float64
	failed   float64
	latCount float64
	latSum   float64
	// which parts the batch carried
	requestsSeen, sumOK bool
	// what scoring made of them
	refused  bool
	features edgeFeatures
}

func newServiceGraph(cfg ServiceGraphConfig, dc detector.Config) (*serviceGraph, error) {
	// An edge's models report the surprise of every interval for as long as a fault lasts: no
	// refractory discount after a high score, no re-anchoring of the baseline at a level shift,
	// no volatility floor (its short-run variance, as fast as the scale's, never binds), which
	// would take a sustained shift for a burst of volatility and judge it against itself, and no
	// tail learning from a sustained deviation. NAB rewards flagging a fault once; the root-cause
	// ranking must see it until it ends.
	dc.RefractoryHalfLife = math.SmallestNonzeroFloat64
	dc.ShiftThreshold = math.MaxFloat64
	dc.VolatilityHalfLife = dc.ScaleHalfLife
	dc.HoldShifts = true
	params, err := detector.NewParams(dc)
	if err != nil {
		return nil, err
	}
	sg := &serviceGraph{
		cfg:     cfg,
		params:  params,
		metrics: map[string]edgeMetric{},
		graph:   servicegraph.New(cfg.MaxEdges, int64(cfg.EdgeTTL), cfg.ExternalClients),
		edges:   map[servicegraph.EdgeKey]*edgeState{},
		accs:    map[servicegraph.EdgeKey]*edgeAcc{},
	}
	for _, d := range cfg.Dimensions {
		sg.dimIDs = append(sg.dimIDs, identity.String(d))
	}
	for _, ec := range cfg.Edges {
		src := &edgeSource{cfg: ec, errors: len(ec.Failed) > 0, variant: identity.String(ec.ConnectionType)}
		if ec.FailedWhen.Attribute != "" {
			src.failedWhen = regexp.MustCompile(ec.FailedWhen.Regexp) // validated
			src.errors = true
		}
		for _, n := range ec.Requests {
			sg.metrics[n] = edgeMetric{src, roleRequests}
		}
		for _, n := range ec.Failed {
			sg.metrics[n] = edgeMetric{src, roleFailed}
		}
		for _, n := range ec.Latency {
			sg.metrics[n] = edgeMetric{src, roleLatency}
		}
	}
	return sg, nil
}

// acc returns the batch's sum for the edge a point belongs to, or nil when the point lacks the
// attributes naming the edge's ends.
func (sg *serviceGraph) acc(src *edgeSource, attrs pcommon.Map, ts int64) *edgeAcc {
	client, ok1 := attrs.Get(src.cfg.Client)
	server, ok2 := attrs.Get(src.cfg.Server)
	if !ok1 || !ok2 || client.AsString() == "" || server.AsString() == "" {
		return nil
	}
	variant := src.variant
	var conn pcommon.Value
	if src.cfg.ConnectionType != "" {
		if v, ok := attrs.Get(src.cfg.ConnectionType); ok {
			conn = v
			variant = variant.Then(identity.Value(v))
		}
	}
	for i, d := range sg.cfg.Dimensions {
		if v, ok := attrs.Get(d); ok {
			variant = variant.Then(sg.dimIDs[i]).Then(identity.Value(v))
		}
	}
	key := servicegraph.EdgeKey{Client: client.AsString(), Server: server.AsString(), Variant: variant.Hi ^ variant.Lo}
	a := sg.accs[key]
	if a == nil {
		if n := len(sg.pool); n > 0 {
			a = sg.pool[n-1]
			sg.pool = sg.pool[:n-1]
		} else {
			a = &edgeAcc{}
		}
		*a = edgeAcc{key: key, src: src, ts: ts, attrs: pcommon.NewMap(), sumOK: true}
		a.attrs.PutStr(servicegraph.AttrClient, key.Client)
		a.attrs.PutStr(servicegraph.AttrServer, key.Server)
		if conn.Type() != pcommon.ValueTypeEmpty {
			conn.CopyTo(a.attrs.PutEmpty(servicegraph.AttrConnectionType))
		}
		for _, d := range sg.cfg.Dimensions {
			if v, ok := attrs.Get(d); ok {
				v.CopyTo(a.attrs.PutEmpty(d))
			}
		}
		sg.accs[key] = a
		sg.order = append(sg.order, a)
	}
	a.ts = max(a.ts, ts)
	return a
}

// scoreEdgeMetric adds the points of one edge metric to their edges' sums.
func (p *anomalyProcessor) scoreEdgeMetric(ms *metricScope, m pmetric.Metric, em edgeMetric) {
	b := &p.batch
	switch {
	case em.role != roleLatency && m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic():
		delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
		dps := m.Sum().DataPoints()
		for i, n := 0, dps.Len(); i < n; i++ {
			p.addEdgeCount(ms, em, dps.At(i), delta)
		}
	case em.role == roleLatency && m.Type() == pmetric.MetricTypeHistogram:
		h := m.Histogram()
		cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := h.DataPoints()
		for i, n := 0, dps.Len(); i < n; i++ {
			dp := dps.At(i)
			b.explicitBuckets(dp)
			p.addEdgeLatency(ms, em, dp.Attributes(), cumulative, dp.StartTimestamp(), dp.Timestamp(),
				float64(dp.Count()), dp.Sum(), dp.HasSum(), layoutOf(b.bounds))
		}
	case em.role == roleLatency && m.Type() == pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := h.DataPoints()
		for i, n := 0, dps.Len(); i < n; i++ {
			dp := dps.At(i)
			b.exponentialBuckets(dp)
			p.addEdgeLatency(ms, em, dp.Attributes(), cumulative, dp.StartTimestamp(), dp.Timestamp(),
				float64(dp.Count()), dp.Sum(), dp.HasSum(), exponentialLayout(dp, len(b.counts)))
		}
	default:
		b.skipped[skipNoEdge] += int64(dataPointCount(m))
	}
}

func (p *anomalyProcessor) addEdgeCount(ms *metricScope, em edgeMetric, dp pmetric.NumberDataPoint, delta bool) {
	b := &p.batch
	v, ok := b.finiteValue(dp)
	if !ok {
		return
	}
	if v < 0 {
		b.skip(skipNegative)
		return
	}
	attrs := dp.Attributes()
	ts := p.timestamp(dp.Timestamp())
	a := p.graph.acc(em.src, attrs, ts)
	if a == nil {
		b.skip(skipNoEdge)
		return
	}
	st, ok := p.series(ms.id.Then(identity.Map(attrs)))
	if !ok {
		return
	}
	var inc float64
	var status rate.Status
	if delta {
		inc = v
		_, status = st.delta.Next(int64(dp.StartTimestamp()), ts, v)
		if status == rate.First {
			status = rate.OK // a delta point is an increase of its own
		}
	} else {
		inc, status = st.counter.Increase(int64(dp.StartTimestamp()), ts, v)
	}
	if !b.rateOK(status) {
		return
	}
	b.scored++
	if em.role == roleFailed {
		a.failed += inc
		return
	}
	a.requests += inc
	a.requestsSeen = true
	if re := em.src.failedWhen; re != nil {
		if v, ok := attrs.Get(em.src.cfg.FailedWhen.Attribute); ok && re.MatchString(v.AsString()) {
			a.failed += inc
		}
	}
}

func (p *anomalyProcessor) addEdgeLatency(ms *metricScope, em edgeMetric, attrs pcommon.Map, cumulative bool, start, ts pcommon.Timestamp, count, sum float64, hasSum bool, layout uint64) {
	b := &p.batch
	t := p.timestamp(ts)
	a := p.graph.acc(em.src, attrs, t)
	if a == nil {
		b.skip(skipNoEdge)
		return
	}
	st, ok := p.series(ms.id.Then(identity.Map(attrs)))
	if !ok {
		return
	}
	in, status := st.histogramInterval(cumulative, layout, int64(start), t, count, sum, b.counts)
	if !cumulative && status == rate.First {
		status = rate.OK // a delta point is an interval of its own: its count needs no rate
	}
	if !b.rateOK(status) {
		return
	}
	b.scored++
	a.latCount += in.Count
	a.latSum += in.Sum
	a.sumOK = a.sumOK && hasSum && !math.IsNaN(sum) && !math.IsInf(sum, 0)
}

// edgeFeatures collects the scores of one edge's features as they are computed.
type edgeFeatures struct {
	scored, hasRate bool
	rate, symptom   float64
}

func (f *edgeFeatures) add(score float64, symptom bool) {
	f.scored = true
	if symptom {
		f.symptom = max(f.symptom, score)
	} else {
		f.hasRate, f.rate = true, score
	}
}

// unified is the edge's unified score: its highest feature, without the request rate when the
// rates of most edges moved at once.
func (f *edgeFeatures) unified(commonMode bool) float64 {
	if commonMode {
		return f.symptom
	}
	return max(f.rate, f.symptom)
}

// A common-mode rate change is one where at least commonModeShare of the edges (and at least
// commonModeEdges) score commonModeScore or more on their request rate in the same batch. No
// single service causes that: it is a change of load at every entry, or of the telemetry itself
// (a collector or an agent that stalled and then sends a backlog of spans at once, which the
// servicegraph connector counts when they arrive). The rates' own scores are still emitted.
const (
	commonModeShare = 0.25
	commonModeEdges = 4
	commonModeScore = 5
)

// scoreEdges scores the edges the batch touched, then every service, and appends the scores to
// md in a resource of their own.
func (p *anomalyProcessor) scoreEdges(md pmetric.Metrics) {
	sg := p.graph
	if len(sg.order) == 0 {
		return
	}
	rm := md.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	out := emitter{metrics: sm.Metrics(), bands: p.cfg.Bands}
	var unified, rootCause pmetric.NumberDataPointSlice
	now := int64(0)
	rates, moved := 0, 0
	for _, a := range sg.order {
		now = max(now, a.ts)
		es := sg.edges[a.key]
		if es == nil {
			if !sg.graph.Observe(a.key, a.ts) {
				sg.refused++
				a.refused = true
				continue
			}
			es = &edgeState{}
			for _, m := range []*detector.Model{&es.rate, &es.errorRatio, &es.latency} {
				*m = *detector.New(sg.params)
			}
			sg.edges[a.key] = es
		}
		a.features = p.scoreEdge(&out, a, es)
		if a.ts > es.lastTS {
			es.lastTS = a.ts
		}
		if a.features.hasRate {
			rates++
			if a.features.rate >= commonModeScore {
				moved++
			}
		}
	}
	commonMode := moved >= commonModeEdges && float64(moved) >= commonModeShare*float64(rates)
	for _, a := range sg.order {
		f := &a.features
		if a.refused {
			continue
		}
		if !f.scored {
			sg.graph.Observe(a.key, a.ts)
			continue
		}
		u := f.unified(commonMode)
		sg.graph.Score(a.key, a.ts, servicegraph.EdgeScores{Unified: u, Symptom: f.symptom})
		if unified == (pmetric.NumberDataPointSlice{}) {
			unified = out.gauge(metricUnified, descriptionUnified)
		}
		dp := unified.AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(a.ts))
		dp.SetDoubleValue(u)
		a.attrs.CopyTo(dp.Attributes())
		dp.Attributes().PutStr(attrGroup, servicegraph.GroupEdge)
	}
	sg.expired += int64(sg.graph.Expire(now, func(k servicegraph.EdgeKey) { delete(sg.edges, k) }))

	for _, s := range sg.graph.Services(now) {
		if !s.Scored {
			continue
		}
		if unified == (pmetric.NumberDataPointSlice{}) {
			unified = out.gauge(metricUnified, descriptionUnified)
		}
		if rootCause == (pmetric.NumberDataPointSlice{}) {
			rootCause = out.gauge(servicegraph.MetricRootCause, "How likely the service named by service.name started what its callers suffer, 0 to 10: its own anomaly score less what its dependencies explain.")
		}
		for _, x := range []struct {
			dps   pmetric.NumberDataPointSlice
			value float64
		}{{unified, s.Score}, {rootCause, s.RootCause}} {
			dp := x.dps.AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(now))
			dp.SetDoubleValue(x.value)
			dp.Attributes().PutStr(sg.cfg.ServiceKey, s.Name)
			dp.Attributes().PutBool(servicegraph.AttrCustomerFacing, s.CustomerFacing)
			if x.dps == unified {
				dp.Attributes().PutStr(attrGroup, servicegraph.GroupService)
			}
		}
	}
	for _, a := range sg.order {
		*a = edgeAcc{} // drop the map into md
		sg.pool = append(sg.pool, a)
	}
	clear(sg.accs)
	sg.order = sg.order[:0]
}

// scoreEdge feeds the batch's sums of one edge to its models and emits a score per feature.
func (p *anomalyProcessor) scoreEdge(out *emitter, a *edgeAcc, es *edgeState) edgeFeatures {
	var f edgeFeatures
	src := a.src.cfg
	feed := func(m *detector.Model, v float64) (detector.Result, bool) {
		res, skip := m.Update(a.ts, v)
		switch skip {
		case detector.Accepted:
		case detector.SkipOutOfOrder:
			p.batch.skip(skipOutOfOrder)
			return res, false
		default:
			p.batch.skip(skipNotFinite)
			return res, false
		}
		return res, res.WarmedUp
	}
	// Each feature's score is the lower of its model's and its evidence test's: the model knows
	// how this edge's values usually move, the test how little a handful of requests prove (one
	// failure or one slow request in a quiet interval is chance).
	if a.requestsSeen && es.lastTS != 0 && a.ts > es.lastTS {
		seconds := float64(a.ts-es.lastTS) / 1e9
		test, tested := es.arrivals.Score(a.requests, seconds, evidenceDecay)
		if res, ok := feed(&es.rate, a.requests/seconds); ok {
			s := res.Score
			if tested {
				s = min(s, test)
			}
			out.emit(a.ts, a.attrs, src.Requests[0], featureRequestRate, s, res)
			f.add(s, false)
		}
	}
	if a.src.errors && a.requestsSeen && a.requests > 0 {
		test := es.failures.Score(a.failed, a.requests, evidenceDecay)
		if res, ok := feed(&es.errorRatio, min(a.failed/a.requests, 1)); ok {
			s := min(res.Score, test)
			name := src.Requests[0]
			if len(src.Failed) > 0 {
				name = src.Failed[0]
			}
			out.emit(a.ts, a.attrs, name, featureErrorRatio, s, res)
			f.add(s, true)
		}
	}
	// The mean, not a quantile: an edge's quantile comes from coarse buckets (the connector's
	// double from 0.1 s to 0.2 s) and jumps between them on healthy traffic.
	if a.latCount > 0 && a.sumOK {
		mean := a.latSum / a.latCount
		test, tested := es.latencyMean.Score(mean, a.latCount, evidenceDecay)
		if res, ok := feed(&es.latency, mean); ok {
			s := res.Score
			if tested {
				s = min(s, test)
			}
			out.emit(a.ts, a.attrs, src.Latency[0], featureLatency, s, res)
			f.add(s, true)
		}
	}
	return f
}

// dataPointCount is the number of points of a metric of any type.
func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
