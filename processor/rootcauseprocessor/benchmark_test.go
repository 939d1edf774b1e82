package rootcauseprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/metadatatest"
)

// A large graph: benchServices services, each calling benchEdges/benchServices others.
const (
	benchServices = 2_000
	benchEdges    = 10_000
)

// benchFlush is one flush of the connector for the large graph at interval i: per edge, its
// request counter and its latency histogram (two points), in parts edges of every part-th
// client (all of them with part 0 of 1).
func benchFlush(i, part, parts int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	total := ms.AppendEmpty()
	total.SetName("traces_service_graph_request_total")
	total.SetEmptySum().SetIsMonotonic(true)
	total.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	lat := ms.AppendEmpty()
	lat.SetName("traces_service_graph_request_server")
	lat.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	ts := pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * step))
	perClient := benchEdges / benchServices
	for c := part; c < benchServices; c += parts {
		for k := 1; k <= perClient; k++ {
			client, server := fmt.Sprintf("svc-%04d", c), fmt.Sprintf("svc-%04d", (c+k*37)%benchServices)
			n := int64(100*i + (c+k)%7*i)
			dp := total.Sum().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(n)
			dp.Attributes().PutStr("client", client)
			dp.Attributes().PutStr("server", server)
			h := lat.Histogram().DataPoints().AppendEmpty()
			h.SetTimestamp(ts)
			h.SetCount(uint64(n))
			h.SetSum(0.05 * float64(n) * (1 + 0.01*float64((c*k+i)%5)))
			h.ExplicitBounds().FromRaw([]float64{0.01, 0.1, 1})
			h.BucketCounts().FromRaw([]uint64{0, uint64(n), 0, 0})
			h.Attributes().PutStr("client", client)
			h.Attributes().PutStr("server", server)
		}
	}
	return md
}

func benchProcessor(b *testing.B) (*rootCauseProcessor, *time.Time) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxEdges = benchEdges
	cfg.Detector.MinSamples = 10
	p, err := newProcessor(metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
	require.NoError(b, err)
	now := t0
	p.now = func() time.Time { return now }
	return p, &now
}

// BenchmarkConsumeMetrics feeds one connector flush of 10,000 edges (20,000 points) of a graph
// of 2,000 services per iteration and closes it, so each iteration scores every edge's three
// features, ranks every service and updates the incidents. It reports ns per edge point and the
// heap held per edge.
func BenchmarkConsumeMetrics(b *testing.B) {
	ctx := context.Background()
	p, now := benchProcessor(b)
	const warm = 15 // past min_samples: every feature is scored
	batches := make([]pmetric.Metrics, warm+b.N)
	for i := range batches {
		batches[i] = benchFlush(i, 0, 1)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range warm {
		require.NoError(b, p.ConsumeMetrics(ctx, batches[i]))
		*now = now.Add(step)
		p.flush(false)
	}
	batches = batches[warm:]
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	_, edges := p.graph.Len()
	require.Equal(b, benchEdges, edges)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := p.ConsumeMetrics(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
		*now = now.Add(step)
		p.flush(false)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*benchEdges), "ns/point")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/benchEdges, "heap-B/edge")
}

// BenchmarkConsumeMetricsParallel feeds the same graph from several goroutines, each sending the
// edges of its own clients, as several receivers or collectors would.
func BenchmarkConsumeMetricsParallel(b *testing.B) {
	ctx := context.Background()
	p, now := benchProcessor(b)
	parts := runtime.GOMAXPROCS(0)
	const warm = 15
	batches := make([][]pmetric.Metrics, warm+b.N)
	for i := range batches {
		for part := range parts {
			batches[i] = append(batches[i], benchFlush(i, part, parts))
		}
	}
	feed := func(i int) {
		done := make(chan error, parts)
		for part := range parts {
			go func() { done <- p.ConsumeMetrics(ctx, batches[i][part]) }()
		}
		for range parts {
			if err := <-done; err != nil {
				b.Error(err)
			}
		}
		*now = now.Add(step)
		p.flush(false)
	}
	for i := range warm {
		feed(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		feed(warm + i)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*benchEdges), "ns/point")
}
