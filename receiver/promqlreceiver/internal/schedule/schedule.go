// Package schedule holds the time arithmetic of the PromQL receiver: the evaluation grid of a
// query, its spread within the interval, the chunks of a back-fill and the retry delays. It knows
// nothing of the collector or of HTTP.
package schedule

import (
	"hash/fnv"
	"math/rand/v2"
	"time"
)

// MaxPointsPerSeries is Prometheus' limit on the points of one series in one query_range answer
// (it rejects a request with more than 11,000 steps).
const MaxPointsPerSeries = 11_000

// Grid is the evaluation schedule of one query: the timestamps k*Interval since the Unix epoch,
// each evaluated Offset after it has passed. Aligning to the epoch makes the timestamps the same
// across restarts and collectors, so a restarted collector continues the same series.
type Grid struct {
	Interval time.Duration
	Offset   time.Duration
}

// NewGrid spreads queries over the interval with an offset derived from the query's name: it is
// the same on every start (no jitter to break reproducibility) and different between queries,
// so their requests do not all hit Prometheus at the same instant.
func NewGrid(name string, interval time.Duration) Grid {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return Grid{Interval: interval, Offset: time.Duration(h.Sum64() % uint64(interval))}
}

// Due is the latest grid timestamp whose evaluation time (timestamp + Offset) is not after now.
func (g Grid) Due(now time.Time) time.Time {
	return g.floor(now.Add(-g.Offset))
}

// EvalAt is when the evaluation of grid timestamp t is due.
func (g Grid) EvalAt(t time.Time) time.Time {
	return t.Add(g.Offset)
}

// First is the first grid timestamp to evaluate when starting at due with the given lookback:
// the earliest grid timestamp not older than due-lookback. With no lookback it is due itself.
func (g Grid) First(due time.Time, lookback time.Duration) time.Time {
	return due.Add(-lookback / g.Interval * g.Interval)
}

func (g Grid) floor(t time.Time) time.Time {
	iv := g.Interval.Milliseconds()
	ms := t.UnixMilli()
	return time.UnixMilli(ms - mod(ms, iv))
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// ChunkEnd is the last timestamp of the query_range request that starts at start and covers at
// most maxPoints grid steps, without going past end.
func ChunkEnd(start, end time.Time, step time.Duration, maxPoints int) time.Time {
	last := start.Add(time.Duration(maxPoints-1) * step)
	if last.After(end) {
		return end
	}
	return last
}

// Backoff is an exponential delay between retries: Initial, doubling up to Max, each with ±20%
// jitter so that collectors restarted together do not retry in lockstep.
type Backoff struct {
	Initial, Max time.Duration
	next         time.Duration
}

// Next is the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.Initial
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Reset starts again from Initial, after a success.
func (b *Backoff) Reset() { b.next = 0 }
