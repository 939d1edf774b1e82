package edge

import (
	"encoding/binary"
	"fmt"

	"github.com/omen-otel/omen/internal/binpart"
	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/rate"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/evidence"
)

// stateVersion is bumped whenever the layout below changes:
//
//	byte    version
//	int64   LastTS
//	part    the evidence tests: their float64 fields in order (encoding/binary)
//	part    request rate, error ratio and latency models (detector.Model.MarshalBinary), one each
//	uint32  number of series, then per series: its identity (two uint64), its counter and its
//	        delta (parts), a byte 1 and its histogram (a part) when it has one, else 0
//
// The open interval is not encoded: a stopping processor closes it first.
const stateVersion = 1

// evidenceState is encoded whole by encoding/binary: a field added to one of the tests changes
// the length, so older encodings are refused rather than misread.
type evidenceState struct {
	Arrivals evidence.Arrivals
	Failures evidence.Failures
	Mean     evidence.Mean
}

// AppendBinary appends the edge's learned state.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, stateVersion)
	b = binpart.AppendInt64(b, s.LastTS)
	ev, err := binary.Append(nil, binary.LittleEndian, &evidenceState{s.Arrivals, s.Failures, s.LatencyMean})
	if err != nil {
		return nil, err
	}
	b = binpart.AppendBytes(b, ev)
	for _, m := range []*detector.Model{&s.Rate, &s.ErrorRatio, &s.Latency} {
		if b, err = binpart.Append(b, m); err != nil {
			return nil, err
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Series)))
	for i := range s.Series {
		sr := &s.Series[i]
		b = binary.LittleEndian.AppendUint64(b, sr.ID.Hi)
		b = binary.LittleEndian.AppendUint64(b, sr.ID.Lo)
		if b, err = binpart.Append(b, &sr.Counter); err != nil {
			return nil, err
		}
		if b, err = binpart.Append(b, &sr.Delta); err != nil {
			return nil, err
		}
		if sr.Hist == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		if b, err = binpart.Append(b, sr.Hist); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Decode reads an edge's state written by AppendBinary into a new state whose models have the
// parameters p (those of the processor that wrote it).
func Decode(p *Params, data []byte) (*State, error) {
	s := New(p)
	d := binpart.Decoder{B: data}
	if v := d.Byte(); d.Err == nil && v != stateVersion {
		return nil, fmt.Errorf("edge state: version %d, want %d", v, stateVersion)
	}
	s.LastTS = d.Int64()
	ev, _ := d.Part()
	var es evidenceState
	if d.Err == nil {
		if _, err := binary.Decode(ev, binary.LittleEndian, &es); err != nil || len(ev) != binary.Size(es) {
			return nil, fmt.Errorf("edge state: evidence of %d bytes", len(ev))
		}
	}
	s.Arrivals, s.Failures, s.LatencyMean = es.Arrivals, es.Failures, es.Mean
	for _, m := range []struct {
		name string
		dst  interface{ UnmarshalBinary([]byte) error }
	}{{"request rate model", &s.Rate}, {"error ratio model", &s.ErrorRatio}, {"latency model", &s.Latency}} {
		part, err := d.Part()
		if err != nil {
			return nil, fmt.Errorf("edge state: %s: %w", m.name, err)
		}
		if err := m.dst.UnmarshalBinary(part); err != nil {
			return nil, fmt.Errorf("edge state: %s: %w", m.name, err)
		}
	}
	n := d.Uint32()
	if n > MaxSeries {
		return nil, fmt.Errorf("edge state: %d series, at most %d", n, MaxSeries)
	}
	for range n {
		sr := Series{ID: identity.Hash{Hi: d.Uint64(), Lo: d.Uint64()}}
		for _, part := range []interface{ UnmarshalBinary([]byte) error }{&sr.Counter, &sr.Delta} {
			data, err := d.Part()
			if err != nil {
				return nil, fmt.Errorf("edge state: series: %w", err)
			}
			if err := part.UnmarshalBinary(data); err != nil {
				return nil, fmt.Errorf("edge state: series: %w", err)
			}
		}
		if d.Byte() == 1 {
			sr.Hist = &rate.Histogram{}
			data, err := d.Part()
			if err == nil {
				err = sr.Hist.UnmarshalBinary(data)
			}
			if err != nil {
				return nil, fmt.Errorf("edge state: series histogram: %w", err)
			}
		}
		s.Series = append(s.Series, sr)
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("edge state: %w", err)
	}
	return s, nil
}
