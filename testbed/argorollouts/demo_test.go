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

	// The verdict and the alerts, each when the test first sees it, in whichever order they
	// come. An incident's alert is told again when its likely cause changes (an incident opened
	// on the canary's caller, a flush before the canary's own edge was ranked, names the canary
	// once it is): every version of it goes on the timeline, and the test waits for the one
	// naming the canary.
	var ar *v1alpha1.AnalysisRun
	var err error
	type told struct {
		at    time.Time
		alert harness.AMAlert
	}
	var tellings []told
	seen := map[string]bool{}
	named := func() bool {
		return slices.ContainsFunc(tellings, func(x told) bool { return namesCanary(x.alert, r.Canary.Service) })
	}
	deadline := time.Now().Add(scaled(t, metric.InitialDelay, scale) + time.Duration(metric.Count.IntValue()+2)*scaled(t, metric.Interval, scale))
	for (ar == nil || !ar.Status.Phase.Completed() || !named()) && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		if ar == nil || !ar.Status.Phase.Completed() {
			if ar, err = argo.ArgoprojV1alpha1().AnalysisRuns(namespace).Get(ctx, s.run, metav1.GetOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		alerts, err := r.Alertmanager.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			key := a.Annotations["incident_id"] + "|" + a.Annotations["root_cause_service"] + "|" + a.Annotations["root_cause_version"]
			if a.Labels["alertname"] == "ServiceIncident" && !seen[key] {
				seen[key] = true
				tellings = append(tellings, told{time.Now(), a})
			}
		}
	}
	if !ar.Status.Phase.Completed() || len(tellings) == 0 {
		t.Fatalf("by %s: analysis completed %v, %d incident alerts", deadline.Format(time.TimeOnly), ar.Status.Phase.Completed(), len(tellings))
	}
	a := tellings[len(tellings)-1].alert
	for _, x := range tellings {
		if namesCanary(x.alert, r.Canary.Service) {
			a = x.alert
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
	}
	for _, x := range tellings {
		events = append(events, event{x.at, fmt.Sprintf("Alertmanager holds %s (incident %s): likely cause %s version %s; impacted %s; entry points %s",
			x.alert.Labels["alertname"], x.alert.Annotations["incident_id"], x.alert.Annotations["root_cause_service"], x.alert.Annotations["root_cause_version"], x.alert.Annotations["impacted_services"], x.alert.Annotations["entry_points"])})
	}
	events = append(events, event{verdictAt, fmt.Sprintf("Argo Rollouts' analysis (examples/argo-rollouts, times scaled by %g): %s after %d of %d measurements (%s): %s after the canary started",
		scale, ar.Status.Phase, len(res.Measurements), metric.Count.IntValue(), strings.Join(values, ", "), verdictAt.Sub(r.CanaryAt).Round(time.Second))})
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

// namesCanary says whether an incident alert names the canary's service and version as the
// likely cause.
func namesCanary(a harness.AMAlert, service string) bool {
	return a.Annotations["root_cause_service"] == service && a.Annotations["root_cause_version"] == demo.CanaryVersion
}
