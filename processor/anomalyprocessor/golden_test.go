package anomalyprocessor

import (
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
)

// TestGolden feeds testdata/<case>/input.yaml to a fresh processor configured by
// testdata/<case>/config.yaml and compares what it passes on, and then emits when it stops (the
// keys' open intervals), with expected.yaml.
func TestGolden(t *testing.T) {
	for _, name := range []string{"groups"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			cfg := loadConfig(t, filepath.Join(dir, "config.yaml"))
			tp := newTestProcessor(t, cfg)
			in, err := golden.ReadMetrics(filepath.Join(dir, "input.yaml"))
			require.NoError(t, err)
			got := tp.consume(in)
			tp.p.flush(true).ResourceMetrics().MoveAndAppendTo(got.ResourceMetrics())
			want, err := golden.ReadMetrics(filepath.Join(dir, "expected.yaml"))
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got,
				pmetrictest.IgnoreResourceMetricsOrder(), pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()))
		})
	}
}
