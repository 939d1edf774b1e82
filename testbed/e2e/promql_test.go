//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/testbed/harness"
)

const (
	historyStep = 15 * time.Second
	clockStep   = 2 * time.Second
	// backfill bounds the wait for a 3-hour back-fill in chunks of 200 points.
	backfill = 2 * time.Minute
)

// TestPromQLReceiver runs the built collector's PromQL receiver against a real Prometheus that
// holds a known history (written into its TSDB with promtool) and checks that:
//   - the collector, started before Prometheus, retries and counts the failures;
//   - the back-fill emits exactly what query_range returns for the history, in timestamp order;
//   - the live schedule continues the back-fill without gap or repeated timestamp, each point
//     with the value Prometheus computes for its timestamp;
//   - a query Prometheus rejects is logged with Prometheus' error text and counted, while the
//     others keep running;
//   - the anomaly processor scores the series, and the scores reach Prometheus through the
//     distribution's Prometheus exporter.
func TestPromQLReceiver(t *testing.T) {
	start := time.Now()
	history, historyEnd := historyOpenMetrics(start)
	sink := harness.StartOTLPSink(t)
	promAddr := harness.FreeAddr(t)
	col := harness.StartCollector(t, harness.CollectorConfig{
		Config: "testbed/e2e/testdata/promql.yaml",
		Env:    []string{"OMEN_PROMQL_ENDPOINT=http://" + promAddr, "OMEN_SINK_ENDPOINT=" + sink.Endpoint},
	})
	// Prometheus is down for the collector's first requests.
	time.Sleep(time.Second)
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{Addr: promAddr, Targets: []string{col.Prometheus}, History: history})
	promReady := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), backfill)
	defer cancel()
	want, err := prom.QueryRange(ctx, "sum by (service) (omen_e2e_history)", start.Add(-3*time.Hour).Truncate(historyStep), start.Add(time.Minute), historyStep)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 1 || len(want[0].Points) < 600 {
		t.Fatalf("Prometheus does not hold the history: %v", want)
	}
	wantPoints := want[0].Points
	if last := wantPoints[len(wantPoints)-1].T; last > historyEnd.Add(5*time.Minute).UnixMilli() {
		t.Fatalf("history ends at %s, Prometheus answers up to %s", historyEnd, time.UnixMilli(last))
	}

	// The back-fill of the history, and the clock live for a few steps after Prometheus came up.
	pts, err := sink.WaitFor(backfill, func(pts []harness.SinkPoint) bool {
		return len(only(pts, "omen.e2e.history.sum")) >= len(wantPoints) &&
			lastT(only(pts, "omen.e2e.clock")) >= promReady.Add(5*clockStep).UnixMilli()
	})
	if err != nil {
		t.Fatalf("%v: %d history points of %d, clock up to %s", err, len(only(pts, "omen.e2e.history.sum")), len(wantPoints), time.UnixMilli(lastT(only(pts, "omen.e2e.clock"))))
	}

	t.Run("back-fill equals query_range", func(t *testing.T) {
		got := only(pts, "omen.e2e.history.sum")
		if len(got) != len(wantPoints) {
			t.Errorf("%d points emitted, query_range has %d; emitted from %s to %s, query_range from %s to %s", len(got), len(wantPoints),
				time.UnixMilli(got[0].T), time.UnixMilli(lastT(got)), time.UnixMilli(wantPoints[0].T), time.UnixMilli(wantPoints[len(wantPoints)-1].T))
		}
		for i := 1; i < len(got); i++ {
			if got[i].T <= got[i-1].T {
				t.Errorf("point %d at %s follows %s: not in timestamp order", i, time.UnixMilli(got[i].T), time.UnixMilli(got[i-1].T))
			}
		}
		for i := range min(len(got), len(wantPoints)) {
			g, w := got[i], wantPoints[i]
			if g.T != w.T || g.V != w.V {
				t.Fatalf("point %d: emitted %s = %g, query_range has %s = %g", i, time.UnixMilli(g.T), g.V, time.UnixMilli(w.T), w.V)
			}
			if fmt.Sprint(g.Attributes) != "map[service:checkout]" {
				t.Fatalf("point %d: attributes %v, want the series' labels without __name__", i, g.Attributes)
			}
		}
	})

	t.Run("live continues the back-fill", func(t *testing.T) {
		got := only(pts, "omen.e2e.clock")
		if first := time.UnixMilli(got[0].T); first.After(start.Add(-3*time.Hour + clockStep + time.Second)) {
			t.Errorf("the clock's back-fill starts at %s, want 3 h before the start (%s)", first, start)
		}
		for i, p := range got {
			// vector(time()) is the evaluation timestamp: each point says when it was evaluated.
			if p.V != float64(p.T)/1000 {
				t.Fatalf("point %d at %s has value %g: not evaluated at its own timestamp", i, time.UnixMilli(p.T), p.V)
			}
			if fmt.Sprint(p.Attributes) != "map[source:e2e]" {
				t.Fatalf("point %d: attributes %v, want the static label only", i, p.Attributes)
			}
			if i > 0 && p.T-got[i-1].T != clockStep.Milliseconds() {
				t.Fatalf("point %d: %s follows %s: a gap or a repeat", i, time.UnixMilli(p.T), time.UnixMilli(got[i-1].T))
			}
		}
		// The same timestamps, asked of query_range afterwards, give the same values.
		first, last := time.UnixMilli(got[0].T), time.UnixMilli(got[len(got)-1].T)
		rng, err := prom.QueryRange(ctx, "vector(time())", first, last, clockStep)
		if err != nil {
			t.Fatal(err)
		}
		if len(rng) != 1 || len(rng[0].Points) != len(got) {
			t.Fatalf("query_range has %v for %d emitted points", rng, len(got))
		}
		for i, w := range rng[0].Points {
			if w.T != got[i].T || w.V != got[i].V {
				t.Fatalf("point %d: emitted %d = %g, query_range has %d = %g", i, got[i].T, got[i].V, w.T, w.V)
			}
		}
	})

	t.Run("rejected query is reported and the others keep running", func(t *testing.T) {
		if logs := col.Logs(); !strings.Contains(logs, "1:10: parse error: unclosed left parenthesis") {
			t.Errorf("the collector's log lacks Prometheus' error for the broken query")
		}
		tel := scrapeTelemetry(t, "http://"+col.Telemetry+"/metrics")
		if v := tel[`otelcol_promql_evaluations_failed{query="omen.e2e.broken",reason="rejected"}`]; v != 1 {
			t.Errorf("rejected evaluations of the broken query: %g, want 1", v)
		}
		unavailable := 0.0
		for k, v := range tel {
			if strings.HasPrefix(k, "otelcol_promql_evaluations_failed{") && strings.Contains(k, `reason="unavailable"`) {
				unavailable += v
			}
		}
		if unavailable < 1 {
			t.Errorf("no unavailable evaluation counted while Prometheus was down: %v", tel)
		}
		if v := tel[`otelcol_promql_points_emitted{query="omen.e2e.history.sum"}`]; v != float64(len(wantPoints)) {
			t.Errorf("points emitted for the history: %g, want %d", v, len(wantPoints))
		}
	})

	t.Run("scores reach Prometheus", func(t *testing.T) {
		if len(only(pts, names.Score)) == 0 {
			t.Error("the anomaly processor emitted no score")
		}
		if _, err := prom.WaitFor(`anomaly_score{metric_name="omen.e2e.history.sum",service="checkout"}`, arrival, func(s []harness.Sample) bool { return len(s) == 1 }); err != nil {
			t.Error(err)
		}
	})
}

