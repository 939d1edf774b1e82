package rootcauseprocessor

import (
	"context"
	"math"
	"regexp"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/loop"
	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/internal/pending"
	"github.com/omen-otel/omen/internal/rate"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/edge"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/graph"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/incident"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/metadata"
)

const scopeName = "github.com/omen-otel/omen/processor/rootcauseprocessor"

// Reasons an edge point was added to no interval (the reason attribute of
// rootcause_points_skipped).
type skipReason uint8

const (
	skipNotFinite skipReason = iota
	skipNoValue
	skipNegative
	skipOutOfOrder
	skipCounterReset
	skipNoEdge
	skipLate
	skipLimit
	numSkipReasons
)

var skipReasonNames = [numSkipReasons]string{"not_finite", "no_value", "negative", "out_of_order", "counter_reset", "no_edge", "late", "limit"}

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
	index      int // in the config's edges: what a checkpoint names it by
	cfg        EdgeSourceConfig
	failedWhen *regexp.Regexp // nil without failed_when
	errors     bool           // the source can tell failed requests
	variant    identity.Hash  // starts an edge's variant: the connection type attribute's name
}

// edgeEntry is one edge: its learned state, where its points come from and the attributes its
// scores carry (client, server, connection type, dimensions).
type edgeEntry struct {
	key   graph.EdgeKey
	src   *edgeSource
	attrs pcommon.Map
	state *edge.State
	// pair is the edge's client→server pair and connection type, without the dimensions: the
	// edges that share it are siblings (the versions of a service being rolled out).
	pair pairKey
	// first is the timestamp of the edge's first point: a sibling counts from then on, whatever
	// the batches.
	first int64
	// version is its version_dimension's value, empty when it has none.
	version string
}

// pairKey identifies the edges of one client→server pair and connection type.
type pairKey struct {
	client, server string
	conn           uint64
}

// closedInterval is an edge's interval closed and waiting for the ranking of its time, which
// scores it.
type closedInterval struct {
	e      *edgeEntry
	in     edge.Interval
	scores edge.Scores
}

// rootCauseProcessor owns the service graph: the edges and their models, the topology, the
// ranking and the incidents. Everything is guarded by mu; the next consumer is called outside.
type rootCauseProcessor struct {
	cfg       *Config
	next      consumer.Metrics
	tel       *metadata.TelemetryBuilder
	logger    *zap.Logger
	params    *edge.Params
	metrics   map[string]edgeMetric
	sources   []*edgeSource   // in the config's order
	dimIDs    []identity.Hash // of the dimensions' names, in cfg.Dimensions' order
	skipAttrs [numSkipReasons]metric.MeasurementOption
	now       func() time.Time
	tickEvery time.Duration
	tolerance int64 // timestamp_tolerance, in nanoseconds

	mu        sync.Mutex
	graph     *graph.Graph
	edges     map[graph.EdgeKey]*edgeEntry
	siblings  map[pairKey][]*edgeEntry     // the edges of each pair; bounded by the edges
	queue     pending.Queue[graph.EdgeKey] // open intervals by arrival, for interval_wait
	openAt    map[int64]int                // open intervals per timestamp: the ranking's watermark
	closed    []closedInterval             // scored, waiting for their ranking
	incidents *incident.Tracker

	newest     int64 // the newest edge point's timestamp in the current call
	lastExpire int64 // the points' time of the last sweep for edge_ttl

	// counts flushed to telemetry once per call, and the histogram bounds' scratch
	accepted, expired, refused, opened int64
	skipped                            [numSkipReasons]int64
	bounds                             []float64
	ready                              []closedInterval // due's answer, reused
	maybeDue                           bool             // a timestamp's last open interval closed
	out                                pmetric.Metrics  // rankings not yet passed on
	rates                              []float64        // rank's scratch
	lenders                            []*edgeEntry     // score's scratch

	cp *checkpoint.Checkpointer[graphState]

	flusher *loop.Flusher
}

