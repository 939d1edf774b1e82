// Package graph holds the service topology learned from client→server edges, the scores of its
// edges and services, and the root-cause ranking built on them. It knows nothing of pdata.
package graph

import (
	"slices"
	"strings"
)

// EdgeKey identifies one scored edge. Variant tells apart the edges of one client→server pair
// that differ in connection type or in configured dimensions (a canary's service version).
type EdgeKey struct {
	Client, Server string
	Variant        uint64
}

// EdgeScores are the scores of one edge for one interval, 0 to 10.
type EdgeScores struct {
	// Unified combines every feature of the edge: request rate, error ratio and latency.
	Unified float64
	// Symptom is the part that travels from a callee to its callers: errors and latency. A
	// request-rate change travels the other way (a caller that stops calling), so it never
	// explains a caller's trouble.
	Symptom float64
	// Version is the server's version the edge names (a canary's), empty when it names none.
	Version string
}

// Service is a node as the ranking sees it at one instant.
type Service struct {
	Name string
	// CustomerFacing: called only from outside (by no other service of the graph, or only by a
	// client named in the external list, such as the servicegraph connector's "user").
	CustomerFacing bool
	// Scored is false while neither an incoming edge nor the service's own metrics have a fresh
	// score (models warming up); the scores below are then zero.
	Scored bool
	// Score is the service's unified score: the highest of its fresh incoming edges' unified
	// scores and of its own metrics' scores.
	Score float64
	// Health is the same over symptoms only (errors and latency of incoming edges, own metrics).
	Health float64
	// Explained is the highest symptom among the service's fresh outgoing edges: trouble that
	// its dependencies may have caused.
	Explained float64
	// RootCause is how likely the service started what its callers suffer: its health score
	// less what its dependencies explain, 0 to 10.
	RootCause float64
	// Version is the version of the service whose incoming edges make its health score: that of
	// the fresh incoming edge naming a version whose symptom equals Health (the lowest version
	// on a tie), so a slow canary is named and a stable version as slow as its canary is not
	// hidden behind it. Empty when no such edge names a version, or the health comes from the
	// service's own metrics alone.
	Version string
	// Versions scores each version named by a fresh incoming edge, sorted by version: a
	// canary's score beside the stable version's. Nil when no incoming edge names a version.
	Versions []VersionScore
}

// VersionScore is one version of a service as its own incoming edges score it.
type VersionScore struct {
	Version string
	// Score and Health are the service's over the incoming edges naming this version only.
	Score, Health float64
}

type edge struct {
	key      EdgeKey
	seen     int64 // unix nanos of the last observation
	updated  int64 // of the last scores; 0 before the first
	interval int64 // between the last two scores
	scores   EdgeScores
}

type node struct {
	name        string
	in, out     int // edges that reference the node
	inInternal  int // incoming edges from clients that are not external
	own         float64
	ownUpdated  int64
	ownInterval int64
}

// Graph is the bounded topology. It is not safe for concurrent use.
type Graph struct {
	maxEdges int
	ttl      int64
	external map[string]bool
	edges    map[EdgeKey]*edge
	nodes    map[string]*node
	links    []Link // Edges' answer, until the topology changes
	linksOK  bool
}

// New returns a graph that holds at most maxEdges edges, forgets an edge ttl nanoseconds after
// its last observation, and treats the named clients as the outside world.
func New(maxEdges int, ttl int64, external []string) *Graph {
	g := &Graph{
		maxEdges: maxEdges,
		ttl:      ttl,
		external: map[string]bool{},
		edges:    map[EdgeKey]*edge{},
		nodes:    map[string]*node{},
	}
	for _, c := range external {
		g.external[c] = true
	}
	return g
}

// Observe records that edge k was seen at ts. It returns false, and records nothing, when the
// edge is new and the graph already holds maxEdges edges.
func (g *Graph) Observe(k EdgeKey, ts int64) bool {
	_, ok := g.observe(k, ts)
	return ok
}

// Score records the scores of edge k at ts, observing it too.
func (g *Graph) Score(k EdgeKey, ts int64, s EdgeScores) bool {
	e, ok := g.observe(k, ts)
	if !ok {
		return false
	}
	if e.updated != 0 && ts > e.updated {
		e.interval = ts - e.updated
	}
	if ts >= e.updated {
		e.updated, e.scores = ts, s
	}
	return true
}

func (g *Graph) observe(k EdgeKey, ts int64) (*edge, bool) {
	if e, ok := g.edges[k]; ok {
		e.seen = max(e.seen, ts)
		return e, true
	}
	if len(g.edges) >= g.maxEdges {
		return nil, false
	}
	e := &edge{key: k, seen: ts}
	g.edges[k] = e
	g.linksOK = false
	g.node(k.Client).out++
	srv := g.node(k.Server)
	srv.in++
	if !g.external[k.Client] {
		srv.inInternal++
	}
	return e, true
}

// Own records the score of a service's own metrics (a group keyed by the service) at ts. Only
// services the edges already know are kept, so the graph stays bounded by its edges.
func (g *Graph) Own(service string, ts int64, score float64) {
	n, ok := g.nodes[service]
	if !ok {
		return
	}
	if n.ownUpdated == ts {
		n.own = max(n.own, score) // several keys of the service in one batch
		return
	}
	if ts < n.ownUpdated {
		return
	}
	if n.ownUpdated != 0 {
		n.ownInterval = ts - n.ownUpdated
	}
	n.ownUpdated, n.own = ts, score
}

