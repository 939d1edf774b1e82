package promqlreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/metadata"
	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/schedule"
)

// NewFactory returns the factory of the PromQL receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = time.Minute
	return &Config{
		ClientConfig:        client,
		Interval:            time.Minute,
		Lookback:            7 * 24 * time.Hour,
		MaxPointsPerRequest: schedule.MaxPointsPerSeries,
		Retry: RetryConfig{
			InitialInterval: time.Second,
			MaxInterval:     time.Minute,
		},
	}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(set, cfg.(*Config), next)
}
