package servicegraph

import (
	"slices"
	"strings"
)

// Link is a client→server pair of services.
type Link struct{ Client, Server string }

// Incident is one group of connected services anomalous at the same time: what reaches people
// as one notification.
type Incident struct {
	// Cause is the likely root cause: the service with the highest root-cause score.
	Cause string
	// Services are the anomalous services, the most likely cause first.
	Services []string
	// EntryPoints are the customer-facing services whose requests reach the cause: where
	// customers feel it.
	EntryPoints []string
}

// Incidents groups the services whose score reaches threshold into incidents: two anomalous
// services belong to the same incident when a link joins them, directly or through other
// anomalous services. Incidents come most severe cause first.
func Incidents(services []Service, links []Link, threshold float64) []Incident {
	byName := make(map[string]*Service, len(services))
	parent := map[string]string{}
	for i := range services {
		s := &services[i]
		byName[s.Name] = s
		if s.Scored && s.Score >= threshold {
			parent[s.Name] = s.Name
		}
	}
	var find func(string) string
	find = func(x string) string {
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
	out := make([]Incident, 0, len(groups))
	for _, members := range groups {
		slices.SortFunc(members, func(a, b string) int { return byRootCause(byName[a], byName[b]) })
		cause := members[0]
		out = append(out, Incident{Cause: cause, Services: members, EntryPoints: entryPoints(cause, callers, byName)})
	}
	slices.SortFunc(out, func(a, b Incident) int { return byRootCause(byName[a.Cause], byName[b.Cause]) })
	return out
}

// byRootCause orders services by root-cause score, then score, then name, all descending but
// the name.
func byRootCause(a, b *Service) int {
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

// entryPoints walks the links back from the cause to the customer-facing services that call
// it, directly or not.
func entryPoints(cause string, callers map[string][]string, byName map[string]*Service) []string {
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

// SortByRootCause orders services most likely cause first.
func SortByRootCause(services []Service) {
	slices.SortFunc(services, func(a, b Service) int { return byRootCause(&a, &b) })
}
