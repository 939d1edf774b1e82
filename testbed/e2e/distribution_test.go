//go:build e2e

// Package e2e holds the end-to-end tests of the built distribution: real processes, real
// Prometheus, assertions on what Prometheus stored. `make test` builds the binary and runs them
// with the e2e build tag; plain `go test ./...` leaves them out, as they need the binary.
package e2e

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/omen-otel/omen/testbed/harness"
)

// arrival bounds every wait for data to reach Prometheus. The connectors flush every 10 s in the
// default config and Prometheus scrapes every second, so this leaves ample room on a busy machine.
const arrival = 60 * time.Second

// TestDefaultConfig runs the distribution on its default config (dist/config.yaml) with a real
// Prometheus scraping it, and checks that OTLP metrics, metrics derived from OTLP traces and the
// host's own metrics are stored with the expected labels and values.
func TestDefaultConfig(t *testing.T) {
	col := harness.StartCollector(t, harness.CollectorConfig{Config: "dist/config.yaml", Env: []string{"OMEN_STATE_DIR=" + t.TempDir()}})
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{Targets: []string{col.Prometheus}})

	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	if err := harness.SendMetrics(ctx, col.OTLPHTTP, testMetrics()); err != nil {
		t.Fatal(err)
	}
	if err := harness.SendTraces(ctx, col.OTLPHTTP, testTraces(3)); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		expr  string
		value float64
	}{
		{"OTLP gauge with resource and point attributes", `omen_e2e_temperature{service_name="checkout",zone="eu-1"}`, 21.5},
		{"OTLP cumulative counter", `omen_e2e_requests_total{service_name="checkout",code="200"}`, 1234},
		{"span metrics from OTLP traces", `sum(traces_span_metrics_calls_total{service_name="cart",span_name="GET /cart"})`, 3},
		{"service graph edge from OTLP traces", `traces_service_graph_request_total{client="frontend",server="cart"}`, 3},
		{"host metrics of this machine", `count(system_memory_usage_bytes) > 0`, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := prom.WaitFor(tc.expr, arrival, func(s []harness.Sample) bool {
				return len(s) == 1 && (tc.value < 0 || s[0].Value == tc.value)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v", tc.expr, got)
		})
	}
}

// TestBrokenPipelineIsCaught proves the assertions above can fail: with Prometheus scraping an
// address where the exporter is not, the same wait must time out with nothing stored.
func TestBrokenPipelineIsCaught(t *testing.T) {
	col := harness.StartCollector(t, harness.CollectorConfig{Config: "dist/config.yaml", Env: []string{"OMEN_STATE_DIR=" + t.TempDir()}})
	wrongPort := harness.FreeAddr(t)
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{Targets: []string{wrongPort}})

	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	if err := harness.SendMetrics(ctx, col.OTLPHTTP, testMetrics()); err != nil {
		t.Fatal(err)
	}
	// The target is known to Prometheus and down: the scrape did happen and failed.
	if _, err := prom.WaitFor(`up{instance="`+wrongPort+`"} == 0`, arrival, func(s []harness.Sample) bool { return len(s) == 1 }); err != nil {
		t.Fatal(err)
	}
	got, err := prom.WaitFor(`omen_e2e_temperature`, 5*time.Second, func(s []harness.Sample) bool { return len(s) > 0 })
	if err == nil {
		t.Fatalf("a pipeline scraped at the wrong port still stored %v", got)
	}
}

func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	sm := rm.ScopeMetrics().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())

	g := sm.Metrics().AppendEmpty()
	g.SetName("omen.e2e.temperature")
	gp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	gp.SetTimestamp(now)
	gp.SetDoubleValue(21.5)
	gp.Attributes().PutStr("zone", "eu-1")

	c := sm.Metrics().AppendEmpty()
	c.SetName("omen.e2e.requests")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cp := sum.DataPoints().AppendEmpty()
	cp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute)))
	cp.SetTimestamp(now)
	cp.SetIntValue(1234)
	cp.Attributes().PutStr("code", "200")
	return md
}

// testTraces makes n requests frontend → cart: a CLIENT span in frontend whose child is the
// SERVER span "GET /cart" in cart, the pair the service graph connector turns into an edge.
func testTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	frontend := td.ResourceSpans().AppendEmpty()
	frontend.Resource().Attributes().PutStr("service.name", "frontend")
	clientSpans := frontend.ScopeSpans().AppendEmpty().Spans()
	cart := td.ResourceSpans().AppendEmpty()
	cart.Resource().Attributes().PutStr("service.name", "cart")
	serverSpans := cart.ScopeSpans().AppendEmpty().Spans()

	start := time.Now().Add(-time.Second)
	for i := range n {
		traceID := pcommon.TraceID{1, byte(i + 1)}
		client := clientSpans.AppendEmpty()
		client.SetTraceID(traceID)
		client.SetSpanID(pcommon.SpanID{1, byte(i + 1)})
		client.SetName("cart.get")
		client.SetKind(ptrace.SpanKindClient)
		client.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		client.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(30 * time.Millisecond)))

		server := serverSpans.AppendEmpty()
		server.SetTraceID(traceID)
		server.SetSpanID(pcommon.SpanID{2, byte(i + 1)})
		server.SetParentSpanID(client.SpanID())
		server.SetName("GET /cart")
		server.SetKind(ptrace.SpanKindServer)
		server.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(2 * time.Millisecond)))
		server.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(25 * time.Millisecond)))
	}
	return td
}
