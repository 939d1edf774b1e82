package argorollouts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/analysis"
	"github.com/argoproj/argo-rollouts/controller/metrics"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/pkg/client/clientset/versioned/fake"
	informers "github.com/argoproj/argo-rollouts/pkg/client/informers/externalversions"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	"github.com/argoproj/argo-rollouts/utils/queue"
	"github.com/argoproj/argo-rollouts/utils/record"
	log "github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/yaml"

	"github.com/omen-otel/omen/testbed/demo"
	"github.com/omen-otel/omen/testbed/harness"
	"github.com/omen-otel/omen/testbed/trafficgen"
)

// exampleFlush is the connector's flush interval in examples/argo-rollouts/config.yaml, in which
// the template's interval, initialDelay and window are counted. The test runs at a shorter flush
// and scales them by the same factor, so a measurement sees as many flushes as in the example.
const exampleFlush = 10 * time.Second

const (
	stableVersion = demo.StableVersion
	canaryVersion = demo.CanaryVersion
	namespace     = "default"
)

// canaryRun is the size of a run. make test runs the short form (2 bad and 2 good canaries, a
// 2 s flush); the recorded full run is
//
//	OMEN_CANARY_BAD=6 OMEN_CANARY_GOOD=6 OMEN_BINARY=$PWD/../../dist/_build/omencol \
//	  go test -race -count=1 -run TestAnalysis -v -timeout 30m .
type canaryRun struct {
	bad, good  int
	flush      time.Duration
	traceRate  float64 // per system
	minSamples int
	share      float64
}

func canaryRunFromEnv(t *testing.T) canaryRun {
	r := canaryRun{bad: 2, good: 2, flush: 2 * time.Second, traceRate: 40, minSamples: 30, share: 0.2}
	for name, dst := range map[string]*int{"OMEN_CANARY_BAD": &r.bad, "OMEN_CANARY_GOOD": &r.good, "OMEN_CANARY_MIN_SAMPLES": &r.minSamples} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a count", name, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("OMEN_CANARY_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) {
			t.Fatalf("OMEN_CANARY_RATE=%q: want traces per second", v)
		}
		r.traceRate = f
	}
	if v := os.Getenv("OMEN_CANARY_FLUSH"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("OMEN_CANARY_FLUSH=%q: want a duration", v)
		}
		r.flush = d
	}
	return r
}

// system is one generated shop whose busiest non-entry service gets a canary.
type system struct {
	prefix string
	gen    *trafficgen.Generator
	canary trafficgen.Canary
	run    string // the AnalysisRun's name
}

