//go:build e2e

package e2e

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/testbed/harness"
)

// TestAnomalyScoresReachPrometheus sends a latency gauge with a history of noise and then a
// spike, and checks in Prometheus that the series' score, band and the service's unified score
// are stored with the series' labels, low before the spike and high after it.
func TestAnomalyScoresReachPrometheus(t *testing.T) {
	col := harness.StartCollector(t, harness.CollectorConfig{Config: "testbed/e2e/testdata/anomaly.yaml"})
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{Targets: []string{col.Prometheus}})
	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()

	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Now().Add(-time.Hour)
	send := func(i int, v float64) {
		t.Helper()
		if err := harness.SendMetrics(ctx, col.OTLPHTTP, latency(start.Add(time.Duration(i)*10*time.Second), v)); err != nil {
			t.Fatal(err)
		}
	}
	const history = 200
	for i := range history {
		send(i, 120+5*rng.NormFloat64())
	}
	score := `anomaly_score{metric_name="omen.e2e.latency",service_name="checkout",route="/cart"}`
	if _, err := prom.WaitFor(score+" < 5", arrival, func(s []harness.Sample) bool { return len(s) == 1 }); err != nil {
		t.Fatal(err)
	}
	if _, err := prom.WaitFor(`anomaly_expected{metric_name="omen.e2e.latency"} > 110 < 130`, arrival, func(s []harness.Sample) bool { return len(s) == 1 }); err != nil {
		t.Fatal(err)
	}

	send(history, 400) // a 56-sigma spike
	got, err := prom.WaitFor(score+" >= 7", arrival, func(s []harness.Sample) bool { return len(s) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spike: %v", got)
	if _, err := prom.WaitFor(`anomaly_unified_score{anomaly_group="service",service_name="checkout"} >= 7`, arrival, func(s []harness.Sample) bool { return len(s) == 1 }); err != nil {
		t.Fatal(err)
	}
}

func latency(ts time.Time, v float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("omen.e2e.latency")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(v)
	dp.Attributes().PutStr("route", "/cart")
	return md
}
