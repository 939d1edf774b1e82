package alertwebhookexporter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
	"github.com/omen-otel/omen/internal/checkpoint"
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

// alertExporter runs the alert state machine on the scores it consumes and puts the
// notifications into one outbox per endpoint, from which each endpoint's sender delivers them
// (deliver.go). The machine and the outboxes are checkpointed through the storage extension
// (state.go).
type alertExporter struct {
	cfg       *Config
	set       exporter.Settings
	telemetry *metadata.TelemetryBuilder
	rules     []rule
	body      *template.Template
	// now is the wall clock, injected by tests.
	now func() time.Time
	// after is how a sender waits before a retry, injected by tests.
	after func(time.Duration) <-chan time.Time
	// tickInterval is how often re-sends and staleness are checked: a quarter of the shorter of
	// resend_interval and stale_after, so a re-send is at most that late.
	tickInterval time.Duration

	// mu guards the machine and the incidents' view, which only ConsumeMetrics, the ticker and
	// the checkpoint's snapshot and restore touch.
	mu        sync.Mutex
	machine   *alert.Machine
	incidents *incidents

	// endpoints each own their outbox and sender.
	endpoints  []*endpoint
	checkpoint *checkpoint.Checkpointer[snapshot]

	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newExporter(_ context.Context, set exporter.Settings, cfg *Config) (*alertExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &alertExporter{
		cfg:          cfg,
		set:          set,
		telemetry:    tb,
		now:          time.Now,
		after:        time.After,
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
		machineRules[i] = alert.Rule{Name: rc.Name, Threshold: rc.Threshold, ResolveThreshold: r.resolveAt, For: rc.For, KeepFiringFor: rc.KeepFiringFor}
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
	if cfg.legacyQueue {
		set.Logger.Warn("sending_queue is deprecated and ignored: notifications wait in a per-endpoint outbox, kept in storage (sending_queue::storage is used as storage when storage is not set); set storage and max_pending instead.")
	}
	e.endpoints = newEndpoints(cfg)
	e.checkpoint = checkpoint.New(cfg.Checkpoint, checkpoint.Settings{
		Logger: set.Logger, Kind: component.KindExporter, ID: set.ID, Name: "alerts",
		Hook: checkpointHook{e.telemetry},
	}, e.codec())
	if err := tb.RegisterAlertwebhookAlertsActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		o.Observe(int64(e.machine.Len()))
		return nil
	}); err != nil {
		return nil, err
	}
	if err := tb.RegisterAlertwebhookPendingCallback(func(_ context.Context, o metric.Int64Observer) error {
		for _, ep := range e.endpoints {
			o.Observe(int64(ep.box.Len()), metric.WithAttributes(attribute.String("endpoint", ep.name)))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return e, nil
}

// Start builds each endpoint's HTTP client, restores the checkpoint (or starts cold), then starts
// the senders and the ticker that re-sends firing alerts.
func (e *alertExporter) Start(ctx context.Context, host component.Host) error {
	for _, ep := range e.endpoints {
		client := e.cfg.ClientConfig
		client.Endpoint = ep.endpoint
		c, err := client.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
		if err != nil {
			return err
		}
		ep.client = c
	}
	if err := e.checkpoint.Start(ctx, host); err != nil {
		return err
	}
	// Cancelled by Shutdown, which also ends a request in flight.
	runCtx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	for _, ep := range e.endpoints {
		e.wg.Add(1)
		go e.deliver(runCtx, ep)
	}
	e.wg.Add(1)
	go e.tick(runCtx)
	return nil
}

// Shutdown stops the ticker and the senders, then writes the last checkpoint: what was not
// delivered waits in it for the next start.
func (e *alertExporter) Shutdown(ctx context.Context) error {
	if e.stop != nil {
		e.stop()
		e.wg.Wait()
	}
	err := e.checkpoint.Shutdown(ctx)
	e.telemetry.Shutdown()
	return err
}

func (e *alertExporter) tick(ctx context.Context) {
	defer e.wg.Done()
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
		render := func() (map[string]string, string) {
			e.fillValues(data, sm, dp)
			annotations, url, err := r.templates.annotate(data)
			if err != nil {
				// The alert still fires: a broken annotation must not hide an anomaly.
				e.set.Logger.Warn("Rendering the annotations of an alert failed.", zap.String("rule", r.cfg.Name), zap.Error(err))
			}
			return annotations, url
		}
		outcome := e.machine.Observe(p, now, render)
		// An incident whose likely cause, services or entry points changed is the same alert,
		// told again with what is true now.
		if r.metric == names.Incident && e.incidents.changed(dp.Attributes(), data) {
			e.machine.Reannotate(p, now, render)
		}
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
