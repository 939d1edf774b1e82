// Package trafficgen generates synthetic OpenTelemetry traces of a microservice system whose
// call graph, latencies and error rates are drawn from a seed, and can inject a latency or error
// fault into one service.
//
// The traces are shaped for contrib's servicegraph connector: every call is a CLIENT span in the
// caller whose SERVER span in the callee is its child, all spans of a trace travel in one export,
// and each trace starts at a parentless SERVER span in an entry service (the connector's "user"
// virtual node when virtual_node_peer_attributes is set). The connector turns them into
// client→server edge metrics, in which an injected fault shows as an anomaly on the edges into the
// faulty service, and, through propagation, more weakly on the edges into its callers.
//
// The same seed gives the same graph, the same fault from PickFault, and, for the same sequence of
// calls, the same traces. See README.md for the model.
package trafficgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// MaxServices is the largest Config.Services accepted; the name lists hold enough distinct names
// for it.
const MaxServices = 50

// DefaultTraceRate is the trace rate of Run when Config.TraceRate is 0.
const DefaultTraceRate = 20

// The seed feeds three independent random streams, so that drawing traces never changes the graph
// or the fault PickFault chooses, and choosing a fault never changes the traces.
const (
	graphStream uint64 = iota + 1
	traceStream
	faultStream
)

// Config describes a generated system.
type Config struct {
	// Seed determines the graph, the service profiles, the traces and PickFault's choice.
	Seed int64
	// Services is the number of services, 2..MaxServices; 0 lets the seed pick 8..20.
	Services int
	// TraceRate is the number of traces per second Run sends; 0 means DefaultTraceRate.
	TraceRate float64
	// Prefix is prepended to every service name, so that several generators can share one
	// collector without their service graphs touching, e.g. "s07-".
	Prefix string
	// Version, when set, is the service.version resource attribute of every service: the
	// stable version, from which a Canary's version differs. Empty leaves the attribute out.
	Version string
}

// Service is one service of the generated system.
type Service struct {
	// Name is the service.name of the service's spans, Config.Prefix included.
	Name string
	// Entry marks a service called only from outside the system: its SERVER spans have no parent.
	Entry bool
	// SelfMedian is the median of the time the service spends on a request outside its
	// downstream calls.
	SelfMedian time.Duration
	// ErrorRate is the probability that the service fails a request on its own, without a fault.
	ErrorRate float64
}

// Edge is a caller→callee dependency: a request to Client makes Calls sequential calls to Server
// with probability Probability.
type Edge struct {
	Client      string
	Server      string
	Probability float64
	Calls       int
}

// Graph is the call graph of a generated system.
type Graph struct {
	// Services lists the services in a topological order: every caller before its callees.
	Services []Service
	// Edges lists the caller→callee dependencies, grouped by caller in the order of Services.
	Edges []Edge
}

// Entries returns the names of the entry services.
func (g Graph) Entries() []string {
	var names []string
	for _, s := range g.Services {
		if s.Entry {
			names = append(names, s.Name)
		}
	}
	return names
}

// MostCalled is the non-entry service with the most requests per trace: a canary on it gets
// enough requests per flush for 20 % errors on a fifth of them to be told from chance at a few
// tens of traces a second.
func (g Graph) MostCalled() string {
	visits := map[string]float64{}
	entries := g.Entries()
	for _, e := range entries {
		visits[e] = 1 / float64(len(entries))
	}
	// Services are in topological order and edges grouped by caller in that order.
	for _, e := range g.Edges {
		visits[e.Server] += visits[e.Client] * e.Probability * float64(e.Calls)
	}
	best := ""
	for _, s := range g.Services {
		if !s.Entry && (best == "" || visits[s.Name] > visits[best]) {
			best = s.Name
		}
	}
	return best
}

// Generator produces the traces of one generated system. Its methods are safe for concurrent use.
type Generator struct {
	seed     int64
	rate     float64
	version  string
	services []service
	entries  []int

	// mu guards the trace stream and the faults, which Traces reads while a test runner or the
	// command injects or clears faults from another goroutine.
	mu  sync.Mutex
	rng *rand.Rand
	// slowdown multiplies each service's typical response time; 1 without a latency fault.
	slowdown []float64
	// extraErrors is each service's failure probability added by an error fault.
	extraErrors []float64
	// canary is the version of one service that takes a share of its requests, if active.
	canary canary
}

// service is a service's profile as the trace walk needs it.
type service struct {
	name       string
	entry      bool
	selfMedian float64 // nanoseconds
	selfSigma  float64 // of the natural log of the self time
	// selfMeanDraw is the mean of the self time over its median, exp(sigma²/2); typical is the
	// mean duration of the service's server spans, calls included (nanoseconds).
	selfMeanDraw, typical float64
	errorRate             float64
	method                string
	route                 string
	calls                 []call
}

// call is an outgoing edge.
type call struct {
	to    int
	prob  float64
	count int
}

// New builds the system that cfg describes.
func New(cfg Config) (*Generator, error) {
	if cfg.Services != 0 && (cfg.Services < 2 || cfg.Services > MaxServices) {
		return nil, fmt.Errorf("trafficgen: services %d: want 0 (seeded) or 2..%d", cfg.Services, MaxServices)
	}
	if cfg.TraceRate < 0 {
		return nil, errors.New("trafficgen: negative trace rate")
	}
	rate := cfg.TraceRate
	if rate == 0 {
		rate = DefaultTraceRate
	}
	services := buildSystem(newRand(cfg.Seed, graphStream), cfg.Services, cfg.Prefix)
	g := &Generator{
		seed:        cfg.Seed,
		rate:        rate,
		version:     cfg.Version,
		services:    services,
		rng:         newRand(cfg.Seed, traceStream),
		slowdown:    make([]float64, len(services)),
		extraErrors: make([]float64, len(services)),
	}
	for i, s := range services {
		if s.entry {
			g.entries = append(g.entries, i)
		}
		g.slowdown[i] = 1
	}
	// Callees come after their callers, so going backwards finds every callee's typical time
	// before its callers need it.
	for i := len(g.services) - 1; i >= 0; i-- {
		s := &g.services[i]
		s.selfMeanDraw = math.Exp(s.selfSigma * s.selfSigma / 2)
		s.typical = s.selfMedian * s.selfMeanDraw
		for _, c := range s.calls {
			s.typical += c.prob * float64(c.count) * (g.services[c.to].typical + float64(minNetwork+maxNetwork)/2)
		}
	}
	return g, nil
}

// Graph returns the call graph. The result is a copy the caller may keep and modify.
func (g *Generator) Graph() Graph {
	var out Graph
	for _, s := range g.services {
		out.Services = append(out.Services, Service{
			Name:       s.name,
			Entry:      s.entry,
			SelfMedian: time.Duration(s.selfMedian),
			ErrorRate:  s.errorRate,
		})
		for _, c := range s.calls {
			out.Edges = append(out.Edges, Edge{
				Client:      s.name,
				Server:      g.services[c.to].name,
				Probability: c.prob,
				Calls:       c.count,
			})
		}
	}
	return out
}

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}
