package payload

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

var alerts = []alert.Alert{
	{
		Fingerprint: "409b444310a1caa5", Status: alert.StatusFiring,
		Labels:      map[string]string{"alertname": "AnomalousService", "service_name": "checkout", "severity": "page"},
		Annotations: map[string]string{"summary": `checkout "cart" is slow`, "score": "9.5", "value": "400", "expected": "120", "band": "[105, 135]"},
		StartsAt:    t0, EndsAt: t0.Add(4 * time.Minute), GeneratorURL: "http://grafana.example/d/omen?var-service=checkout",
	},
	{
		Fingerprint: "87b5523edaa9a0db", Status: alert.StatusResolved,
		Labels:      map[string]string{"alertname": "AnomalousService", "service_name": "cart", "severity": "page"},
		Annotations: map[string]string{"summary": "cart is slow", "score": "7.1"},
		StartsAt:    t0.Add(-time.Minute), EndsAt: t0,
	},
	{
		Fingerprint: "0000000000000001", Status: alert.StatusFiring,
		Labels:   map[string]string{"alertname": "AnomalousMetric", "metric_name": "http.server.request.duration"},
		StartsAt: t0, EndsAt: t0.Add(4 * time.Minute),
	},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o600))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	out, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	return append(out, '\n')
}

func TestAlertmanager(t *testing.T) {
	b, err := Alertmanager(alerts)
	require.NoError(t, err)
	golden(t, "alertmanager.json", indent(t, b))
}

// TestWebhook: one message per alertname; status firing when any alert of the group fires;
// commonLabels and commonAnnotations are what all alerts share.
func TestWebhook(t *testing.T) {
	msgs := Group(alerts, "omen", "http://omen.example")
	require.Len(t, msgs, 2)
	var all []byte
	for _, m := range msgs {
		b, err := Webhook(m)
		require.NoError(t, err)
		all = append(all, indent(t, b)...)
	}
	golden(t, "webhook.json", all)
	assert.Equal(t, map[string]string{"alertname": "AnomalousService", "severity": "page"}, msgs[1].CommonLabels)
	assert.Equal(t, alert.StatusFiring, msgs[1].Status)
}

// TestTemplates executes the example templates of examples/alerting: each must give valid JSON
// with the alerts in it, whatever quotes the labels hold.
func TestTemplates(t *testing.T) {
	msgs := Group(alerts, "omen", "")
	for _, name := range []string{"slack.tmpl", "teams.tmpl"} {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "examples", "alerting", name))
			require.NoError(t, err)
			tpl, err := ParseTemplate(name, string(text))
			require.NoError(t, err)
			b, err := Template(tpl, msgs[1])
			require.NoError(t, err)
			require.True(t, json.Valid(b), "%s", b)
			golden(t, name+".json", indent(t, b))
		})
	}
}

func TestTemplateError(t *testing.T) {
	_, err := ParseTemplate("bad", "{{ .Status")
	require.Error(t, err)
	tpl, err := ParseTemplate("fails", "{{ json .NoSuchField }}")
	require.NoError(t, err)
	_, err = Template(tpl, Message{})
	require.Error(t, err)
}
