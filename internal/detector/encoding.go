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
const encodingVersion = 6

// MarshalBinary encodes the state and seasonal profile as: version byte,
// State fields in declaration order (little endian), uint32 number of
// profile offsets, the quantised offsets (int16). Parameters are not encoded: the restoring
// model must be built from the same Config.
func (m *Model) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// AppendBinary appends what MarshalBinary returns to b: a checkpoint of many models encodes
// them all into one reused buffer instead of allocating one per model.
func (m *Model) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, encodingVersion)
	b, err := binary.Append(b, binary.LittleEndian, &m.s)
	if err != nil {
		return nil, err
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.profile)))
	if len(m.profile) > 0 {
		if b, err = binary.Append(b, binary.LittleEndian, m.profile); err != nil {
			return nil, err
		}
	}
	return b, nil
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
