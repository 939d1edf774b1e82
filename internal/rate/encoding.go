package rate

import (
	"encoding/binary"
	"fmt"
	"math"
)

// encodingVersion is bumped whenever the fields of Counter, Delta or Histogram or their meaning
// change, so a processor restarting with old checkpoints starts those series afresh instead of
// misreading them.
const encodingVersion = 1

// Encoded sizes: the version byte, the fixed fields, and for Histogram the bucket count that
// precedes its buckets.
const (
	counterSize       = 1 + 8 + 8 + 8 + 1
	deltaSize         = 1 + 8 + 1
	histogramHeadSize = 1 + 8 + 8 + 8 + 8 + 8 + 1 + 4
)

// AppendBinary appends the counter as: version byte, start, ts, value (float64 bits), seen
// (0 or 1), little endian. It implements encoding.BinaryAppender so that a series' state is
// encoded into one buffer; it never fails.
func (c *Counter) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, encodingVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.start))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.ts))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.value))
	return appendBool(b, c.seen), nil
}

// UnmarshalBinary restores a counter written by AppendBinary. On error the counter is unchanged.
func (c *Counter) UnmarshalBinary(data []byte) error {
	if err := check("counter", data, counterSize); err != nil {
		return err
	}
	d := decoder{data[1:]}
	start, ts, value := int64(d.uint64()), int64(d.uint64()), math.Float64frombits(d.uint64())
	seen, err := d.bool("counter")
	if err != nil {
		return err
	}
	*c = Counter{start: start, ts: ts, value: value, seen: seen}
	return nil
}

// AppendBinary appends the delta state as: version byte, ts, seen (0 or 1), little endian. It
// never fails.
func (d *Delta) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, encodingVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(d.ts))
	return appendBool(b, d.seen), nil
}

// UnmarshalBinary restores a delta state written by AppendBinary. On error it is unchanged.
func (d *Delta) UnmarshalBinary(data []byte) error {
	if err := check("delta", data, deltaSize); err != nil {
		return err
	}
	r := decoder{data[1:]}
	ts := int64(r.uint64())
	seen, err := r.bool("delta")
	if err != nil {
		return err
	}
	*d = Delta{ts: ts, seen: seen}
	return nil
}

// AppendBinary appends the histogram as: version byte, start, ts, count and sum (float64 bits),
// layout, seen (0 or 1), uint32 number of buckets, the previous point's cumulative buckets
// (float64 bits), little endian. The per-interval scratch is not encoded: Next overwrites it
// before reading it. It never fails.
func (h *Histogram) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, encodingVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(h.start))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.ts))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h.count))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h.sum))
	b = binary.LittleEndian.AppendUint64(b, h.layout)
	b = appendBool(b, h.seen)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.buckets)))
	for _, x := range h.buckets {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b, nil
}

// UnmarshalBinary restores a histogram written by AppendBinary, reusing its bucket slice. On
// error the histogram is unchanged.
func (h *Histogram) UnmarshalBinary(data []byte) error {
	if err := version("histogram", data); err != nil {
		return err
	}
	if len(data) < histogramHeadSize {
		return fmt.Errorf("rate: histogram state is %d bytes, want at least %d", len(data), histogramHeadSize)
	}
	n := binary.LittleEndian.Uint32(data[histogramHeadSize-4:])
	// Checked before anything is allocated: a corrupt count must not ask for gigabytes.
	if rest := uint64(len(data) - histogramHeadSize); rest != 8*uint64(n) {
		return fmt.Errorf("rate: histogram state has %d bytes for %d buckets, want %d", rest, n, 8*uint64(n))
	}
	d := decoder{data[1:]}
	start, ts := int64(d.uint64()), int64(d.uint64())
	count, sum := math.Float64frombits(d.uint64()), math.Float64frombits(d.uint64())
	layout := d.uint64()
	seen, err := d.bool("histogram")
	if err != nil {
		return err
	}
	d.b = d.b[4:] // the bucket count, read above
	buckets := h.buckets[:0]
	for range n {
		buckets = append(buckets, math.Float64frombits(d.uint64()))
	}
	h.start, h.ts, h.count, h.sum, h.layout, h.seen = start, ts, count, sum, layout, seen
	h.buckets = buckets
	return nil
}

// version validates the version byte of an encoded state.
func version(kind string, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("rate: empty %s state", kind)
	}
	if data[0] != encodingVersion {
		return fmt.Errorf("rate: %s state version %d, want %d", kind, data[0], encodingVersion)
	}
	return nil
}

// check validates the version byte and the length of a fixed-size encoded state.
func check(kind string, data []byte, size int) error {
	if err := version(kind, data); err != nil {
		return err
	}
	if len(data) != size {
		return fmt.Errorf("rate: %s state is %d bytes, want %d", kind, len(data), size)
	}
	return nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads little-endian fields from data whose length was checked beforehand.
type decoder struct{ b []byte }

func (d *decoder) uint64() uint64 {
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bool(kind string) (bool, error) {
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		return false, fmt.Errorf("rate: %s state: seen flag is %d, want 0 or 1", kind, v)
	}
	return v == 1, nil
}
