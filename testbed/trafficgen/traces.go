package trafficgen

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	// scopeName is the instrumentation scope of every span.
	scopeName = "github.com/omen-otel/omen/testbed/trafficgen"
	// servicePort is the port every service listens on, as in a cluster where each service has
	// its own address.
	servicePort = 8080
	// propagation is the probability that a caller fails its own request when a call fails: some
	// callers retry, degrade or ignore the failure, the rest pass it on.
	propagation = 0.5
	// The network time of a call, added to the callee's server span to make the client span.
	minNetwork = 100 * time.Microsecond
	maxNetwork = time.Millisecond
)

// spanRecord is a span in the making. Times are nanoseconds from the start of its trace: a
// server span's length is known only once its calls have been walked, and the trace's offset from
// the wall clock only once the root has ended.
type spanRecord struct {
	service int
	kind    ptrace.SpanKind
	id      pcommon.SpanID
	parent  pcommon.SpanID
	callee  int // the service a CLIENT span calls
	// canary: the span is the canary version's (a request the canary served, or its calls).
	canary bool
	start  int64
	end    int64
	failed bool
}

// Traces returns n traces whose root spans end at now, their spans grouped into one ResourceSpans
// per service. A trace starts at a random entry service and follows the call graph; see README.md.
// All spans of a trace are in the result, so a collector can pair client and server spans.
func (g *Generator) Traces(now time.Time, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	// One ResourceSpans per service, and one more for the canary's version.
	spans := make([]ptrace.SpanSlice, len(g.services)+1)
	seen := make([]bool, len(g.services)+1)

	g.mu.Lock()
	defer g.mu.Unlock()
	var records []spanRecord
	for range n {
		traceID := g.traceID()
		records = records[:0]
		end, _ := g.walk(&records, g.entries[g.rng.IntN(len(g.entries))], pcommon.NewSpanIDEmpty(), 0)
		offset := now.UnixNano() - end
		for i := range records {
			r := &records[i]
			slot := r.service
			if r.canary {
				slot = len(g.services)
			}
			if !seen[slot] {
				seen[slot] = true
				spans[slot] = g.newResourceSpans(td, r.service, r.canary)
			}
			g.fill(spans[slot].AppendEmpty(), traceID, r, offset)
		}
	}
	return td
}

// walk records the server span of one request to service svc starting at start, with the calls
// it makes, and returns when it ends and whether it failed.
//
// The service spends half its self time before its calls and half after, and makes the calls one
// after the other, so its server span lasts its self time plus its client spans. A client span
// lasts the callee's server span plus the network time, half on the way there, half back.
func (g *Generator) walk(records *[]spanRecord, svc int, parent pcommon.SpanID, start int64) (int64, bool) {
	s := &g.services[svc]
	// The draw is made only for the canary's service, so traces without a canary are those of
	// a generator that never had one.
	isCanary := g.canary.active && g.canary.service == svc && g.rng.Float64() < g.canary.share
	extraErrors := g.extraErrors[svc]
	slowdown := g.slowdown[svc]
	if isCanary {
		extraErrors += g.canary.errorRate
		slowdown *= g.canary.slowdown
	}
	server := len(*records)
	serverID := g.spanID()
	*records = append(*records, spanRecord{service: svc, kind: ptrace.SpanKindServer, id: serverID, parent: parent, start: start, canary: isCanary})

	draw := math.Exp(s.selfSigma * g.rng.NormFloat64()) // the self time relative to its median
	selfF := s.selfMedian * draw
	if slowdown != 1 {
		selfF += (slowdown - 1) * s.typical * draw / s.selfMeanDraw
	}
	self := int64(selfF)
	cursor := start + self/2
	failed := false
	for _, c := range s.calls {
		if g.rng.Float64() >= c.prob {
			continue
		}
		for range c.count {
			network := int64(minNetwork) + g.rng.Int64N(int64(maxNetwork-minNetwork))
			client := len(*records)
			clientID := g.spanID()
			*records = append(*records, spanRecord{
				service: svc, kind: ptrace.SpanKindClient, id: clientID, parent: serverID, callee: c.to, start: cursor, canary: isCanary,
			})
			calleeEnd, calleeFailed := g.walk(records, c.to, clientID, cursor+network/2)
			cursor = calleeEnd + network - network/2
			(*records)[client].end = cursor
			(*records)[client].failed = calleeFailed
			if calleeFailed && g.rng.Float64() < propagation {
				failed = true
			}
		}
	}
	if g.rng.Float64() < s.errorRate+extraErrors {
		failed = true
	}
	end := cursor + self - self/2
	(*records)[server].end = end
	(*records)[server].failed = failed
	return end, failed
}

func (g *Generator) newResourceSpans(td ptrace.Traces, svc int, canary bool) ptrace.SpanSlice {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", g.services[svc].name)
	switch {
	case canary:
		rs.Resource().Attributes().PutStr("service.version", g.canary.resource)
	case g.version != "":
		rs.Resource().Attributes().PutStr("service.version", g.version)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scopeName)
	return ss.Spans()
}

// fill writes r into span with the attributes an HTTP service instrumented with OpenTelemetry
// would record. A CLIENT span describes the request to its callee, so it carries the callee's
// method and route.
func (g *Generator) fill(span ptrace.Span, traceID pcommon.TraceID, r *spanRecord, offset int64) {
	span.SetTraceID(traceID)
	span.SetSpanID(r.id)
	span.SetParentSpanID(r.parent)
	span.SetKind(r.kind)
	span.SetStartTimestamp(pcommon.Timestamp(r.start + offset))
	span.SetEndTimestamp(pcommon.Timestamp(r.end + offset))

	target := &g.services[r.service]
	if r.kind == ptrace.SpanKindClient {
		target = &g.services[r.callee]
	}
	span.SetName(target.method + " " + target.route)
	attrs := span.Attributes()
	attrs.PutStr("http.request.method", target.method)
	if r.kind == ptrace.SpanKindClient {
		attrs.PutStr("server.address", target.name)
		attrs.PutInt("server.port", servicePort)
		attrs.PutStr("peer.service", target.name)
		attrs.PutStr("url.full", "http://"+target.name+":"+strconv.Itoa(servicePort)+target.route)
	} else {
		attrs.PutStr("http.route", target.route)
		attrs.PutStr("url.path", target.route)
		attrs.PutStr("url.scheme", "http")
	}
	status := 200
	if r.failed {
		status = 500
		attrs.PutStr("error.type", "500")
		span.Status().SetCode(ptrace.StatusCodeError)
	}
	attrs.PutInt("http.response.status_code", int64(status))
}

func (g *Generator) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	for id.IsEmpty() {
		binary.BigEndian.PutUint64(id[:8], g.rng.Uint64())
		binary.BigEndian.PutUint64(id[8:], g.rng.Uint64())
	}
	return id
}

// spanID never returns the empty ID: it marks a root span, and the connector would take a call
// with it for a request from outside.
func (g *Generator) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	for id.IsEmpty() {
		binary.BigEndian.PutUint64(id[:], g.rng.Uint64())
	}
	return id
}
