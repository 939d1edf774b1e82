//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/testbed/harness"
	"github.com/omen-otel/omen/testbed/internal/rcaeval"
	"github.com/omen-otel/omen/testbed/trafficgen"
)

// rootCauseRun is the size of a root-cause run. make test runs the short form (4 faulty and 2
// fault-free systems, a 2 s flush, 40 traces/s each: 80 traces per flush); the full one (20
// faulty and 20 fault-free systems at the 10 s flush the targets are stated for, 10 traces/s
// each: 100 traces per flush) is
//
//	OMEN_RCA_FAULTY=20 OMEN_RCA_FAULT_FREE=20 OMEN_RCA_FLUSH=10s OMEN_RCA_RATE=10 \
//	  go test -tags e2e -run TestRootCause -v -timeout 40m ./testbed/e2e/
//
// OMEN_RCA_DUMP=path also writes every exported point to path, one JSON object a line;
// OMEN_RCA_PICTURES=dir draws each faulty system's service graph when its fault was detected,
// the likely cause marked, as dir/<prefix>.svg.
type rootCauseRun struct {
	faulty, faultFree int
	flush             time.Duration
	minSamples        int
	traceRate         float64 // per system
	faultFor          time.Duration
}

func rootCauseRunFromEnv(t *testing.T) rootCauseRun {
	r := rootCauseRun{faulty: 4, faultFree: 2, flush: 2 * time.Second, minSamples: 30, traceRate: 40}
	for name, dst := range map[string]*int{"OMEN_RCA_FAULTY": &r.faulty, "OMEN_RCA_FAULT_FREE": &r.faultFree, "OMEN_RCA_MIN_SAMPLES": &r.minSamples} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a count", name, v)
			}
			*dst = n
		}
	}
	if v := os.Getenv("OMEN_RCA_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) {
			t.Fatalf("OMEN_RCA_RATE=%q: want traces per second", v)
		}
		r.traceRate = f
	}
	if v := os.Getenv("OMEN_RCA_FLUSH"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("OMEN_RCA_FLUSH=%q: want a duration", v)
		}
		r.flush = d
	}
	// Long enough for a detection at the target's six intervals and for the ranking to settle.
	r.faultFor = 12 * r.flush
	return r
}

// TestRootCause runs generated microservice systems through the servicegraph connector and the
// root-cause processor, injects one fault into each faulty system after the warm-up, and checks the
// targets: the faulty service ranks first in at least 90% of the systems, every fault is
// detected (score >= 7) within six flush intervals, and no fault-free system scores 7.
func TestRootCause(t *testing.T) {
	run := rootCauseRunFromEnv(t)
	sink := harness.StartOTLPSink(t)
	am := harness.StartAlertmanager(t)
	col := harness.StartCollector(t, harness.CollectorConfig{
		Config: "testbed/e2e/testdata/rootcause.yaml",
		Env: []string{
			"OMEN_SINK_ENDPOINT=" + sink.Endpoint,
			"OMEN_ALERTMANAGER_URL=" + am.URL,
			"OMEN_FLUSH_INTERVAL=" + run.flush.String(),
			"OMEN_MIN_SAMPLES=" + strconv.Itoa(run.minSamples),
			"OMEN_KEEP_FIRING=" + (3 * run.flush).String(),
		},
	})

	var gens []*trafficgen.Generator
	var scenarios []rcaeval.Scenario
	for i := range run.faulty + run.faultFree {
		prefix := fmt.Sprintf("s%02d-", i)
		g, err := trafficgen.New(trafficgen.Config{Seed: int64(1000 + i), Prefix: prefix, TraceRate: run.traceRate})
		if err != nil {
			t.Fatal(err)
		}
		gens = append(gens, g)
		scenarios = append(scenarios, rcaeval.Scenario{Prefix: prefix})
	}

	// The models warm up on min_samples flushes after an edge's first two (its first gives no
	// rate); a few more let the learned spread settle before the fault.
	warmUp := time.Duration(run.minSamples+8) * run.flush
	ctx, cancel := context.WithTimeout(context.Background(), warmUp+run.faultFor+time.Minute)
	defer cancel()
	send := trafficgen.HTTPSender(col.OTLPHTTP)
	sendErr := make(chan error, 1)
	sending, stop := context.WithCancel(ctx)
	go func() { sendErr <- trafficgen.SendAll(sending, gens, run.traceRate, send) }()

	select {
	case <-time.After(warmUp):
	case err := <-sendErr:
		t.Fatalf("sending traces: %v", err)
	}
	for i := range run.faulty {
		f := gens[i].PickFault()
		if err := gens[i].Inject(f); err != nil {
			t.Fatal(err)
		}
		scenarios[i].Faulty, scenarios[i].Fault, scenarios[i].FaultAt = f.Service, f.String(), time.Now()
	}
	select {
	case <-time.After(run.faultFor):
	case err := <-sendErr:
		t.Fatalf("sending traces: %v", err)
	}
	alerts, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	// Flushes after this see the traffic stop, which is no part of the scenario: only those
	// before it are measured. The last of them is in the exporter's queue for a moment.
	stoppedAt := time.Now()
	if err := <-sendErr; err != nil {
		t.Fatalf("sending traces: %v", err)
	}
	time.Sleep(time.Second)

	if path := os.Getenv("OMEN_RCA_DUMP"); path != "" {
		dumpPoints(t, path, sink.Points())
	}
	var points []rcaeval.Point
	for _, p := range sink.Points() {
		if strings.HasPrefix(p.Metric, names.Prefix) && p.T < stoppedAt.UnixMilli() {
			points = append(points, rcaeval.Point{Metric: p.Metric, T: time.UnixMilli(p.T), V: p.V, Attrs: p.Attributes})
		}
	}
	results := rcaeval.Evaluate(points, scenarios)
	var report strings.Builder
	rcaeval.Report(&report, results)
	t.Logf("root-cause run: %d faulty and %d fault-free systems, flush %s, %g traces/s each\n%s",
		run.faulty, run.faultFree, run.flush, run.traceRate, report.String())
	checkIncidentAlerts(t, alerts, scenarios)
	if dir := os.Getenv("OMEN_RCA_PICTURES"); dir != "" {
		drawDetections(t, dir, points, results)
	}

	for _, r := range results {
		if (r.Faulty == "" && r.MaxScore >= rcaeval.Threshold) || (r.Faulty != "" && (!r.Detected || r.Rank != 1)) {
			t.Logf("%s (%s): the loudest features", r.Prefix, r.Fault)
			for _, p := range rcaeval.Loudest(points, r.Prefix, 5) {
				t.Logf("  %s", p)
			}
		}
	}
	s := rcaeval.Summarize(results)
	if s.RankedFirst < 0.9 {
		t.Errorf("the faulty service ranked first in %.0f%% of the systems, want >= 90%%", 100*s.RankedFirst)
	}
	if s.Detected < s.Faulty {
		t.Errorf("%d of %d faults were never scored >= 7", s.Faulty-s.Detected, s.Faulty)
	}
	if s.MaxMTTD > 6*run.flush {
		t.Errorf("a fault took %s to detect, want at most six flushes (%s)", s.MaxMTTD, 6*run.flush)
	}
	if s.FalseAlarms > 0 {
		t.Errorf("%d fault-free systems had a service scoring >= 7", s.FalseAlarms)
	}
}

