package alertwebhookexporter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/payload"
)

// templateData is what a rule's label, annotation and generator_url templates see.
type templateData struct {
	// Labels are the alert's labels from group_by (names made valid for Alertmanager: service.name
	// becomes service_name) and alertname; label templates see them before static labels are added.
	Labels map[string]string
	// Rule is the rule's name, Metric the score metric.
	Rule, Metric string
	// Score is the score that fired the alert.
	Score float64
	// Value is the observed value of the scored metric, Expected, Lower and Upper the model's
	// expected value and band (from anomaly.expected/lower/upper, with the processor's bands:
	// true); each is empty when the batch did not carry it.
	Value, Expected, Lower, Upper string
	// IncidentID, RootCause, Impacted and EntryPoints describe the incident of a rule on
	// anomaly.incident: its id, the likely cause, every service of the incident (the cause first)
	// and the customer-facing services whose requests reach the cause.
	IncidentID  string
	RootCause   string
	Impacted    []string
	EntryPoints []string
	// RootCauseVersion is the likely cause's version when the root-cause processor names one
	// (service.version on its point: a canary's), else empty.
	RootCauseVersion string
}

// ruleTemplates are one rule's parsed templates.
type ruleTemplates struct {
	labelNames      []string
	labels          []*template.Template
	annotationNames []string
	annotations     []*template.Template
	generatorURL    *template.Template
}

func (r *RuleConfig) templates() (*ruleTemplates, error) {
	t := &ruleTemplates{}
	var err error
	if t.labelNames, t.labels, err = parseAll("labels", r.Labels); err != nil {
		return nil, err
	}
	for _, n := range t.labelNames {
		if !validLabelName(n) {
			return nil, fmt.Errorf("labels: %q is not a valid Alertmanager label name ([a-zA-Z_][a-zA-Z0-9_]*)", n)
		}
	}
	if t.annotationNames, t.annotations, err = parseAll("annotations", r.Annotations); err != nil {
		return nil, err
	}
	if r.GeneratorURL != "" {
		if t.generatorURL, err = payload.ParseTemplate("generator_url", r.GeneratorURL); err != nil {
			return nil, fmt.Errorf("generator_url: %w", err)
		}
	}
	return t, nil
}

func parseAll(key string, m map[string]string) ([]string, []*template.Template, error) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	ts := make([]*template.Template, len(names))
	for i, n := range names {
		t, err := payload.ParseTemplate(n, m[n])
		if err != nil {
			return nil, nil, fmt.Errorf("%s[%s]: %w", key, n, err)
		}
		ts[i] = t
	}
	return names, ts, nil
}

// addLabels renders the rule's labels into labels; a rendered label replaces one from group_by.
func (t *ruleTemplates) addLabels(labels map[string]string, d *templateData) error {
	for i, tpl := range t.labels {
		v, err := render(tpl, d)
		if err != nil {
			return fmt.Errorf("labels[%s]: %w", t.labelNames[i], err)
		}
		labels[t.labelNames[i]] = v
	}
	return nil
}

// annotate renders the annotations: first what a person needs first (score, value, expected,
// band), then the rule's own, which may replace them.
func (t *ruleTemplates) annotate(d *templateData) (map[string]string, string, error) {
	out := map[string]string{"score": strconv.FormatFloat(d.Score, 'g', 4, 64)}
	if d.Value != "" {
		out["value"] = d.Value
	}
	if d.Expected != "" {
		out["expected"] = d.Expected
	}
	if d.Lower != "" && d.Upper != "" {
		out["band"] = "[" + d.Lower + ", " + d.Upper + "]"
	}
	if d.RootCause != "" {
		out["incident_id"] = d.IncidentID
		out["root_cause_service"] = d.RootCause
		if d.RootCauseVersion != "" {
			out["root_cause_version"] = d.RootCauseVersion
		}
		out["impacted_services"] = join(d.Impacted)
		if len(d.EntryPoints) > 0 {
			out["entry_points"] = join(d.EntryPoints)
		}
	}
	for i, tpl := range t.annotations {
		v, err := render(tpl, d)
		if err != nil {
			return nil, "", fmt.Errorf("annotations[%s]: %w", t.annotationNames[i], err)
		}
		out[t.annotationNames[i]] = v
	}
	var url string
	if t.generatorURL != nil {
		var err error
		if url, err = render(t.generatorURL, d); err != nil {
			return nil, "", fmt.Errorf("generator_url: %w", err)
		}
	}
	return out, url, nil
}

func render(t *template.Template, d *templateData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// labelName makes an attribute name a valid Alertmanager label name, as the Prometheus exporter
// does: every character outside [a-zA-Z0-9_], and a leading digit, becomes _.
func labelName(s string) string {
	if validLabelName(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !isLabelChar(c, i) {
			b[i] = '_'
		}
	}
	return string(b)
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLabelChar(s[i], i) {
			return false
		}
	}
	return true
}

func isLabelChar(c byte, i int) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
}

func formatValue(v float64) string {
	return strconv.FormatFloat(v, 'g', 6, 64)
}
