package rootcauseprocessor

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/edge"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/graph"
	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/incident"
)

const (
	descriptionScore      = "Anomaly score of one feature of a service-graph edge, 0 to 10."
	descriptionUnified    = "Anomaly score of a service-graph edge or service, 0 to 10, the highest of its features."
	descriptionRootCause  = "How likely the service started what its callers suffer, 0 to 10: its own anomaly score less what its dependencies explain."
	descriptionIncident   = "Severity of an open incident, the highest score of its services; 0 on the point that ends it. The start timestamp is when it opened."
	descriptionIncService = "Rank of a service in an open incident: 1 for the likely root cause."
	descriptionIncCause   = "The likely root cause of an open incident, with its version when a version's edges made its score: always 1."
	descriptionIncEntry   = "A customer-facing service through which customers reach the likely cause of an open incident."
	descriptionFacing     = "1 when only the outside world calls the service (it is customer-facing), else 0."
)

// output is one ranking's metrics, in the order the alert webhook exporter needs: an incident's
// services, entry points and cause come before the incident itself.
type output struct {
	md                                                                 pmetric.Metrics
	bands                                                              bool
	score, expected, lower, upper                                      pmetric.NumberDataPointSlice
	unified, rootCause, facing, entryPoints, services, cause, incident pmetric.NumberDataPointSlice
}

func newOutput(bands bool) *output {
	o := &output{md: pmetric.NewMetrics(), bands: bands}
	sm := o.md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	ms := sm.Metrics()
	gauge := func(name, description string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription(description)
		return m.SetEmptyGauge().DataPoints()
	}
	o.score = gauge(names.Score, descriptionScore)
	if bands {
		o.expected = gauge(names.Expected, "Value the edge's model expected for the feature.")
		o.lower = gauge(names.Lower, "Lower end of the edge model's normal band for the feature.")
		o.upper = gauge(names.Upper, "Upper end of the edge model's normal band for the feature.")
	}
	o.unified = gauge(names.Unified, descriptionUnified)
	o.rootCause = gauge(names.RootCause, descriptionRootCause)
	o.facing = gauge(names.CustomerFacing, descriptionFacing)
	o.entryPoints = gauge(names.IncidentEntryPoint, descriptionIncEntry)
	o.services = gauge(names.IncidentService, descriptionIncService)
	o.cause = gauge(names.IncidentCause, descriptionIncCause)
	o.incident = gauge(names.Incident, descriptionIncident)
	return o
}

// done drops the metrics that got no point, and returns nothing at all when none did.
func (o *output) done() pmetric.Metrics {
	rm := o.md.ResourceMetrics().At(0)
	ms := rm.ScopeMetrics().At(0).Metrics()
	ms.RemoveIf(func(m pmetric.Metric) bool { return m.Gauge().DataPoints().Len() == 0 })
	if ms.Len() == 0 {
		return pmetric.NewMetrics()
	}
	return o.md
}

func point(dps pmetric.NumberDataPointSlice, ts int64, v float64) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(ts))
	dp.SetDoubleValue(v)
	return dp
}

// featureMetric is the metric named on a feature's score: the one it mostly comes from.
func featureMetric(src *EdgeSourceConfig, f edge.Feature) string {
	switch {
	case f == edge.ErrorRatio && len(src.Failed) > 0:
		return src.Failed[0]
	case f == edge.Latency:
		return src.Latency[0]
	}
	return src.Requests[0]
}

var featureNames = [edge.NumFeatures]string{names.FeatureRequestRate, names.FeatureErrorRatio, names.FeatureLatency}

// rank scores the graph at the newest time among the closed intervals: their edges first, then
// every service, then the incidents, and adds the scores to the output.
func (p *rootCauseProcessor) rank(ready []closedInterval) {
	if len(ready) == 0 {
		return
	}
	o := newOutput(p.cfg.Bands)
	now := int64(0)
	live := ready[:0]
	for _, c := range ready {
		now = max(now, c.in.TS)
		if p.edges[c.e.key] == c.e { // not expired meanwhile
			live = append(live, c)
		}
	}
	p.score(live)
	p.rates = p.rates[:0]
	for i := range live {
		if live[i].scores.HasRate {
			p.rates = append(p.rates, live[i].scores.Rate)
		}
	}
	commonMode := edge.CommonMode(p.rates)
	for i := range live {
		c := &live[i]
		sc := &c.scores
		if !sc.Scored() {
			continue
		}
		for _, f := range sc.Features[:sc.N] {
			p.emitFeature(o, c.e, sc.TS, f)
		}
		u := sc.Unified(commonMode || p.split(c.e, sc.TS))
		// At the ranking's time, not the interval's: the connector stamps each point of a
		// flush with its own reading of the clock, and an edge scored for the first time a few
		// microseconds before the ranking's time would not count as fresh in it.
		p.graph.Score(c.e.key, now, graph.EdgeScores{Unified: u, Symptom: sc.Symptom, Version: c.e.version})
		dp := point(o.unified, sc.TS, u)
		c.e.attrs.CopyTo(dp.Attributes())
		dp.Attributes().PutStr(names.Group, names.GroupEdge)
	}
	p.expired += int64(p.graph.Expire(now, p.forget))

	services := p.graph.Services(now)
	for _, s := range services {
		if !s.Scored {
			continue
		}
		facing := 0.0
		if s.CustomerFacing {
			facing = 1
		}
		for _, x := range []struct {
			dps   pmetric.NumberDataPointSlice
			value float64
		}{{o.unified, s.Score}, {o.rootCause, s.RootCause}, {o.facing, facing}} {
			dp := point(x.dps, now, x.value)
			dp.Attributes().PutStr(p.cfg.ServiceKey, s.Name)
			if x.dps == o.unified {
				dp.Attributes().PutStr(names.Group, names.GroupService)
			}
		}
		for _, v := range s.Versions {
			attrs := point(o.unified, now, v.Score).Attributes()
			attrs.PutStr(p.cfg.ServiceKey, s.Name)
			attrs.PutStr(names.ServiceVersion, v.Version)
			attrs.PutStr(names.Group, names.GroupServiceVersion)
		}
	}
	before := p.incidents.Opened()
	for _, inc := range p.incidents.Update(now, services, p.graph.Edges()) {
		p.emitIncident(o, now, inc)
	}
	p.opened += int64(p.incidents.Opened() - before)
	clear(ready) // the edges are the processor's; the scratch must not hold them
	o.done().ResourceMetrics().MoveAndAppendTo(p.out.ResourceMetrics())
}