func (g *Graph) node(name string) *node {
	n, ok := g.nodes[name]
	if !ok {
		n = &node{name: name}
		g.nodes[name] = n
	}
	return n
}

// Expire forgets the edges last observed before now-ttl, telling forget (when not nil) about
// each, and the services no edge references any more. It returns the number of edges forgotten.
func (g *Graph) Expire(now int64, forget func(EdgeKey)) int {
	n := 0
	for k, e := range g.edges {
		if e.seen >= now-g.ttl {
			continue
		}
		delete(g.edges, k)
		g.linksOK = false
		if forget != nil {
			forget(k)
		}
		n++
		c, s := g.nodes[k.Client], g.nodes[k.Server]
		c.out--
		s.in--
		if !g.external[k.Client] {
			s.inInternal--
		}
		for _, x := range []*node{c, s} {
			if x.in == 0 && x.out == 0 {
				delete(g.nodes, x.name)
			}
		}
	}
	return n
}

// Has says whether edge k is held.
func (g *Graph) Has(k EdgeKey) bool {
	_, ok := g.edges[k]
	return ok
}

// Len returns the number of services and edges held.
func (g *Graph) Len() (nodes, edges int) { return len(g.nodes), len(g.edges) }

// fresh says whether a score made at updated, every interval, still describes now: it is the
// latest one, or the next is not overdue (twice the interval gives room for a late flush).
func fresh(now, updated, interval int64) bool {
	return updated != 0 && (updated >= now || now-updated <= 2*interval)
}

// Services scores every service at now (the time of the newest edge scores), sorted by name.
// External clients are not services of the graph and are left out.
func (g *Graph) Services(now int64) []Service {
	acc := make(map[string]*Service, len(g.nodes))
	out := make([]Service, 0, len(g.nodes))
	for name, n := range g.nodes {
		if g.external[name] {
			continue
		}
		out = append(out, Service{Name: name, CustomerFacing: n.inInternal == 0})
	}
	slices.SortFunc(out, func(a, b Service) int { return strings.Compare(a.Name, b.Name) })
	for i := range out {
		s := &out[i]
		acc[s.Name] = s
		if n := g.nodes[s.Name]; fresh(now, n.ownUpdated, n.ownInterval) {
			s.Scored, s.Score, s.Health = true, n.own, n.own
		}
	}
	for _, e := range g.edges {
		if !fresh(now, e.updated, e.interval) {
			continue
		}
		if s := acc[e.key.Server]; s != nil {
			s.Scored = true
			s.Score = max(s.Score, e.scores.Unified)
			s.Health = max(s.Health, e.scores.Symptom)
			if v := e.scores.Version; v != "" {
				s.Versions = addVersion(s.Versions, v, e.scores)
			}
		}
		if c := acc[e.key.Client]; c != nil {
			c.Explained = max(c.Explained, e.scores.Symptom)
		}
	}
	for i := range out {
		s := &out[i]
		s.RootCause = max(0, s.Health-s.Explained)
		slices.SortFunc(s.Versions, func(a, b VersionScore) int { return strings.Compare(a.Version, b.Version) })
		// The lowest version as bad as the service: sorted, the first.
		for _, v := range s.Versions {
			if v.Health == s.Health {
				s.Version = v.Version
				break
			}
		}
	}
	return out
}

// addVersion folds an edge's scores into its version's.
func addVersion(vs []VersionScore, version string, sc EdgeScores) []VersionScore {
	for i := range vs {
		if vs[i].Version == version {
			vs[i].Score = max(vs[i].Score, sc.Unified)
			vs[i].Health = max(vs[i].Health, sc.Symptom)
			return vs
		}
	}
	return append(vs, VersionScore{Version: version, Score: sc.Unified, Health: sc.Symptom})
}

// Edges returns the client→server pairs of the graph, each once, sorted. The slice is the
// graph's own, valid until the topology changes: do not modify it.
func (g *Graph) Edges() []Link {
	if g.linksOK {
		return g.links
	}
	seen := make(map[Link]bool, len(g.edges))
	out := make([]Link, 0, len(g.edges))
	for k := range g.edges {
		l := Link{Client: k.Client, Server: k.Server}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b Link) int {
		if c := strings.Compare(a.Client, b.Client); c != 0 {
			return c
		}
		return strings.Compare(a.Server, b.Server)
	})
	g.links, g.linksOK = out, true
	return out
}

// Link is a client→server pair of services.
type Link struct{ Client, Server string }

// ByRootCause orders services by root-cause score, then score, then name, all descending but
// the name.
func ByRootCause(a, b *Service) int {
	switch {
	case a.RootCause != b.RootCause:
		return cmpDesc(a.RootCause, b.RootCause)
	case a.Score != b.Score:
		return cmpDesc(a.Score, b.Score)
	}
	return strings.Compare(a.Name, b.Name)
}

func cmpDesc(a, b float64) int {
	if a > b {
		return -1
	}
	return 1
}
