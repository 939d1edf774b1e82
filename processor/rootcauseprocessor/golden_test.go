package rootcauseprocessor

import (
	"flag"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/names"
)

var update = flag.Bool("update", false, "write the golden cases' input.yaml and expected.yaml anew")

// goldenCases are the scenarios behind testdata/<case>/input.yaml: flushes of the simulated
// connector, a change at one of them.
var goldenCases = map[string]struct {
	flushes, at int
	change      func(*connectorSim)
	// check says what the output must show, so that a golden file written from a broken
	// processor is caught when it is written.
	check func(*testing.T, pmetric.Metrics)
}{
	// payments turns five times slower: it ranks first, one incident opens on it.
	"ranking": {flushes: 14, at: 10, change: func(s *connectorSim) { s.slow["payments"] = 5 }, check: func(t *testing.T, md pmetric.Metrics) {
		assert.Equal(t, map[string]bool{"payments": true}, causes(md))
	}},
	// db fails a third of its requests for four flushes, then recovers: the incident opens,
	// grows to db's callers and ends after the calm.
	"incident_lifecycle": {flushes: 24, at: 10, change: func(s *connectorSim) { s.errs["db"] = 0.33 }, check: func(t *testing.T, md pmetric.Metrics) {
		assert.Equal(t, map[string]bool{"db": true}, causes(md))
		var severities []float64
		for _, dp := range points(md, names.Incident, names.IncidentID, onlyIncident(t, md)) {
			severities = append(severities, dp.DoubleValue())
		}
		require.NotEmpty(t, severities)
		assert.GreaterOrEqual(t, slices.Max(severities), 7.0)
		assert.Zero(t, severities[len(severities)-1], "it ends after the calm")
	}},
	// Every edge's rate triples at once: the rates' scores show it, no service is flagged.
	"common_mode": {flushes: 13, at: 10, change: func(s *connectorSim) {
		for svc := range s.rate {
			s.rate[svc] *= 3
		}
	}, check: func(t *testing.T, md pmetric.Metrics) {
		assert.NotEmpty(t, points(md, names.Unified, names.Group, names.GroupService))
		for _, dp := range points(md, names.Unified, names.Group, names.GroupService) {
			assert.Less(t, dp.DoubleValue(), 7.0)
		}
		assert.Empty(t, causes(md), "no incident")
	}},
	// A new version of payments takes a fifth of its requests and is three times slower: its
	// edge is new at the change, borrows the stable version's models and is the likely cause,
	// named with its version.
	"canary": {flushes: 30, at: 26, change: func(s *connectorSim) {
		s.canary = simCanary{service: "payments", share: 0.2, factor: 3}
	}, check: func(t *testing.T, md pmetric.Metrics) {
		assert.Equal(t, map[string]string{"payments": canaryVersion}, likelyCauses(t, md))
		vs := versionScores(md, "payments")
		assert.GreaterOrEqual(t, vs[canaryVersion], 7.0, "the canary's own service score")
		assert.Less(t, vs[stableVersion], 7.0, "the stable version's service score")
	}},
	// At most three edges: the other three are refused.
	"bounds": {flushes: 12, at: 12, check: func(t *testing.T, md pmetric.Metrics) {
		edges := map[string]bool{}
		for _, dp := range points(md, names.Unified, names.Group, names.GroupEdge) {
			c, _ := dp.Attributes().Get(names.Client)
			s, _ := dp.Attributes().Get(names.Server)
			edges[c.Str()+"→"+s.Str()] = true
		}
		assert.Len(t, edges, 3)
	}},
}

// goldenInput is a case's flushes in one request; incident_lifecycle's fault lasts four flushes.
func goldenInput(name string) pmetric.Metrics {
	c := goldenCases[name]
	sim := newConnectorSim(11)
	if name == "canary" {
		// Every edge names its server's version, and the canary gets 80 requests a flush.
		sim.versioned, sim.rate["payments"] = true, 40
	}
	md := pmetric.NewMetrics()
	for i := range c.flushes {
		if i == c.at && c.change != nil {
			c.change(sim)
		}
		if name == "incident_lifecycle" && i == c.at+4 {
			sim.errs["db"] = 0.001
		}
		sim.flush(i).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
	return md
}

// TestGolden feeds testdata/<case>/input.yaml, as one request, to a processor configured by
// testdata/<case>/config.yaml, stops it, and compares everything it emitted with expected.yaml.
// `go test -run TestGolden ./processor/rootcauseprocessor/ -update` writes both anew.
func TestGolden(t *testing.T) {
	for name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("testdata", name)
			cm, err := confmaptest.LoadConf(filepath.Join(dir, "config.yaml"))
			require.NoError(t, err)
			cfg := createDefaultConfig().(*Config)
			require.NoError(t, cm.Unmarshal(cfg))
			if *update {
				require.NoError(t, golden.WriteMetricsToFile(filepath.Join(dir, "input.yaml"), goldenInput(name), golden.SkipMetricTimestampNormalization()))
			}
			in, err := golden.ReadMetrics(filepath.Join(dir, "input.yaml"))
			require.NoError(t, err)
			tp := newTestProcessor(t, cfg)
			tp.consume(in)
			// Only what the processor added: the input passes through unchanged.
			got := pmetric.NewMetrics()
			all := tp.sink.AllMetrics()
			last := all[len(all)-1]
			last.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
				return rm.ScopeMetrics().At(0).Scope().Name() != scopeName
			})
			last.ResourceMetrics().MoveAndAppendTo(got.ResourceMetrics())
			tp.now = tp.now.Add(time.Hour)
			tp.p.flush(true).ResourceMetrics().MoveAndAppendTo(got.ResourceMetrics())
			path := filepath.Join(dir, "expected.yaml")
			if *update {
				require.NoError(t, golden.WriteMetricsToFile(path, got, golden.SkipMetricTimestampNormalization()))
			}
			want, err := golden.ReadMetrics(path)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got,
				pmetrictest.IgnoreResourceMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()))
			goldenCases[name].check(t, got)
		})
	}
}

// causes are the services ranked first in an incident.
func causes(md pmetric.Metrics) map[string]bool {
	out := map[string]bool{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != names.IncidentService {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					if dp.DoubleValue() == 1 {
						svc, _ := dp.Attributes().Get("service.name")
						out[svc.Str()] = true
					}
				}
			}
		}
	}
	return out
}

// onlyIncident is the id of the one incident of md.
func onlyIncident(t *testing.T, md pmetric.Metrics) string {
	ids := map[string]bool{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == names.Incident {
					for _, dp := range m.Gauge().DataPoints().All() {
						id, _ := dp.Attributes().Get(names.IncidentID)
						ids[id.Str()] = true
					}
				}
			}
		}
	}
	require.Len(t, ids, 1)
	for id := range ids {
		return id
	}
	return ""
}
