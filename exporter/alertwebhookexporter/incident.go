package alertwebhookexporter

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/servicegraph"
)

// What the anomaly processor emits besides the service graph's own names.
const (
	metricUnified = "anomaly.unified_score"
	attrGroup     = "anomaly.group"
)

// incidents maps each service of a batch's incidents to its incident.
type incidents map[string]*servicegraph.Incident

// incidentsOf groups the services of one batch into incidents, from the service graph's scores
// in it: a service belongs to an incident when its unified score reaches threshold.
func incidentsOf(md pmetric.Metrics, serviceKey string, threshold float64) incidents {
	services := map[string]*servicegraph.Service{}
	service := func(attrs pcommon.Map) *servicegraph.Service {
		v, ok := attrs.Get(serviceKey)
		if !ok {
			return nil
		}
		s := services[v.AsString()]
		if s == nil {
			s = &servicegraph.Service{Name: v.AsString()}
			services[s.Name] = s
		}
		if cf, ok := attrs.Get(servicegraph.AttrCustomerFacing); ok && cf.Type() == pcommon.ValueTypeBool {
			s.CustomerFacing = cf.Bool()
		}
		return s
	}
	var links []servicegraph.Link
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeGauge || (m.Name() != metricUnified && m.Name() != servicegraph.MetricRootCause) {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					attrs := dp.Attributes()
					if m.Name() == servicegraph.MetricRootCause {
						if s := service(attrs); s != nil {
							s.RootCause = numberValue(dp)
						}
						continue
					}
					switch g, _ := attrs.Get(attrGroup); g.AsString() {
					case servicegraph.GroupService:
						if s := service(attrs); s != nil {
							s.Scored, s.Score = true, numberValue(dp)
						}
					case servicegraph.GroupEdge:
						c, ok1 := attrs.Get(servicegraph.AttrClient)
						v, ok2 := attrs.Get(servicegraph.AttrServer)
						if ok1 && ok2 {
							links = append(links, servicegraph.Link{Client: c.AsString(), Server: v.AsString()})
						}
					}
				}
			}
		}
	}
	if len(services) == 0 {
		return nil
	}
	list := make([]servicegraph.Service, 0, len(services))
	for _, s := range services {
		list = append(list, *s)
	}
	out := incidents{}
	for _, inc := range servicegraph.Incidents(list, links, threshold) {
		for _, s := range inc.Services {
			out[s] = &inc
		}
	}
	return out
}

// cause returns the incident whose likely cause is the service a root-cause point names; nil
// when the service is not the cause of an incident of the batch.
func (in incidents) cause(serviceKey string, attrs pcommon.Map) *servicegraph.Incident {
	v, ok := attrs.Get(serviceKey)
	if !ok {
		return nil
	}
	if inc := in[v.AsString()]; inc != nil && inc.Cause == v.AsString() {
		return inc
	}
	return nil
}

// describe adds what a person needs to know of an incident to the template data.
func describe(d *templateData, inc *servicegraph.Incident) {
	d.RootCause = inc.Cause
	d.Impacted = inc.Services
	d.EntryPoints = inc.EntryPoints
}

func join(s []string) string { return strings.Join(s, ", ") }
