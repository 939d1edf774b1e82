package alertwebhookexporter

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/payload"
	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/names"
)

// The formats of the requests the exporter sends.
const (
	formatAlertmanager = "alertmanager"
	formatWebhook      = "webhook"
	formatTemplate     = "template"
)

// Config is the alert webhook exporter's configuration. The README's configuration table is the
// user's reference; createDefaultConfig holds every default.
type Config struct {
	// ClientConfig is how the receivers are reached: endpoint, tls, headers, auth, timeout (the
	// timeout of one request). For the alertmanager format the endpoint is Alertmanager's base
	// URL (/api/v2/alerts is appended); for the others it is the full URL posted to.
	confighttp.ClientConfig `mapstructure:",squash"`
	// Endpoints lists several receivers instead of endpoint (an Alertmanager HA pair): each one
	// gets every notification, from its own outbox, with the client settings above.
	Endpoints []string `mapstructure:"endpoints"`
	// Checkpoint is storage (a storage extension, file_storage/...) and checkpoint_interval:
	// the alert state machine and the outboxes are checkpointed there and restored at start.
	Checkpoint checkpoint.Config `mapstructure:",squash"`
	// MaxPending bounds the notifications waiting for one receiver: one per alert (the newest),
	// so it is a number of alerts; a notification of a new alert is dropped at the bound
	// (counted with outcome dropped, and logged).
	MaxPending int `mapstructure:"max_pending"`
	// legacyQueue records that the config had sending_queue, for the deprecation warning.
	legacyQueue bool

	// RetryConfig paces the retries of a receiver that fails (initial_interval, max_interval,
	// multiplier, randomization_factor). Notifications never expire: max_elapsed_time must be 0.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Format is alertmanager (POST /api/v2/alerts), webhook (Alertmanager's webhook payload,
	// version 4) or template (Template executed on that payload).
	Format string `mapstructure:"format"`
	// Template is the path of a Go text/template file, executed on the webhook payload, for
	// format template.
	Template string `mapstructure:"template"`
	// ContentType is the Content-Type header of the template format's requests.
	ContentType string `mapstructure:"content_type"`
	// Receiver is the receiver name a webhook payload carries.
	Receiver string `mapstructure:"receiver"`
	// ExternalURL is the externalURL a webhook payload carries (a link back to the system that
	// sent it).
	ExternalURL string `mapstructure:"external_url"`

	// ResendInterval is how often a firing alert is sent again. Its endsAt is four intervals
	// ahead, so Alertmanager resolves it by itself if the collector stops.
	ResendInterval time.Duration `mapstructure:"resend_interval"`
	// MaxPointAge: score points older than this are ignored (the PromQL receiver back-fills the
	// past at start-up, and a past anomaly must not page anyone now).
	MaxPointAge time.Duration `mapstructure:"max_point_age"`
	// StaleAfter resolves a firing alert whose series had no score point for this long.
	StaleAfter time.Duration `mapstructure:"stale_after"`
	// MaxAlerts bounds the alerts tracked, pending and firing; new alerts are refused at the
	// bound (counted with reason limit).
	MaxAlerts int `mapstructure:"max_alerts"`
	// RateLimit bounds how many new alerts fire.
	RateLimit RateLimitConfig `mapstructure:"rate_limit"`
	// Rules say which scores alert, and how.
	Rules []RuleConfig `mapstructure:"rules"`
	// ServiceKey is the attribute naming a service on the root-cause processor's incident points
	// (its service_key): rules on anomaly.incident read an incident's services by it.
	ServiceKey string `mapstructure:"service_key"`
}

// RateLimitConfig is a token bucket on new firing alerts.
type RateLimitConfig struct {
	// PerMinute is the sustained number of new alerts that may fire per minute; 0 turns the limit
	// off.
	PerMinute float64 `mapstructure:"per_minute"`
	// Burst is how many may fire at once.
	Burst int `mapstructure:"burst"`
}

