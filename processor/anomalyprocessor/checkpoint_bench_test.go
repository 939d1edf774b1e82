package anomalyprocessor

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkCheckpoint checkpoints 100,000 series (the default configuration, seasonal profile
// included) while another goroutine keeps calling ConsumeMetrics with one batch of 1,000 points,
// and reports: the longest ConsumeMetrics call during the checkpoint (holdup-ms) beside the
// longest without one in the same run (baseline-ms), the checkpoint's bytes per series, and the
// time to encode it and to decode it into a new store (restore-ms).
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	p := benchProcessor(b)
	var all []pmetric.Metrics
	for k := range 10 {
		all = append(all, benchBatches(k*benchServices)...)
	}
	for interval := range 3 {
		for _, md := range all {
			advance(md, interval)
			if err := p.ConsumeMetrics(ctx, md); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := p.models.Len()
	probe := all[0]
	interval := 3
	// longest runs ConsumeMetrics on probe until stop is set, and returns its longest call.
	longest := func(stop *atomic.Bool) time.Duration {
		var worst time.Duration
		for !stop.Load() {
			advance(probe, interval)
			interval++
			t := time.Now()
			if err := p.ConsumeMetrics(ctx, probe); err != nil {
				b.Error(err)
			}
			worst = max(worst, time.Since(t))
		}
		return worst
	}
	var encoded bytes.Buffer
	var holdup, baseline, encode, restore time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		encoded.Reset()
		var stop atomic.Bool
		done := make(chan time.Duration)
		go func() { done <- longest(&stop) }()
		t := time.Now()
		if err := p.encodeModels(&encoded, p.snapshotIDs()); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t)
		encode += took
		stop.Store(true)
		holdup = max(holdup, <-done)

		stop.Store(false)
		go func() { done <- longest(&stop) }()
		time.Sleep(took)
		stop.Store(true)
		baseline = max(baseline, <-done)

		t = time.Now()
		s, err := p.decodeModels(bytes.NewReader(encoded.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		restore += time.Since(t)
		if s.store.Len() != n {
			b.Fatalf("restored %d series of %d", s.store.Len(), n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(holdup.Microseconds())/1000, "holdup-ms")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "baseline-ms")
	b.ReportMetric(float64(encoded.Len())/float64(n), "B/series")
	b.ReportMetric(float64(encode.Milliseconds())/float64(b.N), "encode-ms")
	b.ReportMetric(float64(restore.Milliseconds())/float64(b.N), "restore-ms")
	b.ReportMetric(float64(n), "series")
}