// checkIncidentAlerts checks what Alertmanager holds at the end of the faults: every faulty
// system has one alert, naming its faulty service as the root cause among the impacted
// services, in at least 90% of the systems; no fault-free system has one.
func checkIncidentAlerts(t *testing.T, alerts []harness.AMAlert, scenarios []rcaeval.Scenario) {
	t.Helper()
	named, faulty := 0, 0
	for _, sc := range scenarios {
		var mine []harness.AMAlert
		for _, a := range alerts {
			if a.Labels["alertname"] == "ServiceIncident" && strings.HasPrefix(a.Annotations["root_cause_service"], sc.Prefix) {
				mine = append(mine, a)
			}
		}
		if sc.Faulty == "" {
			for _, a := range mine {
				t.Errorf("fault-free %s alerted: %v %v", sc.Prefix, a.Labels, a.Annotations)
			}
			continue
		}
		faulty++
		var found bool
		for _, a := range mine {
			found = found || (a.Annotations["root_cause_service"] == sc.Faulty && strings.Contains(a.Annotations["impacted_services"], sc.Faulty))
		}
		if found {
			named++
		}
		if len(mine) > 1 {
			t.Errorf("%s: %d alerts for one fault, want one", sc.Prefix, len(mine))
		}
		t.Logf("%s: %d active incident alerts, the faulty service's among them: %v", sc.Prefix, len(mine), found)
		for _, a := range mine {
			t.Logf("  incident %s: cause %s; impacted %s; entry points %s", a.Labels["anomaly_incident_id"], a.Annotations["root_cause_service"],
				a.Annotations["impacted_services"], a.Annotations["entry_points"])
		}
	}
	if faulty > 0 && float64(named) < 0.9*float64(faulty) {
		t.Errorf("Alertmanager held an alert on the faulty service for %d of %d faulty systems, want >= 90%%", named, faulty)
	}
}

// drawDetections writes the service graph of each detected fault at its detection.
func drawDetections(t *testing.T, dir string, points []rcaeval.Point, results []rcaeval.Result) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Detected {
			continue
		}
		// Ranking times are the points' times; the detection is the first ranking at or after
		// FaultAt + MTTD, which is exactly that time.
		g := rcaeval.GraphAt(points, r.Prefix, r.FaultAt.Add(r.MTTD))
		f, err := os.Create(filepath.Join(dir, strings.TrimSuffix(r.Prefix, "-")+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if err := g.WriteSVG(f); err != nil {
			t.Error(err)
		}
		f.Close()
	}
}

// dumpPoints writes every point the sink received, one JSON object a line, for a closer look at
// a run (OMEN_RCA_DUMP=path).
func dumpPoints(t *testing.T, path string, points []harness.SinkPoint) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, p := range points {
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
	}
}
