package loop

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// Flusher passes on what a processor's pending intervals give when they close by time rather
// than by a newer point: every period it calls flush(false) and hands the result to next; Stop
// ends that, then flushes everything (flush(true)) once more, while the next consumers still run.
type Flusher struct {
	loop  *Loop
	flush func(all bool) pmetric.Metrics
	next  consumer.Metrics
	log   *zap.Logger
	what  string
}

// StartFlusher starts the ticker; what names the metrics in the log when next refuses them.
func StartFlusher(period time.Duration, flush func(all bool) pmetric.Metrics, next consumer.Metrics, log *zap.Logger, what string) *Flusher {
	f := &Flusher{flush: flush, next: next, log: log, what: what}
	f.loop = Start(period, func(ctx context.Context) { f.emit(ctx, f.flush(false)) })
	return f
}

// Stop ends the ticker and passes on everything still pending. A nil Flusher (never started)
// does nothing.
func (f *Flusher) Stop(ctx context.Context) {
	if f == nil {
		return
	}
	f.loop.Stop()
	f.emit(ctx, f.flush(true))
}

func (f *Flusher) emit(ctx context.Context, md pmetric.Metrics) {
	if md.ResourceMetrics().Len() == 0 {
		return
	}
	if err := f.next.ConsumeMetrics(ctx, md); err != nil {
		f.log.Warn("The next consumer refused the "+f.what+".", zap.Error(err))
	}
}
