package trafficgen

import (
	"fmt"
	"strings"
)

// Canary is a new version of one service that takes a share of its requests, as a progressive
// rollout sends it: only the canary's requests are slowed or failed, the stable version's are
// not. A Canary with neither Factor nor ErrorRate is a good canary, the control of an analysis.
type Canary struct {
	// Service is the service being rolled out, Config.Prefix included.
	Service string
	// Version is the service.version of the canary's spans; Config.Version is the stable one's.
	Version string
	// Share is the probability, in (0, 1], that a request to Service is served by the canary.
	Share float64
	// Factor multiplies the canary's typical response time, as Fault.Factor does; 0 or 1 leaves
	// it as fast as the stable version.
	Factor float64
	// ErrorRate is the failure probability the canary adds to the service's own, in [0, 1].
	ErrorRate float64
}

// Bad says whether the canary is slower or fails more than the stable version.
func (c Canary) Bad() bool { return (c.Factor != 0 && c.Factor != 1) || c.ErrorRate > 0 }

// String describes the canary, e.g. "canary 2.0.0 of s07-cart on 20% of its requests, latency ×3.0".
func (c Canary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "canary %s of %s on %.0f%% of its requests", c.Version, c.Service, 100*c.Share)
	if c.Factor != 0 && c.Factor != 1 {
		fmt.Fprintf(&b, ", latency ×%.1f", c.Factor)
	}
	if c.ErrorRate > 0 {
		fmt.Fprintf(&b, ", errors +%.0f%%", 100*c.ErrorRate)
	}
	if !c.Bad() {
		b.WriteString(", no fault")
	}
	return b.String()
}

// canary is a started Canary as the trace walk needs it.
type canary struct {
	active    bool
	service   int
	share     float64
	slowdown  float64 // 1 without a latency fault
	errorRate float64
	resource  string // the canary's service.version
}

// StartCanary starts c, replacing an earlier canary. It fails for an unknown service, an empty
// version or the stable one (Config.Version, which must be set: the stable version's spans need a
// version for the canary's to differ), a share outside (0, 1], a negative factor or an error rate
// outside [0, 1]. Faults from Inject still apply to both versions.
func (g *Generator) StartCanary(c Canary) error {
	svc := g.serviceIndex(c.Service)
	switch {
	case svc < 0:
		return fmt.Errorf("trafficgen: canary of unknown service %q", c.Service)
	case g.version == "":
		return fmt.Errorf("trafficgen: canary of %s: Config.Version must name the stable version", c.Service)
	case c.Version == "" || c.Version == g.version:
		return fmt.Errorf("trafficgen: canary version %q: want a version other than the stable %q", c.Version, g.version)
	case !(c.Share > 0 && c.Share <= 1):
		return fmt.Errorf("trafficgen: canary share %v: want in (0, 1]", c.Share)
	case !(c.Factor >= 0):
		return fmt.Errorf("trafficgen: canary factor %v: want >= 0", c.Factor)
	case !(c.ErrorRate >= 0 && c.ErrorRate <= 1):
		return fmt.Errorf("trafficgen: canary error rate %v: want in [0, 1]", c.ErrorRate)
	}
	slowdown := c.Factor
	if slowdown == 0 {
		slowdown = 1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.canary = canary{active: true, service: svc, share: c.Share, slowdown: slowdown, errorRate: c.ErrorRate, resource: c.Version}
	return nil
}

// StopCanary ends the canary: every request goes to the stable version again.
func (g *Generator) StopCanary() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.canary = canary{}
}

func (g *Generator) serviceIndex(name string) int {
	for i, s := range g.services {
		if s.name == name {
			return i
		}
	}
	return -1
}
