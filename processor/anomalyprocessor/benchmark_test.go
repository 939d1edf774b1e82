package anomalyprocessor

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/omen-otel/omen/internal/names"
)

// Steady-state load: 10,000 gauge series, 1,000 per service, each batch one service's scrape:
// 10 metrics of 100 points with two point attributes, as a batch processor would pass them on.
const (
	benchServices         = 10
	benchMetricsPerBatch  = 10
	benchPointsPerMetric  = 100
	benchPointsPerBatch   = benchMetricsPerBatch * benchPointsPerMetric
	benchWarmupIntervals  = 150
	benchSeriesPerService = benchPointsPerBatch
)

func benchBatches(offset int) []pmetric.Metrics {
	batches := make([]pmetric.Metrics, benchServices)
	for s := range batches {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(offset+s))
		rm.Resource().Attributes().PutStr("service.instance.id", "instance-"+strconv.Itoa(offset+s))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for m := range benchMetricsPerBatch {
			metric := ms.AppendEmpty()
			metric.SetName("app.metric." + strconv.Itoa(m))
			dps := metric.SetEmptyGauge().DataPoints()
			for p := range benchPointsPerMetric {
				dp := dps.AppendEmpty()
				dp.Attributes().PutStr("http.route", "/api/v1/route/"+strconv.Itoa(p))
				dp.Attributes().PutStr("http.request.method", "GET")
				dp.SetDoubleValue(float64(100 + (p*7+m*13)%11))
			}
		}
		batches[s] = md
	}
	return batches
}

// advance moves a batch to its next interval: new timestamps and values, and the scores the
// processor appended last time removed.
func advance(md pmetric.Metrics, interval int) {
	ts := pcommon.NewTimestampFromTime(t0.Add(time.Duration(interval) * step))
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return strings.HasPrefix(m.Name(), names.Prefix) })
			for _, m := range sm.Metrics().All() {
				for i, dp := range m.Gauge().DataPoints().All() {
					dp.SetTimestamp(ts)
					dp.SetDoubleValue(float64(100 + (i*7+interval*13)%11))
				}
			}
		}
	}
}

func benchProcessor(b *testing.B) *anomalyProcessor {
	cfg := createDefaultConfig().(*Config)
	p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// warm runs the batches through enough intervals that every model is past its warm-up, and
// returns the next interval.
func warm(b *testing.B, p *anomalyProcessor, batches []pmetric.Metrics) int {
	for interval := range benchWarmupIntervals {
		for _, md := range batches {
			advance(md, interval)
			if err := p.ConsumeMetrics(context.Background(), md); err != nil {
				b.Fatal(err)
			}
		}
	}
	return benchWarmupIntervals
}

// checkScores checks that a batch carries one anomaly.score point per input point: a score in
// [0, 10] at the point's timestamp, with the point's attributes and metric.name naming its metric.
func checkScores(md pmetric.Metrics) error {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			want := map[string]pmetric.NumberDataPoint{} // input points by metric name and route
			var scores pmetric.NumberDataPointSlice
			found := false
			for _, m := range sm.Metrics().All() {
				if m.Name() == names.Score {
					scores, found = m.Gauge().DataPoints(), true
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					route, _ := dp.Attributes().Get("http.route")
					want[m.Name()+" "+route.Str()] = dp
				}
			}
			if !found {
				return fmt.Errorf("no %s metric among %d", names.Score, sm.Metrics().Len())
			}
			if scores.Len() != len(want) {
				return fmt.Errorf("%d score points for %d points", scores.Len(), len(want))
			}
			for _, sp := range scores.All() {
				name, _ := sp.Attributes().Get(names.MetricName)
				route, _ := sp.Attributes().Get("http.route")
				dp, ok := want[name.Str()+" "+route.Str()]
				if !ok {
					return fmt.Errorf("score point of no input point: %v", sp.Attributes().AsRaw())
				}
				delete(want, name.Str()+" "+route.Str())
				if v := sp.DoubleValue(); !(v >= 0 && v <= 10) || sp.Timestamp() != dp.Timestamp() || sp.Attributes().Len() != dp.Attributes().Len()+1 {
					return fmt.Errorf("score point %v at %v, scoring %v at %v", v, sp.Timestamp(), dp.Attributes().AsRaw(), dp.Timestamp())
				}
			}
		}
	}
	return nil
}

// BenchmarkConsumeMetrics measures steady-state scoring: one op is one batch of 1,000 points,
// and only ConsumeMetrics is timed. Every point is scored and its score point emitted with the
// batch: checkScores checks every batch, outside the timing, that each input point got its score
// point (a score in [0, 10], its timestamp, its attributes and metric.name).
func BenchmarkConsumeMetrics(b *testing.B) {
	p := benchProcessor(b)
	batches := benchBatches(0)
	interval := warm(b, p, batches)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		md := batches[i%len(batches)]
		if i%len(batches) == 0 {
			interval++
		}
		b.StopTimer()
		advance(md, interval)
		b.StartTimer()
		if err := p.ConsumeMetrics(ctx, md); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := checkScores(md); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchPointsPerBatch)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkConsumeMetricsParallel runs goroutines with disjoint series against one processor, to
// show what its lock costs. Each op also re-stamps its batch (advance), which the serial
// benchmark leaves out of the timing.
func BenchmarkConsumeMetricsParallel(b *testing.B) {
	p := benchProcessor(b)
	sets := make([][]pmetric.Metrics, 4*runtime.GOMAXPROCS(0))
	next := make([]int, len(sets))
	for g := range sets {
		sets[g] = benchBatches(g * benchServices)
		next[g] = warm(b, p, sets[g])
	}
	var goroutine atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := int(goroutine.Add(1)) - 1
		batches, interval := sets[g%len(sets)], next[g%len(sets)]
		for i := 0; pb.Next(); i++ {
			md := batches[i%len(batches)]
			if i%len(batches) == 0 {
				interval++
			}
			advance(md, interval)
			if err := p.ConsumeMetrics(context.Background(), md); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*benchPointsPerBatch)/b.Elapsed().Seconds(), "points/s")
}