func newProcessor(set processor.Settings, cfg *Config, next consumer.Metrics) (*rootCauseProcessor, error) {
	params, err := edge.NewParams(cfg.Detector)
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &rootCauseProcessor{
		cfg:       cfg,
		next:      next,
		tel:       tel,
		logger:    set.Logger,
		params:    params,
		metrics:   map[string]edgeMetric{},
		now:       time.Now,
		tickEvery: max(cfg.IntervalWait/4, 10*time.Millisecond),
		tolerance: int64(cfg.TimestampTolerance),
		graph:     graph.New(cfg.MaxEdges, int64(cfg.EdgeTTL), cfg.ExternalClients),
		edges:     map[graph.EdgeKey]*edgeEntry{},
		siblings:  map[pairKey][]*edgeEntry{},
		openAt:    map[int64]int{},
		out:       pmetric.NewMetrics(),
		incidents: incident.New(incident.Config{
			Threshold:        cfg.Incidents.Threshold,
			ResolveThreshold: cfg.Incidents.ResolveThreshold,
			Calm:             int64(cfg.Incidents.Calm),
		}),
	}
	for _, d := range cfg.Dimensions {
		p.dimIDs = append(p.dimIDs, identity.String(d))
	}
	for i, ec := range cfg.Edges {
		src := &edgeSource{index: i, cfg: ec, errors: len(ec.Failed) > 0, variant: identity.String(ec.ConnectionType)}
		p.sources = append(p.sources, src)
		if ec.FailedWhen.Attribute != "" {
			src.failedWhen = regexp.MustCompile(ec.FailedWhen.Regexp) // validated
			src.errors = true
		}
		for _, n := range ec.Requests {
			p.metrics[n] = edgeMetric{src, roleRequests}
		}
		for _, n := range ec.Failed {
			p.metrics[n] = edgeMetric{src, roleFailed}
		}
		for _, n := range ec.Latency {
			p.metrics[n] = edgeMetric{src, roleLatency}
		}
	}
	for r := range p.skipAttrs {
		p.skipAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", skipReasonNames[r])))
	}
	if err := p.registerTelemetry(); err != nil {
		return nil, err
	}
	p.cp = p.newCheckpointer(set)
	return p, nil
}

func (p *rootCauseProcessor) registerTelemetry() error {
	observe := func(f func() int) func(context.Context, metric.Int64Observer) error {
		return func(_ context.Context, o metric.Int64Observer) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			o.Observe(int64(f()))
			return nil
		}
	}
	if err := p.tel.RegisterRootcauseServicesCallback(observe(func() int { n, _ := p.graph.Len(); return n })); err != nil {
		return err
	}
	if err := p.tel.RegisterRootcauseEdgesCallback(observe(func() int { _, n := p.graph.Len(); return n })); err != nil {
		return err
	}
	return p.tel.RegisterRootcauseIncidentsOpenCallback(observe(p.incidents.Len))
}

// Start restores the graph from its checkpoint (with storage set), then starts the ticker that
// closes the intervals whose remaining points are overdue.
func (p *rootCauseProcessor) Start(ctx context.Context, host component.Host) error {
	if err := p.cp.Start(ctx, host); err != nil {
		return err
	}
	p.flusher = loop.StartFlusher(p.tickEvery, p.flush, p.next, p.logger, "root-cause scores")
	return nil
}

// Shutdown stops the ticker, then scores and ranks every open interval: the next consumers are
// still running while a processor shuts down.
func (p *rootCauseProcessor) Shutdown(ctx context.Context) error {
	p.flusher.Stop(ctx)
	err := p.cp.Shutdown(ctx)
	p.tel.Shutdown()
	return err
}

