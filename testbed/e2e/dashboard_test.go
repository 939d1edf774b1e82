//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/testbed/harness"
	"github.com/omen-otel/omen/testbed/trafficgen"
)

// dashboardQueries reads every query of the committed Grafana dashboard.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "examples", "grafana", "omen.json"))
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &d))
	out := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[tg.Expr] = p.Title
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestDashboardQueriesReturnData runs a generated system with a fault through the built
// collector into a real Prometheus, and evaluates every query of examples/grafana/omen.json
// there: each returns data.
func TestDashboardQueriesReturnData(t *testing.T) {
	queries := dashboardQueries(t)
	col := harness.StartCollector(t, harness.CollectorConfig{Config: "testbed/e2e/testdata/dashboard.yaml"})
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{Targets: []string{col.Prometheus}})
	const rate = 40.0
	g, err := trafficgen.New(trafficgen.Config{Seed: 1001, Prefix: "d-", TraceRate: rate})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sending, stop := context.WithCancel(ctx)
	defer stop()
	sendErr := make(chan error, 1)
	go func() {
		sendErr <- sendAll(sending, []*trafficgen.Generator{g}, rate, trafficgen.HTTPSender(col.OTLPHTTP))
	}()

	// Warm the edges' models (10 flushes of 2 s after their first two, and a few more), then
	// break one service: the incident panel needs an incident.
	select {
	case <-time.After(40 * time.Second):
	case err := <-sendErr:
		t.Fatalf("sending traces: %v", err)
	}
	require.NoError(t, g.Inject(g.PickFault()))
	_, err = prom.WaitFor(`max by (anomaly_incident_id, service_name) (anomaly_incident_service) == 1`, 90*time.Second,
		func(s []harness.Sample) bool { return len(s) > 0 })
	require.NoError(t, err, "the fault opens an incident")
	for expr, panel := range queries {
		samples, err := prom.Query(ctx, expr)
		require.NoError(t, err, "%s: %s", panel, expr)
		require.NotEmpty(t, samples, "%s: %s returns no data", panel, expr)
	}
}
