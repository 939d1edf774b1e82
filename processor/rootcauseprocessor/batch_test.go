package rootcauseprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/anomalyprocessor"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/metadatatest"
)

// counting counts the points that pass, so a test can wait for an asynchronous batch processor
// to have delivered everything.
type counting struct {
	next consumer.Metrics
	n    atomic.Int64
}

// ConsumeMetrics counts once the next consumer is done with md: what it adds is not counted.
func (c *counting) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	n := int64(md.DataPointCount())
	err := c.next.ConsumeMetrics(ctx, md)
	c.n.Add(n)
	return err
}

func (*counting) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// chain is anomaly → (batch →) root_cause → sink, with root_cause's clock in the test's hands.
type chain struct {
	t        *testing.T
	anomaly  processor.Metrics
	out, in  *counting
	rc       *rootCauseProcessor
	sink     *consumertest.MetricsSink
	now      time.Time
	shutdown []func()
}

func newChain(t *testing.T, cfg *Config, viaBatch bool) *chain {
	ctx := context.Background()
	c := &chain{t: t, sink: new(consumertest.MetricsSink), now: t0}
	rc, err := newProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, c.sink)
	require.NoError(t, err)
	rc.now = func() time.Time { return c.now }
	c.rc = rc
	c.in = &counting{next: rc}
	next := consumer.Metrics(c.in)
	if viaBatch {
		bf := batchprocessor.NewFactory()
		bcfg := bf.CreateDefaultConfig()
		// No timeout: every request is sent on at once, cut into requests of at most 100 points.
		require.NoError(t, confmap.NewFromStringMap(map[string]any{"timeout": "0s", "send_batch_max_size": 100}).Unmarshal(bcfg))
		bp, err := bf.CreateMetrics(ctx, processortest.NewNopSettings(bf.Type()), bcfg, c.in)
		require.NoError(t, err)
		require.NoError(t, bp.Start(ctx, componenttest.NewNopHost()))
		c.shutdown = append(c.shutdown, func() { require.NoError(t, bp.Shutdown(ctx)) })
		next = bp
	}
	c.out = &counting{next: next}
	af := anomalyprocessor.NewFactory()
	acfg := af.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"score_ungrouped": false,
		// Nothing closes by the wall clock in this test: a key's interval closes when its next
		// timestamp arrives, and at shutdown.
		"interval_wait": "1h",
		"groups":        []any{map[string]any{"name": "service", "metrics": []any{map[string]any{"regexp": `^svc\.`}}, "key": []any{"service.name"}}},
		"detector":      map[string]any{"min_samples": 20},
	}).Unmarshal(acfg))
	c.anomaly, err = af.CreateMetrics(ctx, processortest.NewNopSettings(af.Type()), acfg, c.out)
	require.NoError(t, err)
	require.NoError(t, c.anomaly.Start(ctx, componenttest.NewNopHost()))
	return c
}

// feed sends md into the chain and waits until everything anomaly passed on reached root_cause.
func (c *chain) feed(md pmetric.Metrics) {
	require.NoError(c.t, c.anomaly.ConsumeMetrics(context.Background(), md))
	c.delivered()
}

func (c *chain) delivered() {
	require.Eventually(c.t, func() bool { return c.in.n.Load() == c.out.n.Load() }, 10*time.Second, time.Millisecond)
}

// tick lets root_cause's clock run on by one interval, as between two flushes of the connector.
func (c *chain) tick() {
	c.now = c.now.Add(step)
	md := c.rc.flush(false)
	require.NoError(c.t, c.sink.ConsumeMetrics(context.Background(), md))
}

func (c *chain) stop() {
	require.NoError(c.t, c.anomaly.Shutdown(context.Background()))
	c.delivered()
	for _, f := range c.shutdown {
		f()
	}
	require.NoError(c.t, c.sink.ConsumeMetrics(context.Background(), c.rc.flush(true)))
}

// scores lists every anomaly.* point the chain emitted, one line each, sorted.
func (c *chain) scores() []string {
	var out []string
	for _, md := range c.sink.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if len(m.Name()) < len(names.Prefix) || m.Name()[:len(names.Prefix)] != names.Prefix {
						continue
					}
					for _, dp := range m.Gauge().DataPoints().All() {
						out = append(out, fmt.Sprintf("%s %d %v %v %v", m.Name(), dp.Timestamp(), rm.Resource().Attributes().AsRaw(), dp.Attributes().AsRaw(), dp.DoubleValue()))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// serviceMetrics is one interval of each service's own gauge, svc.cpu; faulty services run hot.
func serviceMetrics(rng *rand.Rand, i int, hot map[string]bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, svc := range []string{"checkout", "db", "frontend", "payments", "search"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", svc)
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("svc.cpu")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step)))
		v := 0.3 + 0.02*rng.NormFloat64()
		if hot[svc] {
			v = 0.9
		}
		dp.SetDoubleValue(v)
	}
	return md
}

