package argorollouts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	log "github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/omen-otel/omen/testbed/demo"
	"github.com/omen-otel/omen/testbed/harness"
)

// TestDemo is `make demo`: the demo's shop (package demo) through the built collector, a real
// Prometheus and a real Alertmanager on loopback. After the warm-up a bad new version of its
// busiest service takes a fifth of that service's requests, and Argo Rollouts' analysis
// controller runs examples/argo-rollouts/analysis-template.yml on it, as the Rollout's analysis
// step would. Once the analysis has failed and the alert has arrived, the canary is rolled back.
// It prints the timeline (canary, first score of 7 or more of the canary's version, the alert
// with its likely cause and version, the analysis' verdict, the rollback) and writes into
// $OMEN_DEMO_OUT graph.svg (the service graph during the canary, the likely cause marked),
// latency.svg (the canary's edge: its mean latency, the expected value and band, its score) and
// timeline.txt. It runs only when OMEN_DEMO_OUT is set.
func TestDemo(t *testing.T) {
	out := os.Getenv("OMEN_DEMO_OUT")
	if out == "" {
		t.Skip("set OMEN_DEMO_OUT to a folder for the pictures (make demo does)")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	log.SetLevel(log.ErrorLevel)
	ex := readExample(t)
	template, rollout, step := ex.template, ex.rollout, ex.step
	scale := float64(demo.Flush) / float64(exampleFlush)
	metric := template.Spec.Metrics[0]

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	argo := startAnalysisController(ctx, t)
	s := &system{run: "demo-canary"}
	r := demo.Start(t, ctx, demo.Options{
		Root:      ex.root,
		RuleFiles: []string{filepath.Join(ex.dir, "rules.yml")},
		OnCanary: func(r *demo.Run) {
			s.canary = r.Canary
			ar := analysisRun(t, template, rollout, step, s, r.Prometheus.URL, scale)
			if _, err := argo.ArgoprojV1alpha1().AnalysisRuns(namespace).Create(ctx, ar, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		},
	})

	// The verdict and the alert, each when the test first sees it, in whichever order they come.
	var ar *v1alpha1.AnalysisRun
	var err error
	var a *harness.AMAlert
	var alertAt time.Time
	deadline := time.Now().Add(scaled(t, metric.InitialDelay, scale) + time.Duration(metric.Count.IntValue()+2)*scaled(t, metric.Interval, scale))
	for ar == nil || !ar.Status.Phase.Completed() || a == nil {
		if time.Now().After(deadline) {
			t.Fatalf("by %s: analysis %v, alert %v", deadline.Format(time.TimeOnly), ar != nil && ar.Status.Phase.Completed(), a != nil)
		}
		time.Sleep(500 * time.Millisecond)
		if ar == nil || !ar.Status.Phase.Completed() {
			if ar, err = argo.ArgoprojV1alpha1().AnalysisRuns(namespace).Get(ctx, s.run, metav1.GetOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if a == nil {
			alerts, err := r.Alertmanager.Alerts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if a = incidentAlert(alerts); a != nil {
				alertAt = time.Now()
			}
		}
	}
	res := analysisutil.GetResult(ar, metric.Name)
	// Argo's own time of the verdict: when its deciding measurement finished.
	verdictAt := res.Measurements[len(res.Measurements)-1].FinishedAt.Time
	firstHigh, err := r.FirstHigh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteGraph(ctx, filepath.Join(out, "graph.svg")); err != nil {
		t.Fatal(err)
	}
	// The failed analysis aborts the rollout: the canary's requests go back to the stable
	// version. A little more traffic, for the latency picture to show the canary's end.
	r.Rollback()
	time.Sleep(10 * time.Second)
	if err := r.WriteLatency(ctx, filepath.Join(out, "latency.svg")); err != nil {
		t.Fatal(err)
	}

	var values []string
	for _, m := range res.Measurements {
		values = append(values, m.Value)
	}
	var timeline strings.Builder
	at := func(ts time.Time) string { return "+" + ts.Sub(r.Start).Round(time.Second).String() }
	line := func(ts time.Time, format string, args ...any) {
		fmt.Fprintf(&timeline, "%-8s %s\n", at(ts), fmt.Sprintf(format, args...))
	}
	// Lines in the order of their times: the verdict and the alert may come in either order.
	type event struct {
		ts   time.Time
		text string
	}
	events := []event{
		{firstHigh, fmt.Sprintf("%s version %s scores 7 or more in Prometheus (%s after the canary started)", r.Canary.Service, demo.CanaryVersion, firstHigh.Sub(r.CanaryAt).Round(time.Second))},
		{alertAt, fmt.Sprintf("Alertmanager holds %s (incident %s): likely cause %s version %s; impacted %s; entry points %s",
			a.Labels["alertname"], a.Annotations["incident_id"], a.Annotations["root_cause_service"], a.Annotations["root_cause_version"], a.Annotations["impacted_services"], a.Annotations["entry_points"])},
		{verdictAt, fmt.Sprintf("Argo Rollouts' analysis (examples/argo-rollouts, times scaled by %g): %s after %d of %d measurements (%s): %s after the canary started",
			scale, ar.Status.Phase, len(res.Measurements), metric.Count.IntValue(), strings.Join(values, ", "), verdictAt.Sub(r.CanaryAt).Round(time.Second))},
	}
	slices.SortStableFunc(events, func(x, y event) int { return x.ts.Compare(y.ts) })
	line(r.Start, "traffic starts: %.0f traces/s through a generated shop of %d services, version %s", demo.TraceRate, r.Services(), demo.StableVersion)
	line(r.CanaryAt, "%s (the Rollout's setWeight step; its analysis starts)", r.Canary)
	for _, e := range events {
		line(e.ts, "%s", e.text)
	}
	line(r.RolledBackAt, "the failed analysis aborts the rollout: every request to %s goes to version %s again", r.Canary.Service, demo.StableVersion)
	t.Log("timeline\n" + timeline.String())
	if err := os.WriteFile(filepath.Join(out, "timeline.txt"), []byte(timeline.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("pictures: %s, %s", filepath.Join(out, "graph.svg"), filepath.Join(out, "latency.svg"))

	if ar.Status.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Errorf("the bad canary's analysis is %s, want Failed", ar.Status.Phase)
	}
	if a.Annotations["root_cause_service"] != r.Canary.Service || a.Annotations["root_cause_version"] != demo.CanaryVersion {
		t.Errorf("the alert names %s version %q, want %s version %s", a.Annotations["root_cause_service"], a.Annotations["root_cause_version"], r.Canary.Service, demo.CanaryVersion)
	}
}

// incidentAlert is the incident alert among alerts, or nil.
func incidentAlert(alerts []harness.AMAlert) *harness.AMAlert {
	for i := range alerts {
		if alerts[i].Labels["alertname"] == "ServiceIncident" {
			return &alerts[i]
		}
	}
	return nil
}
