package rootcauseprocessor

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor"

	"github.com/omen-otel/omen/internal/binpart"
	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/edge"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/graph"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/incident"
)

// stateVersion is the version of a checkpoint of the graph:
//
//	part    the topology (graph.Graph.AppendBinary)
//	part    the open incidents (incident.Tracker.AppendBinary)
//	then per edge a byte 1 and a part holding: client and server (strings), variant (uint64),
//	its connection type's part of the variant (uint64, what tells its siblings), the time of
//	its first point (int64), its version (a string), the index of its source in the config's
//	edges (uint32), its scores' attributes (JSON) and its learned state
//	(edge.State.AppendBinary); a byte 0 ends the edges.
//
// Bump it when that layout changes; the parts carry versions of their own.
const stateVersion = 2

// edgePiece is how many edges a checkpoint encodes per hold of the lock.
const edgePiece = 256

// graphState is what a checkpoint of the graph goes through. Written: the topology and the
// incidents as the checkpoint began, and the edges held then (their state is read a piece at a
// time as they are encoded). Read back: all of it decoded, ready to install.
type graphState struct {
	keys            []graph.EdgeKey
	graph, incident []byte

	edges     map[graph.EdgeKey]*edgeEntry
	topology  *graph.Graph
	incidents *incident.Tracker
}

func (p *rootCauseProcessor) newCheckpointer(set processor.Settings) *checkpoint.Checkpointer[graphState] {
	return checkpoint.New(p.cfg.Checkpoint, checkpoint.Settings{
		Logger: set.Logger, Kind: component.KindProcessor, ID: set.ID, Name: "graph",
		Hook: checkpoint.Counters{Loads: p.tel.RootcauseCheckpointLoads, Writes: p.tel.RootcauseCheckpointWrites, Bytes: p.tel.RootcauseCheckpointBytes},
	}, checkpoint.Codec[graphState]{
		Version:  stateVersion,
		Snapshot: p.snapshot,
		Encode:   p.encode,
		Decode:   p.decode,
		Apply:    p.install,
	})
}

func (p *rootCauseProcessor) snapshot() graphState {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := graphState{keys: make([]graph.EdgeKey, 0, len(p.edges))}
	for k := range p.edges {
		s.keys = append(s.keys, k)
	}
	// Both are small next to the edges' models: bounded by the services and edges.
	s.graph, _ = p.graph.AppendBinary(nil)
	s.incident, _ = p.incidents.AppendBinary(nil)
	return s
}

// encode writes the snapshot's topology and incidents, then every edge still held, a piece at a
// time under the lock. Each edge is consistent in itself.
func (p *rootCauseProcessor) encode(w io.Writer, s graphState) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	buf := binpart.AppendBytes(binpart.AppendBytes(nil, s.graph), s.incident)
	var rec []byte
	for start := 0; start < len(s.keys); start += edgePiece {
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		buf = buf[:0]
		var err error
		p.mu.Lock()
		for _, k := range s.keys[start:min(start+edgePiece, len(s.keys))] {
			e := p.edges[k]
			if e == nil {
				continue // expired since the snapshot
			}
			if rec, err = appendEdge(rec[:0], e); err != nil {
				break
			}
			buf = binpart.AppendBytes(append(buf, 1), rec)
		}
		p.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if _, err := bw.Write(append(buf, 0)); err != nil {
		return err
	}
	return bw.Flush()
}

func appendEdge(b []byte, e *edgeEntry) ([]byte, error) {
	b = binpart.AppendString(b, e.key.Client)
	b = binpart.AppendString(b, e.key.Server)
	b = binpart.AppendInt64(b, int64(e.key.Variant))
	b = binpart.AppendInt64(b, int64(e.pair.conn))
	b = binpart.AppendInt64(b, e.first)
	b = binpart.AppendString(b, e.version)
	b = binpart.AppendUint32(b, e.src.index)
	// In order: the scores carry the attributes as the edge first had them.
	pairs := make([][2]any, 0, e.attrs.Len())
	for k, v := range e.attrs.All() {
		pairs = append(pairs, [2]any{k, v.AsRaw()})
	}
	attrs, err := json.Marshal(pairs)
	if err != nil {
		return nil, err
	}
	b = binpart.AppendBytes(b, attrs)
	return binpart.Append(b, e.state)
}

