package alertwebhookexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/names"
)

// incidentPoints is one ranking's incident points, as the root-cause processor emits them: the
// incident's services by rank, its entry points, then the incident with its severity.
func incidentPoints(ts time.Time, id string, severity float64, ranked []string, entry []string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	gauge := func(name string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		return m.SetEmptyGauge().DataPoints()
	}
	add := func(dps pmetric.NumberDataPointSlice, v float64, svc string) {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(v)
		dp.Attributes().PutStr(names.IncidentID, id)
		if svc != "" {
			dp.Attributes().PutStr("service.name", svc)
		}
	}
	eps := gauge(names.IncidentEntryPoint)
	for _, s := range entry {
		add(eps, 1, s)
	}
	svcs := gauge(names.IncidentService)
	for i, s := range ranked {
		add(svcs, float64(i+1), s)
	}
	if len(ranked) > 0 {
		add(gauge(names.IncidentCause), 1, ranked[0])
	}
	add(gauge(names.Incident), severity, "")
	return md
}

func incidentRule() []RuleConfig {
	return []RuleConfig{{
		Name: "ServiceIncident", Metric: names.Incident, Threshold: 7, ResolveThreshold: 3,
		GroupBy:     []string{names.IncidentID},
		Annotations: map[string]string{"summary": "{{ .RootCause }} is failing; {{ len .Impacted }} services suffer"},
	}}
}

// TestIncidentIsOneNotification: an incident of three services makes one alert, naming the
// likely cause, the impacted services and the customer-facing entry point; when its cause
// changes it stays one alert, and it resolves when the incident ends.
func TestIncidentIsOneNotification(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	cfg.Rules = incidentRule()
	te := startExporter(t, cfg)
	ctx := context.Background()

	require.NoError(t, te.ConsumeMetrics(ctx, incidentPoints(now0, "abc", 9.5, []string{"payments", "checkout", "frontend"}, []string{"frontend"})))
	firing := decode(t, r.wait(t, 1)[0])
	require.Len(t, firing, 1)
	assert.Equal(t, map[string]string{"alertname": "ServiceIncident", "anomaly_incident_id": "abc"}, firing[0].Labels)
	assert.Equal(t, map[string]string{
		"summary":            "payments is failing; 3 services suffer",
		"score":              "9.5",
		"incident_id":        "abc",
		"root_cause_service": "payments",
		"impacted_services":  "payments, checkout, frontend",
		"entry_points":       "frontend",
	}, firing[0].Annotations)

	te.setNow(now0.Add(10 * time.Second))
	require.NoError(t, te.ConsumeMetrics(ctx, incidentPoints(now0.Add(10*time.Second), "abc", 9, []string{"checkout", "payments", "frontend"}, []string{"frontend"})))
	assert.Equal(t, 1, te.machine.Len(), "a change of cause is the same incident")
	// ... told again at once, with what is true now.
	retold := decode(t, r.wait(t, 2)[1])
	require.Len(t, retold, 1)
	assert.Equal(t, firing[0].Labels, retold[0].Labels, "the same alert")
	assert.Equal(t, "checkout", retold[0].Annotations["root_cause_service"])
	assert.Equal(t, "checkout, payments, frontend", retold[0].Annotations["impacted_services"])
	assert.Equal(t, firing[0].StartsAt, retold[0].StartsAt)
	// The same again is not told again.
	te.setNow(now0.Add(15 * time.Second))
	require.NoError(t, te.ConsumeMetrics(ctx, incidentPoints(now0.Add(15*time.Second), "abc", 9, []string{"checkout", "payments", "frontend"}, []string{"frontend"})))

	te.setNow(now0.Add(20 * time.Second))
	require.NoError(t, te.ConsumeMetrics(ctx, incidentPoints(now0.Add(20*time.Second), "abc", 0, nil, nil)))
	bodies := r.wait(t, 3)
	require.Len(t, bodies, 3, "firing, told again, resolved")
	resolved := decode(t, bodies[len(bodies)-1])
	require.Len(t, resolved, 1)
	assert.Equal(t, "abc", resolved[0].Labels["anomaly_incident_id"])
	assert.False(t, resolved[0].EndsAt.After(now0.Add(time.Minute)), "the incident's end resolves the alert")
	assert.Empty(t, te.incidents.views, "an ended incident is forgotten")
}

// TestIncidentAcrossBatches: the incident's services and its own point may come in different
// requests (a batch processor between); the alert names the same cause.
func TestIncidentAcrossBatches(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	cfg.Rules = incidentRule()
	te := startExporter(t, cfg)
	ctx := context.Background()
	md := incidentPoints(now0, "abc", 8, []string{"db", "api"}, []string{"api"})
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		one := pmetric.NewMetrics()
		ms.At(i).CopyTo(one.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty())
		require.NoError(t, te.ConsumeMetrics(ctx, one))
	}
	firing := decode(t, r.wait(t, 1)[0])
	require.Len(t, firing, 1)
	assert.Equal(t, "db", firing[0].Annotations["root_cause_service"])
	assert.Equal(t, "db, api", firing[0].Annotations["impacted_services"])
	assert.Equal(t, "api", firing[0].Annotations["entry_points"])
}

// TestIncidentNamesTheCanary: the incident's cause point names the cause's version (a bad
// canary); the alert carries it as root_cause_version, and drops it when a later ranking names
// none.
func TestIncidentNamesTheCanary(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	cfg.Rules = incidentRule()
	cfg.Rules[0].Annotations = map[string]string{"summary": "{{ .RootCause }} {{ .RootCauseVersion }} is failing"}
	te := startExporter(t, cfg)
	ctx := context.Background()
	withVersion := func(md pmetric.Metrics, svc, version string) pmetric.Metrics {
		for _, m := range md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().All() {
			if m.Name() != names.IncidentCause {
				continue
			}
			for _, dp := range m.Gauge().DataPoints().All() {
				if s, _ := dp.Attributes().Get("service.name"); s.Str() == svc {
					dp.Attributes().PutStr(names.ServiceVersion, version)
				}
			}
		}
		return md
	}
	require.NoError(t, te.ConsumeMetrics(ctx, withVersion(incidentPoints(now0, "abc", 9.5, []string{"payments", "checkout"}, []string{"checkout"}), "payments", "2.0.0")))
	firing := decode(t, r.wait(t, 1)[0])
	require.Len(t, firing, 1)
	assert.Equal(t, "payments", firing[0].Annotations["root_cause_service"])
	assert.Equal(t, "2.0.0", firing[0].Annotations["root_cause_version"])
	assert.Equal(t, "payments 2.0.0 is failing", firing[0].Annotations["summary"])

	te.setNow(now0.Add(10 * time.Second))
	require.NoError(t, te.ConsumeMetrics(ctx, incidentPoints(now0.Add(10*time.Second), "abc", 9, []string{"payments", "checkout"}, []string{"checkout"})))
	attrs := pcommon.NewMap()
	attrs.PutStr(names.IncidentID, "abc")
	var d templateData
	require.True(t, te.incidents.describe(&d, attrs))
	assert.Empty(t, d.RootCauseVersion, "the newer ranking names no version")
}
