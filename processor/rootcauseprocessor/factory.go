package rootcauseprocessor

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/metadata"
)

// NewFactory returns the factory of the root-cause processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createDefaultConfig() component.Config {
	dc := detector.Default()
	// An edge's request rate has a daily shape, but the ranking judges minutes: the profile would
	// cost three times 600 bytes per edge for little.
	dc.Seasonal = false
	return &Config{
		Edges: []EdgeSourceConfig{{
			Requests: []string{"traces_service_graph_request_total"},
			Failed:   []string{"traces_service_graph_request_failed_total"},
			// OTLP from the connector, and its Prometheus name with the unit suffix.
			Latency:        []string{"traces_service_graph_request_server", "traces_service_graph_request_server_seconds"},
			Client:         "client",
			Server:         "server",
			ConnectionType: "connection_type",
		}},
		VersionDimension:   "server_service.version",
		ServiceKey:         "service.name",
		ExternalClients:    []string{"user"},
		MaxEdges:           10_000,
		EdgeTTL:            15 * time.Minute,
		IntervalWait:       2 * time.Second,
		TimestampTolerance: time.Second,
		Incidents: IncidentsConfig{
			Threshold:        7,
			ResolveThreshold: 3,
			Calm:             5 * time.Minute,
		},
		Detector:   dc,
		Checkpoint: checkpoint.Config{Interval: time.Minute},
	}
}

func createMetrics(_ context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	return newProcessor(set, cfg.(*Config), next)
}
