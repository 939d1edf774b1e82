package alertwebhookexporter

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/names"
)

// incidents is what the root-cause processor says of its open incidents, read from the
// anomaly.incident.service, anomaly.incident.entry_point and anomaly.incident.cause points it
// emits before each anomaly.incident point: per incident, its services by rank, its entry points
// and its likely cause's version as of the newest timestamp seen. The exporter keeps no graph of
// its own; whichever batches bring the points, the view of an incident at a time is the same.
type incidents struct {
	serviceKey string
	max        int
	views      map[string]*incidentView
}

type incidentView struct {
	ts       pcommon.Timestamp
	ranks    map[string]float64 // service → rank, 1 for the likely cause
	cause    string             // the likely cause, as its anomaly.incident.cause point names it
	version  string             // and its service.version, if the point names one
	entry    map[string]bool
	lastSeen time.Time // the exporter's clock, to forget incidents whose points stopped
	// told is what the incident's alert last said of it (cause, services, entry points), so a
	// change is told again.
	told string
}

func newIncidents(serviceKey string, maxViews int) *incidents {
	return &incidents{serviceKey: serviceKey, max: maxViews, views: map[string]*incidentView{}}
}

// observe reads the incident points of one metric; it ignores every other metric.
func (in *incidents) observe(m pmetric.Metric, now time.Time) {
	switch {
	case m.Type() != pmetric.MetricTypeGauge:
		return
	case m.Name() != names.IncidentService && m.Name() != names.IncidentEntryPoint && m.Name() != names.IncidentCause:
		return
	}
	for _, dp := range m.Gauge().DataPoints().All() {
		id, ok1 := dp.Attributes().Get(names.IncidentID)
		svc, ok2 := dp.Attributes().Get(in.serviceKey)
		if !ok1 || !ok2 {
			continue
		}
		v := in.views[id.AsString()]
		if v == nil {
			if len(in.views) >= in.max {
				continue // bounded like the alerts: max_alerts
			}
			v = &incidentView{}
			in.views[id.AsString()] = v
		}
		switch {
		case dp.Timestamp() < v.ts:
			continue // an older ranking's
		case dp.Timestamp() > v.ts:
			v.ts, v.ranks, v.entry, v.cause, v.version = dp.Timestamp(), map[string]float64{}, map[string]bool{}, "", ""
		}
		v.lastSeen = now
		switch m.Name() {
		case names.IncidentService:
			v.ranks[svc.AsString()] = numberValue(dp)
		case names.IncidentEntryPoint:
			v.entry[svc.AsString()] = true
		case names.IncidentCause:
			v.cause, v.version = svc.AsString(), ""
			if ver, ok := dp.Attributes().Get(names.ServiceVersion); ok {
				v.version = ver.AsString()
			}
		}
	}
}

// describe adds what a person needs to know of the incident an anomaly.incident point names to
// the template data; it returns false when no service of the incident is known.
func (in *incidents) describe(d *templateData, attrs pcommon.Map) bool {
	id, ok := attrs.Get(names.IncidentID)
	if !ok {
		return false
	}
	v := in.views[id.AsString()]
	if v == nil || len(v.ranks) == 0 {
		return false
	}
	d.IncidentID = id.AsString()
	d.Impacted = d.Impacted[:0]
	for s := range v.ranks {
		d.Impacted = append(d.Impacted, s)
	}
	slices.SortFunc(d.Impacted, func(a, b string) int { return cmp.Or(cmp.Compare(v.ranks[a], v.ranks[b]), strings.Compare(a, b)) })
	d.RootCause = d.Impacted[0]
	d.RootCauseVersion = ""
	if v.cause == d.RootCause {
		d.RootCauseVersion = v.version
	}
	d.EntryPoints = d.EntryPoints[:0]
	for s := range v.entry {
		d.EntryPoints = append(d.EntryPoints, s)
	}
	slices.Sort(d.EntryPoints)
	return true
}

// changed says whether what d describes of the incident an anomaly.incident point names differs
// from what its alert last told, and remembers it as told.
func (in *incidents) changed(attrs pcommon.Map, d *templateData) bool {
	id, ok := attrs.Get(names.IncidentID)
	if !ok || d.RootCause == "" {
		return false
	}
	v := in.views[id.AsString()]
	if v == nil {
		return false
	}
	told := strings.Join([]string{d.RootCause, d.RootCauseVersion, join(d.Impacted), join(d.EntryPoints)}, "|")
	changed := v.told != "" && v.told != told
	v.told = told
	return changed
}

// end forgets an incident the root-cause processor closed (its anomaly.incident point is 0).
func (in *incidents) end(attrs pcommon.Map) {
	if id, ok := attrs.Get(names.IncidentID); ok {
		delete(in.views, id.AsString())
	}
}

// expire forgets the incidents whose points stopped coming before cutoff.
func (in *incidents) expire(cutoff time.Time) {
	for id, v := range in.views {
		if v.lastSeen.Before(cutoff) {
			delete(in.views, id)
		}
	}
}

func join(s []string) string { return strings.Join(s, ", ") }
