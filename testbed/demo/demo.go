// Package demo runs what `make demo` shows and what the dashboard test reads: one generated shop
// through the built collector (collector.yaml: edges split by version, anomaly and root-cause
// processors), a real Prometheus and a real Alertmanager on loopback; after the warm-up a bad
// new version of its busiest service takes a fifth of that service's requests. It also draws
// what Omen saw, from Prometheus, as pictures a person opens.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omen-otel/omen/testbed/harness"
	"github.com/omen-otel/omen/testbed/internal/picture"
	"github.com/omen-otel/omen/testbed/trafficgen"
)

const (
	// StableVersion and CanaryVersion are the service.version of the stable version's spans
	// and of the canary's, as in examples/argo-rollouts/rollout.yml.
	StableVersion = "1.0.0"
	CanaryVersion = "2.0.0"
	// Flush is the connector's flush interval in collector.yaml.
	Flush = 2 * time.Second
	// TraceRate is the shop's traces per second.
	TraceRate = 40.0
	// warmUp lets the edges' models learn: min_samples (10) flushes after each edge's first two,
	// and a few more for the learned spread to settle.
	warmUp = 40 * time.Second
)

// IncidentQuery has a sample for each open incident: its likely cause, and the cause's version
// when a version's edges made its score.
const IncidentQuery = `max by (anomaly_incident_id, service_name, service_version) (anomaly_incident_cause)`

// VersionScoreQuery is the score of one version of a service over its own incoming edges.
func VersionScoreQuery(service, version string) string {
	return fmt.Sprintf(`max(anomaly_unified_score{anomaly_group="service_graph.service_version", service_name=%q, service_version=%q})`, service, version)
}

// Options are what a caller adds to the run.
type Options struct {
	// Root is the repository's root folder.
	Root string
	// RuleFiles are Prometheus rule files to evaluate (the canary analysis' recording rule).
	RuleFiles []string
	// OnCanary, when set, is called as the canary takes its first requests, with the run so far:
	// a Rollout's analysis step starts there.
	OnCanary func(*Run)
}

// Run is one started demo. The traffic goes on until the test ends.
type Run struct {
	Collector    *harness.Collector
	Prometheus   *harness.Prometheus
	Alertmanager *harness.Alertmanager
	Canary       trafficgen.Canary
	Start        time.Time // the first trace
	CanaryAt     time.Time // the canary's first request
	RolledBackAt time.Time // the canary's end, once Rollback has been called
	gen          *trafficgen.Generator
}

// Rollback ends the canary, as an aborted Rollout does: every request goes to the stable
// version again.
func (r *Run) Rollback() {
	r.gen.StopCanary()
	r.RolledBackAt = time.Now()
}

// Services is the number of services of the shop.
func (r *Run) Services() int { return len(r.gen.Graph().Services) }

// Start warms the shop's models, starts the bad canary (latency ×3 on 20 % of its service's
// requests), and returns once the canary has opened an incident. It fails the test when the
// incident does not open within 90 s.
func Start(t testing.TB, ctx context.Context, o Options) *Run {
	t.Helper()
	r := &Run{Alertmanager: harness.StartAlertmanager(t)}
	r.Collector = harness.StartCollector(t, harness.CollectorConfig{
		Config: filepath.Join(o.Root, "testbed", "demo", "collector.yaml"),
		Env:    []string{"OMEN_ALERTMANAGER_URL=" + r.Alertmanager.URL},
	})
	r.Prometheus = harness.StartPrometheus(t, harness.PrometheusConfig{Targets: []string{r.Collector.Prometheus}, RuleFiles: o.RuleFiles})
	g, err := trafficgen.New(trafficgen.Config{Seed: 1001, Prefix: "shop-", TraceRate: TraceRate, Version: StableVersion})
	if err != nil {
		t.Fatal(err)
	}
	r.gen = g
	r.Canary = trafficgen.Canary{Service: g.Graph().MostCalled(), Version: CanaryVersion, Share: 0.2, Factor: 3}

	sending, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	sendErr := make(chan error, 1)
	r.Start = time.Now()
	wg.Go(func() {
		sendErr <- trafficgen.SendAll(sending, []*trafficgen.Generator{g}, TraceRate, trafficgen.HTTPSender(r.Collector.OTLPHTTP))
	})
	t.Cleanup(func() {
		stop()
		wg.Wait()
		if err := <-sendErr; err != nil {
			t.Errorf("sending traces: %v", err)
		}
	})
	select {
	case <-time.After(warmUp):
	case <-sending.Done():
		t.Fatal("the demo ended during the warm-up")
	}
	if err := g.StartCanary(r.Canary); err != nil {
		t.Fatal(err)
	}
	r.CanaryAt = time.Now()
	if o.OnCanary != nil {
		o.OnCanary(r)
	}
	if _, err := r.Prometheus.WaitFor(IncidentQuery, 90*time.Second, func(s []harness.Sample) bool { return len(s) > 0 }); err != nil {
		t.Fatalf("the canary opens no incident: %v", err)
	}
	return r
}

