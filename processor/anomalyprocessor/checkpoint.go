package anomalyprocessor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/series"
)

// modelsVersion is the version of a checkpoint of the models: a stream of series records, each
// the series' identity (two uint64), the length of its encoding (uint32) and the encoding
// (appendSeries), ended by a record of length 0. Bump it when that layout or seriesVersion
// changes.
const modelsVersion = 1

// encodePiece is how many series a checkpoint encodes per hold of the lock: the longest a
// checkpoint can hold up ConsumeMetrics is the time to encode that many.
const encodePiece = 512

// maxRecord bounds one series' encoding when reading a checkpoint back: a larger length is
// corruption, not a series.
const maxRecord = 1 << 20

// modelsState is what a checkpoint of the models goes through: written, the series held when it
// began (their models are read a piece at a time as they are encoded); read back, the store
// decoded from it.
type modelsState struct {
	ids   []identity.Hash
	store *series.Store[seriesState]
}

func (p *anomalyProcessor) newCheckpointer(set processor.Settings) *checkpoint.Checkpointer[modelsState] {
	return checkpoint.New(p.cfg.Checkpoint, checkpoint.Settings{
		Logger: set.Logger, Kind: component.KindProcessor, ID: set.ID, Name: "models",
		Hook: checkpoint.Counters{Loads: p.tel.AnomalyCheckpointLoads, Writes: p.tel.AnomalyCheckpointWrites, Bytes: p.tel.AnomalyCheckpointBytes},
	}, checkpoint.Codec[modelsState]{
		Version:  modelsVersion,
		Snapshot: p.snapshotIDs,
		Encode:   p.encodeModels,
		Decode:   p.decodeModels,
		Apply:    func(s modelsState) { p.install(s.store) },
	})
}

// snapshotIDs copies the identities of the series held; the models themselves are encoded
// afterwards, a piece at a time.
func (p *anomalyProcessor) snapshotIDs() modelsState {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]identity.Hash, 0, p.models.Len())
	for id := range p.models.All() {
		ids = append(ids, id)
	}
	return modelsState{ids: ids}
}

// encodeModels writes the series of s that are still held, each as it is when its piece is
// encoded: the lock is taken per piece of encodePiece series, so ConsumeMetrics waits at most
// for one piece. Every series is consistent in itself; the checkpoint is not one instant of all
// of them, which a restart cannot tell apart from a few points more or less per series.
func (p *anomalyProcessor) encodeModels(w io.Writer, s modelsState) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var piece, rec []byte
	for start := 0; start < len(s.ids); start += encodePiece {
		piece = piece[:0]
		var err error
		p.mu.Lock()
		for _, id := range s.ids[start:min(start+encodePiece, len(s.ids))] {
			st, lastSeen, ok := p.models.Lookup(id)
			if !ok {
				continue // expired since the snapshot
			}
			if rec, err = appendSeries(rec[:0], st, lastSeen); err != nil {
				break
			}
			piece = appendRecord(piece, id, rec)
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
		if _, err := bw.Write(piece); err != nil {
			return err
		}
	}
	if _, err := bw.Write(appendRecord(nil, identity.Hash{}, nil)); err != nil {
		return err
	}
	return bw.Flush()
}

func appendRecord(b []byte, id identity.Hash, data []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, id.Hi)
	b = binary.LittleEndian.AppendUint64(b, id.Lo)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// decodeModels reads a checkpoint into a new store: every series decodes, or the whole
// checkpoint is refused.
func (p *anomalyProcessor) decodeModels(r io.Reader) (modelsState, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	snap := map[identity.Hash][]byte{}
	var head [20]byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return modelsState{}, fmt.Errorf("series record %d: %w", len(snap), err)
		}
		n := binary.LittleEndian.Uint32(head[16:])
		if n == 0 {
			break
		}
		if n > maxRecord {
			return modelsState{}, fmt.Errorf("series record %d: length %d", len(snap), n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return modelsState{}, fmt.Errorf("series record %d: %w", len(snap), err)
		}
		snap[identity.Hash{Hi: binary.LittleEndian.Uint64(head[0:]), Lo: binary.LittleEndian.Uint64(head[8:])}] = data
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return modelsState{}, errors.New("bytes after the last series")
	}
	models, err := p.buildStore(snap)
	if err != nil {
		return modelsState{}, err
	}
	return modelsState{store: models}, nil
}
