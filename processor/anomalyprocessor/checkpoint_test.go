package anomalyprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/omen-otel/omen/internal/checkpoint/checkpointtest"
	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/metadatatest"
)

// started is a processor started on host, as the collector starts it, with its own clock.
func started(t *testing.T, cfg *Config, host component.Host, now time.Time) *testProcessor {
	t.Helper()
	tp := buildTestProcessor(t, cfg, now)
	require.NoError(t, tp.p.Start(context.Background(), host))
	return tp
}

func checkpointConfig() *Config {
	cfg := stateConfig()
	cfg.Checkpoint.Storage = &checkpointtest.StorageID
	cfg.IntervalWait = time.Hour // keys close by their next timestamp only, as in the twin
	return cfg
}

// TestCheckpointRestart runs a processor with storage through a realistic stream, stops it (its
// last checkpoint), starts a new one on the same storage and feeds it the rest: from its first
// point it scores exactly as a processor that never stopped.
func TestCheckpointRestart(t *testing.T) {
	const before, after = 80, 60
	ctx := context.Background()
	host := checkpointtest.FileStorage(t, t.TempDir())
	first := started(t, checkpointConfig(), host, t0)
	twin := newTestProcessor(t, stateConfig()) // never stops
	s := newStream()
	for i := range before {
		md := s.batch(i)
		requireSameMetrics(t, twin.consumeCopy(md), first.consumeCopy(md), "batch %d", i)
		first.now = first.now.Add(step)
		twin.now = first.now
	}
	require.NoError(t, first.p.Shutdown(ctx))
	twin.p.flush(true) // the stopped one emitted its keys' open intervals
	metadatatest.AssertEqualAnomalyCheckpointWrites(t, first.tel, []metricdata.DataPoint[int64]{{
		Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "ok")),
	}}, metricdatatest.IgnoreTimestamp())

	second := started(t, checkpointConfig(), host, first.now)
	t.Cleanup(func() { require.NoError(t, second.p.Shutdown(ctx)) })
	metadatatest.AssertEqualAnomalyCheckpointLoads(t, second.tel, []metricdata.DataPoint[int64]{{
		Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "restored")),
	}}, metricdatatest.IgnoreTimestamp())
	for i := before; i < before+after; i++ {
		md := s.batch(i)
		got := second.consumeCopy(md)
		requireSameMetrics(t, twin.consumeCopy(md), got, "batch %d", i)
		if i == before {
			require.Len(t, points(got, names.Score, names.MetricName, "cpu"), 2, "the first point of a known series is scored")
		}
		second.now = second.now.Add(step)
		twin.now = second.now
	}
}

// TestCorruptCheckpointIsAColdStart damages the stored checkpoint: the next start is cold,
// counted as corrupt, and the processor runs on.
func TestCorruptCheckpointIsAColdStart(t *testing.T) {
	ctx := context.Background()
	host := checkpointtest.FileStorage(t, t.TempDir())
	first := started(t, checkpointConfig(), host, t0)
	s := newStream()
	for i := range 40 {
		first.consume(s.batch(i))
		first.now = first.now.Add(step)
	}
	require.NoError(t, first.p.Shutdown(ctx))

	checkpointtest.Corrupt(t, host, component.KindProcessor, component.NewID(component.MustNewType("anomaly")), "models")

	second := started(t, checkpointConfig(), host, first.now)
	t.Cleanup(func() { require.NoError(t, second.p.Shutdown(ctx)) })
	metadatatest.AssertEqualAnomalyCheckpointLoads(t, second.tel, []metricdata.DataPoint[int64]{{
		Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "corrupt")),
	}}, metricdatatest.IgnoreTimestamp())
	assert.Zero(t, second.p.models.Len(), "nothing of the checkpoint is restored")
	out := second.consume(s.batch(40))
	assert.Empty(t, points(out, names.Score, names.MetricName, "cpu"), "a cold processor warms up again")
}
