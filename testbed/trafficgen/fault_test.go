package trafficgen_test

import (
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/omen-otel/omen/testbed/trafficgen"
)

// serviceStats sums a service's SERVER spans.
type serviceStats struct {
	requests int
	failed   int
	total    time.Duration
	self     time.Duration // the server span less its calls
	// oneFailedCall counts the requests with exactly one failed call, and oneFailedCallFailed
	// those of them that failed.
	oneFailedCall       int
	oneFailedCallFailed int
}

func (s serviceStats) mean() float64     { return float64(s.total) / float64(s.requests) }
func (s serviceStats) meanSelf() float64 { return float64(s.self) / float64(s.requests) }
func (s serviceStats) errorRate() float64 {
	return float64(s.failed) / float64(s.requests)
}

// measure generates traces and sums the server spans of each service.
func measure(g *trafficgen.Generator, traces int) map[string]*serviceStats {
	out := map[string]*serviceStats{}
	for range traces / 100 {
		all := spans(g.Traces(now, 100))
		calls := map[pcommon.SpanID]time.Duration{}
		failedCalls := map[pcommon.SpanID]int{}
		for _, s := range all {
			if s.Kind() == ptrace.SpanKindClient {
				calls[s.ParentSpanID()] += duration(s)
				if s.Status().Code() == ptrace.StatusCodeError {
					failedCalls[s.ParentSpanID()]++
				}
			}
		}
		for _, s := range all {
			if s.Kind() != ptrace.SpanKindServer {
				continue
			}
			st := out[s.service]
			if st == nil {
				st = &serviceStats{}
				out[s.service] = st
			}
			st.requests++
			st.total += duration(s)
			st.self += duration(s) - calls[s.SpanID()]
			failed := s.Status().Code() == ptrace.StatusCodeError
			if failed {
				st.failed++
			}
			if failedCalls[s.SpanID()] == 1 {
				st.oneFailedCall++
				if failed {
					st.oneFailedCallFailed++
				}
			}
		}
	}
	return out
}

// busiest returns the non-entry service with the most requests, for the tightest estimates; with
// caller set, only among services that call others.
func busiest(g trafficgen.Graph, stats map[string]*serviceStats, caller bool) string {
	calls := map[string]bool{}
	for _, e := range g.Edges {
		calls[e.Client] = true
	}
	best := ""
	for _, s := range g.Services {
		if s.Entry || stats[s.Name] == nil || (caller && !calls[s.Name]) {
			continue
		}
		if best == "" || stats[s.Name].requests > stats[best].requests {
			best = s.Name
		}
	}
	return best
}

func near(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*math.Abs(want)
}

func TestLatencyFault(t *testing.T) {
	for seed := range int64(3) {
		g := newGenerator(t, trafficgen.Config{Seed: seed})
		graph := g.Graph()
		before := measure(g, 600)
		// A service with calls of its own, whose calls must not slow down.
		target := busiest(graph, before, true)
		f := trafficgen.Fault{Service: target, Kind: trafficgen.FaultLatency, Factor: 5}
		if err := g.Inject(f); err != nil {
			t.Fatal(err)
		}
		after := measure(g, 600)
		b, a := before[target], after[target]
		if b.requests < 300 {
			t.Fatalf("seed %d: only %d requests to %s", seed, b.requests, target)
		}

		// The service answers Factor times slower, all of it in its own processing.
		if got := a.mean() / b.mean(); !near(got, f.Factor, 0.1) {
			t.Errorf("seed %d: %s mean ×%.2f, want ×%v", seed, target, got, f.Factor)
		}
		if got, want := a.meanSelf()-b.meanSelf(), a.mean()-b.mean(); !near(got/want, 1, 0.1) {
			t.Errorf("seed %d: %s self time grew %.0f ns, its spans %.0f ns", seed, target, got, want)
		}
		for _, e := range graph.Edges {
			if e.Client != target {
				continue
			}
			if got := after[e.Server].mean() / before[e.Server].mean(); !near(got, 1, 0.1) {
				t.Errorf("seed %d: callee %s of the faulty %s changed ×%.2f", seed, e.Server, target, got)
			}
		}

		g.Clear()
		if got := measure(g, 600)[target].mean() / b.mean(); !near(got, 1, 0.1) {
			t.Errorf("seed %d: after Clear %s mean ×%.2f of before", seed, target, got)
		}
	}
}

