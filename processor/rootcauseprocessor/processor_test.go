package rootcauseprocessor

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/metadatatest"
)

// t0 is the data's clock; the processor's own clock (for interval_wait) starts there too.
var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const step = 10 * time.Second

type testProcessor struct {
	t    *testing.T
	p    *rootCauseProcessor
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

// interval feeds one flush of the connector, lets the processor's clock run on to the next
// (past interval_wait), and returns the ranking that completed.
func (tp *testProcessor) interval(md pmetric.Metrics) pmetric.Metrics {
	tp.t.Helper()
	tp.consume(md)
	tp.now = tp.now.Add(step)
	return tp.p.flush(false)
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

// connectorSim produces what contrib's servicegraph connector flushes for a small shop:
// cumulative request and failure counters split by the failed flag, and server-latency
// histograms, for user → frontend → {checkout → {payments, db}, search → db}. With versioned,
// every edge carries the server's version as the connector's dimensions: [service.version] does,
// and canary, once started, sends a share of one service's requests to a new version.
type connectorSim struct {
	rng       *rand.Rand
	self      map[string]float64 // median own processing time, seconds
	calls     map[string][]string
	rate      map[string]float64 // requests per second reaching each service
	errs      map[string]float64 // failure probability of each service
	slow      map[string]float64 // latency factor of a faulty service
	versioned bool
	canary    simCanary
	totals    map[[4]string]int64 // client, server, version, failed
	hist      map[[3]string][]uint64
	sums      map[[3]string]float64
}

// simCanary is a new version of one service taking share of its requests; only it is slow
// (factor) or failing (errs added).
type simCanary struct {
	service      string
	share        float64
	factor, errs float64
}

const (
	stableVersion = "1.0.0"
	canaryVersion = "2.0.0"
)

var connectorBounds = []float64{0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1.4, 2, 5, 10, 15}

func newConnectorSim(seed uint64) *connectorSim {
	return &connectorSim{
		rng:    rand.New(rand.NewPCG(seed, 7)),
		self:   map[string]float64{"frontend": 0.01, "checkout": 0.02, "payments": 0.03, "db": 0.005, "search": 0.015},
		calls:  map[string][]string{"user": {"frontend"}, "frontend": {"checkout", "search"}, "checkout": {"payments", "db"}, "search": {"db"}},
		rate:   map[string]float64{"frontend": 40, "checkout": 10, "payments": 10, "search": 30, "db": 40},
		errs:   map[string]float64{"frontend": 0.002, "checkout": 0.002, "payments": 0.005, "db": 0.001, "search": 0.002},
		slow:   map[string]float64{},
		totals: map[[4]string]int64{},
		hist:   map[[3]string][]uint64{},
		sums:   map[[3]string]float64{},
	}
}

// own is a service's own time and failure probability, as its canary version when canary is set.
func (s *connectorSim) own(svc string, canary bool) (self, errs float64) {
	self, errs = s.self[svc]*max(1, s.slow[svc]), s.errs[svc]
	if canary {
		self *= max(1, s.canary.factor)
		errs += s.canary.errs
	}
	return self, errs
}

// latency is the typical server time of a service (of its canary version with canary): its own
// time and that of what it calls, each callee's versions weighed by their shares.
func (s *connectorSim) latency(svc string, canary bool) float64 {
	l, _ := s.own(svc, canary)
	for _, c := range s.calls[svc] {
		l += s.mixed(c, s.latency)
	}
	return l
}

func (s *connectorSim) failure(svc string, canary bool) float64 {
	_, p := s.own(svc, canary)
	for _, c := range s.calls[svc] {
		p += s.mixed(c, s.failure) / 2 // half the failures of a dependency reach the caller
	}
	return min(p, 1)
}

// mixed is f of a callee as its callers see it: its stable version's and its canary's by share.
func (s *connectorSim) mixed(svc string, f func(string, bool) float64) float64 {
	if s.canary.service != svc {
		return f(svc, false)
	}
	return (1-s.canary.share)*f(svc, false) + s.canary.share*f(svc, true)
}

// flush advances the simulation by one interval of step and returns the connector's output.
func (s *connectorSim) flush(i int) pmetric.Metrics {
	var edges [][2]string
	for client, servers := range s.calls {
		for _, server := range servers {
			edges = append(edges, [2]string{client, server})
		}
	}
	sort.Slice(edges, func(a, b int) bool { return edges[a][0]+edges[a][1] < edges[b][0]+edges[b][1] })
	stable := ""
	if s.versioned {
		stable = stableVersion
	}
	for _, e := range edges {
		server := e[1]
		callers := 0
		for _, ss := range s.calls {
			for _, x := range ss {
				if x == server {
					callers++
				}
			}
		}
		n := int(s.rate[server]/float64(callers)*step.Seconds() + s.rng.NormFloat64()*math.Sqrt(s.rate[server]*step.Seconds()/float64(callers)))
		for range n {
			// The draw is made for the canary's service only, so runs without one are as before.
			canary := s.canary.service == server && s.rng.Float64() < s.canary.share
			version := stable
			if canary {
				version = canaryVersion
			}
			k := [3]string{e[0], e[1], version}
			if s.hist[k] == nil {
				s.hist[k] = make([]uint64, len(connectorBounds)+1)
			}
			failed := s.rng.Float64() < s.failure(server, canary)
			s.totals[[4]string{e[0], e[1], version, boolString(failed)}]++
			d := s.latency(server, canary) * math.Exp(0.3*s.rng.NormFloat64())
			s.hist[k][sort.SearchFloat64s(connectorBounds, d)]++
			s.sums[k] += d
		}
	}

	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("traces_service_graph")
	// The connector reads the clock for every point: a flush's points are microseconds apart.
	base := t0.Add(time.Duration(i) * step)
	n := 0
	stamp := func() pcommon.Timestamp {
		n++
		return pcommon.NewTimestampFromTime(base.Add(time.Duration(n) * 3 * time.Microsecond))
	}
	total := sm.Metrics().AppendEmpty()
	total.SetName("traces_service_graph_request_total")
	failed := sm.Metrics().AppendEmpty()
	failed.SetName("traces_service_graph_request_failed_total")
	for _, m := range []pmetric.Metric{total, failed} {
		m.SetEmptySum().SetIsMonotonic(true)
		m.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	lat := sm.Metrics().AppendEmpty()
	lat.SetName("traces_service_graph_request_server")
	lat.SetUnit("s")
	lat.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, e := range edges {
		// The connector flushes every series it has seen, the canary's from its first request.
		for _, version := range []string{stable, canaryVersion} {
			k := [3]string{e[0], e[1], version}
			if s.hist[k] == nil {
				continue
			}
			for _, f := range []bool{false, true} {
				c, ok := s.totals[[4]string{e[0], e[1], version, boolString(f)}]
				if !ok {
					continue
				}
				dp := total.Sum().DataPoints().AppendEmpty()
				edgeAttrs(dp.Attributes(), e, version, f)
				dp.SetTimestamp(stamp())
				dp.SetIntValue(c)
				if f {
					dp := failed.Sum().DataPoints().AppendEmpty()
					edgeAttrs(dp.Attributes(), e, version, f)
					dp.SetTimestamp(stamp())
					dp.SetIntValue(c)
				}
			}
			dp := lat.Histogram().DataPoints().AppendEmpty()
			edgeAttrs(dp.Attributes(), e, version, false)
			dp.SetTimestamp(stamp())
			dp.ExplicitBounds().FromRaw(connectorBounds)
			dp.BucketCounts().FromRaw(s.hist[k])
			var count uint64
			for _, c := range s.hist[k] {
				count += c
			}
			dp.SetCount(count)
			dp.SetSum(s.sums[k])
		}
	}
	return md
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func edgeAttrs(m pcommon.Map, e [2]string, version string, failed bool) {
	m.PutStr("client", e[0])
	m.PutStr("server", e[1])
	connection := ""
	if e[0] == "user" {
		connection = "virtual_node"
	}
	m.PutStr("connection_type", connection)
	m.PutBool("failed", failed)
	if version != "" {
		m.PutStr("server_service.version", version)
	}
}

// serviceScores reads the service graph's per-service output of one ranking.
func serviceScores(t *testing.T, md pmetric.Metrics) (score, rootCause map[string]float64, customerFacing map[string]bool) {
	score, rootCause, customerFacing = map[string]float64{}, map[string]float64{}, map[string]bool{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				for _, dp := range m.Gauge().DataPoints().All() {
					svc, ok := dp.Attributes().Get("service.name")
					if !ok {
						continue
					}
					switch g, _ := dp.Attributes().Get(names.Group); {
					case m.Name() == names.Unified && g.Str() == names.GroupService:
						score[svc.Str()] = dp.DoubleValue()
					case m.Name() == names.RootCause:
						rootCause[svc.Str()] = dp.DoubleValue()
					case m.Name() == names.CustomerFacing:
						customerFacing[svc.Str()] = dp.DoubleValue() == 1
					}
				}
			}
		}
	}
	require.Equal(t, len(score), len(customerFacing), "every scored service says whether it is customer-facing")
	return score, rootCause, customerFacing
}

func TestServiceGraphFindsTheSlowDependency(t *testing.T) {
	tp := newTestProcessor(t, testConfig())
	sim := newConnectorSim(1)
	i := 0
	maxCalm := 0.0
	for ; i < 300; i++ {
		score, _, _ := serviceScores(t, tp.interval(sim.flush(i)))
		if i > 40 {
			for _, s := range score {
				maxCalm = max(maxCalm, s)
			}
		}
	}
	assert.Less(t, maxCalm, 7.0, "no service looks anomalous without a fault")

	out := tp.interval(sim.flush(i))
	score, rootCause, customerFacing := serviceScores(t, out)
	assert.Equal(t, map[string]bool{"frontend": true, "checkout": false, "payments": false, "db": false, "search": false}, customerFacing,
		"frontend is called only by the user virtual node")
	assert.Len(t, score, 5, "every service is scored, the user virtual node is not")

	// The edge's scores carry the edge's ends, not the failed flag that splits its series.
	edge := points(out, names.Unified, names.Server, "payments")
	require.Len(t, edge, 1)
	assert.Equal(t, map[string]any{"client": "checkout", "server": "payments", "connection_type": "", names.Group: names.GroupEdge}, edge[0].Attributes().AsRaw())
	features := map[string]bool{}
	for _, dp := range points(out, names.Score, names.Server, "payments") {
		f, _ := dp.Attributes().Get(names.Feature)
		features[f.Str()] = true
	}
	assert.Equal(t, map[string]bool{"request_rate": true, "error_ratio": true, "latency_mean": true}, features)

	sim.slow["payments"] = 5
	detected := false
	for j := 0; j < 6 && !detected; j++ {
		i++
		score, rootCause, _ = serviceScores(t, tp.interval(sim.flush(i)))
		detected = score["payments"] >= 7
	}
	require.True(t, detected, "a 5× slower payments scores 7 within six intervals: %v", score)
	assert.Greater(t, score["checkout"], 5.0, "checkout suffers from payments")
	for _, svc := range []string{"frontend", "checkout", "search", "db"} {
		assert.Greater(t, rootCause["payments"], rootCause[svc]+3, "payments outranks %s: %v", svc, rootCause)
	}
}

func TestServiceGraphFindsTheFailingDependency(t *testing.T) {
	tp := newTestProcessor(t, testConfig())
	sim := newConnectorSim(2)
	i := 0
	for ; i < 200; i++ {
		tp.interval(sim.flush(i))
	}
	sim.errs["db"] = 0.3
	var score, rootCause map[string]float64
	for j := 0; j < 3; j++ {
		i++
		score, rootCause, _ = serviceScores(t, tp.interval(sim.flush(i)))
	}
	assert.GreaterOrEqual(t, score["db"], 7.0, "%v", score)
	for _, svc := range []string{"frontend", "checkout", "search", "payments"} {
		assert.Greater(t, rootCause["db"], rootCause[svc], "db outranks %s: %v", svc, rootCause)
	}
}

func TestServiceGraphBoundAndTelemetry(t *testing.T) {
	cfg := testConfig()
	cfg.MaxEdges = 3
	cfg.EdgeTTL = time.Minute
	tp := newTestProcessor(t, cfg)
	sim := newConnectorSim(3)
	tp.interval(sim.flush(0))
	metadatatest.AssertEqualRootcauseEdges(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualRootcauseServices(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 4}}, metricdatatest.IgnoreTimestamp())
	// Every point of the three edges not learned is refused: two to four each (all requests,
	// failed ones when there were any, latency).
	metadatatest.AssertEqualRootcauseEdgesRefused(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 10}}, metricdatatest.IgnoreTimestamp())

	// Only the search → db edge keeps reporting: it is refused until the three edges held expire
	// after edge_ttl (in the sixth batch, at 60 s and a few microseconds, after its points were
	// refused once more).
	for i := 1; i <= 8; i++ {
		md := sim.flush(i)
		for _, m := range md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
			dps := numberOrHistogramPoints(m)
			dps(func(a pcommon.Map) bool {
				c, _ := a.Get("client")
				return c.Str() != "search"
			})
		}
		tp.consume(md)
	}
	metadatatest.AssertEqualRootcauseEdges(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualRootcauseEdgesExpired(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	// and search → db's four points in each of the six batches before the expiry.
	metadatatest.AssertEqualRootcauseEdgesRefused(t, tp.tel, []metricdata.DataPoint[int64]{{Value: 10 + 6*4}}, metricdatatest.IgnoreTimestamp())
}

// numberOrHistogramPoints returns a function removing the points of m whose attributes match.
func numberOrHistogramPoints(m pmetric.Metric) func(func(pcommon.Map) bool) {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return func(f func(pcommon.Map) bool) {
			m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return f(dp.Attributes()) })
		}
	default:
		return func(f func(pcommon.Map) bool) {
			m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return f(dp.Attributes()) })
		}
	}
}

