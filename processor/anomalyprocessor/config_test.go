package anomalyprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/filter"

	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.MaxSeries = 5000
	full.SeriesTTL = 30 * time.Minute
	full.Bands = true
	full.ScoreUngrouped = false
	full.HistogramQuantile = 0.99
	full.Exclude = []filter.Config{{Strict: "system.cpu.logical.count"}, {Regex: `^process\..*`}}
	limit := 1000.0
	full.Groups = []GroupConfig{{
		Name:         "http",
		Metrics:      []filter.Config{{Regex: `^http\.server\..*`}},
		Key:          []string{"service.name", "http.route"},
		Combine:      "mean_top_k",
		TopK:         2,
		StaticBounds: map[string]Bounds{"http.server.active_requests": {Max: &limit}},
	}}
	full.Detector.MinSamples = 20
	full.IntervalWait = 3 * time.Second

	tests := []struct {
		id      string
		want    *Config
		wantErr string
	}{
		{id: "", want: createDefaultConfig().(*Config)},
		{id: "full", want: full},
		{id: "bad_max_series", wantErr: "max_series must be > 0 (got -3)"},
		{id: "bad_ttl", wantErr: "series_ttl must be > 0 (got 0s)"},
		{id: "bad_quantile", wantErr: "histogram_quantile must be in (0, 1) (got 1.5)"},
		{id: "bad_exclude", wantErr: "exclude[0]:"},
		{id: "bad_group", wantErr: `groups[0]: name must be set`},
		{id: "bad_group", wantErr: `metrics must list at least one metric`},
		{id: "bad_group", wantErr: `key must list at least one attribute`},
		{id: "bad_group", wantErr: `combine: unknown combination method "median"`},
		{id: "bad_bounds", wantErr: "groups[0]: static_bounds[m]: min (5) must be <= max (1)"},
		{id: "duplicate_group", wantErr: `groups[1]: name "g" is used twice`},
		{id: "bad_detector", wantErr: "detector: "},
		{id: "bad_interval_wait", wantErr: "interval_wait must be > 0 (got 0s)"},
		{id: "reserved_group", wantErr: `groups[0]: name "service_graph.edge" is used twice or reserved`},
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

// loadConfig reads the processor's config from the top level of a YAML file, over the defaults.
func loadConfig(t *testing.T, path string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(path)
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	return cfg
}
