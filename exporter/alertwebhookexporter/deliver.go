package alertwebhookexporter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/outbox"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/payload"
)

// maxBatch is how many alerts one request carries at most (Prometheus sends 64 per POST to
// Alertmanager).
const maxBatch = 64

// dropLogEvery spaces the warnings of a full outbox: the first drop is logged at once, the next
// ones at most this often, with their count.
const dropLogEvery = time.Minute

// endpoint is one receiver with its outbox. Its sender goroutine is the only one that reads the
// outbox for sending; enqueue and the checkpoint put into it and copy it.
type endpoint struct {
	endpoint string // the configured URL
	url      string // what is posted to
	// name is the telemetry's and the logs' endpoint attribute: the URL's host, which holds no
	// secret (a Slack webhook's secret is in its path).
	name string
	// key identifies the outbox in a checkpoint: a hash of the URL, so the URL (maybe a secret)
	// is not written to disk.
	key    string
	client *http.Client
	box    *outbox.Outbox

	// failing is the sender's: whether the last try failed, so a receiver going down and
	// coming back is logged once each.
	failing bool

	dropMu      sync.Mutex
	dropped     int
	lastDropLog time.Time
}

func newEndpoints(cfg *Config) []*endpoint {
	urls := cfg.urls()
	hosts := map[string]int{}
	for _, u := range urls {
		hosts[hostOf(u)]++
	}
	eps := make([]*endpoint, len(urls))
	for i, u := range urls {
		name := hostOf(u)
		if hosts[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, i)
		}
		post := u
		if cfg.Format == formatAlertmanager {
			post = strings.TrimSuffix(u, "/") + "/api/v2/alerts"
		}
		sum := sha256.Sum256([]byte(u))
		eps[i] = &endpoint{endpoint: u, url: post, name: name, key: hex.EncodeToString(sum[:8]), box: outbox.New(cfg.MaxPending)}
	}
	return eps
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Host
	}
	return ""
}

// enqueue puts notifications into every endpoint's outbox, replacing older notifications of the
// same alerts, and asks for a checkpoint: a change of the alert state is worth keeping at once.
func (e *alertExporter) enqueue(ctx context.Context, alerts []alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	for _, a := range alerts {
		e.telemetry.AlertwebhookNotifications.Add(ctx, 1, metric.WithAttributes(attribute.String("status", string(a.Status))))
	}
	for _, ep := range e.endpoints {
		dropped := 0
		for _, a := range alerts {
			if !ep.box.Put(a) {
				dropped++
			}
		}
		if dropped > 0 {
			e.delivered(ctx, ep, "dropped", dropped)
			e.logDropped(ep, dropped)
		}
	}
	e.checkpoint.Trigger()
	return nil
}

func (e *alertExporter) logDropped(ep *endpoint, n int) {
	ep.dropMu.Lock()
	defer ep.dropMu.Unlock()
	ep.dropped += n
	now := e.now()
	if !ep.lastDropLog.IsZero() && now.Sub(ep.lastDropLog) < dropLogEvery {
		return
	}
	e.set.Logger.Warn("Notifications of new alerts dropped: max_pending notifications already wait for this receiver.",
		zap.String("endpoint", ep.name), zap.Int("max_pending", e.cfg.MaxPending), zap.Int("dropped", ep.dropped))
	ep.dropped = 0
	ep.lastDropLog = now
}

func (e *alertExporter) delivered(ctx context.Context, ep *endpoint, outcome string, n int) {
	e.telemetry.AlertwebhookDeliveries.Add(ctx, int64(n), metric.WithAttributes(attribute.String("endpoint", ep.name), attribute.String("outcome", outcome)))
}

// deliver is one endpoint's sender: it sends what waits in the outbox, oldest first, in requests
// of maxBatch alerts, and after a failure waits (backoff, or the receiver's Retry-After) and
// tries again, for as long as it takes. Endpoints do not wait for each other.
func (e *alertExporter) deliver(ctx context.Context, ep *endpoint) {
	defer e.wg.Done()
	rc := e.cfg.RetryConfig
	backoff := rc.InitialInterval
	for {
		batch := ep.box.Take(maxBatch)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-ep.box.Ready():
				continue
			}
		}
		alerts := make([]alert.Alert, len(batch))
		for i, b := range batch {
			alerts[i] = b.Alert
		}
		err := e.push(ctx, ep, alerts)
		if ctx.Err() != nil {
			return
		}
		if err == nil || consumererror.IsPermanent(err) {
			ep.box.Ack(batch)
			if err != nil {
				e.delivered(ctx, ep, "rejected", len(batch))
				e.set.Logger.Error("The receiver refused notifications; they are dropped.", zap.String("endpoint", ep.name), zap.Int("alerts", len(batch)), zap.Error(err))
				continue
			}
			e.delivered(ctx, ep, "sent", len(batch))
			if ep.failing {
				e.set.Logger.Info("The receiver accepts notifications again.", zap.String("endpoint", ep.name))
				ep.failing = false
			}
			backoff = rc.InitialInterval
			continue
		}
		e.delivered(ctx, ep, "retried", len(batch))
		wait := jitter(backoff, rc.RandomizationFactor)
		var ra *retryAfterError
		if errors.As(err, &ra) {
			wait = max(ra.after, wait)
		}
		if !ep.failing {
			e.set.Logger.Warn("Sending notifications failed; they wait for the receiver and are retried.",
				zap.String("endpoint", ep.name), zap.Int("pending", ep.box.Len()), zap.Error(err))
			ep.failing = true
		} else {
			e.set.Logger.Debug("Sending notifications failed again.", zap.String("endpoint", ep.name), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-e.after(wait):
		}
		backoff = min(time.Duration(float64(backoff)*max(rc.Multiplier, 1)), rc.MaxInterval)
	}
}

func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + factor*(2*rand.Float64()-1)))
}

// push sends one batch to one endpoint: one POST for Alertmanager's API, one per alertname for
// the webhook and template formats. When one of several POSTs fails the whole batch is retried;
// receivers deduplicate by fingerprint, as they do Alertmanager's own repeats.
func (e *alertExporter) push(ctx context.Context, ep *endpoint, alerts []alert.Alert) error {
	if e.cfg.Format == formatAlertmanager {
		body, err := payload.Alertmanager(alerts)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return e.post(ctx, ep, "application/json", body)
	}
	for _, msg := range payload.Group(alerts, e.cfg.Receiver, e.cfg.ExternalURL) {
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
		if err := e.post(ctx, ep, contentType, body); err != nil {
			return err
		}
	}
	return nil
}

// retryAfterError is a failure the receiver asked to be retried after a while (429 or 503 with
// Retry-After).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (r *retryAfterError) Error() string { return r.err.Error() }
func (r *retryAfterError) Unwrap() error { return r.err }

// post sends one body. The URL is not in the errors: a webhook URL often holds a secret (Slack's
// does).
func (e *alertExporter) post(ctx context.Context, ep *endpoint, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := ep.client.Do(req)
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
		return &retryAfterError{err: err, after: d}
	}
	return err
}
