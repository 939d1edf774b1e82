package rootcauseprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/names"
)

func canaryConfig() *Config {
	cfg := testConfig()
	cfg.Dimensions = []string{"server_service.version"}
	return cfg
}

// canaryFeatureScores returns the scores of the canary's edge into svc of one ranking, by feature.
func canaryFeatureScores(md pmetric.Metrics, svc string) map[string]float64 {
	out := map[string]float64{}
	for _, dp := range points(md, names.Score, "server_service.version", canaryVersion) {
		server, _ := dp.Attributes().Get(names.Server)
		f, _ := dp.Attributes().Get(names.Feature)
		if server.Str() == svc {
			out[f.Str()] = max(out[f.Str()], dp.DoubleValue())
		}
	}
	return out
}

// likelyCauses returns the services the incidents' cause points name, with the version each
// names. A cause point names the service ranked first.
func likelyCauses(t *testing.T, md pmetric.Metrics) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, svc := range []string{"checkout", "db", "frontend", "payments", "search"} {
		for _, dp := range points(md, names.IncidentCause, "service.name", svc) {
			v, _ := dp.Attributes().Get(names.ServiceVersion)
			out[svc] = v.Str()
			id, _ := dp.Attributes().Get(names.IncidentID)
			ranked := false
			for _, r := range points(md, names.IncidentService, names.IncidentID, id.Str()) {
				s, _ := r.Attributes().Get("service.name")
				ranked = ranked || (s.Str() == svc && r.DoubleValue() == 1 && r.Timestamp() == dp.Timestamp())
			}
			assert.True(t, ranked, "incident %s's cause point names %s, which is not ranked first", id.Str(), svc)
		}
	}
	return out
}

// versionScores returns svc's per-version service scores of one ranking.
func versionScores(md pmetric.Metrics, svc string) map[string]float64 {
	out := map[string]float64{}
	for _, dp := range points(md, names.Unified, names.Group, names.GroupServiceVersion) {
		s, _ := dp.Attributes().Get("service.name")
		v, _ := dp.Attributes().Get(names.ServiceVersion)
		if s.Str() == svc {
			out[v.Str()] = dp.DoubleValue()
		}
	}
	return out
}

// A new version of payments takes a fifth of its requests. Its edge is new, yet it is scored
// from its first flush against the stable version's models: a slow or failing canary is
// the likely cause, named with its version, and its caller is not; a good canary flags nothing.
func TestCanary(t *testing.T) {
	const warm = 40
	for _, c := range []struct {
		name    string
		canary  simCanary
		bad     bool
		feature string
	}{
		{"latency ×3", simCanary{service: "payments", share: 0.2, factor: 3}, true, names.FeatureLatency},
		{"20% errors", simCanary{service: "payments", share: 0.2, errs: 0.2}, true, names.FeatureErrorRatio},
		{"good canary", simCanary{service: "payments", share: 0.2}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTestProcessor(t, canaryConfig())
			sim := newConnectorSim(5)
			sim.versioned = true
			// 80 requests a flush to the canary: enough for 20% errors to be told from chance.
			sim.rate["payments"] = 40
			for i := range warm {
				tp.interval(sim.flush(i))
			}
			sim.canary = c.canary
			detectedAt := -1
			causes := map[string]string{}
			for i := warm; i < warm+8; i++ {
				md := tp.interval(sim.flush(i))
				fs := canaryFeatureScores(md, "payments")
				require.NotEmpty(t, fs, "flush %d: the canary's edge is not scored", i)
				for f, v := range fs {
					if !c.bad || f != c.feature {
						assert.Less(t, v, 7.0, "flush %d: %s scored on a %s canary", i, f, c.name)
					}
				}
				if c.bad && fs[c.feature] >= 7 && detectedAt < 0 {
					detectedAt = i
				}
				// Each version of payments has a score of its own: the stable one stays calm.
				vs := versionScores(md, "payments")
				require.Contains(t, vs, canaryVersion, "flush %d: the canary has no service score", i)
				require.Contains(t, vs, stableVersion, "flush %d: the stable version has no service score", i)
				assert.Less(t, vs[stableVersion], 7.0, "flush %d: the stable version scores on a %s canary", i, c.name)
				if !c.bad {
					assert.Less(t, vs[canaryVersion], 7.0, "flush %d: a good canary's service score", i)
				} else if i == warm {
					assert.GreaterOrEqual(t, vs[canaryVersion], 7.0, "the canary's service score at its first flush")
				}
				// The caller suffers the canary's latency too, but the canary's edge explains it.
				for _, dp := range points(md, names.RootCause, "service.name", "checkout") {
					assert.Less(t, dp.DoubleValue(), 3.0, "flush %d: checkout's root-cause score on a %s canary", i, c.name)
				}
				if !c.bad {
					for _, dp := range points(md, names.Unified, names.Group, names.GroupService) {
						svc, _ := dp.Attributes().Get("service.name")
						assert.Less(t, dp.DoubleValue(), 7.0, "flush %d: %s scores on a good canary", i, svc.Str())
					}
				}
				for svc, v := range likelyCauses(t, md) {
					causes[svc] = v
				}
			}
			if !c.bad {
				assert.Empty(t, causes, "a good canary opened an incident")
				return
			}
			// The first cumulative point of the canary's series counts since the stable edge's
			// last flush, so its first flush is an interval already.
			assert.Equal(t, warm, detectedAt, "the canary is detected on its first flush")
			assert.Equal(t, map[string]string{"payments": canaryVersion}, causes)
		})
	}
}
