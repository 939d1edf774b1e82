package alertwebhookexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/payload"
	"github.com/omen-otel/omen/internal/names"
)

// maxErrorBody bounds how much of a refused request's answer goes into the error.
const maxErrorBody = 4 << 10

type rule struct {
	cfg         RuleConfig
	metric      string
	resolveAt   float64
	templates   *ruleTemplates
	groupByName []string // group_by made label names, in group_by's order
}

// alertExporter runs the alert state machine on the scores it consumes and hands the
// notifications to exporterhelper (the embedded exporter.Metrics), whose queue, retry and timeout
// deliver them.
type alertExporter struct {
	exporter.Metrics

	cfg       *Config
	set       exporter.Settings
	telemetry *metadata.TelemetryBuilder
	rules     []rule
	body      *template.Template
	// now is the wall clock, injected by tests.
	now func() time.Time
	// tickInterval is how often re-sends and staleness are checked: a quarter of the shorter of
	// resend_interval and stale_after, so a re-send is at most that late.
	tickInterval time.Duration

	mu        sync.Mutex
	machine   *alert.Machine
	incidents *incidents

	client *http.Client
	url    string

	stopTicker context.CancelFunc
	tickerDone chan struct{}
}

// alertsKey carries a batch of notifications through exporterhelper's ConsumeMetrics to the
// converter, which turns it into the queued request: the metrics themselves are not queued.
type alertsKey struct{}

func newExporter(ctx context.Context, set exporter.Settings, cfg *Config) (*alertExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &alertExporter{
		cfg:          cfg,
		set:          set,
		telemetry:    tb,
		now:          time.Now,
		tickInterval: min(cfg.ResendInterval, cfg.StaleAfter) / 4,
		incidents:    newIncidents(cfg.ServiceKey, cfg.MaxAlerts),
	}
	machineRules := make([]alert.Rule, len(cfg.Rules))
	for i, rc := range cfg.Rules {
		tpl, err := rc.templates()
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		r := rule{cfg: rc, metric: rc.metric(), resolveAt: rc.resolveThreshold(), templates: tpl}
		for _, a := range rc.GroupBy {
			r.groupByName = append(r.groupByName, labelName(a))
		}
		e.rules = append(e.rules, r)
		machineRules[i] = alert.Rule{Threshold: rc.Threshold, ResolveThreshold: r.resolveAt, For: rc.For, KeepFiringFor: rc.KeepFiringFor}
	}
	e.machine = alert.New(machineRules, alert.Settings{
		ResendInterval: cfg.ResendInterval,
		MaxPointAge:    cfg.MaxPointAge,
		StaleAfter:     cfg.StaleAfter,
		MaxAlerts:      cfg.MaxAlerts,
		RatePerSecond:  cfg.RateLimit.PerMinute / 60,
		Burst:          cfg.RateLimit.Burst,
	})
	if cfg.Format == formatTemplate {
		if e.body, err = cfg.bodyTemplate(); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	if err := tb.RegisterAlertwebhookAlertsActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		o.Observe(int64(e.machine.Len()))
		return nil
	}); err != nil {
		return nil, err
	}
	e.Metrics, err = xexporterhelper.NewMetricsRequest(ctx, set, e.convert, e.push,
		exporterhelper.WithStart(e.startClient),
		// The HTTP client's timeout bounds each request; a second one here would only hide it.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(cfg.RetryConfig),
		xexporterhelper.WithQueueBatch(cfg.QueueConfig, xexporterhelper.QueueBatchSettings{Encoding: encoding{}}),
	)
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (e *alertExporter) startClient(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.client = client
	e.url = e.cfg.Endpoint
	if e.cfg.Format == formatAlertmanager {
		e.url = strings.TrimSuffix(e.cfg.Endpoint, "/") + "/api/v2/alerts"
	}
	return nil
}

// Start starts exporterhelper (the client, then the queue, which resumes a persistent queue) and
// then the ticker that re-sends firing alerts.
func (e *alertExporter) Start(ctx context.Context, host component.Host) error {
	if err := e.Metrics.Start(ctx, host); err != nil {
		return err
	}
	// The ticker's context is cancelled by Shutdown, which also ends a send it is blocked in (a
	// send without a queue retries in the caller).
	ctx, cancel := context.WithCancel(context.Background())
	e.stopTicker = cancel
	e.tickerDone = make(chan struct{})
	go e.tick(ctx)
	return nil
}

