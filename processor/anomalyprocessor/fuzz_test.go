package anomalyprocessor

import (
	"context"
	"math"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/omen-otel/omen/internal/names"
)

// FuzzConsumeMetrics feeds arbitrary OTLP to the processor: it must never panic nor fail, and
// every score it emits must lie in [0, 10].
func FuzzConsumeMetrics(f *testing.F) {
	var m pmetric.ProtoMarshaler
	for _, md := range []pmetric.Metrics{
		gaugeBatch(0, 1), counterBatch(0, 5),
		histogramBatch(0, 10, 3, []uint64{1, 2, 3, 4, 0}),
		histogramBatch(1, 5, math.NaN(), []uint64{1, 2}), // malformed buckets, NaN sum
	} {
		b, err := m.MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Detector.MinSamples = 1
	cfg.Groups = []GroupConfig{{Name: "g", Metrics: []filter.Config{{Regex: ".*"}}, Key: []string{"service.name"}, Combine: "fisher"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var u pmetric.ProtoUnmarshaler
		md, err := u.UnmarshalMetrics(data)
		if err != nil {
			return
		}
		sink := new(consumertest.MetricsSink)
		p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), cfg, sink)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown(context.Background())
		for range 2 { // the second pass meets the state the first one left
			in := pmetric.NewMetrics()
			md.CopyTo(in)
			if err := p.ConsumeMetrics(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
		for _, out := range sink.AllMetrics() {
			for _, rm := range out.ResourceMetrics().All() {
				for _, sm := range rm.ScopeMetrics().All() {
					for _, m := range sm.Metrics().All() {
						if m.Name() != names.Score && m.Name() != names.Unified {
							continue
						}
						for _, dp := range m.Gauge().DataPoints().All() {
							if s := dp.DoubleValue(); !(s >= 0 && s <= 10) {
								t.Fatalf("score %g out of [0, 10]", s)
							}
						}
					}
				}
			}
		}
	})
}
