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

// demoRun is one generated system with a fault, through the built collector into a real
// Prometheus and Alertmanager: what the dashboard test reads and `make demo` shows.
type demoRun struct {
	col     *harness.Collector
	prom    *harness.Prometheus
	am      *harness.Alertmanager
	fault   trafficgen.Fault
	start   time.Time // the first trace
	faultAt time.Time
}

// incidentQuery has a sample for each open incident: its likely cause.
const incidentQuery = `max by (anomaly_incident_id, service_name) (anomaly_incident_service) == 1`

// startDemo warms the edges' models of one system (10 flushes of 2 s after their first two, and
// a few more), breaks one of its services, and returns once the fault has opened an incident.
// The traffic goes on until the test ends.
func startDemo(t *testing.T, ctx context.Context) *demoRun {
	t.Helper()
	r := &demoRun{am: harness.StartAlertmanager(t)}
	r.col = harness.StartCollector(t, harness.CollectorConfig{
		Config: "testbed/e2e/testdata/demo.yaml",
		Env:    []string{"OMEN_ALERTMANAGER_URL=" + r.am.URL},
	})
	r.prom = harness.StartPrometheus(t, harness.PrometheusConfig{Targets: []string{r.col.Prometheus}})
	const rate = 40.0
	g, err := trafficgen.New(trafficgen.Config{Seed: 1001, Prefix: "shop-", TraceRate: rate})
	require.NoError(t, err)
	sending, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	sendErr := make(chan error, 1)
	r.start = time.Now()
	go func() {
		sendErr <- sendAll(sending, []*trafficgen.Generator{g}, rate, trafficgen.HTTPSender(r.col.OTLPHTTP))
	}()
	select {
	case <-time.After(40 * time.Second):
	case err := <-sendErr:
		t.Fatalf("sending traces: %v", err)
	}
	r.fault = g.PickFault()
	require.NoError(t, g.Inject(r.fault))
	r.faultAt = time.Now()
	_, err = r.prom.WaitFor(incidentQuery, 90*time.Second, func(s []harness.Sample) bool { return len(s) > 0 })
	require.NoError(t, err, "the fault opens an incident")
	return r
}

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

// TestDashboardQueriesReturnData evaluates every query of examples/grafana/omen.json in a real
// Prometheus holding Omen's scores of a system with a fault: each returns data.
func TestDashboardQueriesReturnData(t *testing.T) {
	queries := dashboardQueries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := startDemo(t, ctx)
	for expr, panel := range queries {
		samples, err := r.prom.Query(ctx, expr)
		require.NoError(t, err, "%s: %s", panel, expr)
		require.NotEmpty(t, samples, "%s: %s returns no data", panel, expr)
	}
}
