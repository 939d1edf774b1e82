package checkpoint

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Counters is a Hook that counts in a component's own telemetry (its mdatagen counters): starts
// by Outcome, checkpoints written by outcome (ok, failed), and their bytes.
type Counters struct {
	Loads, Writes, Bytes metric.Int64Counter
}

// Loaded counts a start by its outcome.
func (c Counters) Loaded(ctx context.Context, o Outcome, _ int64, _ time.Duration) {
	c.Loads.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", string(o))))
}

// Written counts a checkpoint and its bytes.
func (c Counters) Written(ctx context.Context, n int64, _, _ time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	c.Writes.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	c.Bytes.Add(ctx, n)
}