// RuleConfig is one alerting rule.
type RuleConfig struct {
	// Name is the alertname label.
	Name string `mapstructure:"name"`
	// Metric is the score metric the rule reads: anomaly.unified_score when empty,
	// anomaly.score, anomaly.root_cause, or anomaly.incident (one alert per incident, naming its
	// likely cause).
	Metric string `mapstructure:"metric"`
	// Threshold: a score at or above it starts the alert.
	Threshold float64 `mapstructure:"threshold"`
	// ResolveThreshold: the alert holds while scores stay at or above it (hysteresis); defaults
	// to threshold when zero.
	ResolveThreshold float64 `mapstructure:"resolve_threshold"`
	// For is how long the condition must hold (in the points' time) before the alert fires.
	For time.Duration `mapstructure:"for"`
	// KeepFiringFor is how long a firing alert stays firing after the condition stopped holding.
	KeepFiringFor time.Duration `mapstructure:"keep_firing_for"`
	// GroupBy lists the attributes (point first, then resource) that become the alert's labels
	// and so its identity; empty takes all of them.
	GroupBy []string `mapstructure:"group_by"`
	// Labels are added to the alert's labels; values are Go templates (see the README).
	Labels map[string]string `mapstructure:"labels"`
	// Annotations are the alert's annotations; values are Go templates.
	Annotations map[string]string `mapstructure:"annotations"`
	// GeneratorURL is a Go template of a link to a dashboard; it must render an absolute URL
	// (Alertmanager refuses anything else).
	GeneratorURL string `mapstructure:"generator_url"`
}

// Validate names the key and the bad value.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Endpoints) == 0 {
		if !validURL(cfg.Endpoint) {
			errs = append(errs, fmt.Errorf("endpoint must be an http:// or https:// URL (got %q)", cfg.Endpoint))
		}
	} else if cfg.Endpoint != "" {
		errs = append(errs, fmt.Errorf("endpoint and endpoints cannot both be set: list every receiver in endpoints (got endpoint %q)", cfg.Endpoint))
	}
	seen := map[string]int{}
	for i, ep := range cfg.Endpoints {
		if !validURL(ep) {
			errs = append(errs, fmt.Errorf("endpoints[%d] must be an http:// or https:// URL (got %q)", i, ep))
		}
		if j, ok := seen[ep]; ok {
			errs = append(errs, fmt.Errorf("endpoints[%d] repeats endpoints[%d] (%q)", i, j, ep))
		}
		seen[ep] = i
	}
	if cfg.MaxPending <= 0 {
		errs = append(errs, fmt.Errorf("max_pending must be > 0 (got %d)", cfg.MaxPending))
	}
	if !cfg.RetryConfig.Enabled {
		errs = append(errs, errors.New("retry_on_failure.enabled must be true: notifications wait for their receiver"))
	}
	if cfg.RetryConfig.MaxElapsedTime != 0 {
		errs = append(errs, fmt.Errorf("retry_on_failure.max_elapsed_time must be 0: notifications never expire, the newest of each alert waits for its receiver (got %s)", cfg.RetryConfig.MaxElapsedTime))
	}
	if cfg.RetryConfig.InitialInterval <= 0 || cfg.RetryConfig.MaxInterval < cfg.RetryConfig.InitialInterval {
		errs = append(errs, fmt.Errorf("retry_on_failure: initial_interval (%s) must be > 0 and <= max_interval (%s)", cfg.RetryConfig.InitialInterval, cfg.RetryConfig.MaxInterval))
	}
	switch cfg.Format {
	case formatAlertmanager, formatWebhook:
	case formatTemplate:
		if cfg.Template == "" {
			errs = append(errs, errors.New("template must be set to a template file for format template"))
		} else if _, err := cfg.bodyTemplate(); err != nil {
			errs = append(errs, fmt.Errorf("template: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("format must be alertmanager, webhook or template (got %q)", cfg.Format))
	}
	if cfg.ResendInterval <= 0 {
		errs = append(errs, fmt.Errorf("resend_interval must be > 0 (got %s)", cfg.ResendInterval))
	}
	if cfg.MaxPointAge <= 0 {
		errs = append(errs, fmt.Errorf("max_point_age must be > 0 (got %s)", cfg.MaxPointAge))
	}
	if cfg.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("stale_after must be > 0 (got %s)", cfg.StaleAfter))
	}
	if cfg.MaxAlerts <= 0 {
		errs = append(errs, fmt.Errorf("max_alerts must be > 0 (got %d)", cfg.MaxAlerts))
	}
	if cfg.RateLimit.PerMinute < 0 || math.IsNaN(cfg.RateLimit.PerMinute) {
		errs = append(errs, fmt.Errorf("rate_limit.per_minute must be >= 0 (got %g)", cfg.RateLimit.PerMinute))
	}
	if cfg.RateLimit.PerMinute > 0 && cfg.RateLimit.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate_limit.burst must be >= 1 (got %d)", cfg.RateLimit.Burst))
	}
	if len(cfg.Rules) == 0 {
		errs = append(errs, errors.New("rules must list at least one rule"))
	}
	if cfg.ServiceKey == "" {
		errs = append(errs, errors.New("service_key must be set"))
	}
	names := map[string]bool{}
	for i, r := range cfg.Rules {
		for _, err := range r.validate() {
			errs = append(errs, fmt.Errorf("rules[%d]: %w", i, err))
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("rules[%d]: name %q is used twice", i, r.Name))
		}
		names[r.Name] = true
	}
	return errors.Join(errs...)
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Unmarshal reads the config. sending_queue, the key of earlier versions (exporterhelper's
// queue), is replaced by the outboxes: its storage becomes storage when that is not set, its
// other keys are ignored, and the exporter logs a deprecation warning.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if !conf.IsSet("sending_queue") {
		return conf.Unmarshal(cfg)
	}
	m := conf.ToStringMap()
	queue := m["sending_queue"]
	delete(m, "sending_queue")
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		return err
	}
	cfg.legacyQueue = true
	if q, ok := queue.(map[string]any); ok && cfg.Checkpoint.Storage == nil {
		if v, ok := q["storage"]; ok && v != nil {
			var id component.ID
			if err := id.UnmarshalText([]byte(fmt.Sprint(v))); err != nil {
				return fmt.Errorf("sending_queue::storage: %w", err)
			}
			cfg.Checkpoint.Storage = &id
		}
	}
	return nil
}

