package alertwebhookexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
)

// NewFactory returns the factory of the alert webhook exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 10 * time.Second
	return &Config{
		ClientConfig:   client,
		QueueConfig:    configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		RetryConfig:    configretry.NewDefaultBackOffConfig(),
		Format:         formatAlertmanager,
		ContentType:    "application/json",
		Receiver:       "omen",
		ResendInterval: time.Minute,
		MaxPointAge:    5 * time.Minute,
		StaleAfter:     10 * time.Minute,
		MaxAlerts:      10_000,
		RateLimit:      RateLimitConfig{PerMinute: 60, Burst: 20},
		ServiceKey:     "service.name",
	}
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	return newExporter(ctx, set, cfg.(*Config))
}
