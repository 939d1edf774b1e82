// Package rcaeval measures root-cause isolation on the scores the anomaly processor exported
// during a testbed run: per scenario (one generated system, its services named with the
// scenario's prefix) the time from the fault to the first score >= 7 on the faulty service, the
// faulty service's rank in the root-cause ranking, and how many incidents the anomalies formed.
package rcaeval

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/omen-otel/omen/internal/servicegraph"
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
	// Incidents counts distinct incidents over the run: an incident that shares a service with
	// one of the last three intervals continues it (as an alert that keeps firing a little
	// after its condition stops would).
	Incidents int
	// MaxScore is the highest service score seen (for a fault-free scenario, the closest call),
	// and MaxService the service that had it.
	MaxScore   float64
	MaxService string
}

// batch is one flush of the service graph's scores for one scenario.
type batch struct {
	services map[string]*servicegraph.Service
	links    []servicegraph.Link
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
	batches := map[time.Time]*batch{}
	at := func(t time.Time) *batch {
		b := batches[t]
		if b == nil {
			b = &batch{services: map[string]*servicegraph.Service{}}
			batches[t] = b
		}
		return b
	}
	service := func(b *batch, name string) *servicegraph.Service {
		s := b.services[name]
		if s == nil {
			s = &servicegraph.Service{Name: name}
			b.services[name] = s
		}
		return s
	}
	for _, p := range points {
		switch p.Metric {
		case "anomaly.unified_score":
			switch p.Attrs["anomaly.group"] {
			case servicegraph.GroupService:
				name, _ := p.Attrs["service.name"].(string)
				if !strings.HasPrefix(name, sc.Prefix) {
					continue
				}
				s := service(at(p.T), name)
				s.Scored, s.Score = true, p.V
				s.CustomerFacing, _ = p.Attrs[servicegraph.AttrCustomerFacing].(bool)
			case servicegraph.GroupEdge:
				c, _ := p.Attrs[servicegraph.AttrClient].(string)
				s, _ := p.Attrs[servicegraph.AttrServer].(string)
				if strings.HasPrefix(s, sc.Prefix) {
					b := at(p.T)
					b.links = append(b.links, servicegraph.Link{Client: c, Server: s})
				}
			}
		case servicegraph.MetricRootCause:
			if name, _ := p.Attrs["service.name"].(string); strings.HasPrefix(name, sc.Prefix) {
				service(at(p.T), name).RootCause = p.V
			}
		}
	}
	times := make([]time.Time, 0, len(batches))
	for t := range batches {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })

	r := Result{Scenario: sc}
	var recent [3][]servicegraph.Incident // the incidents of the last intervals
	anomalous, first := 0, 0
	for _, t := range times {
		b := batches[t]
		list := make([]servicegraph.Service, 0, len(b.services))
		for _, s := range b.services {
			list = append(list, *s)
			if s.Score > r.MaxScore {
				r.MaxScore, r.MaxService = s.Score, s.Name
			}
		}
		incidents := servicegraph.Incidents(list, b.links, Threshold)
		for _, inc := range incidents {
			if !continues(inc, recent[:]) {
				r.Incidents++
			}
		}
		recent[0], recent[1], recent[2] = recent[1], recent[2], incidents
		if sc.Faulty == "" || t.Before(sc.FaultAt) || len(incidents) == 0 {
			continue
		}
		servicegraph.SortByRootCause(list)
		rank := slices.IndexFunc(list, func(s servicegraph.Service) bool { return s.Name == sc.Faulty }) + 1
		if r.Rank == 0 {
			r.Rank = rank
		}
		anomalous++
		if rank == 1 {
			first++
		}
		if s := b.services[sc.Faulty]; !r.Detected && s != nil && s.Score >= Threshold {
			r.Detected, r.MTTD = true, t.Sub(sc.FaultAt)
			r.Rank = rank // the ranking when the faulty service itself is first flagged
		}
	}
	if anomalous > 0 {
		r.RankedFirst = float64(first) / float64(anomalous)
	}
	return r
}

func continues(inc servicegraph.Incident, recent [][]servicegraph.Incident) bool {
	for _, prev := range recent {
		for _, p := range prev {
			for _, s := range inc.Services {
				if slices.Contains(p.Services, s) {
					return true
				}
			}
		}
	}
	return false
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
		if server, _ := p.Attrs[servicegraph.AttrServer].(string); p.Metric == "anomaly.score" && strings.HasPrefix(server, prefix) {
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
