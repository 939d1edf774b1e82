package trafficgen_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/omen-otel/omen/testbed/trafficgen"
)

// now is a fixed end time, so that traces of two generators can be compared byte for byte.
var now = time.Unix(1_700_000_000, 0)

func newGenerator(t *testing.T, cfg trafficgen.Config) *trafficgen.Generator {
	t.Helper()
	g, err := trafficgen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func marshal(t *testing.T, td ptrace.Traces) []byte {
	t.Helper()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []trafficgen.Config{
		{Services: 1},
		{Services: trafficgen.MaxServices + 1},
		{Services: -3},
		{TraceRate: -1},
	} {
		if _, err := trafficgen.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestSameSeedSameOutput(t *testing.T) {
	a := newGenerator(t, trafficgen.Config{Seed: 7, Prefix: "s07-"})
	b := newGenerator(t, trafficgen.Config{Seed: 7, Prefix: "s07-"})
	if !reflect.DeepEqual(a.Graph(), b.Graph()) {
		t.Fatalf("same seed, different graphs:\n%+v\n%+v", a.Graph(), b.Graph())
	}
	if a.PickFault() != b.PickFault() || a.PickFault() != a.PickFault() {
		t.Errorf("same seed, different faults: %v, %v", a.PickFault(), b.PickFault())
	}
	// PickFault ran more often on a than on b: its draws must not touch the trace stream.
	for i := range 3 {
		ta, tb := marshal(t, a.Traces(now, 20)), marshal(t, b.Traces(now, 20))
		if !bytes.Equal(ta, tb) {
			t.Fatalf("same seed, batch %d differs", i)
		}
	}

	c := newGenerator(t, trafficgen.Config{Seed: 8, Prefix: "s07-"})
	if reflect.DeepEqual(a.Graph(), c.Graph()) {
		t.Error("seeds 7 and 8 gave the same graph")
	}
	if bytes.Equal(marshal(t, a.Traces(now, 5)), marshal(t, c.Traces(now, 5))) {
		t.Error("seeds 7 and 8 gave the same traces")
	}
}

func TestGraphProperties(t *testing.T) {
	sizes := map[int]bool{}
	for seed := range int64(400) {
		g := newGenerator(t, trafficgen.Config{Seed: seed, Prefix: "p-"}).Graph()
		n := len(g.Services)
		if n < 8 || n > 20 {
			t.Errorf("seed %d: %d services, want 8..20", seed, n)
		}
		sizes[n] = true
		checkGraph(t, seed, g, "p-")
	}
	if len(sizes) != 13 {
		t.Errorf("over 400 seeds only these sizes: %v", sizes)
	}
	for _, n := range []int{2, 3, 9, trafficgen.MaxServices} {
		for seed := range int64(20) {
			g := newGenerator(t, trafficgen.Config{Seed: seed, Services: n}).Graph()
			if len(g.Services) != n {
				t.Fatalf("Services %d gave %d", n, len(g.Services))
			}
			checkGraph(t, seed, g, "")
		}
	}
}

// checkGraph checks the documented shape of a generated graph.
func checkGraph(t *testing.T, seed int64, g trafficgen.Graph, prefix string) {
	t.Helper()
	index := map[string]int{}
	entries := 0
	for i, s := range g.Services {
		if _, dup := index[s.Name]; dup {
			t.Errorf("seed %d: duplicate name %q", seed, s.Name)
		}
		index[s.Name] = i
		if !strings.HasPrefix(s.Name, prefix) || len(s.Name) == len(prefix) {
			t.Errorf("seed %d: name %q without prefix %q", seed, s.Name, prefix)
		}
		if s.Entry {
			entries++
		}
		if s.SelfMedian < 2*time.Millisecond || s.SelfMedian > 40*time.Millisecond {
			t.Errorf("seed %d: %s self median %v", seed, s.Name, s.SelfMedian)
		}
		if s.ErrorRate < 0.001 || s.ErrorRate > 0.01 {
			t.Errorf("seed %d: %s error rate %v", seed, s.Name, s.ErrorRate)
		}
	}
	if entries < 1 || entries > 3 {
		t.Errorf("seed %d: %d entry services", seed, entries)
	}
	if got := len(g.Entries()); got != entries {
		t.Errorf("seed %d: Entries() has %d, want %d", seed, got, entries)
	}

	n := len(g.Services)
	callers := make([]int, n)
	fanOut := make([]int, n)
	longest := make([]int, n) // edges on the longest path from an entry
	parent := make([]int, n)  // union-find, for connectivity
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	seen := map[trafficgen.Edge]bool{}
	for _, e := range g.Edges {
		c, okc := index[e.Client]
		s, oks := index[e.Server]
		if !okc || !oks {
			t.Fatalf("seed %d: edge %v names an unknown service", seed, e)
		}
		key := trafficgen.Edge{Client: e.Client, Server: e.Server}
		if seen[key] {
			t.Errorf("seed %d: duplicate edge %v", seed, key)
		}
		seen[key] = true
		// Services are documented to be in topological order; an edge going forward in it also
		// proves the graph is a DAG.
		if c >= s {
			t.Errorf("seed %d: edge %s -> %s goes backwards", seed, e.Client, e.Server)
		}
		if e.Probability < 0.6 || e.Probability > 1 || (e.Calls != 1 && e.Calls != 2) {
			t.Errorf("seed %d: edge %v", seed, e)
		}
		callers[s]++
		fanOut[c]++
		parent[find(c)] = find(s)
	}
	for _, e := range g.Edges { // grouped by caller in topological order
		longest[index[e.Server]] = max(longest[index[e.Server]], longest[index[e.Client]]+1)
	}
	shared := 0
	for i, s := range g.Services {
		switch {
		case s.Entry && callers[i] > 0:
			t.Errorf("seed %d: entry %s has callers", seed, s.Name)
		case !s.Entry && callers[i] == 0:
			t.Errorf("seed %d: %s has no caller", seed, s.Name)
		}
		if callers[i] > 1 {
			shared++
		}
		if fanOut[i] > 3 {
			t.Errorf("seed %d: %s calls %d services", seed, s.Name, fanOut[i])
		}
		if longest[i] > 4 {
			t.Errorf("seed %d: %s is %d calls deep", seed, s.Name, longest[i])
		}
		if find(i) != find(0) {
			t.Errorf("seed %d: %s is not connected to %s", seed, s.Name, g.Services[0].Name)
		}
	}
	if n >= 8 && shared == 0 {
		t.Errorf("seed %d: no service has several callers", seed)
	}
}

// span is a span with the name of its service.
type span struct {
	service string
	ptrace.Span
}

func spans(td ptrace.Traces) []span {
	var out []span
	for i := range td.ResourceSpans().Len() {
		rs := td.ResourceSpans().At(i)
		name, _ := rs.Resource().Attributes().Get("service.name")
		for j := range rs.ScopeSpans().Len() {
			ss := rs.ScopeSpans().At(j).Spans()
			for k := range ss.Len() {
				out = append(out, span{name.Str(), ss.At(k)})
			}
		}
	}
	return out
}

func duration(s span) time.Duration {
	return time.Duration(s.EndTimestamp() - s.StartTimestamp())
}

func strAttr(s span, key string) string {
	v, _ := s.Attributes().Get(key)
	return v.AsString()
}

func TestSpanStructure(t *testing.T) {
	for seed := range int64(5) {
		gen := newGenerator(t, trafficgen.Config{Seed: seed})
		graph := gen.Graph()
		entry := map[string]bool{}
		for _, s := range graph.Services {
			entry[s.Name] = s.Entry
		}
		edges := map[[2]string]bool{}
		for _, e := range graph.Edges {
			edges[[2]string{e.Client, e.Server}] = true
		}

		td := gen.Traces(now, 200)
		all := spans(td)
		byID := map[pcommon.SpanID]span{}
		children := map[pcommon.SpanID][]span{}
		roots := map[pcommon.TraceID]int{}
		perResource := map[string]int{}
		for i := range td.ResourceSpans().Len() {
			name, _ := td.ResourceSpans().At(i).Resource().Attributes().Get("service.name")
			perResource[name.Str()]++
		}
		for _, s := range all {
			if _, dup := byID[s.SpanID()]; dup {
				t.Fatalf("seed %d: duplicate span id %v", seed, s.SpanID())
			}
			byID[s.SpanID()] = s
			if s.ParentSpanID().IsEmpty() {
				roots[s.TraceID()]++
				if s.Kind() != ptrace.SpanKindServer || !entry[s.service] {
					t.Errorf("seed %d: root span %q of kind %v in %s", seed, s.Name(), s.Kind(), s.service)
				}
				if !s.EndTimestamp().AsTime().Equal(now) {
					t.Errorf("seed %d: root ends at %v, want %v", seed, s.EndTimestamp().AsTime(), now)
				}
			} else {
				children[s.ParentSpanID()] = append(children[s.ParentSpanID()], s)
			}
		}
		if len(roots) != 200 {
			t.Errorf("seed %d: %d traces, want 200", seed, len(roots))
		}
		for id, r := range roots {
			if r != 1 {
				t.Errorf("seed %d: trace %v has %d roots", seed, id, r)
			}
		}
		for name, count := range perResource {
			if count != 1 {
				t.Errorf("seed %d: %d ResourceSpans for %s", seed, count, name)
			}
		}

		for _, s := range all {
			switch s.Kind() {
			case ptrace.SpanKindClient:
				checkClient(t, s, byID, children[s.SpanID()], edges)
			case ptrace.SpanKindServer:
				checkServer(t, s, children[s.SpanID()])
			default:
				t.Errorf("span %q of kind %v", s.Name(), s.Kind())
			}
		}
	}
}

// checkClient checks a CLIENT span against its parent and its single SERVER child.
func checkClient(t *testing.T, c span, byID map[pcommon.SpanID]span, kids []span, edges map[[2]string]bool) {
	t.Helper()
	p, ok := byID[c.ParentSpanID()]
	if !ok || p.Kind() != ptrace.SpanKindServer || p.service != c.service || p.TraceID() != c.TraceID() {
		t.Errorf("client span %q in %s: parent is not a server span of its service", c.Name(), c.service)
	}
	if len(kids) != 1 {
		t.Fatalf("client span %q in %s has %d children, want 1", c.Name(), c.service, len(kids))
	}
	s := kids[0]
	if s.Kind() != ptrace.SpanKindServer || s.TraceID() != c.TraceID() {
		t.Errorf("child of client span %q is %v in another trace or of kind %v", c.Name(), s.TraceID(), s.Kind())
	}
	if !edges[[2]string{c.service, s.service}] {
		t.Errorf("call %s -> %s is not an edge of the graph", c.service, s.service)
	}
	if strAttr(c, "peer.service") != s.service || strAttr(c, "server.address") != s.service {
		t.Errorf("client span to %s names peer %q, address %q", s.service, strAttr(c, "peer.service"), strAttr(c, "server.address"))
	}
	if s.StartTimestamp() < c.StartTimestamp() || s.EndTimestamp() > c.EndTimestamp() {
		t.Errorf("client span %s -> %s does not contain its server span", c.service, s.service)
	}
	if network := duration(c) - duration(s); network < 100*time.Microsecond || network > time.Millisecond {
		t.Errorf("client span %s -> %s: network time %v", c.service, s.service, network)
	}
	if c.Status().Code() != s.Status().Code() {
		t.Errorf("client span %s -> %s has status %v, its server span %v", c.service, s.service, c.Status().Code(), s.Status().Code())
	}
}

// checkServer checks that a SERVER span's calls are sequential, inside it, and from its service.
func checkServer(t *testing.T, s span, kids []span) {
	t.Helper()
	var sum time.Duration
	last := s.StartTimestamp()
	for _, c := range kids { // in the order the calls were made
		if c.Kind() != ptrace.SpanKindClient || c.service != s.service {
			t.Errorf("server span in %s has a child of kind %v in %s", s.service, c.Kind(), c.service)
		}
		if c.StartTimestamp() < last {
			t.Errorf("server span in %s: calls overlap or start before it", s.service)
		}
		last = c.EndTimestamp()
		sum += duration(c)
	}
	if last > s.EndTimestamp() {
		t.Errorf("server span in %s ends before its last call", s.service)
	}
	if duration(s) < sum {
		t.Errorf("server span in %s lasts %v, its calls %v", s.service, duration(s), sum)
	}
	wantStatus := int64(200)
	if s.Status().Code() == ptrace.StatusCodeError {
		wantStatus = 500
	}
	if v, _ := s.Attributes().Get("http.response.status_code"); v.Int() != wantStatus {
		t.Errorf("server span in %s with status %v has HTTP status %d", s.service, s.Status().Code(), v.Int())
	}
	if strAttr(s, "http.route") == "" || strAttr(s, "http.request.method") == "" {
		t.Errorf("server span in %s lacks HTTP attributes", s.service)
	}
}

// MostCalled counts a service's expected requests per trace through every path to it.
func TestMostCalled(t *testing.T) {
	g := trafficgen.Graph{
		Services: []trafficgen.Service{{Name: "web", Entry: true}, {Name: "api"}, {Name: "auth"}, {Name: "db"}},
		Edges: []trafficgen.Edge{
			{Client: "web", Server: "api", Probability: 1, Calls: 1},
			{Client: "web", Server: "auth", Probability: 1, Calls: 2},
			{Client: "api", Server: "db", Probability: 0.8, Calls: 2},
			{Client: "auth", Server: "db", Probability: 0.5, Calls: 1},
		},
	}
	// db: 1×0.8×2 + 2×0.5×1 = 2.6 requests a trace; auth 2; api 1; web is an entry.
	if got := g.MostCalled(); got != "db" {
		t.Errorf("MostCalled = %q, want db", got)
	}
}
