package promqlreceiver

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

	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.Endpoint = "https://prometheus.example.com:9090/prom"
	full.Timeout = 10 * time.Second
	full.Headers = configopaque.MapList{{Name: "X-Scope-OrgID", Value: "team-a"}}
	full.TLS.CAFile = "/etc/ssl/prometheus-ca.pem"
	full.Interval = 30 * time.Second
	full.Lookback = 48 * time.Hour
	full.MaxPointsPerRequest = 5000
	full.Retry = RetryConfig{InitialInterval: 2 * time.Second, MaxInterval: 30 * time.Second}
	full.Queries = []QueryConfig{
		{Name: "http.server.request.rate", Expr: "sum by (service) (rate(http_requests_total[1m]))", Labels: map[string]string{"source": "prometheus"}},
		{Name: "http.server.error.ratio", Expr: `sum by (service) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (service) (rate(http_requests_total[5m]))`, Interval: time.Minute},
	}

	tests := []struct {
		id      string
		want    *Config
		wantErr string
	}{
		{id: "full", want: full},
		{id: "", wantErr: "endpoint must be set"},
		{id: "", wantErr: "queries must list at least one query"},
		{id: "no_endpoint", wantErr: "endpoint must be set to Prometheus' base URL"},
		{id: "bad_endpoint", wantErr: `endpoint must be an http:// or https:// URL (got "prometheus:9090")`},
		{id: "no_queries", wantErr: "queries must list at least one query"},
		{id: "bad_query", wantErr: "queries[0]: name must be set"},
		{id: "bad_query", wantErr: "queries[0]: expr must be set"},
		{id: "bad_query", wantErr: "queries[1]: interval must be a positive whole number of milliseconds (got 1.5ms)"},
		{id: "bad_query", wantErr: `queries[1]: labels: "__name__" is not a label name a point may carry`},
		{id: "bad_query", wantErr: `queries[2]: name "q" is used twice`},
		{id: "bad_numbers", wantErr: "interval must be a positive whole number of milliseconds (got 0s)"},
		{id: "bad_numbers", wantErr: "lookback must be >= 0 (got -1h0m0s)"},
		{id: "bad_numbers", wantErr: "max_points_per_request must be in [1, 11000] (got 11001)"},
		{id: "bad_numbers", wantErr: "retry.initial_interval must be > 0 (got 0s)"},
		{id: "bad_numbers", wantErr: "retry.max_interval (-1s) must be >= retry.initial_interval (0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.id+tt.wantErr, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(component.NewIDWithName(metadata.Type, tt.id).String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
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

func TestQueryInterval(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.Equal(t, time.Minute, cfg.interval(QueryConfig{}))
	assert.Equal(t, 15*time.Second, cfg.interval(QueryConfig{Interval: 15 * time.Second}))
}
