package anomalyprocessor

import (
	"bytes"
	"cmp"
	"encoding"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/omen-otel/omen/internal/binpart"
	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/rate"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/series"
)

// The processor's learned state is plain data that can be encoded, so that a checkpoint through
// the storage extension lets a restarted collector continue where it stopped instead of warming
// every model up again.
//
// Every encoding below starts with a version byte and is little endian. The state of another
// package (a detector model, a rate) is a part: its length as a uint32, then its own encoding,
// which that package decodes and checks (version, length), so either side can change alone.
// Models are encoded without their parameters: the decoding processor must have the same
// detector configuration. A different seasonal profile size is refused; other differences are
// not detected, the models would go on under the new parameters.
//
// A series (seriesVersion):
//
//	byte    version
//	int64   last seen, unix nanos (the store's clock for series_ttl)
//	byte    flags: 1 = has a cumulative histogram
//	part    detector model (detector.Model.MarshalBinary)
//	part    cumulative counter (rate.Counter.AppendBinary)
//	part    delta (rate.Delta.AppendBinary)
//	part    cumulative histogram (rate.Histogram.AppendBinary), when flagged
//
// where a part is a uint32 length followed by that many bytes.

// seriesVersion is bumped whenever the layout above changes; the parts carry versions of their
// own.
const seriesVersion = 1

// seriesHasHist flags a series with a cumulative histogram.
const seriesHasHist = 1

// appendSeries appends the encoding of one series' state and the time it was last seen.
func appendSeries(b []byte, st *seriesState, lastSeen int64) ([]byte, error) {
	flags := byte(0)
	if st.hist != nil {
		flags |= seriesHasHist
	}
	b = append(b, seriesVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(lastSeen))
	b = append(b, flags)
	var err error
	if b, err = binpart.Append(b, &st.model); err != nil {
		return nil, err
	}
	parts := []encoding.BinaryAppender{&st.counter, &st.delta}
	if st.hist != nil {
		parts = append(parts, st.hist)
	}
	for _, part := range parts {
		if b, err = binpart.Append(b, part); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// seriesHead is the length of a series' fixed head: version, last seen, flags.
const seriesHead = 1 + 8 + 1

// decodeSeriesHead checks the fixed head of an encoded series and returns what it says.
func decodeSeriesHead(data []byte) (lastSeen int64, flags byte, err error) {
	if len(data) < seriesHead {
		return 0, 0, fmt.Errorf("series state: %w (%d bytes)", binpart.ErrTruncated, len(data))
	}
	if data[0] != seriesVersion {
		return 0, 0, fmt.Errorf("series state: version %d, want %d", data[0], seriesVersion)
	}
	if flags = data[9]; flags&^seriesHasHist != 0 {
		return 0, 0, fmt.Errorf("series state: unknown flags %#x", flags)
	}
	return int64(binary.LittleEndian.Uint64(data[1:])), flags, nil
}

// decodeSeries decodes a series encoded by appendSeries. Its model is built from params, which
// must come from the detector configuration of the processor that encoded it.
func decodeSeries(params *detector.Params, data []byte) (st seriesState, lastSeen int64, err error) {
	lastSeen, flags, err := decodeSeriesHead(data)
	if err != nil {
		return seriesState{}, 0, err
	}
	st.model = *detector.New(params)
	parts := []binpart.Named{{Name: "model", Dst: &st.model}, {Name: "counter", Dst: &st.counter}, {Name: "delta", Dst: &st.delta}}
	if flags&seriesHasHist != 0 {
		st.hist = &rate.Histogram{}
		parts = append(parts, binpart.Named{Name: "histogram", Dst: st.hist})
	}
	if err := binpart.Decode(data[seriesHead:], parts); err != nil {
		return seriesState{}, 0, fmt.Errorf("series state: %w", err)
	}
	return st, lastSeen, nil
}

// snapshot encodes every series the processor holds, keyed by its identity (the same in every
// process, see package identity). It is the API through which a checkpoint (storage extension)
// saves the learned state; restore is its inverse. It holds the processor's lock, so batches wait
// while it runs.
func (p *anomalyProcessor) snapshot() (map[identity.Hash][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := make(map[identity.Hash][]byte, p.models.Len())
	var buf []byte // encoded into once, copied out at its exact size
	for id, st := range p.models.All() {
		lastSeen, _ := p.models.LastSeen(id)
		var err error
		if buf, err = appendSeries(buf[:0], st, lastSeen); err != nil {
			return nil, err
		}
		snap[id] = bytes.Clone(buf)
	}
	return snap, nil
}

// restore replaces every series the processor holds by those of a snapshot, each with the time
// it was last seen, so series_ttl runs on as if the processor had never stopped.
//
// A snapshot holding more series than max_series (the limit was lowered) keeps the most
// recently seen. Any series that does not decode (corrupt, truncated, another version or
// detector configuration) fails the whole restore and leaves the processor as it was: the
// caller then starts fresh, as without a checkpoint.
func (p *anomalyProcessor) restore(snap map[identity.Hash][]byte) error {
	models, err := p.buildStore(snap)
	if err != nil {
		return err
	}
	p.install(models)
	return nil
}

// install swaps in a store that decoded completely.
func (p *anomalyProcessor) install(models *series.Store[seriesState]) {
	p.mu.Lock()
	p.models = models
	p.mu.Unlock()
}

// buildStore decodes a snapshot into a new store.
func (p *anomalyProcessor) buildStore(snap map[identity.Hash][]byte) (*series.Store[seriesState], error) {
	type held struct {
		id       identity.Hash
		lastSeen int64
	}
	order := make([]held, 0, len(snap))
	for id, data := range snap {
		lastSeen, _, err := decodeSeriesHead(data)
		if err != nil {
			return nil, fmt.Errorf("series %016x%016x: %w", id.Hi, id.Lo, err)
		}
		order = append(order, held{id, lastSeen})
	}
	if len(order) > p.cfg.MaxSeries {
		slices.SortFunc(order, func(a, b held) int {
			return cmp.Or(cmp.Compare(b.lastSeen, a.lastSeen), cmp.Compare(a.id.Hi, b.id.Hi), cmp.Compare(a.id.Lo, b.id.Lo))
		})
	}
	models := series.New[seriesState](p.cfg.MaxSeries)
	for _, h := range order {
		st, lastSeen, err := decodeSeries(p.params, snap[h.id])
		if err != nil {
			return nil, fmt.Errorf("series %016x%016x: %w", h.id.Hi, h.id.Lo, err)
		}
		if slot, _, ok := models.Get(h.id, lastSeen); ok {
			*slot = st
		}
	}
	return models, nil
}
