package edge

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
)

// warmEdge is an edge that has scored a few dozen intervals, with a counter and a histogram.
func warmEdge(t *testing.T) (*Params, *State) {
	t.Helper()
	p, err := NewParams(detector.Default())
	require.NoError(t, err)
	s := New(p)
	for i := range 40 {
		ts := int64(i+1) * 10e9
		s.Begin(ts, ts)
		c := s.SeriesOf(identity.String("requests"))
		inc, _ := c.Counter.Increase(0, ts, float64(100*i))
		s.AddRequests(inc, 1)
		s.AddLatency(100, 12, true)
		s.Score(s.Take(), true)
	}
	return p, s
}

func TestStateRoundTrip(t *testing.T) {
	p, s := warmEdge(t)
	data, err := s.AppendBinary(nil)
	require.NoError(t, err)
	got, err := Decode(p, data)
	require.NoError(t, err)
	again, err := got.AppendBinary(nil)
	require.NoError(t, err)
	assert.Equal(t, data, again)
	// Both go on alike.
	for _, st := range []*State{s, got} {
		st.Begin(500e9, 500e9)
		st.AddRequests(1000, 400)
	}
	assert.Equal(t, s.Score(s.Take(), true), got.Score(got.Take(), true))
}

func TestDecodeRefusesDamage(t *testing.T) {
	p, s := warmEdge(t)
	data, err := s.AppendBinary(nil)
	require.NoError(t, err)
	for n := range len(data) {
		_, err := Decode(p, data[:n])
		assert.Error(t, err, "%d of %d bytes", n, len(data))
	}
	_, err = Decode(p, append(append([]byte(nil), data...), 0))
	assert.Error(t, err, "a trailing byte")
	other := append([]byte{stateVersion + 1}, data[1:]...)
	_, err = Decode(p, other)
	assert.ErrorContains(t, err, "version")
}
