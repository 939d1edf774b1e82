package alertwebhookexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/servicegraph"
)

// graphScores is one batch of the service graph's scores, as the anomaly processor emits them:
// frontend → checkout → payments, with rootCause and score per service.
func graphScores(ts time.Time, score, rootCause map[string]float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	u := ms.AppendEmpty()
	u.SetName(metricUnified)
	u.SetEmptyGauge()
	rc := ms.AppendEmpty()
	rc.SetName(servicegraph.MetricRootCause)
	rc.SetEmptyGauge()
	for _, l := range [][2]string{{"frontend", "checkout"}, {"checkout", "payments"}, {"user", "frontend"}} {
		dp := u.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.Attributes().PutStr(servicegraph.AttrClient, l[0])
		dp.Attributes().PutStr(servicegraph.AttrServer, l[1])
		dp.Attributes().PutStr(attrGroup, servicegraph.GroupEdge)
	}
	for _, svc := range []string{"frontend", "checkout", "payments"} {
		for _, x := range []struct {
			m pmetric.Metric
			v float64
		}{{u, score[svc]}, {rc, rootCause[svc]}} {
			dp := x.m.Gauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			dp.SetDoubleValue(x.v)
			dp.Attributes().PutStr("service.name", svc)
			dp.Attributes().PutBool(servicegraph.AttrCustomerFacing, svc == "frontend")
			if x.m.Name() == metricUnified {
				dp.Attributes().PutStr(attrGroup, servicegraph.GroupService)
			}
		}
	}
	return md
}

// TestIncidentIsOneNotification: three anomalous services that call each other make one alert,
// on the likely cause, naming the impacted services and the customer-facing entry point; when
// the ranking moves to another service of the same incident, the first resolves.
func TestIncidentIsOneNotification(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	cfg.Rules = []RuleConfig{{
		Name: "ServiceIncident", Metric: servicegraph.MetricRootCause, Threshold: 7, ResolveThreshold: 3,
		GroupBy:     []string{"service.name"},
		Annotations: map[string]string{"summary": "{{ .RootCause }} is failing; {{ len .Impacted }} services suffer"},
	}}
	te := startExporter(t, cfg)
	ctx := context.Background()

	score := map[string]float64{"frontend": 8, "checkout": 9, "payments": 9.5}
	// checkout's root-cause score passes the threshold too, but payments explains it better.
	require.NoError(t, te.ConsumeMetrics(ctx, graphScores(now0, score, map[string]float64{"frontend": 0, "checkout": 7.5, "payments": 9.5})))
	firing := decode(t, r.wait(t, 1)[0])
	require.Len(t, firing, 1)
	assert.Equal(t, map[string]string{"alertname": "ServiceIncident", "service_name": "payments"}, firing[0].Labels)
	assert.Equal(t, map[string]string{
		"summary":            "payments is failing; 3 services suffer",
		"score":              "9.5",
		"root_cause_service": "payments",
		"impacted_services":  "payments, checkout, frontend",
		"entry_points":       "frontend",
	}, firing[0].Annotations)

	te.setNow(now0.Add(10 * time.Second))
	require.NoError(t, te.ConsumeMetrics(ctx, graphScores(now0.Add(10*time.Second), score, map[string]float64{"checkout": 9.8, "payments": 2})))
	// Without a queue, ConsumeMetrics returns once the notifications are delivered.
	var resolved, fired []string
	for _, b := range r.wait(t, 2)[1:] {
		for _, a := range decode(t, b) {
			if a.EndsAt.After(now0.Add(time.Minute)) {
				fired = append(fired, a.Labels["service_name"])
			} else {
				resolved = append(resolved, a.Labels["service_name"])
			}
		}
	}
	assert.Equal(t, []string{"payments"}, resolved)
	assert.Equal(t, []string{"checkout"}, fired)
}

// TestCalmServicesMakeNoIncident: a high root-cause score on a service whose own score is below
// the threshold does not alert.
func TestCalmServicesMakeNoIncident(t *testing.T) {
	r := newReceiver(t)
	cfg := testConfig(r.URL)
	cfg.Rules = []RuleConfig{{Name: "ServiceIncident", Metric: servicegraph.MetricRootCause, Threshold: 7}}
	te := startExporter(t, cfg)
	md := graphScores(now0, map[string]float64{"payments": 6}, map[string]float64{"payments": 8})
	require.NoError(t, te.ConsumeMetrics(context.Background(), md))
	assert.Zero(t, te.machine.Len())
}