func (*rootCauseProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// ConsumeMetrics adds the edge points to their edges' intervals and the services' own scores to
// the graph, appends the rankings whose intervals are complete to md and passes md on.
func (p *rootCauseProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	p.mu.Lock()
	now := p.now().UnixNano()
	p.newest = 0
	rms := md.ResourceMetrics()
	for i, n := 0, rms.Len(); i < n; i++ { // only the resources that came in
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		resID := identity.Map(res)
		for _, sm := range rm.ScopeMetrics().All() {
			scopeID := resID.Then(identity.String(sm.Scope().Name())).Then(identity.String(sm.Scope().Version()))
			for _, m := range sm.Metrics().All() {
				if em, ok := p.metrics[m.Name()]; ok {
					p.addEdgeMetric(scopeID.Then(identity.String(m.Name())), m, em, now)
				} else if m.Name() == names.Unified && m.Type() == pmetric.MetricTypeGauge {
					p.addOwnScores(res, m.Gauge().DataPoints())
				}
			}
		}
	}
	p.rankDue()
	// Edges expire by the points' time, also while nothing is ranked (every point refused); a
	// sweep visits every edge, so it runs once per second of the points' time at most.
	if p.newest >= p.lastExpire+int64(time.Second) {
		p.lastExpire = p.newest
		p.expired += int64(p.graph.Expire(p.newest, p.forget))
	}
	p.flushStats(ctx)
	out := p.takeOutput()
	p.mu.Unlock()
	out.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	return p.next.ConsumeMetrics(ctx, md)
}

// flush closes the intervals that waited interval_wait (all of them when all is set) and ranks
// what is complete.
func (p *rootCauseProcessor) flush(all bool) pmetric.Metrics {
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := p.now().Add(-p.cfg.IntervalWait).UnixNano()
	if all {
		deadline = math.MaxInt64
	}
	p.queue.Due(deadline, func(k graph.EdgeKey, ts int64) {
		if e := p.edges[k]; e != nil && e.state.Open.Open && e.state.Open.TS == ts {
			p.closeInterval(e)
		}
	})
	p.rank(p.due(all))
	p.flushStats(context.Background())
	return p.takeOutput()
}

// rankDue ranks what no open interval precedes any more: called whenever a timestamp's last
// open interval closes, so a request holding several flushes is ranked flush by flush.
func (p *rootCauseProcessor) rankDue() {
	if p.maybeDue {
		p.maybeDue = false
		p.rank(p.due(false))
	}
}

// takeOutput returns the rankings made since it was last called.
func (p *rootCauseProcessor) takeOutput() pmetric.Metrics {
	out := p.out
	p.out = pmetric.NewMetrics()
	return out
}

func (p *rootCauseProcessor) flushStats(ctx context.Context) {
	if p.accepted > 0 {
		p.tel.RootcausePoints.Add(ctx, p.accepted)
		p.accepted = 0
	}
	for r, n := range p.skipped {
		if n > 0 {
			p.tel.RootcausePointsSkipped.Add(ctx, n, p.skipAttrs[r])
			p.skipped[r] = 0
		}
	}
	if p.expired > 0 {
		p.tel.RootcauseEdgesExpired.Add(ctx, p.expired)
		p.expired = 0
	}
	if p.refused > 0 {
		p.tel.RootcauseEdgesRefused.Add(ctx, p.refused)
		p.refused = 0
	}
	if p.opened > 0 {
		p.tel.RootcauseIncidentsOpened.Add(ctx, p.opened)
		p.opened = 0
	}
}

// addOwnScores records the unified scores of the anomaly processor's groups that name a
// service: they add to that service's own score.
func (p *rootCauseProcessor) addOwnScores(res pcommon.Map, dps pmetric.NumberDataPointSlice) {
	for _, dp := range dps.All() {
		attrs := dp.Attributes()
		if g, ok := attrs.Get(names.Group); ok && (g.Str() == names.GroupEdge || g.Str() == names.GroupService) {
			continue
		}
		svc, ok := attrs.Get(p.cfg.ServiceKey)
		if !ok {
			if svc, ok = res.Get(p.cfg.ServiceKey); !ok {
				continue
			}
		}
		if v := numberValue(dp); !math.IsNaN(v) && !math.IsInf(v, 0) {
			p.graph.Own(svc.AsString(), int64(dp.Timestamp()), v)
		}
	}
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeInt:
		return float64(dp.IntValue())
	case pmetric.NumberDataPointValueTypeDouble:
		return dp.DoubleValue()
	}
	return math.NaN()
}

// addEdgeMetric adds the points of one edge metric to their edges' intervals; id is the identity
// of its resource, scope and name.
func (p *rootCauseProcessor) addEdgeMetric(id identity.Hash, m pmetric.Metric, em edgeMetric, now int64) {
	switch {
	case em.role != roleLatency && m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic():
		delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
		for _, dp := range m.Sum().DataPoints().All() {
			p.addCount(id, em, dp, delta, now)
		}
	case em.role == roleLatency && m.Type() == pmetric.MetricTypeHistogram:
		// Only the count and the sum are used (the mean latency is scored); the bounds tell a
		// histogram whose buckets changed, which restarts.
		h := m.Histogram()
		cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		for _, dp := range h.DataPoints().All() {
			p.bounds = p.bounds[:0]
			for _, x := range dp.ExplicitBounds().All() {
				p.bounds = append(p.bounds, x)
			}
			p.addLatency(id, em, dp.Attributes(), cumulative, dp.StartTimestamp(), dp.Timestamp(),
				float64(dp.Count()), dp.Sum(), dp.HasSum(), layoutOf(p.bounds), now)
		}
	case em.role == roleLatency && m.Type() == pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		cumulative := h.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		for _, dp := range h.DataPoints().All() {
			p.addLatency(id, em, dp.Attributes(), cumulative, dp.StartTimestamp(), dp.Timestamp(),
				float64(dp.Count()), dp.Sum(), dp.HasSum(), uint64(uint32(dp.Scale())), now)
		}
	default:
		p.skipped[skipNoEdge] += int64(dataPointCount(m))
	}
}

