package incident

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTrackerRoundTrip(t *testing.T) {
	cfg := Config{Threshold: 7, ResolveThreshold: 3, Calm: time.Minute.Nanoseconds()}
	tr := New(cfg)
	tr.Update(10*sec, ranking(map[string][2]float64{"b": {4, 1}, "c": {8, 8}}), links)
	data, err := tr.AppendBinary(nil)
	require.NoError(t, err)
	got, err := Decode(cfg, data)
	require.NoError(t, err)
	next := ranking(map[string][2]float64{"a": {6, 0}, "b": {9, 9}, "c": {8, 2}})
	assert.Equal(t, tr.Update(20*sec, next, links), got.Update(20*sec, next, links), "both go on alike")
	assert.Equal(t, tr.Opened(), got.Opened())
	for n := range len(data) {
		_, err := Decode(cfg, data[:n])
		assert.Error(t, err, "%d of %d bytes", n, len(data))
	}
}
