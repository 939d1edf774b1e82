package binpart

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	b := AppendString(nil, "checkout")
	b = AppendInt64(b, -7)
	b = AppendFloat64(b, 2.5)
	b = AppendUint32(b, 3)
	b = AppendBytes(b, []byte{1, 2})
	d := Decoder{B: b}
	assert.Equal(t, "checkout", d.String())
	assert.Equal(t, int64(-7), d.Int64())
	assert.Equal(t, 2.5, d.Float64())
	assert.Equal(t, uint32(3), d.Uint32())
	part, err := d.Part()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2}, part)
	require.NoError(t, d.Done())
}

func TestTruncatedAndTrailing(t *testing.T) {
	b := AppendString(nil, "payments")
	for n := range len(b) {
		d := Decoder{B: b[:n]}
		_ = d.String()
		assert.ErrorIs(t, d.Done(), ErrTruncated, "%d of %d bytes", n, len(b))
	}
	d := Decoder{B: append(b, 0)}
	_ = d.String()
	err := d.Done()
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrTruncated), "a byte too many is not a truncation")
	// The first error sticks: later reads give zero values.
	d = Decoder{B: []byte{1}}
	assert.Zero(t, d.Uint64())
	assert.Zero(t, d.Byte())
	assert.ErrorIs(t, d.Done(), ErrTruncated)
}