// decode reads a checkpoint into a new graph, edges and incidents: all of it decodes, or the
// checkpoint is refused.
func (p *rootCauseProcessor) decode(r io.Reader) (graphState, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return graphState{}, err
	}
	d := binpart.Decoder{B: data}
	graphPart, _ := d.Part()
	incidentPart, err := d.Part()
	if err != nil {
		return graphState{}, err
	}
	s := graphState{edges: map[graph.EdgeKey]*edgeEntry{}}
	if s.topology, err = graph.Decode(graphPart, p.cfg.MaxEdges, int64(p.cfg.EdgeTTL), p.cfg.ExternalClients); err != nil {
		return graphState{}, err
	}
	if s.incidents, err = incident.Decode(p.incidents.Config(), incidentPart); err != nil {
		return graphState{}, err
	}
	for d.Byte() == 1 {
		rec, err := d.Part()
		if err != nil {
			return graphState{}, fmt.Errorf("edge %d: %w", len(s.edges), err)
		}
		e, err := p.decodeEdge(rec)
		if err != nil {
			return graphState{}, fmt.Errorf("edge %d: %w", len(s.edges), err)
		}
		if s.topology.Has(e.key) { // a lower max_edges left it out
			s.edges[e.key] = e
		}
	}
	if err := d.Done(); err != nil {
		return graphState{}, err
	}
	return s, nil
}

func (p *rootCauseProcessor) decodeEdge(rec []byte) (*edgeEntry, error) {
	d := binpart.Decoder{B: rec}
	k := graph.EdgeKey{Client: d.String(), Server: d.String(), Variant: d.Uint64()}
	conn, first, version := d.Uint64(), d.Int64(), d.String()
	src := int(d.Uint32())
	attrs, _ := d.Part()
	state, err := d.Part()
	if err != nil {
		return nil, err
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	if src >= len(p.sources) {
		return nil, fmt.Errorf("source %d, the config has %d", src, len(p.sources))
	}
	var pairs [][2]any
	if err := json.Unmarshal(attrs, &pairs); err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	e := &edgeEntry{key: k, src: p.sources[src], attrs: pcommon.NewMap(), first: first, version: version,
		pair: pairKey{client: k.Client, server: k.Server, conn: conn}}
	for _, kv := range pairs {
		name, ok := kv[0].(string)
		if !ok {
			return nil, fmt.Errorf("attributes: a name %v", kv[0])
		}
		if err := e.attrs.PutEmpty(name).FromRaw(kv[1]); err != nil {
			return nil, fmt.Errorf("attributes: %s: %w", name, err)
		}
	}
	if e.state, err = edge.Decode(p.params, state); err != nil {
		return nil, err
	}
	return e, nil
}

// install swaps in a decoded graph; it runs in Start, before the first point.
func (p *rootCauseProcessor) install(s graphState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.graph, p.edges, p.incidents = s.topology, s.edges, s.incidents
	p.siblings = map[pairKey][]*edgeEntry{}
	for _, e := range s.edges {
		p.siblings[e.pair] = append(p.siblings[e.pair], e)
	}
	// In the order the edges were first seen, as they were appended when they were learned.
	for _, sibs := range p.siblings {
		slices.SortFunc(sibs, func(a, b *edgeEntry) int {
			return cmp.Or(cmp.Compare(a.first, b.first), strings.Compare(a.key.Client+a.key.Server, b.key.Client+b.key.Server), cmp.Compare(a.key.Variant, b.key.Variant))
		})
	}
}
