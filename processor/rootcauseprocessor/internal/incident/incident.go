// Package incident keeps the incidents of a service graph: groups of connected services that
// are anomalous together, each with a stable id, a start, a likely cause that may change as the
// incident grows, and an end after a calm. It is driven by the rankings' timestamps, never by
// the wall clock, and knows nothing of pdata.
package incident

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/graph"
)

// Config says when services are anomalous and when an incident ends.
type Config struct {
	// Threshold: a service scoring at or above it, and in no open incident, opens one.
	Threshold float64
	// ResolveThreshold: a service scoring at or above it is still anomalous: it joins the
	// incident of an anomalous neighbour, and it holds its incident open.
	ResolveThreshold float64
	// Calm is how long (nanoseconds of point time) an incident stays open once none of its
	// services is anomalous.
	Calm int64
}

// Incident is one open incident as of its last update.
type Incident struct {
	// ID is stable from the opening to the end: derived from the start and the first cause.
	ID string
	// Start is when the incident opened, unix nanos.
	Start int64
	// Cause is the likely root cause: the service with the highest root-cause score the last
	// time any of the incident's services was anomalous.
	Cause string
	// CauseVersion is the cause's version as the ranking that chose it named it (see
	// graph.Service.Version), empty when none.
	CauseVersion string
	// Services are every service that has been part of the incident, the likely cause first,
	// then by root-cause score.
	Services []string
	// EntryPoints are the customer-facing services whose requests reach the cause.
	EntryPoints []string
	// Score is the highest score among the services at the last update: how bad it is now.
	Score float64
	// Closed is true on the last update of an incident: the calm has passed, or it was merged
	// into an older incident its services joined.
	Closed bool

	lastAnomalous int64
	members       map[string]bool
}

// Tracker holds the open incidents. It is not safe for concurrent use.
type Tracker struct {
	cfg    Config
	open   []*Incident // by start, then id
	opened int
}

// New returns a tracker with no incident.
func New(cfg Config) *Tracker { return &Tracker{cfg: cfg} }

// Config is the tracker's configuration.
func (t *Tracker) Config() Config { return t.cfg }

// Opened counts the incidents opened so far.
func (t *Tracker) Opened() int { return t.opened }

// Len is the number of open incidents.
func (t *Tracker) Len() int { return len(t.open) }

// Update takes the ranking of the services at ts and the graph's links, and returns every
// incident open at ts, then those that ended at ts (Closed), each by start and id. The returned
// incidents are the tracker's own: read them before the next Update.
func (t *Tracker) Update(ts int64, services []graph.Service, links []graph.Link) []*Incident {
	byName := make(map[string]*graph.Service, len(services))
	for i := range services {
		byName[services[i].Name] = &services[i]
	}
	anomalous := func(name string, threshold float64) bool {
		s := byName[name]
		return s != nil && s.Scored && s.Score >= threshold
	}

	// Connected groups of anomalous services.
	parent := map[string]string{}
	for _, s := range services {
		if anomalous(s.Name, t.cfg.ResolveThreshold) {
			parent[s.Name] = s.Name
		}
	}
	find := func(x string) string {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	callers := map[string][]string{}
	for _, l := range links {
		callers[l.Server] = append(callers[l.Server], l.Client)
		_, a := parent[l.Client]
		_, b := parent[l.Server]
		if a && b {
			if ra, rb := find(l.Client), find(l.Server); ra != rb {
				parent[ra] = rb
			}
		}
	}
	groups := map[string][]string{}
	for name := range parent {
		r := find(name)
		groups[r] = append(groups[r], name)
	}
	roots := make([]string, 0, len(groups))
	for r, members := range groups {
		slices.Sort(members)
		roots = append(roots, r)
	}
	slices.SortFunc(roots, func(a, b string) int { return cmp.Compare(groups[a][0], groups[b][0]) })

	var ended []*Incident
	for _, r := range roots {
		members := groups[r]
		// The open incidents this group touches: the oldest takes the group, and the others,
		// now joined to it, end in it.
		var touched []*Incident
		for _, inc := range t.open {
			if !inc.Closed && slices.ContainsFunc(members, func(m string) bool { return inc.members[m] }) {
				touched = append(touched, inc)
			}
		}
		if len(touched) == 0 {
			if !slices.ContainsFunc(members, func(m string) bool { return anomalous(m, t.cfg.Threshold) }) {
				continue
			}
			inc := &Incident{Start: ts, members: map[string]bool{}}
			t.open = append(t.open, inc)
			t.opened++
			touched = append(touched, inc)
		}
		inc := touched[0]
		for _, other := range touched[1:] {
			for m := range other.members {
				inc.members[m] = true
			}
			other.Closed = true
			ended = append(ended, other)
		}
		for _, m := range members {
			inc.members[m] = true
		}
		inc.lastAnomalous = ts
		t.rank(inc, byName, callers)
		if inc.ID == "" {
			inc.ID = id(inc.Start, inc.Cause)
		}
	}

	open := t.open[:0]
	for _, inc := range t.open {
		switch {
		case inc.Closed:
		case ts-inc.lastAnomalous >= t.cfg.Calm:
			inc.Closed = true
			ended = append(ended, inc)
		default:
			if inc.lastAnomalous != ts {
				inc.Score = 0
				for m := range inc.members {
					if s := byName[m]; s != nil && s.Scored {
						inc.Score = max(inc.Score, s.Score)
					}
				}
			}
			open = append(open, inc)
		}
	}
	clear(t.open[len(open):])
	t.open = open
	slices.SortFunc(t.open, byStart)
	for _, inc := range ended {
		inc.Score = 0
	}
	slices.SortFunc(ended, byStart)
	return append(slices.Clone(t.open), ended...)
}

// rank orders an anomalous incident's services, picks its cause and finds its entry points.
func (t *Tracker) rank(inc *Incident, byName map[string]*graph.Service, callers map[string][]string) {
	ranked := make([]graph.Service, 0, len(inc.members))
	inc.Score = 0
	for m := range inc.members {
		s := graph.Service{Name: m}
		if cur := byName[m]; cur != nil && cur.Scored {
			s = *cur
			inc.Score = max(inc.Score, s.Score)
		}
		ranked = append(ranked, s)
	}
	slices.SortFunc(ranked, func(a, b graph.Service) int { return graph.ByRootCause(&a, &b) })
	inc.Services = inc.Services[:0]
	for _, s := range ranked {
		inc.Services = append(inc.Services, s.Name)
	}
	inc.Cause, inc.CauseVersion = inc.Services[0], ranked[0].Version
	inc.EntryPoints = entryPoints(inc.Cause, callers, byName)
}

func byStart(a, b *Incident) int {
	return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.ID, b.ID))
}

// id names an incident by its start and first cause: the same in every process that sees the
// same scores, so a restarted or a second collector names it alike.
func id(start int64, cause string) string {
	h := identity.String(cause).Then(identity.Hash{Lo: uint64(start)})
	return fmt.Sprintf("%016x", h.Hi^h.Lo)
}

// entryPoints walks the links back from the cause to the customer-facing services that call
// it, directly or not.
func entryPoints(cause string, callers map[string][]string, byName map[string]*graph.Service) []string {
	seen := map[string]bool{cause: true}
	queue := []string{cause}
	var out []string
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if s := byName[x]; s != nil && s.CustomerFacing {
			out = append(out, x)
		}
		for _, c := range callers[x] {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	slices.Sort(out)
	return out
}
