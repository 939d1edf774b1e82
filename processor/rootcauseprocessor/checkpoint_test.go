package rootcauseprocessor

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/omen-otel/omen/internal/checkpoint/checkpointtest"
	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/metadatatest"
)

// started is a processor started on host, as the collector starts it, with its own clock.
func started(t *testing.T, cfg *Config, host component.Host, now time.Time) *testProcessor {
	t.Helper()
	tp := buildTestProcessor(t, cfg, now)
	require.NoError(t, tp.p.Start(context.Background(), host))
	return tp
}

func withStorage() *Config {
	cfg := testConfig()
	cfg.Checkpoint.Storage = &checkpointtest.StorageID
	return cfg
}

// rankingOf returns what a ranking emitted, to compare two processors' bit for bit.
func rankingOf(t *testing.T, md pmetric.Metrics) []byte {
	t.Helper()
	var m pmetric.ProtoMarshaler
	b, err := m.MarshalMetrics(md)
	require.NoError(t, err)
	return b
}

// TestCheckpointRestart stops a processor with storage after its edges have warmed, starts a new
// one on the same storage, and gives it and a processor that never stopped the same flushes,
// a fault among them: every ranking is the same, incidents included.
func TestCheckpointRestart(t *testing.T) {
	const before, after = 60, 30
	ctx := context.Background()
	host := checkpointtest.FileStorage(t, t.TempDir())
	first := started(t, withStorage(), host, t0)
	twin := newTestProcessor(t, testConfig())
	sim := newConnectorSim(5)
	for i := range before {
		md := sim.flush(i)
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		require.True(t, bytes.Equal(rankingOf(t, twin.interval(cp)), rankingOf(t, first.interval(md))), "flush %d", i)
	}
	require.NoError(t, first.p.Shutdown(ctx))

	second := started(t, withStorage(), host, first.now)
	t.Cleanup(func() { require.NoError(t, second.p.Shutdown(ctx)) })
	metadatatest.AssertEqualRootcauseCheckpointLoads(t, second.tel, []metricdata.DataPoint[int64]{{
		Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "restored")),
	}}, metricdatatest.IgnoreTimestamp())
	sim.slow["payments"] = 5
	incidents := 0
	for i := before; i < before+after; i++ {
		md := sim.flush(i)
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		want := twin.interval(cp)
		got := second.interval(md)
		require.NoError(t, pmetrictest.CompareMetrics(want, got), "flush %d", i)
		require.True(t, bytes.Equal(rankingOf(t, want), rankingOf(t, got)), "flush %d: the same, in the same order", i)
		incidents += len(points(got, names.IncidentService, "service.name", "payments"))
		if i == before {
			assert.NotEmpty(t, points(got, names.Score, names.Server, "payments"), "the first interval after the restart is scored")
		}
	}
	assert.Positive(t, incidents, "the fault after the restart opens an incident")
}

// TestCorruptCheckpointIsAColdStart damages the stored graph: the next start is cold, counted as
// corrupt, and the processor learns anew.
func TestCorruptCheckpointIsAColdStart(t *testing.T) {
	ctx := context.Background()
	host := checkpointtest.FileStorage(t, t.TempDir())
	first := started(t, withStorage(), host, t0)
	sim := newConnectorSim(6)
	for i := range 30 {
		first.interval(sim.flush(i))
	}
	require.NoError(t, first.p.Shutdown(ctx))

	checkpointtest.Corrupt(t, host, component.KindProcessor, component.NewID(component.MustNewType("root_cause")), "graph")

	second := started(t, withStorage(), host, first.now)
	t.Cleanup(func() { require.NoError(t, second.p.Shutdown(ctx)) })
	metadatatest.AssertEqualRootcauseCheckpointLoads(t, second.tel, []metricdata.DataPoint[int64]{{
		Value: 1, Attributes: attribute.NewSet(attribute.String("outcome", "corrupt")),
	}}, metricdatatest.IgnoreTimestamp())
	assert.Empty(t, second.p.edges, "nothing of the checkpoint is restored")
}

// TestCheckpointRestartDuringCanary restarts a processor while a canary rolls out: the canary's
// edges and their stable siblings come back as siblings, and every ranking after the restart is
// the same as a processor's that never stopped.
func TestCheckpointRestartDuringCanary(t *testing.T) {
	ctx := context.Background()
	cfg := canaryConfig()
	cfg.Checkpoint.Storage = &checkpointtest.StorageID
	host := checkpointtest.FileStorage(t, t.TempDir())
	first := started(t, cfg, host, t0)
	twin := newTestProcessor(t, canaryConfig())
	sim := newConnectorSim(7)
	sim.versioned = true
	sim.rate["payments"] = 40
	feed := func(tp, other *testProcessor, i int) {
		md := sim.flush(i)
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		require.True(t, bytes.Equal(rankingOf(t, other.interval(cp)), rankingOf(t, tp.interval(md))), "flush %d", i)
	}
	for i := range 40 {
		feed(first, twin, i)
	}
	sim.canary = simCanary{service: "payments", share: 0.2, factor: 3}
	for i := 40; i < 43; i++ {
		feed(first, twin, i)
	}
	require.NoError(t, first.p.Shutdown(ctx))
	second := started(t, cfg, host, first.now)
	t.Cleanup(func() { require.NoError(t, second.p.Shutdown(ctx)) })
	require.Len(t, second.p.siblings, len(twin.p.siblings))
	for i := 43; i < 50; i++ {
		feed(second, twin, i)
	}
}
