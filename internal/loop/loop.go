// Package loop runs a component's periodic work in a goroutine that Start begins and Stop ends
// and waits for, as the collector's lifecycle wants: nothing of a component runs after its
// Shutdown returns.
package loop

import (
	"context"
	"time"
)

// Loop is a running goroutine that calls its function on a ticker.
type Loop struct {
	stop context.CancelFunc
	done chan struct{}
}

// Start calls f every period until Stop; f's context is cancelled by Stop.
func Start(period time.Duration, f func(ctx context.Context)) *Loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Loop{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
	return l
}

// Stop ends the loop and waits for a call in progress to return. A nil Loop (never started) is
// stopped already.
func (l *Loop) Stop() {
	if l == nil {
		return
	}
	l.stop()
	<-l.done
}
