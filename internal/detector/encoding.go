package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// encodingVersion is bumped whenever State's fields or their meaning change,
// so a processor restarting with old checkpoints starts fresh instead of
// misreading them.
const encodingVersion = 5

// MarshalBinary encodes the state and seasonal profile as: version byte,
// State fields in declaration order (little endian), uint32 number of
// profile offsets, the quantised offsets (int16). Parameters are not encoded: the restoring
// model must be built from the same Config.
func (m *Model) MarshalBinary() ([]byte, error) {
	n := 0
	if m.profile != nil {
		n = len(m.profile)
	}
	var buf bytes.Buffer
	buf.Grow(1 + binary.Size(m.s) + 4 + 2*n)
	buf.WriteByte(encodingVersion)
	if err := binary.Write(&buf, binary.LittleEndian, &m.s); err != nil {
		return nil, err
	}
	binary.Write(&buf, binary.LittleEndian, uint32(n))
	if n > 0 {
		binary.Write(&buf, binary.LittleEndian, m.profile)
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary restores a state written by MarshalBinary into a model
// made by New with the same Config. On error the model is unchanged.
func (m *Model) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return errors.New("detector: empty state")
	}
	if data[0] != encodingVersion {
		return fmt.Errorf("detector: state version %d, want %d", data[0], encodingVersion)
	}
	r := bytes.NewReader(data[1:])
	var s State
	if err := binary.Read(r, binary.LittleEndian, &s); err != nil {
		return fmt.Errorf("detector: state: %w", err)
	}
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return fmt.Errorf("detector: profile length: %w", err)
	}
	want := 0
	if m.profile != nil {
		want = len(m.profile)
	}
	if int(n) != want {
		return fmt.Errorf("detector: state has %d seasonal buckets, config has %d", n, want)
	}
	var offsets []int16
	if n > 0 {
		offsets = make([]int16, n)
		if err := binary.Read(r, binary.LittleEndian, offsets); err != nil {
			return fmt.Errorf("detector: profile: %w", err)
		}
	}
	if r.Len() != 0 {
		return fmt.Errorf("detector: %d trailing bytes in state", r.Len())
	}
	m.s = s
	if n > 0 {
		copy(m.profile, offsets)
	}
	return nil
}