func (p *rootCauseProcessor) addCount(id identity.Hash, em edgeMetric, dp pmetric.NumberDataPoint, delta bool, now int64) {
	v := numberValue(dp)
	switch {
	case dp.ValueType() == pmetric.NumberDataPointValueTypeEmpty:
		p.skipped[skipNoValue]++
		return
	case math.IsNaN(v) || math.IsInf(v, 0):
		p.skipped[skipNotFinite]++
		return
	case v < 0:
		p.skipped[skipNegative]++
		return
	}
	attrs := dp.Attributes()
	ts := p.timestamp(dp.Timestamp(), now)
	e, inInterval := p.edgeOf(em.src, attrs, ts, now)
	if e == nil {
		return
	}
	s := e.state.SeriesOf(id.Then(identity.Map(attrs)))
	if s == nil {
		p.skipped[skipLimit]++
		return
	}
	var inc float64
	var status rate.Status
	if delta {
		inc = v
		if _, status = s.Delta.Next(int64(dp.StartTimestamp()), ts, v); status == rate.First {
			status = rate.OK // a delta point is an increase of its own
		}
	} else {
		inc, status = s.Counter.Increase(int64(dp.StartTimestamp()), ts, v)
		if status == rate.First && p.countsSinceSibling(e, ts) {
			inc, status = v, rate.OK
		}
	}
	if !p.rateOK(status) {
		return
	}
	// A late point still moved its counter on, so the next interval does not count it again.
	if !inInterval {
		p.skipped[skipLate]++
		return
	}
	p.accepted++
	if em.role == roleFailed {
		e.state.AddFailed(inc)
		return
	}
	failed := 0.0
	if re := em.src.failedWhen; re != nil {
		if v, ok := attrs.Get(em.src.cfg.FailedWhen.Attribute); ok && re.MatchString(v.AsString()) {
			failed = inc
		}
	}
	e.state.AddRequests(inc, failed)
}

func (p *rootCauseProcessor) addLatency(id identity.Hash, em edgeMetric, attrs pcommon.Map, cumulative bool, start, ts pcommon.Timestamp, count, sum float64, hasSum bool, layout uint64, now int64) {
	t := p.timestamp(ts, now)
	e, inInterval := p.edgeOf(em.src, attrs, t, now)
	if e == nil {
		return
	}
	s := e.state.SeriesOf(id.Then(identity.Map(attrs)))
	if s == nil {
		p.skipped[skipLimit]++
		return
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		hasSum = false
	}
	var in rate.Interval
	var status rate.Status
	if cumulative {
		if s.Hist == nil {
			s.Hist = &rate.Histogram{}
		}
		in, status = s.Hist.Next(layout, int64(start), t, count, sum, nil)
		if status == rate.First && p.countsSinceSibling(e, t) {
			in, status = rate.Interval{Count: count, Sum: sum}, rate.OK
		}
	} else {
		in = rate.Interval{Count: count, Sum: sum}
		if _, status = s.Delta.Next(int64(start), t, count); status == rate.First {
			status = rate.OK // a delta point is an interval of its own: its count needs no rate
		}
	}
	if !p.rateOK(status) {
		return
	}
	if !inInterval {
		p.skipped[skipLate]++
		return
	}
	p.accepted++
	e.state.AddLatency(in.Count, in.Sum, hasSum)
}

// rateOK counts why a counter or histogram point gave no increase.
func (p *rootCauseProcessor) rateOK(s rate.Status) bool {
	switch s {
	case rate.OK:
		return true
	case rate.OutOfOrder:
		p.skipped[skipOutOfOrder]++
	case rate.Reset:
		p.skipped[skipCounterReset]++
	}
	return false // rate.First starts the series: nothing to count
}

// timestamp is the point's time, or the time of arrival for a point without one.
func (p *rootCauseProcessor) timestamp(ts pcommon.Timestamp, now int64) int64 {
	if ts == 0 {
		return now
	}
	return int64(ts)
}

