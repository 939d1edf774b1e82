// Package binpart lays the state of several packages end to end in one encoding: each part is
// its length as a little-endian uint32, then its own encoding, which its package decodes and
// checks (version, length), so either side can change alone. It also has the few primitives the
// components' own headers use.
package binpart

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrTruncated is wrapped by every error of an encoding that ends early.
var ErrTruncated = errors.New("truncated")

// AppendBytes appends data as a part.
func AppendBytes(b, data []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// Append appends what enc appends as a part, writing its length once it is known.
func Append(b []byte, enc encoding.BinaryAppender) ([]byte, error) {
	at := len(b)
	b, err := enc.AppendBinary(binary.LittleEndian.AppendUint32(b, 0))
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b, nil
}

// Named is where a part is decoded to, and its name for errors.
type Named struct {
	Name string
	Dst  encoding.BinaryUnmarshaler
}

// Decode hands each part of data to its destination, in order; data must hold nothing else.
func Decode(data []byte, parts []Named) error {
	d := Decoder{B: data}
	for _, p := range parts {
		part, err := d.Part()
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		if err := p.Dst.UnmarshalBinary(part); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return d.Done()
}

// AppendString appends s as a part.
func AppendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendUint32 appends a count.
func AppendUint32(b []byte, n int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(n)) }

// AppendInt64 and AppendFloat64 append fixed-size little-endian values.
func AppendInt64(b []byte, v int64) []byte { return binary.LittleEndian.AppendUint64(b, uint64(v)) }

func AppendFloat64(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// Decoder reads what the Append functions wrote; the first error sticks, and every later read
// returns zero values.
type Decoder struct {
	B   []byte
	Err error
}

func (d *Decoder) take(n int) []byte {
	if d.Err != nil {
		return nil
	}
	if n < 0 || len(d.B) < n {
		d.Err = fmt.Errorf("%w: %d bytes wanted, %d left", ErrTruncated, n, len(d.B))
		return nil
	}
	out := d.B[:n]
	d.B = d.B[n:]
	return out
}

// Byte, Uint32, Int64, Float64 read fixed-size values.
func (d *Decoder) Byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *Decoder) Uint32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *Decoder) Uint64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *Decoder) Int64() int64 { return int64(d.Uint64()) }

func (d *Decoder) Float64() float64 { return math.Float64frombits(d.Uint64()) }

// Part reads one part; the slice aliases the data.
func (d *Decoder) Part() ([]byte, error) {
	n := d.Uint32()
	b := d.take(int(n))
	return b, d.Err
}

// String reads a string appended by AppendString.
func (d *Decoder) String() string {
	b, _ := d.Part()
	return string(b)
}

// Done is the first error, or an error when bytes are left.
func (d *Decoder) Done() error {
	if d.Err == nil && len(d.B) != 0 {
		d.Err = fmt.Errorf("%d trailing bytes", len(d.B))
	}
	return d.Err
}
