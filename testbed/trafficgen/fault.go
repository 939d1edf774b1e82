package trafficgen

import (
	"fmt"
	"strconv"
)

// FaultKind is what a fault does to its service.
type FaultKind int

const (
	// FaultLatency makes the service answer Fault.Factor times slower: each request waits
	// (Factor-1) times the service's typical response time longer, in its own processing (scaled
	// by the request's self-time draw, so the delay is as noisy as the service). Its downstream
	// calls are unchanged.
	FaultLatency FaultKind = iota + 1
	// FaultErrors adds Fault.ErrorRate to the probability that the service fails a request.
	FaultErrors
)

// String returns "latency" or "errors".
func (k FaultKind) String() string {
	switch k {
	case FaultLatency:
		return "latency"
	case FaultErrors:
		return "errors"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// The ranges PickFault draws from: wide enough for a detector to have something to find, small
// enough not to be trivial.
const (
	minFactor    = 3
	maxFactor    = 10
	minErrorRate = 0.1
	maxErrorRate = 0.5
)

// Fault is a degradation of one service: the root cause a test runner expects to be ranked first.
type Fault struct {
	// Service is the faulty service's name, Config.Prefix included.
	Service string
	Kind    FaultKind
	// Factor multiplies the service's typical response time under FaultLatency.
	Factor float64
	// ErrorRate is the failure probability added under FaultErrors.
	ErrorRate float64
}

// String describes the fault, e.g. "latency ×5.0 on s07-cart".
func (f Fault) String() string {
	if f.Kind == FaultErrors {
		return fmt.Sprintf("errors +%.0f%% on %s", 100*f.ErrorRate, f.Service)
	}
	return fmt.Sprintf("%s ×%.1f on %s", f.Kind, f.Factor, f.Service)
}

// PickFault returns a fault chosen by the seed alone, the same on every call: a random non-entry
// service, a random kind, a factor in 3..10 and an error rate in 0.1..0.5. Both magnitudes are
// set so that a caller may change the kind and keep a seeded magnitude; Inject reads only the
// one the kind selects.
//
// Entry services are left out because a fault there is visible only on the edge from outside the
// system; a fault deeper in the graph also disturbs its callers' edges, which is what root-cause
// isolation must see through.
func (g *Generator) PickFault() Fault {
	rng := newRand(g.seed, faultStream)
	var cand []int
	for i, s := range g.services {
		if !s.entry {
			cand = append(cand, i)
		}
	}
	kind := FaultLatency
	if rng.IntN(2) == 1 {
		kind = FaultErrors
	}
	return Fault{
		Service:   g.services[cand[rng.IntN(len(cand))]].name,
		Kind:      kind,
		Factor:    minFactor + (maxFactor-minFactor)*rng.Float64(),
		ErrorRate: minErrorRate + (maxErrorRate-minErrorRate)*rng.Float64(),
	}
}

// Inject starts f; it replaces an earlier fault of the same kind on the same service, and adds to
// faults on other services or of the other kind. It fails for an unknown service or kind, a
// factor that is not positive, or an error rate outside (0, 1].
func (g *Generator) Inject(f Fault) error {
	svc := g.serviceIndex(f.Service)
	if svc < 0 {
		return fmt.Errorf("trafficgen: fault on unknown service %q", f.Service)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch f.Kind {
	case FaultLatency:
		if !(f.Factor > 0) {
			return fmt.Errorf("trafficgen: latency fault factor %v: want > 0", f.Factor)
		}
		g.slowdown[svc] = f.Factor
	case FaultErrors:
		if !(f.ErrorRate > 0 && f.ErrorRate <= 1) {
			return fmt.Errorf("trafficgen: error fault rate %v: want in (0, 1]", f.ErrorRate)
		}
		g.extraErrors[svc] = f.ErrorRate
	default:
		return fmt.Errorf("trafficgen: unknown fault kind %v", f.Kind)
	}
	return nil
}

// Clear ends all faults.
func (g *Generator) Clear() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.services {
		g.slowdown[i] = 1
		g.extraErrors[i] = 0
	}
}
