package alertwebhookexporter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadatatest"
)

var now0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// receiver is an HTTP server that answers with the queued statuses (then 200) and records
// every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
	bodies   [][]byte
	times    []time.Time
	got      chan struct{}
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, got: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.bodies = append(r.bodies, body)
		r.times = append(r.times, time.Now())
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("answer body"))
		r.got <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	for {
		r.mu.Lock()
		got := len(r.bodies)
		bodies := append([][]byte(nil), r.bodies...)
		r.mu.Unlock()
		if got >= n {
			return bodies
		}
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("the receiver got %d requests, want %d", got, n)
		}
	}
}

func testConfig(endpoint string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.RetryConfig.InitialInterval = 10 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 50 * time.Millisecond
	cfg.Rules = []RuleConfig{{
		Name: "AnomalousService", Threshold: 7, ResolveThreshold: 3,
		GroupBy:      []string{"service.name", "anomaly.group"},
		Labels:       map[string]string{"severity": "page", "team": "{{ .Labels.service_name }}-team"},
		Annotations:  map[string]string{"summary": `{{ .Labels.service_name }} scored {{ printf "%.0f" .Score }}`},
		GeneratorURL: "http://grafana.example/d/omen?var-service={{ .Labels.service_name }}",
	}}
	return cfg
}

type testExporter struct {
	*alertExporter
	tt   *componenttest.Telemetry
	now  time.Time
	mu   sync.Mutex
	once sync.Once
}

func startExporter(t *testing.T, cfg *Config) *testExporter {
	t.Helper()
	return startExporterOn(t, cfg, componenttest.NewNopHost(), now0)
}