// Shutdown stops the ticker first, so nothing is queued after the queue has shut down.
func (e *alertExporter) Shutdown(ctx context.Context) error {
	if e.stopTicker != nil {
		e.stopTicker()
		<-e.tickerDone
	}
	err := e.Metrics.Shutdown(ctx)
	e.telemetry.Shutdown()
	return err
}

func (e *alertExporter) tick(ctx context.Context) {
	defer close(e.tickerDone)
	t := time.NewTicker(e.tickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.mu.Lock()
			now := e.now()
			e.machine.Tick(now)
			e.incidents.expire(now.Add(-e.cfg.StaleAfter))
			alerts := e.machine.Flush()
			e.mu.Unlock()
			// The error is already logged by exporterhelper; a lost re-send is made up by the next.
			_ = e.enqueue(ctx, alerts)
		}
	}
}

// ConsumeMetrics feeds the rules' score points to the state machine and queues the notifications
// it produces. The root-cause processor's incident points are read in the order they come: an
// incident's services and entry points come before the incident's own point.
func (e *alertExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	now := e.now()
	e.mu.Lock()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				e.incidents.observe(m, now)
				for i := range e.rules {
					if e.rules[i].metric == m.Name() {
						e.observe(ctx, i, rm.Resource().Attributes(), sm, m, now)
					}
				}
				if m.Name() == names.Incident && m.Type() == pmetric.MetricTypeGauge {
					for _, dp := range m.Gauge().DataPoints().All() {
						if numberValue(dp) == 0 {
							e.incidents.end(dp.Attributes())
						}
					}
				}
			}
		}
	}
	alerts := e.machine.Flush()
	e.mu.Unlock()
	return e.enqueue(ctx, alerts)
}

// observe feeds one metric's points to the state machine. A rule on anomaly.incident alerts
// once per incident; its annotations name the incident's likely cause, its services and entry
// points as the root-cause processor last ranked them.
func (e *alertExporter) observe(ctx context.Context, ri int, res pcommon.Map, sm pmetric.ScopeMetrics, m pmetric.Metric, now time.Time) {
	r := &e.rules[ri]
	var dps pmetric.NumberDataPointSlice
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps = m.Gauge().DataPoints()
	case pmetric.MetricTypeSum:
		dps = m.Sum().DataPoints()
	default:
		return
	}
	for _, dp := range dps.All() {
		score := numberValue(dp)
		if math.IsNaN(score) {
			e.suppressed(ctx, "not_finite")
			continue
		}
		// The common case: an ordinary score and no alert that it could resolve.
		if score < r.resolveAt && e.machine.Len() == 0 {
			continue
		}
		data := &templateData{Labels: e.groupLabels(r, res, dp.Attributes()), Rule: r.cfg.Name, Metric: r.metric, Score: score}
		if r.metric == names.Incident {
			e.incidents.describe(data, dp.Attributes())
		}
		labels := make(map[string]string, len(data.Labels)+len(r.cfg.Labels))
		for k, v := range data.Labels {
			labels[k] = v
		}
		if err := r.templates.addLabels(labels, data); err != nil {
			e.set.Logger.Warn("Rendering the labels of an alert failed; the point is skipped.", zap.String("rule", r.cfg.Name), zap.Error(err))
			continue
		}
		p := alert.Point{Rule: ri, Labels: alert.NewLabels(labels), Time: dp.Timestamp().AsTime(), Score: score}
		outcome := e.machine.Observe(p, now, func() (map[string]string, string) {
			e.fillValues(data, sm, dp)
			annotations, url, err := r.templates.annotate(data)
			if err != nil {
				// The alert still fires: a broken annotation must not hide an anomaly.
				e.set.Logger.Warn("Rendering the annotations of an alert failed.", zap.String("rule", r.cfg.Name), zap.Error(err))
			}
			return annotations, url
		})
		switch outcome {
		case alert.TooOld:
			e.suppressed(ctx, "too_old")
		case alert.OutOfOrder:
			e.suppressed(ctx, "out_of_order")
		case alert.Limited:
			e.suppressed(ctx, "limit")
		case alert.RateLimited:
			e.suppressed(ctx, "rate_limit")
		}
	}
}

