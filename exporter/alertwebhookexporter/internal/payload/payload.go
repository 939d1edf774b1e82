// Package payload encodes alert notifications in the formats receivers understand:
// Alertmanager's API (POST /api/v2/alerts), Alertmanager's webhook payload (version 4) and a Go
// text/template over that payload. It knows nothing of the collector.
package payload

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
)

// postableAlert is one element of Alertmanager's POST /api/v2/alerts body.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alertmanager encodes alerts as the body of Alertmanager's POST /api/v2/alerts. Alertmanager
// tells firing from resolved by endsAt, which the state machine sets accordingly.
func Alertmanager(alerts []alert.Alert) ([]byte, error) {
	out := make([]postableAlert, len(alerts))
	for i, a := range alerts {
		out[i] = postableAlert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL}
	}
	return json.Marshal(out)
}

// Message is Alertmanager's webhook payload, version 4
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config), and the data a
// template is executed on.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            alert.Status      `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []alert.Alert     `json:"alerts"`
}

// Group splits alerts into one message per alertname, in order of alertname, as an Alertmanager
// route grouping by alertname would: a receiver gets one message per rule and batch.
func Group(alerts []alert.Alert, receiver, externalURL string) []Message {
	byName := map[string][]alert.Alert{}
	for _, a := range alerts {
		byName[a.Labels["alertname"]] = append(byName[a.Labels["alertname"]], a)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	msgs := make([]Message, 0, len(names))
	for _, n := range names {
		as := byName[n]
		group := map[string]string{"alertname": n}
		status := alert.StatusResolved
		for _, a := range as {
			if a.Status == alert.StatusFiring {
				status = alert.StatusFiring
			}
		}
		msgs = append(msgs, Message{
			Version:           "4",
			GroupKey:          fmt.Sprintf("{}:{alertname=%q}", n),
			Status:            status,
			Receiver:          receiver,
			GroupLabels:       group,
			CommonLabels:      common(as, func(a alert.Alert) map[string]string { return a.Labels }),
			CommonAnnotations: common(as, func(a alert.Alert) map[string]string { return a.Annotations }),
			ExternalURL:       externalURL,
			Alerts:            as,
		})
	}
	return msgs
}

// common is the pairs every alert shares, as Alertmanager computes commonLabels.
func common(as []alert.Alert, get func(alert.Alert) map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range get(as[0]) {
		out[k] = v
	}
	for _, a := range as[1:] {
		m := get(a)
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// Webhook encodes one message as JSON.
func Webhook(m Message) ([]byte, error) {
	return json.Marshal(m)
}

// Funcs are the functions a body template may call besides text/template's own.
var Funcs = template.FuncMap{
	// json quotes a value as JSON, so a template that writes JSON (Slack, Teams) stays valid
	// whatever the labels hold.
	// It leaves <, > and & as they are: Slack's link syntax <url|text> needs them.
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
	"join":    strings.Join,
	"toUpper": strings.ToUpper,
}

// ParseTemplate parses a body template with Funcs.
func ParseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(Funcs).Option("missingkey=zero").Parse(text)
}

// Template executes t on one message.
func Template(t *template.Template, m Message) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
