package argorollouts

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
)

// TestManifests reads examples/argo-rollouts' Rollout and AnalysisTemplate with Argo Rollouts'
// own types (strictly: an unknown field fails), validates the template's metrics as the
// controller does, and resolves the analysis step's arguments from the Rollout: the canary
// version is the pod template's version label, which the pods report as service.version.
func TestManifests(t *testing.T) {
	ex := readExample(t)
	template, rollout, step := ex.template, ex.rollout, ex.step
	if err := analysisutil.ValidateMetrics(template.Spec.Metrics); err != nil {
		t.Fatal(err)
	}
	if step.Templates[0].TemplateName != template.Name {
		t.Errorf("the analysis step runs %q, the template is %q", step.Templates[0].TemplateName, template.Name)
	}
	args, err := analysisutil.BuildArgumentsForRolloutAnalysisRun(step.Args, nil, nil, rollout)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range args {
		got[a.Name] = *a.Value
	}
	if got["canary-version"] != rollout.Spec.Template.Labels["version"] || got["service"] != "payments" {
		t.Errorf("the analysis step's arguments are %v", got)
	}
	env := map[string]string{}
	for _, e := range rollout.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if !strings.Contains(env["OTEL_RESOURCE_ATTRIBUTES"], "service.version=$(VERSION)") || env["OTEL_SERVICE_NAME"] != got["service"] {
		t.Errorf("the pods do not report the service and version the analysis reads: %v", env)
	}
	ar, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{template}, nil, args, nil, nil, nil, nil, "run", "", namespace)
	if err != nil {
		t.Fatal(err)
	}
	m, err := analysisutil.ResolveMetricArgs(ar.Spec.Metrics[0], ar.Spec.Args)
	if err != nil {
		t.Fatal(err)
	}
	if q := m.Provider.Prometheus.Query; !strings.Contains(q, `server="payments", server_service_version="2.0.0"`) || strings.Contains(q, "{{") {
		t.Errorf("the resolved query is %s", q)
	}
}

// TestPrometheusFiles checks the example's Prometheus configuration and recording rule with
// promtool, as examples/prometheus' are.
func TestPrometheusFiles(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: `make test` installs the prometheus package")
	}
	example := filepath.Join("..", "..", "examples", "argo-rollouts")
	for _, args := range [][]string{
		{"check", "rules", filepath.Join(example, "rules.yml")},
		{"check", "config", filepath.Join(example, "prometheus.yml")},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
