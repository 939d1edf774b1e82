package promqlreceiver

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/metadatatest"
	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/promapi"
)

// BenchmarkEmit turns one query_range answer of 100 series × 1,000 steps into pdata and passes
// it on: the work of one back-fill chunk.
func BenchmarkEmit(b *testing.B) {
	r, q, series := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.emit(context.Background(), q, series)
	}
}

func BenchmarkEmitParallel(b *testing.B) {
	r, q, series := benchSetup(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.emit(context.Background(), q, series)
		}
	})
}

func benchSetup(b *testing.B) (*promqlReceiver, *query, []promapi.Series) {
	tel := componenttest.NewTelemetry()
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg := testConfig(QueryConfig{Name: "bench", Expr: "x", Labels: map[string]string{"source": "bench"}})
	r, err := newReceiver(metadatatest.NewSettings(tel), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	series := make([]promapi.Series, 100)
	for i := range series {
		series[i].Labels = map[string]string{"service": "svc-" + strconv.Itoa(i), "route": "/api"}
		for t := range 1000 {
			series[i].Points = append(series[i].Points, promapi.Point{T: 1_795_320_000_000 + int64(t)*15_000, V: float64(t)})
		}
	}
	return r, r.newQuery(cfg.Queries[0]), series
}
