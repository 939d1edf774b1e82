//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omen-otel/omen/testbed/harness"
)

// alerting starts Alertmanager, two webhook recorders and the collector of
// testdata/alerting.yaml, with the alert queue in dir.
func alerting(t *testing.T, dir string) (*harness.Collector, *harness.Alertmanager, *harness.WebhookRecorder, *harness.WebhookRecorder) {
	am := harness.StartAlertmanager(t)
	hook := harness.StartWebhookRecorder(t)
	tmpl := harness.StartWebhookRecorder(t)
	col := harness.StartCollector(t, harness.CollectorConfig{
		Config: "testbed/e2e/testdata/alerting.yaml",
		Env: []string{
			"OMEN_ALERTMANAGER_URL=" + am.URL,
			"OMEN_WEBHOOK_URL=" + hook.URL,
			"OMEN_TEMPLATE_URL=" + tmpl.URL,
			"OMEN_ALERT_TEMPLATE=" + filepath.Join(harness.RepoRoot(t), "examples", "alerting", "slack.tmpl"),
			"OMEN_ALERT_QUEUE_DIR=" + dir,
		},
	})
	return col, am, hook, tmpl
}

// sendAnomaly sends 100 ordinary latency points of the last 200 s, then a spike stamped now, and
// returns the spike's timestamp. Points must be recent: the exporter ignores points older than
// max_point_age (5m).
func sendAnomaly(t *testing.T, col *harness.Collector) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	rng := rand.New(rand.NewPCG(7, 11))
	start := time.Now().Add(-200 * time.Second)
	for i := range 100 {
		if err := harness.SendMetrics(ctx, col.OTLPHTTP, latency(start.Add(time.Duration(i)*2*time.Second), 120+5*rng.NormFloat64())); err != nil {
			t.Fatal(err)
		}
	}
	spike := time.Now()
	if err := harness.SendMetrics(ctx, col.OTLPHTTP, latency(spike, 400)); err != nil {
		t.Fatal(err)
	}
	return spike
}