// urls are the receivers' URLs: endpoints, or endpoint.
func (cfg *Config) urls() []string {
	if len(cfg.Endpoints) > 0 {
		return cfg.Endpoints
	}
	return []string{cfg.Endpoint}
}

func (r *RuleConfig) validate() []error {
	var errs []error
	if r.Name == "" {
		errs = append(errs, errors.New("name must be set"))
	}
	// Scores are >= 0: a threshold of 0 would alert on every point.
	if !(r.Threshold > 0) || math.IsInf(r.Threshold, 0) {
		errs = append(errs, fmt.Errorf("threshold must be > 0 and finite (got %g)", r.Threshold))
	}
	if rt := r.resolveThreshold(); math.IsNaN(rt) || rt > r.Threshold {
		errs = append(errs, fmt.Errorf("resolve_threshold (%g) must be <= threshold (%g)", rt, r.Threshold))
	}
	if r.For < 0 {
		errs = append(errs, fmt.Errorf("for must be >= 0 (got %s)", r.For))
	}
	if r.KeepFiringFor < 0 {
		errs = append(errs, fmt.Errorf("keep_firing_for must be >= 0 (got %s)", r.KeepFiringFor))
	}
	if _, err := r.templates(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// metric is the score metric read, anomaly.unified_score by default.
func (r *RuleConfig) metric() string {
	if r.Metric == "" {
		return names.Unified
	}
	return r.Metric
}

// resolveThreshold is resolve_threshold, or threshold when it is not set.
func (r *RuleConfig) resolveThreshold() float64 {
	if r.ResolveThreshold == 0 {
		return r.Threshold
	}
	return r.ResolveThreshold
}

// bodyTemplate reads and parses the template file.
func (cfg *Config) bodyTemplate() (*template.Template, error) {
	text, err := os.ReadFile(cfg.Template)
	if err != nil {
		return nil, err
	}
	return payload.ParseTemplate(cfg.Template, string(text))
}
