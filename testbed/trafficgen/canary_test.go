package trafficgen_test

import (
	"bytes"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/omen-otel/omen/testbed/trafficgen"
)

// versionStats sums the SERVER spans of one service by service.version.
func versionStats(g *trafficgen.Generator, service string, traces int) map[string]*serviceStats {
	out := map[string]*serviceStats{}
	for range traces / 100 {
		td := g.Traces(now, 100)
		for _, rs := range td.ResourceSpans().All() {
			name, _ := rs.Resource().Attributes().Get("service.name")
			if name.Str() != service {
				continue
			}
			version, _ := rs.Resource().Attributes().Get("service.version")
			st := out[version.AsString()]
			if st == nil {
				st = &serviceStats{}
				out[version.AsString()] = st
			}
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					if s.Kind() != ptrace.SpanKindServer {
						continue
					}
					st.requests++
					st.total += duration(span{service, s})
					if s.Status().Code() == ptrace.StatusCodeError {
						st.failed++
					}
				}
			}
		}
	}
	return out
}

func TestCanary(t *testing.T) {
	for _, c := range []trafficgen.Canary{
		{Version: "2.0.0", Share: 0.2, Factor: 3},
		{Version: "2.0.0", Share: 0.2, ErrorRate: 0.2},
		{Version: "2.0.0", Share: 0.1}, // a good canary
	} {
		g := newGenerator(t, trafficgen.Config{Seed: 3, Version: "1.0.0"})
		c.Service = busiest(g.Graph(), measure(g, 600), false)
		if err := g.StartCanary(c); err != nil {
			t.Fatal(err)
		}
		st := versionStats(g, c.Service, 3000)
		stable, canary := st["1.0.0"], st["2.0.0"]
		if stable == nil || canary == nil || len(st) != 2 {
			t.Fatalf("%s: versions %v, want 1.0.0 and 2.0.0", c, st)
		}
		share := float64(canary.requests) / float64(canary.requests+stable.requests)
		if !near(share, c.Share, 0.15) {
			t.Errorf("%s: the canary served %.3f of the requests", c, share)
		}
		wantFactor := max(c.Factor, 1)
		if got := canary.mean() / stable.mean(); !near(got, wantFactor, 0.15) {
			t.Errorf("%s: the canary is ×%.2f slower than the stable version, want ×%v", c, got, wantFactor)
		}
		// The stable version keeps its own few errors; the canary adds its rate to them.
		if got := canary.errorRate() - stable.errorRate(); got < c.ErrorRate-0.05 || got > c.ErrorRate+0.05 {
			t.Errorf("%s: the canary fails %.3f more than the stable version, want %.2f", c, got, c.ErrorRate)
		}
		if c.Bad() != (c.Factor > 1 || c.ErrorRate > 0) {
			t.Errorf("%s: Bad() = %v", c, c.Bad())
		}

		g.StopCanary()
		if st := versionStats(g, c.Service, 300); st["2.0.0"] != nil {
			t.Errorf("%s: the canary served %d requests after StopCanary", c, st["2.0.0"].requests)
		}
	}
}

// A canary draws from the trace stream only for its own service's requests, so the stable
// version's attribute alone distinguishes a generator with Config.Version from one without.
func TestVersionOnlyAddsTheAttribute(t *testing.T) {
	plain := newGenerator(t, trafficgen.Config{Seed: 5})
	versioned := newGenerator(t, trafficgen.Config{Seed: 5, Version: "1.0.0"})
	a, b := plain.Traces(now, 50), versioned.Traces(now, 50)
	for _, rs := range b.ResourceSpans().All() {
		if v, ok := rs.Resource().Attributes().Get("service.version"); !ok || v.Str() != "1.0.0" {
			t.Fatalf("a resource without service.version 1.0.0: %v", rs.Resource().Attributes().AsRaw())
		}
		rs.Resource().Attributes().Remove("service.version")
	}
	if !bytes.Equal(marshal(t, a), marshal(t, b)) {
		t.Error("Config.Version changed more than the resource attribute")
	}
}

func TestStartCanaryRejectsBadCanaries(t *testing.T) {
	g := newGenerator(t, trafficgen.Config{Seed: 1, Version: "1.0.0"})
	svc := g.Graph().Services[1].Name
	for _, c := range []trafficgen.Canary{
		{Service: "nope", Version: "2", Share: 0.1},
		{Service: svc, Version: "", Share: 0.1},
		{Service: svc, Version: "1.0.0", Share: 0.1},
		{Service: svc, Version: "2", Share: 0},
		{Service: svc, Version: "2", Share: 1.5},
		{Service: svc, Version: "2", Share: 0.1, Factor: -1},
		{Service: svc, Version: "2", Share: 0.1, ErrorRate: 2},
	} {
		if err := g.StartCanary(c); err == nil {
			t.Errorf("StartCanary(%+v) accepted it", c)
		}
	}
	unversioned := newGenerator(t, trafficgen.Config{Seed: 1})
	if err := unversioned.StartCanary(trafficgen.Canary{Service: svc, Version: "2", Share: 0.1}); err == nil {
		t.Error("a canary without a stable version was accepted")
	}
}