// score scores the intervals of one ranking. An edge that has learned nothing yet, with a
// sibling that has (a canary's edge beside the stable version's), first borrows the sibling's
// models: after the siblings' own intervals of this ranking are scored, so that what it borrows
// does not depend on which interval closed first.
func (p *rootCauseProcessor) score(live []closedInterval) {
	lenders := p.lenders[:0]
	for i := range live {
		lenders = append(lenders, p.lender(live[i].e))
	}
	for pass := range 2 {
		for i := range live {
			c, lender := &live[i], lenders[i]
			if (lender != nil) != (pass == 1) {
				continue
			}
			if lender != nil {
				if err := c.e.state.Borrow(lender.state); err != nil {
					p.logger.Warn("A new edge could not borrow its sibling's models.", zap.Error(err))
				}
			}
			c.scores = c.e.state.Score(c.in, c.e.src.errors)
			p.skipped[skipOutOfOrder] += int64(c.scores.OutOfOrder)
		}
	}
	clear(lenders)
	p.lenders = lenders
}

// lender is the sibling a cold edge borrows from: the one that has learned the most (the lower
// variant on a tie); nil when e has learned something itself or no sibling has.
func (p *rootCauseProcessor) lender(e *edgeEntry) *edgeEntry {
	if e.state.Learned() > 0 {
		return nil
	}
	var best *edgeEntry
	for _, s := range p.siblings[e.pair] {
		if s == e || s.state.Learned() == 0 {
			continue
		}
		if best == nil || s.state.Learned() > best.state.Learned() ||
			(s.state.Learned() == best.state.Learned() && s.key.Variant < best.key.Variant) {
			best = s
		}
	}
	return best
}

// split says whether e's pair had another edge at ts: the traffic of one client→server pair is
// split between versions, in shares that the rollout sets, so an edge's request rate says
// nothing of its health and is left out of its unified score (its own score is still emitted).
func (p *rootCauseProcessor) split(e *edgeEntry, ts int64) bool {
	for _, s := range p.siblings[e.pair] {
		if s != e && s.first <= ts {
			return true
		}
	}
	return false
}

// forget drops the state of an edge the graph expired.
func (p *rootCauseProcessor) forget(k graph.EdgeKey) {
	e := p.edges[k]
	if e == nil {
		return
	}
	sibs := slices.DeleteFunc(p.siblings[e.pair], func(s *edgeEntry) bool { return s == e })
	if len(sibs) == 0 {
		delete(p.siblings, e.pair)
	} else {
		p.siblings[e.pair] = sibs
	}
	if e.state.Open.Open {
		if ts := e.state.Open.TS; p.openAt[ts] > 1 {
			p.openAt[ts]--
		} else {
			delete(p.openAt, ts)
		}
	}
	delete(p.edges, k)
}

func (p *rootCauseProcessor) emitFeature(o *output, e *edgeEntry, ts int64, f edge.Score) {
	name := featureMetric(&e.src.cfg, f.Feature)
	put := func(dps pmetric.NumberDataPointSlice, v float64) {
		attrs := point(dps, ts, v).Attributes()
		attrs.EnsureCapacity(e.attrs.Len() + 2)
		e.attrs.CopyTo(attrs)
		attrs.PutStr(names.MetricName, name)
		attrs.PutStr(names.Feature, featureNames[f.Feature])
	}
	put(o.score, f.Score)
	if o.bands && f.Result.WarmedUp {
		put(o.expected, f.Result.Expected)
		put(o.lower, f.Result.Lower)
		put(o.upper, f.Result.Upper)
	}
}

// emitIncident writes an incident's services (by rank) and entry points, then the incident.
func (p *rootCauseProcessor) emitIncident(o *output, now int64, inc *incident.Incident) {
	if !inc.Closed {
		for _, ep := range inc.EntryPoints {
			attrs := point(o.entryPoints, now, 1).Attributes()
			attrs.PutStr(names.IncidentID, inc.ID)
			attrs.PutStr(p.cfg.ServiceKey, ep)
		}
		for i, s := range inc.Services {
			attrs := point(o.services, now, float64(i+1)).Attributes()
			attrs.PutStr(names.IncidentID, inc.ID)
			attrs.PutStr(p.cfg.ServiceKey, s)
		}
		if len(inc.Services) > 0 {
			attrs := point(o.cause, now, 1).Attributes()
			attrs.PutStr(names.IncidentID, inc.ID)
			attrs.PutStr(p.cfg.ServiceKey, inc.Services[0])
			if inc.CauseVersion != "" {
				attrs.PutStr(names.ServiceVersion, inc.CauseVersion)
			}
		}
	}
	dp := point(o.incident, now, inc.Score)
	dp.SetStartTimestamp(pcommon.Timestamp(inc.Start))
	dp.Attributes().PutStr(names.IncidentID, inc.ID)
}