// edgeOf returns the edge a point belongs to, learning it when new, and whether the point is
// part of the edge's open interval: a point newer than that interval closes it and opens the
// next; an older one is late. It returns nil when the point names no edge or the graph is full.
func (p *rootCauseProcessor) edgeOf(src *edgeSource, attrs pcommon.Map, ts, now int64) (*edgeEntry, bool) {
	client, ok1 := attrs.Get(src.cfg.Client)
	server, ok2 := attrs.Get(src.cfg.Server)
	if !ok1 || !ok2 || client.AsString() == "" || server.AsString() == "" {
		p.skipped[skipNoEdge]++
		return nil, false
	}
	variant := src.variant
	conn, hasConn := pcommon.Value{}, false
	if src.cfg.ConnectionType != "" {
		if conn, hasConn = attrs.Get(src.cfg.ConnectionType); hasConn {
			variant = variant.Then(identity.Value(conn))
		}
	}
	pair := pairKey{client: client.AsString(), server: server.AsString(), conn: variant.Hi ^ variant.Lo}
	for i, d := range p.cfg.Dimensions {
		if v, ok := attrs.Get(d); ok {
			variant = variant.Then(p.dimIDs[i]).Then(identity.Value(v))
		}
	}
	key := graph.EdgeKey{Client: client.AsString(), Server: server.AsString(), Variant: variant.Hi ^ variant.Lo}
	p.newest = max(p.newest, ts)
	e := p.edges[key]
	if !p.graph.Observe(key, ts) {
		p.refused++
		return nil, false
	}
	if e == nil {
		e = &edgeEntry{key: key, src: src, attrs: pcommon.NewMap(), state: edge.New(p.params), pair: pair, first: ts}
		e.attrs.PutStr(names.Client, key.Client)
		e.attrs.PutStr(names.Server, key.Server)
		if hasConn {
			conn.CopyTo(e.attrs.PutEmpty(names.ConnectionType))
		}
		for _, d := range p.cfg.Dimensions {
			if v, ok := attrs.Get(d); ok {
				v.CopyTo(e.attrs.PutEmpty(d))
			}
		}
		if v, ok := e.attrs.Get(p.cfg.VersionDimension); ok && p.cfg.VersionDimension != "" {
			e.version = v.AsString()
		}
		p.edges[key] = e
		p.siblings[pair] = append(p.siblings[pair], e)
	}
	open, tol := &e.state.Open, p.tolerance
	switch {
	case open.Open && ts >= open.TS-tol && ts <= open.TS+tol:
		return e, true
	case open.Open && ts > open.TS+tol:
		p.closeInterval(e)
	case open.Open || ts <= e.state.LastTS+tol:
		return e, false
	}
	e.state.Begin(ts, now)
	p.queue.Push(key, ts, now)
	p.openAt[ts]++
	p.rankDue()
	return e, true
}

// countsSinceSibling says whether the first cumulative point of a series of e, at ts, counts
// only requests of e's first interval: e is new at ts and a sibling was seen an interval before.
// That is a canary's edge beside the stable version's: the connector flushes every series it
// holds at each flush, so a series it did not flush at the sibling's previous interval began
// after it, and its whole count belongs to this interval. Without this the canary's first flush
// would be lost, while its callers' edges already show what it does to them. After a restart
// every edge is new and none counts so.
func (p *rootCauseProcessor) countsSinceSibling(e *edgeEntry, ts int64) bool {
	if ts > e.first+p.tolerance {
		return false
	}
	for _, s := range p.siblings[e.pair] {
		if s != e && s.first < e.first-p.tolerance {
			return true
		}
	}
	return false
}

func (p *rootCauseProcessor) closeInterval(e *edgeEntry) {
	ts := e.state.Open.TS
	if p.openAt[ts]--; p.openAt[ts] <= 0 {
		delete(p.openAt, ts)
		p.maybeDue = true
	}
	p.closed = append(p.closed, closedInterval{e: e, in: e.state.Take()})
}

// due takes the closed intervals that no open interval precedes (all of them with all): every
// edge has had its say on their time, so they can be ranked.
func (p *rootCauseProcessor) due(all bool) []closedInterval {
	if len(p.closed) == 0 {
		return nil
	}
	watermark := int64(math.MaxInt64 / 2)
	if !all {
		for ts := range p.openAt {
			watermark = min(watermark, ts)
		}
	}
	ready := p.ready[:0]
	kept := p.closed[:0]
	for _, c := range p.closed {
		// An open interval within the tolerance may still be of the same flush.
		if c.in.TS < watermark-p.tolerance {
			ready = append(ready, c)
		} else {
			kept = append(kept, c)
		}
	}
	clear(p.closed[len(kept):])
	p.closed = kept
	p.ready = ready
	return ready
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

// layoutOf identifies explicit bucket bounds, so a histogram whose bounds change restarts.
func layoutOf(bounds []float64) uint64 {
	h := uint64(len(bounds))
	for _, x := range bounds {
		h = (h ^ math.Float64bits(x)) * 0x100000001b3
	}
	return h
}