// onePointEach cuts md into requests of one point each, in order.
func onePointEach(md pmetric.Metrics) []pmetric.Metrics {
	var out []pmetric.Metrics
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				for k := range dataPointCount(m) {
					one := pmetric.NewMetrics()
					orm := one.ResourceMetrics().AppendEmpty()
					rm.Resource().CopyTo(orm.Resource())
					osm := orm.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(osm.Scope())
					om := osm.Metrics().AppendEmpty()
					m.CopyTo(om)
					keepOnly(om, k)
					out = append(out, one)
				}
			}
		}
	}
	return out
}

func keepOnly(m pmetric.Metric, k int) {
	i := 0
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { i++; return i-1 != k })
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { i++; return i-1 != k })
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { i++; return i-1 != k })
	}
}

// TestBatchIndependence feeds the same intervals, a fault among them, to anomaly → root_cause as
// one request per interval, as one request per point, and through a batch processor that cuts
// anomaly's output into requests of at most 100 points: the scores and incidents are the same.
func TestBatchIndependence(t *testing.T) {
	const warm, faulty = 60, 8
	var flushes []pmetric.Metrics
	sim := newConnectorSim(9)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range warm + faulty {
		hot := map[string]bool{}
		if i == warm {
			sim.slow["payments"] = 5
		}
		if i >= warm {
			hot["payments"] = true
		}
		md := serviceMetrics(rng, i, hot)
		sim.flush(i).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		flushes = append(flushes, md)
	}
	first := sameWhateverTheBatches(t, testConfig(), flushes)

	// The run shows what it should: an incident opens on the fault, with payments its likely
	// cause throughout.
	causes := map[string]bool{}
	for _, md := range first.sink.AllMetrics() {
		for _, svc := range []string{"checkout", "db", "frontend", "payments", "search"} {
			for _, dp := range points(md, names.IncidentService, "service.name", svc) {
				if dp.DoubleValue() == 1 {
					causes[svc] = true
				}
			}
		}
	}
	assert.Equal(t, map[string]bool{"payments": true}, causes)
}

// sameWhateverTheBatches feeds flushes to anomaly → root_cause as one request per flush, as one
// request per point, and through a batch processor, demands the same scores of all three and
// returns the first chain.
func sameWhateverTheBatches(t *testing.T, cfg *Config, flushes []pmetric.Metrics) *chain {
	run := func(c *chain, cut func(pmetric.Metrics) []pmetric.Metrics) *chain {
		for _, md := range flushes {
			cp := pmetric.NewMetrics()
			md.CopyTo(cp)
			for _, part := range cut(cp) {
				c.feed(part)
			}
			c.tick()
		}
		c.stop()
		return c
	}
	whole := func(md pmetric.Metrics) []pmetric.Metrics { return []pmetric.Metrics{md} }
	first := run(newChain(t, cfg, false), whole)
	want := first.scores()
	assert.Equal(t, want, run(newChain(t, cfg, false), onePointEach).scores(), "one point per request")
	assert.Equal(t, want, run(newChain(t, cfg, true), whole).scores(), "through a batch processor")
	return first
}

// TestBatchIndependenceCanary: a bad canary's edges are new in the middle of the run and borrow
// the stable version's models; what they borrow, and so every score, is the same whatever the
// batches, although the canary's points come before or after the stable version's.
func TestBatchIndependenceCanary(t *testing.T) {
	const warm, canary = 40, 8
	var flushes []pmetric.Metrics
	sim := newConnectorSim(9)
	sim.versioned = true
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range warm + canary {
		if i == warm {
			sim.canary = simCanary{service: "payments", share: 0.2, factor: 3}
		}
		md := serviceMetrics(rng, i, nil)
		sim.flush(i).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		flushes = append(flushes, md)
	}
	first := sameWhateverTheBatches(t, canaryConfig(), flushes)
	causes := map[string]string{}
	for _, md := range first.sink.AllMetrics() {
		for svc, v := range likelyCauses(t, md) {
			causes[svc] = v
		}
	}
	assert.Equal(t, map[string]string{"payments": canaryVersion}, causes)
}
