package anomalyprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/metadata"
)

// NewFactory returns the factory of the anomaly processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		MaxSeries:          100_000,
		SeriesTTL:          time.Hour,
		ScoreUngrouped:     true,
		HistogramQuantile:  0.95,
		Detector:           detector.Default(),
		IntervalWait:       time.Second,
		TimestampTolerance: time.Second,
		Checkpoint:         checkpoint.Config{Interval: time.Minute},
	}
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	return newProcessor(set, cfg.(*Config), next)
}
