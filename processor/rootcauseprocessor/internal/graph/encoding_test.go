package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphRoundTrip(t *testing.T) {
	g := chain(t)
	g.Own("checkout", 10*sec, 4)
	data, err := g.AppendBinary(nil)
	require.NoError(t, err)
	got, err := Decode(data, 10, 60*sec, []string{"user"})
	require.NoError(t, err)
	assert.Equal(t, g.Services(20*sec), got.Services(20*sec))
	assert.Equal(t, g.Edges(), got.Edges())
	for n := range len(data) {
		_, err := Decode(data[:n], 10, 60*sec, nil)
		assert.Error(t, err, "%d of %d bytes", n, len(data))
	}
	small, err := Decode(data, 1, 60*sec, nil)
	require.NoError(t, err)
	_, edges := small.Len()
	assert.Equal(t, 1, edges, "a lower max_edges keeps what fits")
}
