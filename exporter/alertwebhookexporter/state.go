package alertwebhookexporter

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/metadata"
	"github.com/omen-otel/omen/internal/checkpoint"
)

// stateVersion is the version of the checkpoint's encoding; bump it when snapshot changes.
const stateVersion = 1

// snapshot is what a checkpoint holds: the alert state machine and every endpoint's outbox.
type snapshot struct {
	Machine alert.Snapshot `json:"machine"`
	// Outboxes are keyed by endpoint.key. An endpoint no longer configured is forgotten; a new
	// one gets the firing alerts from their re-send after the restart.
	Outboxes map[string][]alert.Alert `json:"outboxes"`
}

func (e *alertExporter) codec() checkpoint.Codec[snapshot] {
	return checkpoint.Codec[snapshot]{
		Version: stateVersion,
		// The machine's lock is held to copy it only; each outbox copies under its own lock.
		Snapshot: func() snapshot {
			e.mu.Lock()
			s := snapshot{Machine: e.machine.Snapshot(), Outboxes: make(map[string][]alert.Alert, len(e.endpoints))}
			e.mu.Unlock()
			for _, ep := range e.endpoints {
				s.Outboxes[ep.key] = ep.box.Snapshot()
			}
			return s
		},
		Encode: func(w io.Writer, s snapshot) error { return json.NewEncoder(w).Encode(s) },
		Decode: func(r io.Reader) (snapshot, error) {
			var s snapshot
			err := json.NewDecoder(r).Decode(&s)
			return s, err
		},
		Apply: e.restore,
	}
}

// restore installs a checkpoint, in Start before the senders and the ticker run: the machine's
// alerts (firing ones are re-sent at the first tick, with their startsAt) and the notifications
// that were waiting.
func (e *alertExporter) restore(s snapshot) {
	e.mu.Lock()
	dropped := e.machine.Restore(s.Machine)
	e.machine.Resume(e.now())
	n := e.machine.Len()
	e.mu.Unlock()
	pending := 0
	for _, ep := range e.endpoints {
		dropped += ep.box.Restore(s.Outboxes[ep.key])
		pending += ep.box.Len()
	}
	e.set.Logger.Info("Alert state restored.", zap.Int("alerts", n), zap.Int("pending_notifications", pending), zap.Int("not_restored", dropped))
	if dropped > 0 {
		e.set.Logger.Warn("Some restored alerts or notifications were dropped: their rule is gone, or max_alerts or max_pending is lower than before.", zap.Int("dropped", dropped))
	}
}

// checkpointHook counts restores, cold starts and writes in the exporter's telemetry.
type checkpointHook struct{ tb *metadata.TelemetryBuilder }

func (h checkpointHook) Loaded(ctx context.Context, o checkpoint.Outcome, _ int64, _ time.Duration) {
	h.tb.AlertwebhookCheckpointLoads.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", string(o))))
}

func (h checkpointHook) Written(ctx context.Context, n int64, _, _ time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	h.tb.AlertwebhookCheckpointWrites.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	h.tb.AlertwebhookCheckpointBytes.Add(ctx, n)
}
