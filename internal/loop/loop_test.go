package loop

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
