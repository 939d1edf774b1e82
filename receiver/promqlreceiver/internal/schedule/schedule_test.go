package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ms(v int64) time.Time { return time.UnixMilli(v) }

func TestGridDue(t *testing.T) {
	g := Grid{Interval: 60 * time.Second, Offset: 7 * time.Second}
	tests := []struct {
		now, want int64
	}{
		{now: 120_000 + 7_000, want: 120_000},  // exactly at the evaluation time
		{now: 120_000 + 6_999, want: 60_000},   // a millisecond before it
		{now: 120_000 + 66_999, want: 120_000}, // just before the next one
		{now: 1_795_320_569_123, want: 1_795_320_540_000},
	}
	for _, tt := range tests {
		assert.Equal(t, ms(tt.want), g.Due(ms(tt.now)), "now %d", tt.now)
	}
	assert.Equal(t, ms(127_000), g.EvalAt(ms(120_000)))
}

func TestGridFirst(t *testing.T) {
	g := Grid{Interval: time.Minute}
	due := ms(7 * 24 * 3_600_000)
	assert.Equal(t, due, g.First(due, 0), "no lookback: only the due timestamp")
	assert.Equal(t, due.Add(-time.Hour), g.First(due, time.Hour))
	// A lookback that is not a whole number of intervals starts at the first grid timestamp
	// inside it.
	assert.Equal(t, due.Add(-2*time.Minute), g.First(due, 150*time.Second))
}

func TestNewGridSpreadsQueries(t *testing.T) {
	a := NewGrid("http_requests", time.Minute)
	assert.Equal(t, a, NewGrid("http_requests", time.Minute), "the offset is deterministic")
	assert.NotEqual(t, a.Offset, NewGrid("http_errors", time.Minute).Offset)
	offsets := map[time.Duration]bool{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		g := NewGrid(name, 10*time.Second)
		require.GreaterOrEqual(t, g.Offset, time.Duration(0))
		require.Less(t, g.Offset, 10*time.Second)
		offsets[g.Offset] = true
	}
	assert.Greater(t, len(offsets), 4, "offsets spread over the interval")
}

// TestChunks walks a 7-day back-fill at 1-minute steps the way the receiver does and checks the
// chunks: at most maxPoints points each, contiguous (each starts one step after the previous
// one's end), no timestamp twice, and the last one ends at the due timestamp.
func TestChunks(t *testing.T) {
	tests := []struct {
		name      string
		lookback  time.Duration
		step      time.Duration
		maxPoints int
		want      []int // points per chunk
	}{
		{"7 days at 1m, Prometheus' limit", 7 * 24 * time.Hour, time.Minute, MaxPointsPerSeries, []int{10_081}},
		{"7 days at 15s", 7 * 24 * time.Hour, 15 * time.Second, MaxPointsPerSeries, []int{11_000, 11_000, 11_000, 7_321}},
		{"small chunks", 10 * time.Minute, time.Minute, 4, []int{4, 4, 3}},
		{"exact multiple", 7 * time.Minute, time.Minute, 4, []int{4, 4}},
		{"one point per request", 2 * time.Minute, time.Minute, 1, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Grid{Interval: tt.step}
			due := ms(1_795_320_540_000)
			next := g.First(due, tt.lookback)
			var got []int
			for !next.After(due) {
				end := ChunkEnd(next, due, tt.step, tt.maxPoints)
				require.False(t, end.Before(next))
				got = append(got, int(end.Sub(next)/tt.step)+1)
				next = end.Add(tt.step)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, due.Add(tt.step), next, "the live schedule continues one step after the back-fill")
		})
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second}
	for _, want := range []time.Duration{1, 2, 4, 5, 5} {
		d := b.Next()
		assert.GreaterOrEqual(t, d, want*time.Second*8/10)
		assert.LessOrEqual(t, d, want*time.Second*12/10)
	}
	b.Reset()
	assert.LessOrEqual(t, b.Next(), 1200*time.Millisecond)
}