// startExporterOn starts an exporter on host (with its extensions) with the clock at now.
func startExporterOn(t *testing.T, cfg *Config, host component.Host, now time.Time) *testExporter {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	e, err := newExporter(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	// Ticks change nothing until a test moves the injected clock; frequent ones keep tests short.
	e.tickInterval = 5 * time.Millisecond
	te := &testExporter{alertExporter: e, tt: tt, now: now}
	e.now = func() time.Time {
		te.mu.Lock()
		defer te.mu.Unlock()
		return te.now
	}
	require.NoError(t, e.Start(context.Background(), host))
	t.Cleanup(func() { te.shutdown(t) })
	return te
}

// shutdown shuts the exporter down once (a test may do it before its cleanup).
func (te *testExporter) shutdown(t *testing.T) {
	t.Helper()
	te.once.Do(func() { require.NoError(t, te.Shutdown(context.Background())) })
}

func (te *testExporter) setNow(t time.Time) {
	te.mu.Lock()
	te.now = t
	te.mu.Unlock()
}

// unified is one anomaly.unified_score point as the anomaly processor emits it.
func unified(ts time.Time, score float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("anomaly.unified_score")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(score)
	dp.Attributes().PutStr("anomaly.group", "http")
	return md
}

type postable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func decode(t *testing.T, body []byte) []postable {
	t.Helper()
	var out []postable
	require.NoError(t, json.Unmarshal(body, &out), "%s", body)
	return out
}

// TestAlertmanagerFormat: a score above the threshold posts one firing alert to /api/v2/alerts
// with the rendered labels and annotations; a low score posts its resolution; a middling score
// in between posts nothing.
func TestAlertmanagerFormat(t *testing.T) {
	var path string
	r := newReceiver(t)
	r.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path = req.URL.Path
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.mu.Unlock()
		r.got <- struct{}{}
	})
	te := startExporter(t, testConfig(r.URL))
	ctx := context.Background()

	require.NoError(t, te.ConsumeMetrics(ctx, unified(now0.Add(-time.Second), 2)))
	require.NoError(t, te.ConsumeMetrics(ctx, unified(now0, 9.4)))
	require.NoError(t, te.ConsumeMetrics(ctx, unified(now0.Add(time.Second), 5)))
	// Delivered before it resolves: an outbox keeps only the newest notification of an alert.
	r.wait(t, 1)
	te.setNow(now0.Add(2 * time.Second))
	require.NoError(t, te.ConsumeMetrics(ctx, unified(now0.Add(2*time.Second), 1)))

	bodies := r.wait(t, 2)
	require.Len(t, bodies, 2)
	assert.Equal(t, "/api/v2/alerts", path)
	firing := decode(t, bodies[0])
	require.Len(t, firing, 1)
	wantLabels := map[string]string{"alertname": "AnomalousService", "service_name": "checkout", "anomaly_group": "http", "severity": "page", "team": "checkout-team"}
	assert.Equal(t, wantLabels, firing[0].Labels)
	assert.Equal(t, map[string]string{"summary": "checkout scored 9", "score": "9.4"}, firing[0].Annotations)
	assert.Equal(t, "http://grafana.example/d/omen?var-service=checkout", firing[0].GeneratorURL)
	assert.Equal(t, now0, firing[0].StartsAt.UTC())
	assert.Equal(t, now0.Add(4*time.Minute), firing[0].EndsAt.UTC())

	resolved := decode(t, bodies[1])
	require.Len(t, resolved, 1)
	assert.Equal(t, wantLabels, resolved[0].Labels)
	assert.Equal(t, now0, resolved[0].StartsAt.UTC())
	assert.Equal(t, now0.Add(2*time.Second), resolved[0].EndsAt.UTC())

	metadatatest.AssertEqualAlertwebhookNotifications(t, te.tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("status", "firing"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("status", "resolved"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestValuesAndBand: an alert on anomaly.score carries the observed value of the scored point
// and the model's expected value and band, found in the same scope.
func TestValuesAndBand(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	cfg.Rules = []RuleConfig{{Name: "AnomalousMetric", Metric: "anomaly.score", Threshold: 7, GroupBy: []string{"metric.name", "route"}}}
	te := startExporter(t, cfg)

	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	add := func(name string, v float64, scoreAttrs bool) {
		m := sm.Metrics().AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now0))
		dp.SetDoubleValue(v)
		dp.Attributes().PutStr("route", "/cart")
		if scoreAttrs {
			dp.Attributes().PutStr("metric.name", "latency")
		}
	}
	add("latency", 400, false)
	add("anomaly.score", 9, true)
	add("anomaly.expected", 120.5, true)
	add("anomaly.lower", 105, true)
	add("anomaly.upper", 136, true)
	require.NoError(t, te.ConsumeMetrics(context.Background(), md))

	got := decode(t, r.wait(t, 1)[0])
	require.Len(t, got, 1)
	assert.Equal(t, map[string]string{"alertname": "AnomalousMetric", "metric_name": "latency", "route": "/cart"}, got[0].Labels)
	assert.Equal(t, map[string]string{"score": "9", "value": "400", "expected": "120.5", "band": "[105, 136]"}, got[0].Annotations)
}

// TestOldPointsAreIgnored: back-filled scores older than max_point_age never alert, and are
// counted.
func TestOldPointsAreIgnored(t *testing.T) {
	r := newReceiver(t)
	te := startExporter(t, testConfig(r.URL))
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0.Add(-6*time.Minute), 10)))
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0.Add(-5*time.Minute-time.Second), 10)))
	r.mu.Lock()
	assert.Empty(t, r.bodies)
	r.mu.Unlock()
	metadatatest.AssertEqualAlertwebhookSuppressed(t, te.tt, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("reason", "too_old"))},
	}, metricdatatest.IgnoreTimestamp())
}

// TestResend: the ticker re-sends a firing alert once resend_interval has passed on the
// (injected) clock.
func TestResend(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	te := startExporter(t, cfg)
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
	r.wait(t, 1)
	te.setNow(now0.Add(cfg.ResendInterval))
	bodies := r.wait(t, 2)
	again := decode(t, bodies[1])
	require.Len(t, again, 1)
	assert.Equal(t, now0, again[0].StartsAt.UTC())
	assert.Equal(t, now0.Add(5*time.Minute), again[0].EndsAt.UTC())
}

