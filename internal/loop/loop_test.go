package loop

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

func TestStopWaitsAndEnds(t *testing.T) {
	var calls atomic.Int64
	started := make(chan struct{}, 1)
	l := Start(time.Millisecond, func(ctx context.Context) {
		select {
		case started <- struct{}{}:
		default:
		}
		calls.Add(1)
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		require.Fail(t, "the loop never ran")
	}
	l.Stop()
	n := calls.Load()
	time.Sleep(5 * time.Millisecond)
	assert.Equal(t, n, calls.Load(), "nothing runs after Stop")
	var never *Loop
	never.Stop()
}

func TestFlusherPassesOnAndFlushesAllAtStop(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	var calls []bool
	var mu sync.Mutex
	flush := func(all bool) pmetric.Metrics {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, all)
		md := pmetric.NewMetrics()
		if all {
			md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("last")
		}
		return md
	}
	f := StartFlusher(time.Millisecond, flush, sink, zap.NewNop(), "scores")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) > 0 }, 10*time.Second, time.Millisecond)
	f.Stop(context.Background())
	mu.Lock()
	defer mu.Unlock()
	assert.True(t, calls[len(calls)-1], "the last flush takes everything")
	require.Len(t, sink.AllMetrics(), 1, "an empty flush passes nothing on")
	assert.Equal(t, "last", sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Name())
	var never *Flusher
	never.Stop(context.Background())
}