func TestServiceGraphSkipsPointsWithoutEdge(t *testing.T) {
	tp := newTestProcessor(t, testConfig())
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("traces_service_graph_request_total")
	m.SetEmptySum().SetIsMonotonic(true)
	m.Sum().DataPoints().AppendEmpty().SetIntValue(3) // no client, no server
	g := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	g.SetName("traces_service_graph_request_failed_total")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1) // a gauge is no counter
	out := tp.consume(md)
	assert.Equal(t, 2, out.MetricCount(), "nothing is added")
	tp.now = tp.now.Add(step)
	assert.Equal(t, 0, tp.p.flush(false).MetricCount(), "nothing is ranked")
	metadatatest.AssertEqualRootcausePointsSkipped(t, tp.tel, []metricdata.DataPoint[int64]{{
		Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "no_edge")),
	}}, metricdatatest.IgnoreTimestamp())
}

// TestServiceGraphIgnoresCommonModeRateShifts: when the request rates of most edges jump at
// once (a collector that sends a backlog of spans), the rates' own scores say so, but no service
// is flagged for it.
func TestServiceGraphIgnoresCommonModeRateShifts(t *testing.T) {
	tp := newTestProcessor(t, testConfig())
	sim := newConnectorSim(4)
	i := 0
	for ; i < 200; i++ {
		tp.interval(sim.flush(i))
	}
	for svc := range sim.rate {
		sim.rate[svc] *= 3
	}
	out := tp.interval(sim.flush(i))
	rateScores := 0
	for _, dp := range points(out, names.Score, names.Feature, names.FeatureRequestRate) {
		if dp.DoubleValue() >= 7 {
			rateScores++
		}
	}
	assert.GreaterOrEqual(t, rateScores, 4, "the rates' own scores show the jump")
	score, _, _ := serviceScores(t, out)
	for svc, s := range score {
		assert.Less(t, s, 7.0, "%s is not flagged for a change of every edge's rate", svc)
	}
}