// TestAnalysis rolls out canaries on generated systems whose traces go through the built
// collector (servicegraph connector split by service.version, anomaly and root-cause
// processors) to a real Prometheus that scrapes its scores and evaluates
// examples/argo-rollouts/rules.yml. Argo Rollouts' own analysis controller, with its prometheus
// provider, runs examples/argo-rollouts/analysis-template.yml for every canary with the
// arguments examples/argo-rollouts/rollout.yml gives it. A bad canary (latency ×3 or 20 %
// errors, on 20 % of the service's requests) must fail the analysis within the time the README
// states; a good one must pass every measurement. A bad canary's incident alert must name the
// service and its version.
func TestAnalysis(t *testing.T) {
	log.SetLevel(log.ErrorLevel) // Argo logs every reconciliation, and every verdict as a warning
	run := canaryRunFromEnv(t)
	ex := readExample(t)
	template, rollout, step := ex.template, ex.rollout, ex.step
	if got := rollout.Spec.Template.Labels["version"]; got != canaryVersion {
		t.Fatalf("rollout.yml's pod template has version %q; the test's canaries are %s", got, canaryVersion)
	}

	am := harness.StartAlertmanager(t)
	col := harness.StartCollector(t, harness.CollectorConfig{
		Config: filepath.Join(ex.root, "testbed", "argorollouts", "testdata", "collector.yaml"),
		Env: []string{
			"OMEN_ALERTMANAGER_URL=" + am.URL,
			"OMEN_FLUSH_INTERVAL=" + run.flush.String(),
			"OMEN_MIN_SAMPLES=" + strconv.Itoa(run.minSamples),
			"OMEN_KEEP_FIRING=" + (3 * run.flush).String(),
		},
	})
	prom := harness.StartPrometheus(t, harness.PrometheusConfig{
		Targets:   []string{col.Prometheus},
		RuleFiles: []string{filepath.Join(ex.dir, "rules.yml")},
	})

	var systems []*system
	for i := range run.bad + run.good {
		prefix := fmt.Sprintf("c%02d-", i)
		g, err := trafficgen.New(trafficgen.Config{Seed: int64(2000 + i), Prefix: prefix, TraceRate: run.traceRate, Version: stableVersion})
		if err != nil {
			t.Fatal(err)
		}
		c := trafficgen.Canary{Service: g.Graph().MostCalled(), Version: canaryVersion, Share: run.share}
		if i < run.bad {
			if i%2 == 0 {
				c.Factor = 3
			} else {
				c.ErrorRate = 0.2
			}
		}
		systems = append(systems, &system{prefix: prefix, gen: g, canary: c, run: fmt.Sprintf("canary-%02d", i)})
	}

	// The stable versions' models warm up on min_samples flushes after an edge's first two; a few
	// more let the learned spread settle.
	warmUp := time.Duration(run.minSamples+8) * run.flush
	scale := float64(run.flush) / float64(exampleFlush)
	metric := template.Spec.Metrics[0]
	interval := scaled(t, metric.Interval, scale)
	initialDelay := scaled(t, metric.InitialDelay, scale)
	analysisFor := initialDelay + time.Duration(metric.Count.IntValue())*interval
	ctx, cancel := context.WithTimeout(context.Background(), warmUp+analysisFor+2*time.Minute)
	defer cancel()
	sending, stopSending := context.WithCancel(ctx)
	defer stopSending()
	sendErr := make(chan error, 1)
	gens := make([]*trafficgen.Generator, len(systems))
	for i, s := range systems {
		gens[i] = s.gen
	}
	go func() {
		sendErr <- trafficgen.SendAll(sending, gens, run.traceRate, trafficgen.HTTPSender(col.OTLPHTTP))
	}()

	argo := startAnalysisController(ctx, t)
	select {
	case <-time.After(warmUp):
	case err := <-sendErr:
		t.Fatalf("sending traces: %v", err)
	}

	// The canaries start, and with them their analyses, as the Rollout's setWeight step is
	// followed by its analysis step.
	canaryAt := time.Now()
	for _, s := range systems {
		if err := s.gen.StartCanary(s.canary); err != nil {
			t.Fatal(err)
		}
		ar := analysisRun(t, template, rollout, step, s, prom.URL, scale)
		if _, err := argo.ArgoprojV1alpha1().AnalysisRuns(namespace).Create(ctx, ar, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d canaries started; the analysis measures every %s after %s, %d times (the template's %s and %s scaled by %g)",
		len(systems), interval, initialDelay, metric.Count.IntValue(), metric.Interval, metric.InitialDelay, scale)

	// Beside the analyses, the test watches the score they read, every half second: when a bad
	// canary's first reaches 7 (the time to detection) and how high a good canary's goes.
	detected := map[string]time.Duration{}
	highest := map[string]float64{}
	watch := func() {
		for _, s := range systems {
			samples, err := prom.Query(ctx, fmt.Sprintf(`max(server_version:anomaly_symptom_score:max{server=%q, server_service_version=%q})`, s.canary.Service, canaryVersion))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range samples {
				highest[s.prefix] = max(highest[s.prefix], x.Value)
				if _, ok := detected[s.prefix]; !ok && x.Value >= 7 {
					detected[s.prefix] = time.Since(canaryAt)
				}
			}
		}
	}
	done := map[string]*v1alpha1.AnalysisRun{}
	deadline := time.After(analysisFor + time.Minute)
	for len(done) < len(systems) {
		watch()
		select {
		case <-deadline:
			t.Fatalf("%d of %d analyses did not complete", len(systems)-len(done), len(systems))
		case err := <-sendErr:
			t.Fatalf("sending traces: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		for _, s := range systems {
			if done[s.run] != nil {
				continue
			}
			ar, err := argo.ArgoprojV1alpha1().AnalysisRuns(namespace).Get(ctx, s.run, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ar.Status.Phase.Completed() {
				done[s.run] = ar
			}
		}
	}
	alerts, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopSending()
	if err := <-sendErr; err != nil {
		t.Fatalf("sending traces: %v", err)
	}

	// The bound the README states for a bad canary: the analysis fails at its second failed
	// measurement, initialDelay + one interval after the canary starts when the canary is
	// detected by its first measurement; one more interval allows for a first measurement that
	// just misses the first high score, and a flush for the controller's scheduling and the
	// one-second resolution of a measurement's finishedAt.
	bound := initialDelay + 2*interval + run.flush
	var worst time.Duration
	for _, s := range systems {
		ar := done[s.run]
		res := analysisutil.GetResult(ar, metric.Name)
		var values []string
		for _, m := range res.Measurements {
			values = append(values, string(m.Phase)+" "+m.Value)
		}
		t.Logf("%s: %s: analysis %s after %d measurements: %s", s.prefix, s.canary, ar.Status.Phase, len(res.Measurements), strings.Join(values, ", "))
		if d, ok := detected[s.prefix]; ok {
			t.Logf("%s: the canary's score first reached 7 in Prometheus %s after it started (%s in the example's time)", s.prefix, d.Round(100*time.Millisecond), time.Duration(float64(d)/scale).Round(time.Second))
		} else {
			t.Logf("%s: the canary's score stayed below 7 in Prometheus; its highest was %.2f", s.prefix, highest[s.prefix])
		}
		if !s.canary.Bad() {
			if ar.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || res.Failed+res.Error+res.Inconclusive > 0 {
				t.Errorf("%s: a good canary's analysis is %s, with %d failed, %d error and %d inconclusive measurements; want every measurement successful",
					s.prefix, ar.Status.Phase, res.Failed, res.Error, res.Inconclusive)
			}
			continue
		}
		if ar.Status.Phase != v1alpha1.AnalysisPhaseFailed {
			t.Errorf("%s: a bad canary's analysis is %s, want Failed", s.prefix, ar.Status.Phase)
			continue
		}
		last := res.Measurements[len(res.Measurements)-1]
		took := last.FinishedAt.Sub(canaryAt)
		worst = max(worst, took)
		t.Logf("%s: failed %s after the canary started (%s in the example's time)", s.prefix, took.Round(100*time.Millisecond), time.Duration(float64(took)/scale).Round(time.Second))
		if took > bound {
			t.Errorf("%s: the analysis failed %s after the canary started, want within %s", s.prefix, took, bound)
		}
	}
	t.Logf("bad canaries failed within %s (%s in the example's time); the stated bound is %s (%s)",
		worst.Round(100*time.Millisecond), time.Duration(float64(worst)/scale).Round(time.Second), bound, time.Duration(float64(bound)/scale).Round(time.Second))
	for _, s := range systems {
		if !checkAlerts(t, alerts, s) {
			logScores(ctx, t, prom, s, canaryAt, run.flush)
		}
	}
}

// logScores logs, for a system whose alerts were not as they should be, its services' scores
// and root-cause scores and its canary's score from the canary's start on, one line a series.
func logScores(ctx context.Context, t *testing.T, prom *harness.Prometheus, s *system, from time.Time, step time.Duration) {
	t.Helper()
	for _, expr := range []string{
		fmt.Sprintf(`anomaly_unified_score{anomaly_group="service_graph.service", service_name=~%q}`, s.prefix+".*"),
		fmt.Sprintf(`anomaly_root_cause{service_name=~%q}`, s.prefix+".*"),
		fmt.Sprintf(`server_version:anomaly_symptom_score:max{server=~%q}`, s.prefix+".*"),
	} {
		series, err := prom.QueryRange(ctx, expr, from, time.Now(), step)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		for _, x := range series {
			var b strings.Builder
			for _, p := range x.Points {
				fmt.Fprintf(&b, " %.1f", p.V)
			}
			t.Logf("%s %v:%s", s.prefix, x.Labels, b.String())
		}
	}
}

// checkAlerts: a bad canary has an incident alert naming its service and version as the likely
// cause; a good canary's system has no alert. It reports whether s's alerts were so.
func checkAlerts(t *testing.T, alerts []harness.AMAlert, s *system) bool {
	t.Helper()
	var mine []harness.AMAlert
	for _, a := range alerts {
		if a.Labels["alertname"] == "ServiceIncident" && strings.HasPrefix(a.Annotations["root_cause_service"], s.prefix) {
			mine = append(mine, a)
		}
	}
	for _, a := range mine {
		t.Logf("%s: incident %s: cause %s version %q; impacted %s", s.prefix, a.Labels["anomaly_incident_id"],
			a.Annotations["root_cause_service"], a.Annotations["root_cause_version"], a.Annotations["impacted_services"])
	}
	if !s.canary.Bad() {
		if len(mine) > 0 {
			t.Errorf("%s: a good canary's system alerted", s.prefix)
		}
		return len(mine) == 0
	}
	named := false
	for _, a := range mine {
		named = named || (a.Annotations["root_cause_service"] == s.canary.Service && a.Annotations["root_cause_version"] == canaryVersion)
	}
	if !named {
		t.Errorf("%s: no incident alert names %s version %s as the likely cause", s.prefix, s.canary.Service, canaryVersion)
	}
	return named
}

// example is examples/argo-rollouts as the tests read it.
type example struct {
	root, dir string // the repository's root and the example's folder, absolute
	template  *v1alpha1.AnalysisTemplate
	rollout   *v1alpha1.Rollout
	step      *v1alpha1.RolloutAnalysis // the Rollout's analysis step
}

// readExample parses the example's AnalysisTemplate and Rollout strictly into Argo's types.
func readExample(t *testing.T) example {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ex := example{root: root, dir: filepath.Join(root, "examples", "argo-rollouts")}
	ex.template = readYAML[v1alpha1.AnalysisTemplate](t, filepath.Join(ex.dir, "analysis-template.yml"))
	ex.rollout = readYAML[v1alpha1.Rollout](t, filepath.Join(ex.dir, "rollout.yml"))
	ex.step = analysisStep(t, ex.rollout)
	return ex
}

// analysisStep is the Rollout's analysis step.
func analysisStep(t *testing.T, r *v1alpha1.Rollout) *v1alpha1.RolloutAnalysis {
	t.Helper()
	for _, s := range r.Spec.Strategy.Canary.Steps {
		if s.Analysis != nil {
			return s.Analysis
		}
	}
	t.Fatal("rollout.yml has no analysis step")
	return nil
}

// analysisRun is the AnalysisRun the Rollout's analysis step makes for system s, built by Argo's
// own code from the template and the step's arguments. Three things differ from a cluster: the
// service argument names the system's canary service (rollout.yml's is payments), Prometheus is
// the test's, and interval, initialDelay and window are scaled to the test's flush.
func analysisRun(t *testing.T, template *v1alpha1.AnalysisTemplate, rollout *v1alpha1.Rollout, step *v1alpha1.RolloutAnalysis, s *system, promURL string, scale float64) *v1alpha1.AnalysisRun {
	t.Helper()
	args, err := analysisutil.BuildArgumentsForRolloutAnalysisRun(step.Args, nil, nil, rollout)
	if err != nil {
		t.Fatal(err)
	}
	window := scaled(t, template.Spec.Metrics[0].Interval, scale).String()
	for i := range args {
		switch args[i].Name {
		case "service":
			args[i].Value = &s.canary.Service
		case "canary-version":
			if *args[i].Value != canaryVersion {
				t.Fatalf("rollout.yml gives canary-version %q, want %s", *args[i].Value, canaryVersion)
			}
		}
	}
	args = append(args, v1alpha1.Argument{Name: "prometheus-address", Value: &promURL}, v1alpha1.Argument{Name: "window", Value: &window})
	ar, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{template}, nil, args, nil, nil, nil, nil, s.run, "", namespace)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ar.Spec.Metrics {
		m := &ar.Spec.Metrics[i]
		m.Interval = v1alpha1.DurationString(scaled(t, m.Interval, scale).String())
		m.InitialDelay = v1alpha1.DurationString(scaled(t, m.InitialDelay, scale).String())
	}
	if err := analysisutil.ValidateMetrics(ar.Spec.Metrics); err != nil {
		t.Fatal(err)
	}
	return ar
}

// startAnalysisController runs Argo Rollouts' analysis controller, as its own tests do, on fake
// Kubernetes and Argo clientsets (Debian has no API server), with its real provider factory:
// its prometheus provider queries the test's Prometheus. It returns the clientset to create
// AnalysisRuns in and read their status from.
func startAnalysisController(ctx context.Context, t *testing.T) *fake.Clientset {
	t.Helper()
	client := fake.NewSimpleClientset()
	kube := k8sfake.NewSimpleClientset()
	argoInformers := informers.NewSharedInformerFactory(client, 0)
	kubeInformers := kubeinformers.NewSharedInformerFactory(kube, 0)
	workQueue := workqueue.NewNamedRateLimitingQueue(queue.DefaultArgoRolloutsRateLimiter(), "AnalysisRuns")
	c := analysis.NewController(analysis.ControllerConfig{
		KubeClientSet:        kube,
		ArgoProjClientset:    client,
		AnalysisRunInformer:  argoInformers.Argoproj().V1alpha1().AnalysisRuns(),
		JobInformer:          kubeInformers.Batch().V1().Jobs(),
		JobPodsInformer:      kubeInformers.Core().V1().Pods(),
		AnalysisRunWorkQueue: workQueue,
		MetricsServer:        metrics.NewMetricsServer(metrics.ServerConfig{K8SRequestProvider: &metrics.K8sRequestsCountProvider{}}),
		Recorder:             record.NewFakeEventRecorder(),
	})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	argoInformers.Start(ctx.Done())
	kubeInformers.Start(ctx.Done())
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx, 2); err != nil {
			t.Errorf("analysis controller: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		// The workers wait on the queue, not on the context: as Argo's controller manager does,
		// shut it down for them to return.
		workQueue.ShutDown()
		wg.Wait()
		argoInformers.Shutdown()
		kubeInformers.Shutdown()
	})
	return client
}

func scaled(t *testing.T, d v1alpha1.DurationString, scale float64) time.Duration {
	t.Helper()
	if d == "" {
		return 0
	}
	v, err := d.Duration()
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(float64(v) * scale)
}

func readYAML[T any](t *testing.T, path string) *T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &v
}