// FirstHigh is when the canary version's own score first reached 7 in Prometheus.
func (r *Run) FirstHigh(ctx context.Context) (time.Time, error) {
	series, err := r.Prometheus.QueryRange(ctx, VersionScoreQuery(r.Canary.Service, CanaryVersion), r.CanaryAt.Add(-Flush), time.Now(), time.Second)
	if err != nil {
		return time.Time{}, err
	}
	var first time.Time
	for _, s := range series {
		for _, p := range s.Points {
			if at := time.UnixMilli(p.T); p.V >= 7 && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
	}
	if first.IsZero() {
		return first, fmt.Errorf("%s version %s never scored 7 or more", r.Canary.Service, CanaryVersion)
	}
	return first, nil
}

// WriteGraph draws the service graph as Prometheus holds it now, the likely cause marked with
// its version.
func (r *Run) WriteGraph(ctx context.Context, path string) error {
	g := picture.Graph{Title: "the service graph during the bad canary"}
	var errs []error
	samples := func(expr string) []harness.Sample {
		s, err := r.Prometheus.Query(ctx, expr)
		errs = append(errs, err)
		return s
	}
	for _, s := range samples(`max by (service_name) (anomaly_unified_score{anomaly_group="service_graph.service"})`) {
		g.Services = append(g.Services, picture.Service{Name: s.Labels["service_name"], Score: s.Value})
	}
	byName := map[string]*picture.Service{}
	for i := range g.Services {
		byName[g.Services[i].Name] = &g.Services[i]
	}
	for _, s := range samples(`max by (service_name) (anomaly_root_cause)`) {
		if svc := byName[s.Labels["service_name"]]; svc != nil {
			svc.RootCause = s.Value
		}
	}
	for _, s := range samples(IncidentQuery) {
		if svc := byName[s.Labels["service_name"]]; svc != nil {
			svc.Cause, svc.Version = true, s.Labels["service_version"]
		}
	}
	for _, s := range samples(`max by (client, server) (anomaly_unified_score{anomaly_group="service_graph.edge"})`) {
		g.Calls = append(g.Calls, picture.Call{Client: s.Labels["client"], Server: s.Labels["server"], Score: s.Value})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return writeSVG(path, g.WriteSVG)
}

// WriteLatency draws the mean latency of the canary's loudest incoming edge, dashed beside the
// stable version's edge from the same caller, from half a minute before the canary to now. The
// canary's edge has the model's expected value and band (borrowed from the stable version's
// edge at the canary's first flush) and its score, while it has traffic.
func (r *Run) WriteLatency(ctx context.Context, path string) error {
	loudest, err := r.Prometheus.Query(ctx, fmt.Sprintf(`topk(1, max_over_time(anomaly_score{anomaly_feature="latency_mean", server=%q, server_service_version=%q}[5m]))`, r.Canary.Service, CanaryVersion))
	if err != nil {
		return err
	}
	if len(loudest) == 0 {
		return fmt.Errorf("the canary's incoming edges have no latency scores")
	}
	client := loudest[0].Labels["client"]
	start, end, step := r.CanaryAt.Add(-30*time.Second), time.Now(), time.Second
	var errs []error
	grid := func(expr string) map[int64]float64 {
		series, err := r.Prometheus.QueryRange(ctx, expr, start, end, step)
		errs = append(errs, err)
		out := map[int64]float64{}
		for _, s := range series {
			for _, p := range s.Points {
				out[p.T] = p.V
			}
		}
		return out
	}
	edge := func(version string) string {
		return fmt.Sprintf(`client=%q, server=%q, server_service_version=%q`, client, r.Canary.Service, version)
	}
	latency := func(version string) map[int64]float64 {
		e := edge(version)
		return grid(fmt.Sprintf(`sum(rate(traces_service_graph_request_server_seconds_sum{%s}[6s])) / sum(rate(traces_service_graph_request_server_seconds_count{%s}[6s]))`, e, e))
	}
	canary, stable := latency(CanaryVersion), latency(StableVersion)
	feature := `{anomaly_feature="latency_mean", ` + edge(CanaryVersion) + `}`
	expected, lower, upper := grid("max(anomaly_expected"+feature+")"), grid("max(anomaly_lower"+feature+")"), grid("max(anomaly_upper"+feature+")")
	score := grid("max(anomaly_score" + feature + ")")
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// The exporter serves a series' last point for minutes after its last update: the
	// canary's model and score are drawn only while its edge has traffic.
	var first, last int64
	for ts, v := range canary {
		if !math.IsNaN(v) {
			if first == 0 || ts < first {
				first = ts
			}
			last = max(last, ts)
		}
	}
	if first == 0 {
		return fmt.Errorf("Prometheus holds no latency of %s", edge(CanaryVersion))
	}
	c := picture.Chart{
		Title:      fmt.Sprintf("mean latency %s → %s by version (seconds), and the canary's score", client, r.Canary.Service),
		Threshold:  7,
		ValueLabel: "canary " + CanaryVersion, BaselineLabel: "stable " + StableVersion,
		Marks: []picture.Mark{{At: r.CanaryAt, Label: "canary takes 20 %"}},
	}
	if !r.RolledBackAt.IsZero() {
		c.Marks = append(c.Marks, picture.Mark{At: r.RolledBackAt, Label: "rolled back"})
	}
	pick := func(m map[int64]float64, ts int64) float64 {
		if v, ok := m[ts]; ok && ts >= first && ts <= last {
			return v
		}
		return math.NaN()
	}
	// Every range query steps from the same start: their points share the timestamps.
	for _, ts := range slices.Sorted(maps.Keys(stable)) {
		c.T = append(c.T, time.UnixMilli(ts))
		c.Baseline = append(c.Baseline, stable[ts])
		c.Value = append(c.Value, pick(canary, ts))
		c.Expected = append(c.Expected, pick(expected, ts))
		c.Lower = append(c.Lower, pick(lower, ts))
		c.Upper = append(c.Upper, pick(upper, ts))
		c.Score = append(c.Score, pick(score, ts))
	}
	return writeSVG(path, c.WriteSVG)
}

func writeSVG(path string, write func(w io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	return write(f)
}
