// Package rcaeval measures root-cause isolation on the scores the root-cause processor exported
// during a testbed run: per scenario (one generated system, its services named with the
// scenario's prefix) the time from the fault to the first score >= 7 on the faulty service, the
// faulty service's rank in the root-cause ranking, and how many incidents the anomalies formed.
package rcaeval

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/testbed/internal/picture"
)

// Threshold is the score from which a service counts as anomalous.
const Threshold = 7.0

// Point is one exported score point.
type Point struct {
	Metric string
	T      time.Time
	V      float64
	Attrs  map[string]any
}

// Scenario is one generated system of the run.
type Scenario struct {
	Prefix string
	// Faulty is the service given a fault at FaultAt; empty for a fault-free scenario.
	Faulty  string
	Fault   string // what the fault was, for the report
	FaultAt time.Time
}

// Result is what one scenario measured.
type Result struct {
	Scenario
	// Detected says whether the faulty service scored >= 7 after the fault; MTTD is how long
	// after the fault its first such score came.
	Detected bool
	MTTD     time.Duration
	// Rank is the faulty service's place in the root-cause ranking (1 is first) when the
	// scenario was first seen anomalous after the fault; 0 when it never was.
	Rank int
	// RankedFirst is the share of the fault's anomalous intervals in which the faulty service
	// ranked first.
	RankedFirst float64
	// Incidents counts the distinct incidents the root-cause processor opened on the scenario's
	// services after the fault (by their anomaly.incident.id).
	Incidents int
	// MaxScore is the highest service score seen (for a fault-free scenario, the closest call),
	// and MaxService the service that had it.
	MaxScore   float64
	MaxService string
}

// service is one service's scores at one ranking.
type service struct {
	name             string
	score, rootCause float64
	scored           bool
}

// Evaluate measures every scenario on the exported points.
func Evaluate(points []Point, scenarios []Scenario) []Result {
	out := make([]Result, 0, len(scenarios))
	for _, sc := range scenarios {
		out = append(out, evaluate(points, sc))
	}
	return out
}

func evaluate(points []Point, sc Scenario) Result {
	rankings := map[time.Time]map[string]*service{}
	at := func(t time.Time, name string) *service {
		r := rankings[t]
		if r == nil {
			r = map[string]*service{}
			rankings[t] = r
		}
		s := r[name]
		if s == nil {
			s = &service{name: name}
			r[name] = s
		}
		return s
	}
	r := Result{Scenario: sc}
	incidents := map[string]bool{}
	for _, p := range points {
		name, _ := p.Attrs["service.name"].(string)
		if !strings.HasPrefix(name, sc.Prefix) {
			continue
		}
		switch p.Metric {
		case names.Unified:
			if p.Attrs[names.Group] == names.GroupService {
				s := at(p.T, name)
				s.scored, s.score = true, p.V
			}
		case names.RootCause:
			at(p.T, name).rootCause = p.V
		case names.IncidentService:
			if id, _ := p.Attrs[names.IncidentID].(string); sc.Faulty != "" && !p.T.Before(sc.FaultAt) {
				incidents[id] = true
			}
		}
	}
	r.Incidents = len(incidents)
	times := make([]time.Time, 0, len(rankings))
	for t := range rankings {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })

	anomalous, first := 0, 0
	for _, t := range times {
		list := make([]*service, 0, len(rankings[t]))
		hot := false
		for _, s := range rankings[t] {
			list = append(list, s)
			if s.score > r.MaxScore {
				r.MaxScore, r.MaxService = s.score, s.name
			}
			hot = hot || (s.scored && s.score >= Threshold)
		}
		if sc.Faulty == "" || t.Before(sc.FaultAt) || !hot {
			continue
		}
		slices.SortFunc(list, byRootCause)
		rank := slices.IndexFunc(list, func(s *service) bool { return s.name == sc.Faulty }) + 1
		if r.Rank == 0 {
			r.Rank = rank
		}
		anomalous++
		if rank == 1 {
			first++
		}
		if s := rankings[t][sc.Faulty]; !r.Detected && s != nil && s.score >= Threshold {
			r.Detected, r.MTTD = true, t.Sub(sc.FaultAt)
			r.Rank = rank // the ranking when the faulty service itself is first flagged
		}
	}
	if anomalous > 0 {
		r.RankedFirst = float64(first) / float64(anomalous)
	}
	return r
}

// byRootCause orders services by root-cause score, then score, then name, as the root-cause
// processor ranks them.
func byRootCause(a, b *service) int {
	return cmp.Or(cmp.Compare(b.rootCause, a.rootCause), cmp.Compare(b.score, a.score), strings.Compare(a.name, b.name))
}

// Summary is the run's verdict over its scenarios.
type Summary struct {
	Faulty, FaultFree int
	// RankedFirst is the share of faulty scenarios whose faulty service ranked first.
	RankedFirst float64
	// Detected counts faulty scenarios whose faulty service scored >= 7; MaxMTTD and
	// MedianMTTD are over them.
	Detected              int
	MaxMTTD, MedianMTTD   time.Duration
	FalseAlarms           int // fault-free scenarios where a service scored >= 7
	IncidentsPerFault     float64
	MaxFaultFreeScore     float64
	MaxFaultFreeScoreName string
}

