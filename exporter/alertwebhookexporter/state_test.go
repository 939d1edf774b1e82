package alertwebhookexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/outbox"
	"github.com/omen-otel/omen/internal/checkpoint/checkpointtest"
)

var storageID = checkpointtest.StorageID

// fileStorageHost is a host whose only extension is the real file_storage on dir.
func fileStorageHost(t *testing.T, dir string) checkpointtest.Host {
	t.Helper()
	return checkpointtest.FileStorage(t, dir)
}

func withStorage(cfg *Config) *Config {
	id := storageID
	cfg.Checkpoint.Storage = &id
	return cfg
}

func (te *testExporter) box(i int) *outbox.Outbox { return te.endpoints[i].box }

// waitFor polls cond for up to 10 s (it reads state other goroutines change).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sum is the value of a counter's points whose attributes hold every pair of attrs.
func sum(t *testing.T, te *testExporter, name string, attrs ...string) int64 {
	t.Helper()
	m, err := te.tt.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for i := 0; i < len(attrs); i += 2 {
			if v, found := dp.Attributes.Value(attribute.Key(attrs[i])); !found || v.AsString() != attrs[i+1] {
				ok = false
			}
		}
		if ok {
			total += dp.Value
		}
	}
	return total
}

func deliveries(t *testing.T, te *testExporter, outcome string) int64 {
	return sum(t, te, "otelcol_alertwebhook_deliveries", "outcome", outcome)
}

// down is a URL nothing listens on: a receiver that is down.
func down(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

// TestRestartResendsFiringAlerts: an alert fires while the receiver is down; the collector
// stops (checkpoint at shutdown) and starts again later: the firing alert is sent from the
// restored state with its original startsAt, though no score arrives after the restart.
func TestRestartResendsFiringAlerts(t *testing.T) {
	dir := t.TempDir()
	cfg := withStorage(testConfig(down(t)))
	te := startExporterOn(t, cfg, fileStorageHost(t, dir), now0)
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
	waitFor(t, "a failed try", func() bool { return deliveries(t, te, "retried") >= 1 })
	te.shutdown(t)
	assert.Equal(t, int64(1), sum(t, te, "otelcol_alertwebhook_checkpoint_loads", "outcome", "empty"))
	assert.GreaterOrEqual(t, sum(t, te, "otelcol_alertwebhook_checkpoint_writes", "outcome", "ok"), int64(1))
	assert.Positive(t, sum(t, te, "otelcol_alertwebhook_checkpoint_bytes"))

	// 20 minutes later (longer than stale_after), the receiver is up.
	r := newReceiver(t)
	cfg2 := withStorage(testConfig(r.URL))
	restart := now0.Add(20 * time.Minute)
	te2 := startExporterOn(t, cfg2, fileStorageHost(t, dir), restart)
	assert.Equal(t, int64(1), sum(t, te2, "otelcol_alertwebhook_checkpoint_loads", "outcome", "restored"))
	// The restored outbox belonged to another URL: only the re-send from the machine arrives.
	got := decode(t, r.wait(t, 1)[0])
	require.Len(t, got, 1)
	assert.Equal(t, now0, got[0].StartsAt.UTC())
	assert.Equal(t, restart.Add(4*cfg.ResendInterval), got[0].EndsAt.UTC())
	assert.Equal(t, "checkout", got[0].Labels["service_name"])
	assert.Equal(t, map[string]string{"summary": "checkout scored 9", "score": "9"}, got[0].Annotations)

	// The series reports again and is ordinary: the restored alert resolves.
	require.NoError(t, te2.ConsumeMetrics(context.Background(), unified(restart, 1)))
	res := decode(t, r.wait(t, 2)[1])
	require.Len(t, res, 1)
	assert.Equal(t, now0, res[0].StartsAt.UTC())
	assert.Equal(t, restart, res[0].EndsAt.UTC())
}

// TestRestartDeliversTheWaitingNotification: a resolution computed while the receiver was down
// waits in the checkpointed outbox and is delivered after the restart, as it was computed.
func TestRestartDeliversTheWaitingNotification(t *testing.T) {
	dir := t.TempDir()
	// The same URL before and after: the outbox is the same endpoint's. Down first (503).
	statuses := make([]int, 1<<20)
	for i := range statuses {
		statuses[i] = http.StatusServiceUnavailable
	}
	r := newReceiver(t, statuses...)
	te := startExporterOn(t, withStorage(testConfig(r.URL)), fileStorageHost(t, dir), now0)
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
	te.setNow(now0.Add(time.Second))
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0.Add(time.Second), 1)))
	assert.Equal(t, 1, te.box(0).Len(), "the resolution replaced the firing notification")
	te.shutdown(t)

	r.mu.Lock()
	r.statuses = nil
	seen := len(r.bodies)
	r.mu.Unlock()
	startExporterOn(t, withStorage(testConfig(r.URL)), fileStorageHost(t, dir), now0.Add(time.Hour))
	got := decode(t, r.wait(t, seen+1)[seen])
	require.Len(t, got, 1)
	assert.Equal(t, now0, got[0].StartsAt.UTC())
	assert.Equal(t, now0.Add(time.Second), got[0].EndsAt.UTC(), "resolved, as computed an hour earlier")
}