// sendOrdinary sends ordinary points stamped now, which bring the scores down.
func sendOrdinary(t *testing.T, col *harness.Collector, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	for range n {
		if err := harness.SendMetrics(ctx, col.OTLPHTTP, latency(time.Now(), 121)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func findAlert(alerts []harness.AMAlert, name string) *harness.AMAlert {
	for i := range alerts {
		if alerts[i].Labels["alertname"] == name {
			return &alerts[i]
		}
	}
	return nil
}

// TestAlertFiresAndResolvesInAlertmanager sends a latency series with a spike through the anomaly
// processor and checks that a real Alertmanager holds the service alert and the metric alert with
// the expected labels and annotations, that both resolve once the series is ordinary again, and
// that the webhook and template receivers got the same alerts firing, then resolved.
func TestAlertFiresAndResolvesInAlertmanager(t *testing.T) {
	col, am, hook, tmpl := alerting(t, t.TempDir())
	spike := sendAnomaly(t, col)

	got, err := am.WaitFor(arrival, func(a []harness.AMAlert) bool {
		return findAlert(a, "AnomalousService") != nil && findAlert(a, "AnomalousMetric") != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := findAlert(got, "AnomalousService")
	wantLabels := map[string]string{"alertname": "AnomalousService", "service_name": "checkout", "anomaly_group": "service", "severity": "page"}
	if !equalMaps(svc.Labels, wantLabels) {
		t.Errorf("service alert labels = %v, want %v", svc.Labels, wantLabels)
	}
	if !strings.HasPrefix(svc.Annotations["summary"], "checkout behaves unusually (score ") {
		t.Errorf("summary = %q", svc.Annotations["summary"])
	}
	if s, err := strconv.ParseFloat(svc.Annotations["score"], 64); err != nil || s < 7 {
		t.Errorf("score annotation = %q, want >= 7", svc.Annotations["score"])
	}
	if svc.GeneratorURL != "http://grafana.example/d/omen?var-service=checkout" {
		t.Errorf("generatorURL = %q", svc.GeneratorURL)
	}
	if d := svc.StartsAt.Sub(spike); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("startsAt = %s, want the spike's timestamp %s", svc.StartsAt, spike)
	}
	if svc.Status.State != "active" {
		t.Errorf("state = %q, want active", svc.Status.State)
	}

	metric := findAlert(got, "AnomalousMetric")
	wantLabels = map[string]string{"alertname": "AnomalousMetric", "service_name": "checkout", "metric_name": "omen.e2e.latency", "route": "/cart"}
	if !equalMaps(metric.Labels, wantLabels) {
		t.Errorf("metric alert labels = %v, want %v", metric.Labels, wantLabels)
	}
	if metric.Annotations["value"] != "400" {
		t.Errorf("value annotation = %q, want 400", metric.Annotations["value"])
	}
	if e, err := strconv.ParseFloat(metric.Annotations["expected"], 64); err != nil || e < 110 || e > 130 {
		t.Errorf("expected annotation = %q, want about 120", metric.Annotations["expected"])
	}
	if !strings.HasPrefix(metric.Annotations["band"], "[") {
		t.Errorf("band annotation = %q", metric.Annotations["band"])
	}
	t.Logf("firing: %+v", got)

	sendOrdinary(t, col, 5)
	if _, err := am.WaitFor(arrival, func(a []harness.AMAlert) bool { return len(a) == 0 }); err != nil {
		t.Fatal(err)
	}

	// The webhook receiver: Alertmanager's webhook payload, version 4, firing then resolved.
	reqs, err := hook.WaitFor(arrival, func(r []harness.WebhookRequest) bool { return len(r) >= 2 })
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]webhookMessage, 2)
	for i, r := range reqs[:2] {
		if r.ContentType != "application/json" {
			t.Errorf("webhook content type = %q", r.ContentType)
		}
		if err := json.Unmarshal(r.Body, &msgs[i]); err != nil {
			t.Fatalf("webhook body %s: %v", r.Body, err)
		}
	}
	for i, want := range []string{"firing", "resolved"} {
		m := msgs[i]
		if m.Version != "4" || m.Status != want || m.Receiver != "e2e" || m.GroupKey != `{}:{alertname="AnomalousService"}` ||
			m.GroupLabels["alertname"] != "AnomalousService" || m.CommonLabels["service_name"] != "checkout" ||
			len(m.Alerts) != 1 || m.Alerts[0].Status != want || m.Alerts[0].Fingerprint == "" {
			t.Errorf("webhook message %d = %+v, want a %s AnomalousService message", i, m, want)
		}
	}
	if msgs[0].Alerts[0].Fingerprint != msgs[1].Alerts[0].Fingerprint || !msgs[0].Alerts[0].StartsAt.Equal(msgs[1].Alerts[0].StartsAt) {
		t.Errorf("the resolved alert is not the one that fired: %+v then %+v", msgs[0].Alerts[0], msgs[1].Alerts[0])
	}
	if !msgs[1].Alerts[0].EndsAt.After(msgs[1].Alerts[0].StartsAt) {
		t.Errorf("resolved endsAt %s is not after startsAt %s", msgs[1].Alerts[0].EndsAt, msgs[1].Alerts[0].StartsAt)
	}

	// The template receiver: the Slack example template renders valid JSON with the alert in it.
	treqs, err := tmpl.WaitFor(arrival, func(r []harness.WebhookRequest) bool { return len(r) >= 2 })
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"[FIRING] AnomalousMetric: 1 alert(s)", "[RESOLVED] AnomalousMetric: 1 alert(s)"} {
		var slack struct {
			Text   string `json:"text"`
			Blocks []struct {
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(treqs[i].Body, &slack); err != nil {
			t.Fatalf("template body is not JSON: %v\n%s", err, treqs[i].Body)
		}
		if slack.Text != want || len(slack.Blocks) != 1 || !strings.Contains(slack.Blocks[0].Text.Text, "omen.e2e.latency of checkout is unusual") ||
			!strings.Contains(slack.Blocks[0].Text.Text, "value 400") {
			t.Errorf("slack message %d = %+v, want %q about omen.e2e.latency", i, slack, want)
		}
	}
}

// waitTelemetry waits until a line of the collector's own metrics starts with prefix and holds
// part and suffix (suffix at its end, as "} 2" for a value of 2; empty for any value).
func waitTelemetry(col *harness.Collector, prefix, part, suffix string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		body, err := get("http://" + col.Telemetry + "/metrics")
		if err == nil {
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, prefix) && strings.Contains(line, part) && strings.HasSuffix(line, suffix) {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no telemetry line %s...%s...%s within %s (last error %v):\n%s", prefix, part, suffix, timeout, err, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func get(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// webhookMessage is the part of Alertmanager's webhook payload the test checks.
type webhookMessage struct {
	Version      string            `json:"version"`
	GroupKey     string            `json:"groupKey"`
	Status       string            `json:"status"`
	Receiver     string            `json:"receiver"`
	GroupLabels  map[string]string `json:"groupLabels"`
	CommonLabels map[string]string `json:"commonLabels"`
	Alerts       []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Fingerprint string            `json:"fingerprint"`
		StartsAt    time.Time         `json:"startsAt"`
		EndsAt      time.Time         `json:"endsAt"`
	} `json:"alerts"`
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
