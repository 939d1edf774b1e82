package alertwebhookexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
	"github.com/omen-otel/omen/internal/checkpoint"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	minimal := createDefaultConfig().(*Config)
	minimal.Endpoint = "http://127.0.0.1:9093"
	minimal.Rules = []RuleConfig{{Name: "Anomaly", Threshold: 7}}

	full := createDefaultConfig().(*Config)
	full.Endpoint = "https://hooks.example.com/services/T0/B0/secret"
	full.Headers = configopaque.MapList{{Name: "X-Team", Value: "a"}}
	full.Format = formatTemplate
	full.Template = "testdata/body.tmpl"
	full.ContentType = "text/plain"
	full.Receiver = "team-a"
	full.ExternalURL = "https://omen.example.com"
	full.ResendInterval = 30 * time.Second
	full.MaxPointAge = 2 * time.Minute
	full.StaleAfter = 5 * time.Minute
	full.MaxAlerts = 50
	full.RateLimit = RateLimitConfig{PerMinute: 10, Burst: 5}
	storage := component.MustNewIDWithName("file_storage", "alerts")
	full.Checkpoint = checkpoint.Config{Storage: &storage, Interval: 30 * time.Second}
	full.MaxPending = 500
	full.RetryConfig.InitialInterval = time.Second
	full.RetryConfig.MaxInterval = time.Minute
	full.Rules = []RuleConfig{{
		Name:             "AnomalousEndpoint",
		Metric:           "anomaly.score",
		Threshold:        7,
		ResolveThreshold: 3,
		For:              time.Minute,
		KeepFiringFor:    5 * time.Minute,
		GroupBy:          []string{"service.name", "http.route"},
		Labels:           map[string]string{"severity": "page"},
		Annotations:      map[string]string{"summary": "{{ .Labels.service_name }} is unusual"},
		GeneratorURL:     "https://grafana.example.com/d/omen?var-service={{ .Labels.service_name }}",
	}}

	ha := createDefaultConfig().(*Config)
	ha.Endpoints = []string{"http://am-0.example:9093", "http://am-1.example:9093"}
	ha.Checkpoint.Storage = &storage
	ha.Rules = []RuleConfig{{Name: "a", Threshold: 7}}

	legacy := createDefaultConfig().(*Config)
	legacy.Endpoint = "http://127.0.0.1:9093"
	legacy.Checkpoint.Storage = &storage
	legacy.legacyQueue = true
	legacy.Rules = []RuleConfig{{Name: "a", Threshold: 7}}

	tests := []struct {
		id      string
		want    *Config
		wantErr string
	}{
		{id: "", want: minimal},
		{id: "full", want: full},
		{id: "ha", want: ha},
		{id: "both_endpoints", wantErr: `endpoint and endpoints cannot both be set: list every receiver in endpoints (got endpoint "http://am-0.example:9093")`},
		{id: "bad_endpoints", wantErr: `endpoints[1] must be an http:// or https:// URL (got "am-1.example:9093")`},
		{id: "bad_endpoints", wantErr: `endpoints[2] repeats endpoints[0] ("http://am-0.example:9093")`},
		{id: "sending_queue", want: legacy},
		{id: "expiring_retry", wantErr: "retry_on_failure.max_elapsed_time must be 0: notifications never expire, the newest of each alert waits for its receiver (got 5m0s)"},
		{id: "bad_numbers", wantErr: "max_pending must be > 0 (got 0)"},
		{id: "bad_numbers", wantErr: "checkpoint_interval must be > 0 (got 0s)"},
		{id: "bad_endpoint", wantErr: `endpoint must be an http:// or https:// URL (got "127.0.0.1:9093")`},
		{id: "bad_format", wantErr: `format must be alertmanager, webhook or template (got "slack")`},
		{id: "missing_template", wantErr: "template must be set to a template file for format template"},
		{id: "bad_template", wantErr: "template: template: testdata/bad.tmpl:1: unexpected"},
		{id: "bad_numbers", wantErr: "resend_interval must be > 0 (got 0s)"},
		{id: "bad_numbers", wantErr: "max_point_age must be > 0 (got -1s)"},
		{id: "bad_numbers", wantErr: "stale_after must be > 0 (got 0s)"},
		{id: "bad_numbers", wantErr: "max_alerts must be > 0 (got 0)"},
		{id: "bad_numbers", wantErr: "rate_limit.burst must be >= 1 (got 0)"},
		{id: "no_rules", wantErr: "rules must list at least one rule"},
		{id: "bad_rules", wantErr: "rules[0]: name must be set"},
		{id: "bad_rules", wantErr: "rules[0]: resolve_threshold (5) must be <= threshold (3)"},
		{id: "bad_rules", wantErr: "for must be >= 0 (got -1s)"},
		{id: "bad_rules", wantErr: `labels: "team.name" is not a valid Alertmanager label name`},
		{id: "bad_rules", wantErr: `rules[2]: name "b" is used twice`},
		{id: "bad_rules", wantErr: "rules[2]: threshold must be > 0 and finite (got 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.id+tt.wantErr, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.id).String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

// TestRuleDefaults: a rule reads unified scores and resolves at its threshold unless told otherwise.
func TestRuleDefaults(t *testing.T) {
	r := RuleConfig{Threshold: 7}
	assert.Equal(t, "anomaly.unified_score", r.metric())
	assert.Equal(t, 7.0, r.resolveThreshold())
}

// TestLabelName: attribute names become Alertmanager label names as the Prometheus exporter
// makes them.
func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"service.name":    "service_name",
		"http.route":      "http_route",
		"already_valid":   "already_valid",
		"k8s.pod-name":    "k8s_pod_name",
		"1st":             "_st",
		"ünicode.name":    "__nicode_name",
		"anomaly.group":   "anomaly_group",
		"_leading":        "_leading",
		"trailing.":       "trailing_",
		"x":               "x",
		"X9":              "X9",
		"metric.name":     "metric_name",
		"anomaly.feature": "anomaly_feature",
	} {
		assert.Equal(t, want, labelName(in), in)
		assert.True(t, validLabelName(labelName(in)), in)
	}
}
