//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/testbed/harness"
)

// restartSeries is how many series each interval carries: gauges, a cumulative counter and a
// histogram per service, so the models, the counter rates and the histogram rates all matter.
const restartServices = 20

// restartBatch is interval i of the stream: per service a gauge, a cumulative counter and a
// cumulative histogram, stamped at a synthetic time 10 s apart.
func restartBatch(rng *rand.Rand, start time.Time, i int, totals []float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * 10 * time.Second))
	for s := range restartServices {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%02d", s))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		g := ms.AppendEmpty()
		g.SetName("omen.restart.cpu")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(50 + 3*rng.NormFloat64())
		c := ms.AppendEmpty()
		c.SetName("omen.restart.requests")
		c.SetEmptySum().SetIsMonotonic(true)
		c.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		totals[s] += 100 + 10*rng.NormFloat64()
		cp := c.Sum().DataPoints().AppendEmpty()
		cp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		cp.SetTimestamp(ts)
		cp.SetDoubleValue(totals[s])
		h := ms.AppendEmpty()
		h.SetName("omen.restart.latency")
		h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		hp := h.Histogram().DataPoints().AppendEmpty()
		hp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		hp.SetTimestamp(ts)
		n := uint64(i+1) * 100
		hp.SetCount(n)
		hp.SetSum(float64(n) * (0.1 + 0.002*rng.NormFloat64()))
		hp.ExplicitBounds().FromRaw([]float64{0.05, 0.1, 0.2})
		hp.BucketCounts().FromRaw([]uint64{n / 4, n / 2, n / 4, 0})
	}
	return md
}

// checkpointsWritten reads the collector's own counter of the anomaly processor's checkpoints.
func checkpointsWritten(t *testing.T, col *harness.Collector) int {
	t.Helper()
	resp, err := http.Get("http://" + col.Telemetry + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		// The collector's Prometheus reader writes counters without the _total suffix.
		if strings.HasPrefix(line, "otelcol_anomaly_checkpoint_writes{") && strings.Contains(line, `outcome="ok"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			require.NoError(t, err)
			return int(v)
		}
	}
	return 0
}

// scoresFrom is every anomaly.score point a sink received at or after from, by series and time.
func scoresFrom(sink *harness.OTLPSink, from time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, p := range sink.Points() {
		if p.Metric == names.Score && p.T >= from.UnixMilli() {
			keys := make([]string, 0, len(p.Attributes)+len(p.Resource))
			for k, v := range p.Resource {
				keys = append(keys, fmt.Sprintf("resource.%s=%v", k, v))
			}
			for k, v := range p.Attributes {
				keys = append(keys, fmt.Sprintf("%s=%v", k, v))
			}
			slices.Sort(keys)
			out[fmt.Sprintf("%d %s", p.T, strings.Join(keys, ","))] = p.V
		}
	}
	return out
}

// TestRestartScoresFromItsFirstPoint warms two collectors on the same stream, waits for a
// checkpoint of everything the first has seen, kills it with SIGKILL, starts it again on the
// same store, and feeds both the rest of the stream: the restarted one scores from its first
// point, and its scores equal those of the collector that never stopped.
func TestRestartScoresFromItsFirstPoint(t *testing.T) {
	const warm, after = 40, 20
	sinks := []*harness.OTLPSink{harness.StartOTLPSink(t), harness.StartOTLPSink(t)}
	var cols []*harness.Collector
	for _, sink := range sinks {
		cols = append(cols, harness.StartCollector(t, harness.CollectorConfig{
			Config: "testbed/e2e/testdata/restart.yaml",
			Env:    []string{"OMEN_SINK_ENDPOINT=" + sink.Endpoint, "OMEN_STATE_DIR=" + t.TempDir()},
		}))
	}
	killed := cols[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	rng := rand.New(rand.NewPCG(3, 4))
	totals := make([]float64, restartServices)
	send := func(i int) {
		md := restartBatch(rng, start, i, totals)
		for _, col := range cols {
			cp := pmetric.NewMetrics()
			md.CopyTo(cp)
			require.NoError(t, harness.SendMetrics(ctx, col.OTLPHTTP, cp))
		}
	}
	for i := range warm {
		send(i)
	}
	// Two more checkpoints than now: the later one began after the last point was scored.
	written := checkpointsWritten(t, killed)
	require.Eventually(t, func() bool { return checkpointsWritten(t, killed) >= written+2 }, time.Minute, 100*time.Millisecond,
		"the anomaly processor checkpoints every second")
	killed.Kill()
	killed.Start()

	restartedAt := start.Add(warm * 10 * time.Second)
	for i := warm; i < warm+after; i++ {
		send(i)
	}
	last := start.Add((warm + after - 1) * 10 * time.Second)
	wait := func(sink *harness.OTLPSink) map[string]float64 {
		_, err := sink.WaitFor(time.Minute, func(ps []harness.SinkPoint) bool {
			for _, p := range ps {
				if p.Metric == names.Score && p.T == last.UnixMilli() {
					return true
				}
			}
			return false
		})
		require.NoError(t, err)
		return scoresFrom(sink, restartedAt)
	}
	got, want := wait(sinks[0]), wait(sinks[1])
	require.NotEmpty(t, want)
	assert.Equal(t, want, got, "the restarted collector scores as the one that never stopped")
	first := 0
	for k := range got {
		if strings.HasPrefix(k, strconv.FormatInt(restartedAt.UnixMilli(), 10)+" ") {
			first++
		}
	}
	// Per service: the gauge, the counter's rate, and the histogram's rate, mean and p95.
	assert.Equal(t, restartServices*5, first, "every series is scored at the first point after the restart")
}
