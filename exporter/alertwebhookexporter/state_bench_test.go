package alertwebhookexporter

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
)

// BenchmarkSnapshot10kAlerts: the checkpoint's copy of max_alerts (10,000) firing alerts and of
// an outbox holding one notification for each; the copy of the machine is what holds
// ConsumeMetrics up (snapshot-ms, one op = one copy). encoded-bytes is the size of the JSON
// checkpoint.
func BenchmarkSnapshot10kAlerts(b *testing.B) {
	b.ReportAllocs()
	cfg := testConfig("http://127.0.0.1:9")
	cfg.Rules[0].GroupBy = []string{"service.name"}
	cfg.RateLimit.PerMinute = 0
	e, err := newExporter(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(b, err)
	now := time.Now()
	render := func() (map[string]string, string) {
		return map[string]string{"summary": "a service behaves unusually (score 9)", "score": "9"}, "http://grafana.example/d/omen"
	}
	for i := range cfg.MaxAlerts {
		ls := alert.NewLabels(map[string]string{"alertname": "AnomalousService", "service_name": fmt.Sprintf("service-%05d", i), "severity": "page"})
		e.machine.Observe(alert.Point{Labels: ls, Time: now, Score: 9}, now, render)
	}
	for _, a := range e.machine.Flush() {
		e.endpoints[0].box.Put(a)
	}
	require.Equal(b, cfg.MaxAlerts, e.machine.Len())
	codec := e.codec()
	var buf bytes.Buffer
	require.NoError(b, codec.Encode(&buf, codec.Snapshot()))
	b.ResetTimer()
	var held time.Duration
	for range b.N {
		t0 := time.Now()
		e.mu.Lock()
		s := e.machine.Snapshot()
		e.mu.Unlock()
		held += time.Since(t0)
		if len(s.Alerts) != cfg.MaxAlerts {
			b.Fatal("short snapshot")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(held.Microseconds())/1000/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(buf.Len()), "encoded-bytes")
}
