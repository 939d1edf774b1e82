package graph

import (
	"fmt"

	"github.com/omen-otel/omen/internal/binpart"
)

// graphVersion is bumped whenever the layout below changes:
//
//	byte    version
//	uint32  number of edges, then per edge: client and server (strings), variant (uint64),
//	        seen, updated, interval (int64), unified and symptom scores (float64), the version the
//	        edge names (a string)
//	uint32  number of services with an own score, then per service: its name, own score,
//	        when it was updated and its interval
const graphVersion = 2

// AppendBinary appends the topology and its last scores.
func (g *Graph) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, graphVersion)
	b = binpart.AppendUint32(b, len(g.edges))
	for _, e := range g.edges {
		b = binpart.AppendString(b, e.key.Client)
		b = binpart.AppendString(b, e.key.Server)
		b = binpart.AppendInt64(b, int64(e.key.Variant))
		b = binpart.AppendInt64(b, e.seen)
		b = binpart.AppendInt64(b, e.updated)
		b = binpart.AppendInt64(b, e.interval)
		b = binpart.AppendFloat64(b, e.scores.Unified)
		b = binpart.AppendFloat64(b, e.scores.Symptom)
		b = binpart.AppendString(b, e.scores.Version)
	}
	owned := 0
	for _, n := range g.nodes {
		if n.ownUpdated != 0 {
			owned++
		}
	}
	b = binpart.AppendUint32(b, owned)
	for _, n := range g.nodes {
		if n.ownUpdated == 0 {
			continue
		}
		b = binpart.AppendString(b, n.name)
		b = binpart.AppendFloat64(b, n.own)
		b = binpart.AppendInt64(b, n.ownUpdated)
		b = binpart.AppendInt64(b, n.ownInterval)
	}
	return b, nil
}

// Decode reads a graph written by AppendBinary into a new graph with the given bounds; edges
// beyond maxEdges (the bound was lowered) are left out.
func Decode(data []byte, maxEdges int, ttl int64, external []string) (*Graph, error) {
	g := New(maxEdges, ttl, external)
	d := binpart.Decoder{B: data}
	if v := d.Byte(); d.Err == nil && v != graphVersion {
		return nil, fmt.Errorf("graph: version %d, want %d", v, graphVersion)
	}
	for range d.Uint32() {
		k := EdgeKey{Client: d.String(), Server: d.String(), Variant: d.Uint64()}
		seen, updated, interval := d.Int64(), d.Int64(), d.Int64()
		scores := EdgeScores{Unified: d.Float64(), Symptom: d.Float64(), Version: d.String()}
		if d.Err != nil {
			break
		}
		if e, ok := g.observe(k, seen); ok {
			e.updated, e.interval, e.scores = updated, interval, scores
		}
	}
	for range d.Uint32() {
		name, own, updated, interval := d.String(), d.Float64(), d.Int64(), d.Int64()
		if d.Err != nil {
			break
		}
		if n, ok := g.nodes[name]; ok {
			n.own, n.ownUpdated, n.ownInterval = own, updated, interval
		}
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	return g, nil
}