// historyOpenMetrics is a gauge sampled every 15 s from 2 h 50 min to 10 min before now, a slow
// wave with a value that changes at every sample. It ends well before now, so the live queries
// find nothing and everything emitted for it comes from the back-fill.
func historyOpenMetrics(now time.Time) (string, time.Time) {
	var b strings.Builder
	b.WriteString("# HELP omen_e2e_history A known history for the PromQL receiver's test.\n# TYPE omen_e2e_history gauge\n")
	first := now.Add(-170 * time.Minute).Truncate(historyStep)
	end := now.Add(-10 * time.Minute)
	for i, ts := 0, first; !ts.After(end); i, ts = i+1, ts.Add(historyStep) {
		v := 100 + 20*math.Sin(float64(i)/40) + float64(i%7)
		fmt.Fprintf(&b, "omen_e2e_history{service=\"checkout\"} %g %d\n", v, ts.Unix())
	}
	b.WriteString("# EOF\n")
	return b.String(), end
}

func only(pts []harness.SinkPoint, metric string) []harness.SinkPoint {
	var out []harness.SinkPoint
	for _, p := range pts {
		if p.Metric == metric {
			out = append(out, p)
		}
	}
	return out
}

func lastT(pts []harness.SinkPoint) int64 {
	if len(pts) == 0 {
		return 0
	}
	return pts[len(pts)-1].T
}