// TestHTTPErrors: 4xx other than 429 are permanent: the notification is dropped, counted and
// logged with the answer's body, without the URL; 429 and 5xx are retried, 429 after its
// Retry-After.
func TestHTTPErrors(t *testing.T) {
	t.Run("400 is permanent", func(t *testing.T) {
		r := newReceiver(t, http.StatusBadRequest)
		te := startExporter(t, testConfig(r.URL))
		require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
		assert.Len(t, r.wait(t, 1), 1)
		waitFor(t, "the rejection to be counted", func() bool { return te.box(0).Len() == 0 && deliveries(t, te, "rejected") == 1 })
		// Resolved later: a new notification, sent.
		te.setNow(now0.Add(time.Second))
		require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0.Add(time.Second), 1)))
		r.wait(t, 2)
	})
	t.Run("503 is retried", func(t *testing.T) {
		r := newReceiver(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		te := startExporter(t, testConfig(r.URL))
		require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
		assert.Len(t, r.wait(t, 3), 3)
		waitFor(t, "the delivery to be counted", func() bool { return deliveries(t, te, "sent") == 1 && deliveries(t, te, "retried") == 2 })
	})
	t.Run("429 waits for Retry-After", func(t *testing.T) {
		r := newReceiver(t, http.StatusTooManyRequests)
		te := startExporter(t, testConfig(r.URL))
		require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
		r.wait(t, 2)
		r.mu.Lock()
		defer r.mu.Unlock()
		assert.GreaterOrEqual(t, r.times[1].Sub(r.times[0]), 900*time.Millisecond)
	})
}

// TestWebhookAndTemplateFormats: the webhook format posts version 4 payloads to the endpoint
// itself; the template format posts the rendered template with its content type.
func TestWebhookAndTemplateFormats(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL + "/hook")
	cfg.Format = formatWebhook
	cfg.Receiver = "team"
	te := startExporter(t, cfg)
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
	var msg struct {
		Version, Status, Receiver, GroupKey string
		Alerts                              []alert.Alert
	}
	require.NoError(t, json.Unmarshal(r.wait(t, 1)[0], &msg))
	assert.Equal(t, "4", msg.Version)
	assert.Equal(t, "firing", msg.Status)
	assert.Equal(t, "team", msg.Receiver)
	assert.Equal(t, `{}:{alertname="AnomalousService"}`, msg.GroupKey)
	require.Len(t, msg.Alerts, 1)
	assert.Equal(t, "checkout", msg.Alerts[0].Labels["service_name"])

	r2 := newReceiver(t)
	cfg = testConfig(r2.URL)
	cfg.Format = formatTemplate
	cfg.Template = "testdata/body.tmpl"
	cfg.ContentType = "text/plain"
	te = startExporter(t, cfg)
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
	assert.Equal(t, "status firing: AnomalousService \n", string(r2.wait(t, 1)[0]))
	r2.mu.Lock()
	assert.Equal(t, "text/plain", r2.headers[0].Get("Content-Type"))
	r2.mu.Unlock()
}

// TestShutdownEndsABlockedResend: a sender retrying a failing re-send does not hold up
// Shutdown.
func TestShutdownEndsABlockedResend(t *testing.T) {
	statuses := make([]int, 1000)
	for i := range statuses {
		statuses[i] = http.StatusServiceUnavailable
	}
	r := newReceiver(t, append([]int{http.StatusOK}, statuses...)...)
	cfg := testConfig(r.URL)
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	e, err := newExporter(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	var mu sync.Mutex
	now := now0
	e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e.tickInterval = 5 * time.Millisecond
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.ConsumeMetrics(context.Background(), unified(now0, 9)))
	mu.Lock()
	now = now0.Add(cfg.ResendInterval)
	mu.Unlock()
	r.wait(t, 3) // the re-send is failing and being retried

	done := make(chan error, 1)
	go func() { done <- e.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return while a re-send was being retried")
	}
}
