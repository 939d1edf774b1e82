package alertwebhookexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
	"github.com/omen-otel/omen/internal/checkpoint"
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
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0 // never give up: the newest notification of each alert waits
	return &Config{
		ClientConfig:   client,
		Checkpoint:     checkpoint.Config{Interval: time.Minute},
		MaxPending:     10_000,
		RetryConfig:    retry,
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

// createMetrics wraps the exporter in exporterhelper for its lifecycle and its standard
// telemetry on the scores consumed; delivery is the exporter's own (see the README): no
// exporterhelper queue, retry or timeout.
func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := newExporter(ctx, set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.ConsumeMetrics,
		exporterhelper.WithStart(e.Start),
		exporterhelper.WithShutdown(e.Shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithQueue(configoptional.None[exporterhelper.QueueBatchConfig]()),
	)
}