// TestBadCheckpointIsAColdStart: a corrupt checkpoint, or one of another version, is a counted
// cold start: the exporter runs, with no alert state.
func TestBadCheckpointIsAColdStart(t *testing.T) {
	for _, tc := range []struct {
		name, manifest, outcome string
	}{
		{"corrupt", "{not a manifest", "corrupt"},
		{"other version", `{"format":"omen.checkpoint","envelope":1,"version":99,"slot":0,"bytes":0,"crc32c":[]}`, "other_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			host := fileStorageHost(t, dir)
			r := newReceiver(t)
			te := startExporterOn(t, withStorage(testConfig(r.URL)), host, now0)
			require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
			r.wait(t, 1)
			te.shutdown(t)

			client, err := host.Storage.(storage.Extension).GetClient(context.Background(), component.KindExporter, te.set.ID, "alerts")
			require.NoError(t, err)
			require.NoError(t, client.Set(context.Background(), "alerts/manifest", []byte(tc.manifest)))
			require.NoError(t, client.Close(context.Background()))

			te2 := startExporterOn(t, withStorage(testConfig(r.URL)), host, now0.Add(time.Minute))
			assert.Equal(t, int64(1), sum(t, te2, "otelcol_alertwebhook_checkpoint_loads", "outcome", tc.outcome))
			te2.mu.Lock()
			assert.Zero(t, te2.machine.Len())
			te2.mu.Unlock()
			// It works from cold: a new anomaly is a new alert.
			require.NoError(t, te2.ConsumeMetrics(context.Background(), unified(now0.Add(time.Minute), 9)))
			got := decode(t, r.wait(t, 2)[1])
			require.Len(t, got, 1)
			assert.Equal(t, now0.Add(time.Minute), got[0].StartsAt.UTC())
		})
	}
}

// TestBacklogIsNewestPerAlertAndBounded: re-sends to a receiver that is down replace each other;
// alerts beyond max_pending are dropped, counted, and the backlog does not grow.
func TestBacklogIsNewestPerAlertAndBounded(t *testing.T) {
	cfg := testConfig(down(t))
	cfg.MaxPending = 2
	cfg.Rules[0].GroupBy = []string{"service.name"}
	te := startExporter(t, cfg)
	for _, svc := range []string{"a", "b", "c"} {
		md := unified(now0, 9)
		md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.name", svc)
		require.NoError(t, te.ConsumeMetrics(context.Background(), md))
	}
	assert.Equal(t, 2, te.box(0).Len())
	assert.Equal(t, int64(1), deliveries(t, te, "dropped"))
	for i := 1; i <= 5; i++ { // five re-send intervals: a, b re-sent and replaced, c dropped again
		at := now0.Add(time.Duration(i) * cfg.ResendInterval)
		te.setNow(at)
		waitFor(t, "the re-sends", func() bool {
			return sum(t, te, "otelcol_alertwebhook_notifications", "status", "firing") == int64(3+3*i)
		})
	}
	assert.Equal(t, 2, te.box(0).Len())
	assert.Equal(t, int64(6), deliveries(t, te, "dropped"))
	for _, e := range te.box(0).Take(10) {
		assert.Equal(t, now0.Add(9*cfg.ResendInterval), e.Alert.EndsAt.UTC(), "the newest re-send waits")
	}
}

// TestEndpointDownDoesNotHoldBackAnother: of an HA pair, the one that is up gets every
// notification at once; the one that is down keeps the newest of each alert, never expiring,
// and gets it when it is back.
func TestEndpointDownDoesNotHoldBackAnother(t *testing.T) {
	statuses := make([]int, 1<<20)
	for i := range statuses {
		statuses[i] = http.StatusServiceUnavailable
	}
	sick := newReceiver(t, statuses...)
	up := newReceiver(t)
	cfg := testConfig("")
	cfg.Endpoint = ""
	cfg.Endpoints = []string{sick.URL, up.URL}
	require.NoError(t, cfg.Validate())
	te := startExporter(t, cfg)

	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0, 9)))
	fired := decode(t, up.wait(t, 1)[0])
	require.Len(t, fired, 1)
	te.setNow(now0.Add(2 * time.Second))
	require.NoError(t, te.ConsumeMetrics(context.Background(), unified(now0.Add(2*time.Second), 1)))
	resolved := decode(t, up.wait(t, 2)[1])
	require.Len(t, resolved, 1)
	assert.Equal(t, now0.Add(2*time.Second), resolved[0].EndsAt.UTC())
	assert.Equal(t, 1, te.box(0).Len(), "the sick endpoint keeps the newest notification")
	waitFor(t, "the healthy endpoint's outbox to empty", func() bool { return te.box(1).Len() == 0 })

	// An hour later on the clock, after many failed tries, the sick one recovers.
	sick.wait(t, 20)
	te.setNow(now0.Add(time.Hour))
	sick.mu.Lock()
	sick.statuses = nil
	n := len(sick.bodies)
	sick.mu.Unlock()
	got := decode(t, sick.wait(t, n+1)[n])
	require.Len(t, got, 1)
	assert.Equal(t, resolved, got)
	waitFor(t, "the outbox to empty", func() bool { return te.box(0).Len() == 0 })
	assert.Equal(t, int64(2), sum(t, te, "otelcol_alertwebhook_deliveries", "endpoint", hostOf(up.URL), "outcome", "sent"))
}