// scrapeTelemetry reads the collector's own metrics: series (name{labels}, without the
// _total suffix and without the labels every series carries) to value.
func scrapeTelemetry(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, "otelcol_promql_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("telemetry line %q: %v", line, err)
		}
		out[normalizeSeries(line[:i])] = v
	}
	return out
}

// normalizeSeries keeps the query and reason labels of a telemetry series, in that order.
func normalizeSeries(s string) string {
	name, labels, _ := strings.Cut(s, "{")
	name = strings.TrimSuffix(name, "_total")
	var kept []string
	for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		if strings.HasPrefix(l, "query=") || strings.HasPrefix(l, "reason=") {
			kept = append(kept, l)
		}
	}
	return name + "{" + strings.Join(kept, ",") + "}"
}

// TestPrometheusExample checks the Prometheus side of examples/prometheus: its configuration and
// its recording and alerting rules load in promtool.
func TestPrometheusExample(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: `make test` installs the prometheus package")
	}
	dir := filepath.Join(harness.RepoRoot(t), "examples", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(dir, "rules.yml")},
		{"check", "config", filepath.Join(dir, "prometheus.yml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusExampleScoresComeBack runs examples/prometheus as a user would: Prometheus with
// the example's rules and three hours of its own head-series metric, the collector on the
// example's config reading from it and scraped back by it. The back-fill alone warms the model
// (60 points at 1 minute), so the score, and the recording rule on it, reach Prometheus within
// seconds; the example's filter sends back nothing but scores.
func TestPrometheusExampleScoresComeBack(t *testing.T) {
	now := time.Now()
	var history strings.Builder
	history.WriteString("# HELP prometheus_tsdb_head_series Total number of series in the head block.\n# TYPE prometheus_tsdb_head_series gauge\n")
	for i, ts := 0, now.Add(-3*time.Hour); ts.Before(now.Add(-time.Minute)); i, ts = i+1, ts.Add(time.Minute) {
		fmt.Fprintf(&history, "prometheus_tsdb_head_series{job=\"prometheus\",instance=\"127.0.0.1:9090\"} %d %d\n", 5000+10*(i%13), ts.Unix())
	}
	history.WriteString("# EOF\n")

	promAddr := harness.FreeAddr(t)
	col := harness.StartCollector(t, harness.CollectorConfig{
		Config: "examples/prometheus/config.yaml",
		Env:    []string{"OMEN_PROMQL_ENDPOINT=http://" + promAddr},
	})
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{
		Addr:      promAddr,
		Targets:   []string{col.Prometheus},
		History:   history.String(),
		RuleFiles: []string{filepath.Join(harness.RepoRoot(t), "examples", "prometheus", "rules.yml")},
	})
	got, err := prom.WaitFor(`metric_name:anomaly_score:max{metric_name="prometheus.head.series"}`, backfill, func(s []harness.Sample) bool { return len(s) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recording rule: %v", got)
	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	others, err := prom.Query(ctx, `{job="omen", __name__!~"anomaly_.*|up|scrape_.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(others) > 0 {
		t.Errorf("the example sends back more than scores: %v", others)
	}
}