func TestErrorFault(t *testing.T) {
	for seed := range int64(3) {
		g := newGenerator(t, trafficgen.Config{Seed: seed})
		graph := g.Graph()
		before := measure(g, 800)
		target := busiest(graph, before, false)
		f := trafficgen.Fault{Service: target, Kind: trafficgen.FaultErrors, ErrorRate: 0.3}
		if err := g.Inject(f); err != nil {
			t.Fatal(err)
		}
		after := measure(g, 800)

		p0, p1 := before[target].errorRate(), after[target].errorRate()
		// The fault's failures add to the service's own and propagated ones.
		if want := p0 + f.ErrorRate*(1-p0); math.Abs(p1-want) > 0.05 {
			t.Errorf("seed %d: %s error rate %.3f -> %.3f, want %.3f", seed, target, p0, p1, want)
		}
		// Every caller calls the target on at least 60% of its requests and passes half the
		// failures on, so its error rate rises by at least 0.6 × 0.3 × 0.5 = 0.09.
		for _, e := range graph.Edges {
			if e.Server != target {
				continue
			}
			if rise := after[e.Client].errorRate() - before[e.Client].errorRate(); rise < 0.06 {
				t.Errorf("seed %d: caller %s error rate rose %.3f", seed, e.Client, rise)
			}
		}
		// A request whose one failed call is its only trouble fails with the propagation
		// probability, 0.5, plus the service's own small error rate.
		var one, oneFailed int
		for _, st := range after {
			one += st.oneFailedCall
			oneFailed += st.oneFailedCallFailed
		}
		if got := float64(oneFailed) / float64(one); one < 200 || got < 0.44 || got > 0.58 {
			t.Errorf("seed %d: %d of %d requests with one failed call failed", seed, oneFailed, one)
		}

		g.Clear()
		if p2 := measure(g, 800)[target].errorRate(); math.Abs(p2-p0) > 0.03 {
			t.Errorf("seed %d: after Clear %s error rate %.3f, before %.3f", seed, target, p2, p0)
		}
	}
}

func TestPickFault(t *testing.T) {
	kinds := map[trafficgen.FaultKind]int{}
	for seed := range int64(200) {
		cfg := trafficgen.Config{Seed: seed, Prefix: "x-"}
		g := newGenerator(t, cfg)
		f := g.PickFault()
		if again := newGenerator(t, cfg).PickFault(); again != f {
			t.Fatalf("seed %d: PickFault %v, then %v", seed, f, again)
		}
		kinds[f.Kind]++
		entry, known := false, false
		for _, s := range g.Graph().Services {
			if s.Name == f.Service {
				known, entry = true, s.Entry
			}
		}
		if !known || entry {
			t.Errorf("seed %d: fault on %q (known %v, entry %v)", seed, f.Service, known, entry)
		}
		if f.Factor < 3 || f.Factor > 10 || f.ErrorRate < 0.1 || f.ErrorRate > 0.5 {
			t.Errorf("seed %d: magnitudes out of range: %+v", seed, f)
		}
		if err := g.Inject(f); err != nil {
			t.Errorf("seed %d: Inject(%v): %v", seed, f, err)
		}
	}
	if kinds[trafficgen.FaultLatency] < 60 || kinds[trafficgen.FaultErrors] < 60 {
		t.Errorf("kinds over 200 seeds: %v", kinds)
	}
}

func TestInjectRejectsBadFaults(t *testing.T) {
	g := newGenerator(t, trafficgen.Config{Seed: 1})
	service := g.PickFault().Service
	for _, f := range []trafficgen.Fault{
		{Service: "no-such-service", Kind: trafficgen.FaultLatency, Factor: 5},
		{Service: service, Kind: trafficgen.FaultLatency},
		{Service: service, Kind: trafficgen.FaultErrors, ErrorRate: 1.5},
		{Service: service, Kind: trafficgen.FaultErrors},
		{Service: service, Factor: 5, ErrorRate: 0.3},
	} {
		if err := g.Inject(f); err == nil {
			t.Errorf("Inject(%+v) succeeded", f)
		}
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[trafficgen.Fault]string{
		{Service: "s07-cart", Kind: trafficgen.FaultLatency, Factor: 5}:      "latency ×5.0 on s07-cart",
		{Service: "s07-cart", Kind: trafficgen.FaultErrors, ErrorRate: 0.25}: "errors +25% on s07-cart",
	} {
		if got := f.String(); got != want {
			t.Errorf("%+v: %q, want %q", f, got, want)
		}
	}
}