func (e *alertExporter) suppressed(ctx context.Context, reason string) {
	e.telemetry.AlertwebhookSuppressed.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

// groupLabels are the alert's labels from the point's and resource's attributes (group_by, or all
// of them), with alertname.
func (e *alertExporter) groupLabels(r *rule, res, attrs pcommon.Map) map[string]string {
	out := map[string]string{}
	if len(r.cfg.GroupBy) == 0 {
		for k, v := range res.All() {
			out[labelName(k)] = v.AsString()
		}
		for k, v := range attrs.All() {
			out[labelName(k)] = v.AsString()
		}
	} else {
		for i, k := range r.cfg.GroupBy {
			if v, ok := attrs.Get(k); ok {
				out[r.groupByName[i]] = v.AsString()
			} else if v, ok := res.Get(k); ok {
				out[r.groupByName[i]] = v.AsString()
			}
		}
	}
	out["alertname"] = r.cfg.Name
	return out
}

// fillValues finds, in the scope the score came from, the scored point (same attributes without
// metric.name, same timestamp) and the band points (same attributes), as the anomaly processor
// writes them. A feature of a histogram or summary has no single observed value.
func (e *alertExporter) fillValues(d *templateData, sm pmetric.ScopeMetrics, score pmetric.NumberDataPoint) {
	name, hasName := score.Attributes().Get(names.MetricName)
	_, hasFeature := score.Attributes().Get(names.Feature)
	var scored pcommon.Map
	if hasName && !hasFeature {
		scored = pcommon.NewMap()
		score.Attributes().CopyTo(scored)
		scored.Remove(names.MetricName)
	}
	for _, m := range sm.Metrics().All() {
		var target *string
		attrs := score.Attributes()
		switch {
		case m.Name() == names.Expected:
			target = &d.Expected
		case m.Name() == names.Lower:
			target = &d.Lower
		case m.Name() == names.Upper:
			target = &d.Upper
		case hasName && !hasFeature && m.Name() == name.Str():
			target, attrs = &d.Value, scored
		default:
			continue
		}
		var dps pmetric.NumberDataPointSlice
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			dps = m.Gauge().DataPoints()
		case pmetric.MetricTypeSum:
			dps = m.Sum().DataPoints()
		default:
			continue
		}
		for _, dp := range dps.All() {
			if dp.Timestamp() == score.Timestamp() && dp.Attributes().Equal(attrs) {
				*target = formatValue(numberValue(dp))
				break
			}
		}
	}
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// enqueue hands notifications to exporterhelper: through its ConsumeMetrics, with the batch in
// the context, to convert and then the queue.
func (e *alertExporter) enqueue(ctx context.Context, alerts []alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	for _, a := range alerts {
		e.telemetry.AlertwebhookNotifications.Add(ctx, 1, metric.WithAttributes(attribute.String("status", string(a.Status))))
	}
	return e.Metrics.ConsumeMetrics(context.WithValue(ctx, alertsKey{}, alerts), pmetric.NewMetrics())
}

func (e *alertExporter) convert(ctx context.Context, _ pmetric.Metrics) (xexporterhelper.Request, error) {
	alerts, _ := ctx.Value(alertsKey{}).([]alert.Alert)
	return &request{Alerts: alerts}, nil
}

// push sends one queued request: one POST for Alertmanager's API, one per alertname for the
// webhook and template formats. When one of several POSTs fails the whole request is retried;
// receivers deduplicate by fingerprint, as they do Alertmanager's own repeats.
func (e *alertExporter) push(ctx context.Context, req xexporterhelper.Request) error {
	r, ok := req.(*request)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("unexpected request type %T", req))
	}
	if len(r.Alerts) == 0 {
		return nil
	}
	if e.cfg.Format == formatAlertmanager {
		body, err := payload.Alertmanager(r.Alerts)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return e.post(ctx, "application/json", body)
	}
	for _, msg := range payload.Group(r.Alerts, e.cfg.Receiver, e.cfg.ExternalURL) {
		var body []byte
		var err error
		contentType := "application/json"
		if e.cfg.Format == formatTemplate {
			body, err = payload.Template(e.body, msg)
			contentType = e.cfg.ContentType
		} else {
			body, err = payload.Webhook(msg)
		}
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		if err := e.post(ctx, contentType, body); err != nil {
			return err
		}
	}
	return nil
}

// post sends one body. The URL is not in the errors: a webhook URL often holds a secret (Slack's
// does).
func (e *alertExporter) post(ctx context.Context, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(string(body)))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := e.client.Do(req)
	if err != nil {
		// Connection refused, reset, time-out: retried.
		return fmt.Errorf("sending alerts: %w", scrubURL(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("the receiver answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		// A 4xx says the request is wrong; sending it again cannot help.
		return consumererror.NewPermanent(err)
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), e.now()); ok {
		return exporterhelper.NewThrottleRetry(err, d)
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// scrubURL drops the URL from a client error (*url.Error), keeping what went wrong.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
