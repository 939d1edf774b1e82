package anomalyprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

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
		MaxSeries:         100_000,
		SeriesTTL:         time.Hour,
		ScoreUngrouped:    true,
		HistogramQuantile: 0.95,
		Detector:          detector.Default(),
		ServiceGraph: ServiceGraphConfig{
			Enabled: true,
			Edges: []EdgeSourceConfig{{
				Requests: []string{"traces_service_graph_request_total"},
				Failed:   []string{"traces_service_graph_request_failed_total"},
				// OTLP from the connector, and its Prometheus name with the unit suffix.
				Latency:        []string{"traces_service_graph_request_server", "traces_service_graph_request_server_seconds"},
				Client:         "client",
				Server:         "server",
				ConnectionType: "connection_type",
			}},
			ServiceKey:      "service.name",
			ExternalClients: []string{"user"},
			MaxEdges:        10_000,
			EdgeTTL:         15 * time.Minute,
		},
	}
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	return newProcessor(set, cfg.(*Config), next)
}
