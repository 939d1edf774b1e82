//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/testbed/harness"
	"github.com/omen-otel/omen/testbed/internal/picture"
)

// TestDemo is `make demo`: one generated shop through the built collector, a real Prometheus and
// a real Alertmanager on loopback; after the warm-up one service breaks. Half a minute after the
// alert it prints the timeline (fault, first score of 7 or more on the faulty service, the alert
// with its likely cause) and writes two pictures into $OMEN_DEMO_OUT: graph.svg, the service
// graph during the fault with the likely cause marked, and latency.svg, the mean latency of the
// faulty service's loudest incoming edge with the model's expected value and band above its
// score. It runs only when OMEN_DEMO_OUT is set.
func TestDemo(t *testing.T) {
	out := os.Getenv("OMEN_DEMO_OUT")
	if out == "" {
		t.Skip("set OMEN_DEMO_OUT to a folder for the pictures (make demo does)")
	}
	require.NoError(t, os.MkdirAll(out, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	r := startDemo(t, ctx)
	faulty := r.fault.Service
	alerts, err := r.am.WaitFor(time.Minute, func(as []harness.AMAlert) bool { return findAlert(as, "ServiceIncident") != nil })
	require.NoError(t, err, "the incident reaches Alertmanager")
	alertAt := time.Now()
	a := findAlert(alerts, "ServiceIncident")
	// Half a minute more of the fault, for the pictures.
	time.Sleep(30 * time.Second)

	// The first score of 7 or more on the faulty service, as Prometheus scraped it.
	series, err := r.prom.QueryRange(ctx, fmt.Sprintf(`anomaly_unified_score{anomaly_group="service_graph.service", service_name=%q}`, faulty),
		r.faultAt.Add(-10*time.Second), time.Now(), time.Second)
	require.NoError(t, err)
	var firstHigh time.Time
	for _, s := range series {
		for _, p := range s.Points {
			if p.V >= 7 && (firstHigh.IsZero() || time.UnixMilli(p.T).Before(firstHigh)) {
				firstHigh = time.UnixMilli(p.T)
			}
		}
	}
	require.False(t, firstHigh.IsZero(), "the faulty service scores 7 or more")

	var timeline strings.Builder
	at := func(t time.Time) string { return "+" + t.Sub(r.start).Round(time.Second).String() }
	fmt.Fprintf(&timeline, "%-8s traffic starts: 40 traces/s through a generated shop\n", at(r.start))
	fmt.Fprintf(&timeline, "%-8s fault: %s\n", at(r.faultAt), r.fault)
	fmt.Fprintf(&timeline, "%-8s %s scores 7 or more in Prometheus (%s after the fault)\n", at(firstHigh), faulty, firstHigh.Sub(r.faultAt).Round(time.Second))
	fmt.Fprintf(&timeline, "%-8s Alertmanager holds %s (incident %s): likely cause %s; impacted %s; entry points %s\n",
		at(alertAt), a.Labels["alertname"], a.Annotations["incident_id"], a.Annotations["root_cause_service"], a.Annotations["impacted_services"], a.Annotations["entry_points"])
	t.Log("timeline\n" + timeline.String())
	require.Equal(t, faulty, a.Annotations["root_cause_service"], "the alert names the faulty service")

	writeGraph(t, ctx, r, filepath.Join(out, "graph.svg"))
	writeLatency(t, ctx, r, filepath.Join(out, "latency.svg"))
	require.NoError(t, os.WriteFile(filepath.Join(out, "timeline.txt"), []byte(timeline.String()), 0o644))
	t.Logf("pictures: %s, %s", filepath.Join(out, "graph.svg"), filepath.Join(out, "latency.svg"))
}

// writeGraph draws the service graph as Prometheus holds it now.
func writeGraph(t *testing.T, ctx context.Context, r *demoRun, path string) {
	t.Helper()
	g := picture.Graph{Title: "the service graph during the fault"}
	byName := map[string]*picture.Service{}
	samples := func(expr string) []harness.Sample {
		s, err := r.prom.Query(ctx, expr)
		require.NoError(t, err, expr)
		return s
	}
	for _, s := range samples(`max by (service_name) (anomaly_unified_score{anomaly_group="service_graph.service"})`) {
		g.Services = append(g.Services, picture.Service{Name: s.Labels["service_name"], Score: s.Value})
	}
	for i := range g.Services {
		byName[g.Services[i].Name] = &g.Services[i]
	}
	for _, s := range samples(`max by (service_name) (anomaly_root_cause)`) {
		if svc := byName[s.Labels["service_name"]]; svc != nil {
			svc.RootCause = s.Value
		}
	}
	for _, s := range samples(incidentQuery) {
		if svc := byName[s.Labels["service_name"]]; svc != nil {
			svc.Cause = true
		}
	}
	for _, s := range samples(`max by (client, server) (anomaly_unified_score{anomaly_group="service_graph.edge"})`) {
		g.Calls = append(g.Calls, picture.Call{Client: s.Labels["client"], Server: s.Labels["server"], Score: s.Value})
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, g.WriteSVG(f))
}

// writeLatency draws the mean latency of the faulty service's loudest incoming edge since the
// traffic started, with the model's expected value and band, above its score.
func writeLatency(t *testing.T, ctx context.Context, r *demoRun, path string) {
	t.Helper()
	loudest, err := r.prom.Query(ctx, fmt.Sprintf(`topk(1, max_over_time(anomaly_score{anomaly_feature="latency_mean", server=%q}[5m]))`, r.fault.Service))
	require.NoError(t, err)
	require.NotEmpty(t, loudest, "the faulty service's incoming edges have latency scores")
	edge := fmt.Sprintf(`client=%q, server=%q`, loudest[0].Labels["client"], loudest[0].Labels["server"])
	start, end, step := r.start, time.Now(), 2*time.Second
	grid := func(expr string) map[int64]float64 {
		series, err := r.prom.QueryRange(ctx, expr, start, end, step)
		require.NoError(t, err, expr)
		out := map[int64]float64{}
		for _, s := range series {
			for _, p := range s.Points {
				out[p.T] = p.V
			}
		}
		return out
	}
	value := grid(fmt.Sprintf(`sum(rate(traces_service_graph_request_server_seconds_sum{%s}[10s])) / sum(rate(traces_service_graph_request_server_seconds_count{%s}[10s]))`, edge, edge))
	feature := `{anomaly_feature="latency_mean", ` + edge + `}`
	expected, lower, upper := grid("max(anomaly_expected"+feature+")"), grid("max(anomaly_lower"+feature+")"), grid("max(anomaly_upper"+feature+")")
	score := grid("max(anomaly_score" + feature + ")")
	c := picture.Chart{
		Title:     fmt.Sprintf("mean latency %s → %s (seconds), and its score", loudest[0].Labels["client"], loudest[0].Labels["server"]),
		Threshold: 7,
	}
	pick := func(m map[int64]float64, ts int64) float64 {
		if v, ok := m[ts]; ok {
			return v
		}
		return math.NaN()
	}
	// Every range query steps from the same start: their points share the timestamps.
	for _, ts := range slices.Sorted(maps.Keys(value)) {
		c.T = append(c.T, time.UnixMilli(ts))
		c.Value = append(c.Value, value[ts])
		c.Expected = append(c.Expected, pick(expected, ts))
		c.Lower = append(c.Lower, pick(lower, ts))
		c.Upper = append(c.Upper, pick(upper, ts))
		c.Score = append(c.Score, pick(score, ts))
	}
	require.NotEmpty(t, c.T, "Prometheus holds the edge's latency")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, c.WriteSVG(f))
}