// Summarize aggregates the results.
func Summarize(results []Result) Summary {
	var s Summary
	var mttds []time.Duration
	ranked, incidents := 0, 0
	for _, r := range results {
		if r.Faulty == "" {
			s.FaultFree++
			if r.MaxScore >= Threshold {
				s.FalseAlarms++
			}
			if r.MaxScore > s.MaxFaultFreeScore {
				s.MaxFaultFreeScore, s.MaxFaultFreeScoreName = r.MaxScore, r.MaxService
			}
			continue
		}
		s.Faulty++
		incidents += r.Incidents
		if r.Rank == 1 {
			ranked++
		}
		if r.Detected {
			s.Detected++
			mttds = append(mttds, r.MTTD)
		}
	}
	if s.Faulty > 0 {
		s.RankedFirst = float64(ranked) / float64(s.Faulty)
		s.IncidentsPerFault = float64(incidents) / float64(s.Faulty)
	}
	if len(mttds) > 0 {
		slices.Sort(mttds)
		s.MaxMTTD, s.MedianMTTD = mttds[len(mttds)-1], mttds[len(mttds)/2]
	}
	return s
}

// Report writes one line per scenario and the summary.
func Report(w io.Writer, results []Result) {
	fmt.Fprintf(w, "%-6s %-36s %8s %5s %7s %9s %s\n", "prefix", "fault", "MTTD", "rank", "first", "incidents", "max score (service)")
	for _, r := range results {
		fault, mttd := "none", "-"
		if r.Faulty != "" {
			fault = r.Fault
			mttd = "missed"
			if r.Detected {
				mttd = r.MTTD.Round(time.Second).String()
			}
		}
		fmt.Fprintf(w, "%-6s %-36s %8s %5d %6.0f%% %9d %.1f (%s)\n", r.Prefix, fault, mttd, r.Rank, 100*r.RankedFirst, r.Incidents, r.MaxScore, r.MaxService)
	}
	s := Summarize(results)
	fmt.Fprintf(w, "faulty %d: ranked first %.0f%%, detected %d, MTTD median %s max %s, incidents per fault %.2f\n",
		s.Faulty, 100*s.RankedFirst, s.Detected, s.MedianMTTD.Round(time.Second), s.MaxMTTD.Round(time.Second), s.IncidentsPerFault)
	fmt.Fprintf(w, "fault-free %d: false alarms %d, highest score %.2f (%s)\n", s.FaultFree, s.FalseAlarms, s.MaxFaultFreeScore, s.MaxFaultFreeScoreName)
}

// Loudest returns the n highest feature scores (anomaly.score) on the edges into the scenario's
// services: what made a service look anomalous.
func Loudest(points []Point, prefix string, n int) []Point {
	var out []Point
	for _, p := range points {
		if server, _ := p.Attrs[names.Server].(string); p.Metric == names.Score && strings.HasPrefix(server, prefix) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Point) int { return cmpDesc(a.V, b.V) })
	return out[:min(n, len(out))]
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// String is a point in one line: time, value, metric and attributes.
func (p Point) String() string {
	return fmt.Sprintf("%s %.2f %s %v", p.T.Format("15:04:05"), p.V, p.Metric, p.Attrs)
}

// GraphAt is a scenario's service graph as the ranking at t scored it, for a picture: every
// service with its scores, every call with its edge's unified score (the highest of its
// variants; an edge's scores carry its interval's time, up to a second before the ranking's),
// and the likely cause of each open incident marked.
func GraphAt(points []Point, prefix string, t time.Time) picture.Graph {
	g := picture.Graph{Title: fmt.Sprintf("%s at %s", strings.TrimSuffix(prefix, "-"), t.UTC().Format("15:04:05"))}
	services := map[string]*picture.Service{}
	service := func(name string) *picture.Service {
		s := services[name]
		if s == nil {
			s = &picture.Service{Name: name}
			services[name] = s
		}
		return s
	}
	calls := map[[2]string]float64{}
	for _, p := range points {
		if p.T.After(t) || !p.T.After(t.Add(-time.Second)) {
			continue
		}
		name, _ := p.Attrs["service.name"].(string)
		ranked := p.T.Equal(t)
		if !ranked && p.Metric != names.Unified {
			continue // only edges' scores come before their ranking
		}
		switch {
		case p.Metric == names.Unified && p.Attrs[names.Group] == names.GroupService && ranked && strings.HasPrefix(name, prefix):
			service(name).Score = p.V
		case p.Metric == names.RootCause && strings.HasPrefix(name, prefix):
			service(name).RootCause = p.V
		case p.Metric == names.IncidentService && p.V == 1 && strings.HasPrefix(name, prefix):
			service(name).Cause = true
		case p.Metric == names.Unified && p.Attrs[names.Group] == names.GroupEdge:
			c, _ := p.Attrs[names.Client].(string)
			s, _ := p.Attrs[names.Server].(string)
			if strings.HasPrefix(s, prefix) {
				k := [2]string{c, s}
				calls[k] = max(calls[k], p.V)
			}
		}
	}
	for _, s := range services {
		g.Services = append(g.Services, *s)
	}
	slices.SortFunc(g.Services, func(a, b picture.Service) int { return strings.Compare(a.Name, b.Name) })
	for k, v := range calls {
		g.Calls = append(g.Calls, picture.Call{Client: k[0], Server: k[1], Score: v})
	}
	slices.SortFunc(g.Calls, func(a, b picture.Call) int {
		return cmp.Or(strings.Compare(a.Client, b.Client), strings.Compare(a.Server, b.Server))
	})
	return g
}
