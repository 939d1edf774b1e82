package rcaeval

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/internal/names"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// flush is one interval of scores for the chain a → b → c: per service its score and
// root-cause score, and the services of the incident open then, if any.
func flush(i int, scores map[string][2]float64, incident ...string) []Point {
	t := t0.Add(time.Duration(i) * 10 * time.Second)
	var out []Point
	for _, l := range [][2]string{{"x-a", "x-b"}, {"x-b", "x-c"}} {
		out = append(out, Point{Metric: names.Unified, T: t, Attrs: map[string]any{names.Group: names.GroupEdge, names.Client: l[0], names.Server: l[1]}})
	}
	for rank, svc := range incident {
		out = append(out, Point{Metric: names.IncidentService, T: t, V: float64(rank + 1), Attrs: map[string]any{names.IncidentID: "i1", "service.name": svc}})
	}
	for _, svc := range []string{"x-a", "x-b", "x-c"} {
		v := scores[svc]
		out = append(out,
			Point{Metric: names.Unified, T: t, V: v[0], Attrs: map[string]any{names.Group: names.GroupService, "service.name": svc}},
			Point{Metric: names.RootCause, T: t, V: v[1], Attrs: map[string]any{"service.name": svc}})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	var points []Point
	calm := map[string][2]float64{"x-a": {1, 1}, "x-b": {1, 1}, "x-c": {1, 1}}
	for i := range 10 {
		points = append(points, flush(i, calm)...)
	}
	// The fault on c starts at 100 s: b is flagged first, wrongly ranked; c follows.
	points = append(points, flush(10, map[string][2]float64{"x-a": {2, 1}, "x-b": {8, 8}, "x-c": {5, 5}}, "x-b", "x-c")...)
	points = append(points, flush(11, map[string][2]float64{"x-a": {7.5, 0}, "x-b": {8, 0.5}, "x-c": {9, 9}}, "x-c", "x-b", "x-a")...)
	points = append(points, flush(12, calm, "x-c", "x-b", "x-a")...) // a dip: the incident continues
	points = append(points, flush(13, map[string][2]float64{"x-a": {7.5, 0}, "x-b": {8, 0.5}, "x-c": {9, 9}}, "x-c", "x-b", "x-a")...)
	// Another system's points do not count.
	points = append(points, Point{Metric: names.Unified, T: t0, V: 10, Attrs: map[string]any{names.Group: names.GroupService, "service.name": "y-a"}})

	rs := Evaluate(points, []Scenario{
		{Prefix: "x-", Faulty: "x-c", Fault: "latency ×5 on x-c", FaultAt: t0.Add(95 * time.Second)},
		{Prefix: "y-"},
	})
	require.Len(t, rs, 2)
	r := rs[0]
	assert.True(t, r.Detected)
	assert.Equal(t, 15*time.Second, r.MTTD, "first >= 7 at 110 s")
	assert.Equal(t, 1, r.Rank, "ranked first when it was flagged")
	assert.InDelta(t, 2.0/3, r.RankedFirst, 1e-9, "ranked second at 100 s, first at 110 s and 130 s")
	assert.Equal(t, 1, r.Incidents)
	assert.Equal(t, 9.0, r.MaxScore)
	assert.Equal(t, 10.0, rs[1].MaxScore)

	s := Summarize(rs)
	assert.Equal(t, Summary{Faulty: 1, FaultFree: 1, RankedFirst: 1, Detected: 1, MaxMTTD: 15 * time.Second, MedianMTTD: 15 * time.Second,
		FalseAlarms: 1, IncidentsPerFault: 1, MaxFaultFreeScore: 10, MaxFaultFreeScoreName: "y-a"}, s)

	var b strings.Builder
	Report(&b, rs)
	assert.Contains(t, b.String(), "faulty 1: ranked first 100%, detected 1, MTTD median 15s max 15s, incidents per fault 1.00")
	assert.Empty(t, Loudest(points, "x-", 3), "no feature scores in this run")
}

func TestGraphAt(t *testing.T) {
	points := flush(11, map[string][2]float64{"x-a": {7.5, 0}, "x-b": {8, 0.5}, "x-c": {9, 9}}, "x-c", "x-b", "x-a")
	g := GraphAt(points, "x-", t0.Add(110*time.Second))
	require.Len(t, g.Services, 3)
	assert.Equal(t, "x-c", g.Services[2].Name)
	assert.True(t, g.Services[2].Cause)
	assert.False(t, g.Services[1].Cause)
	assert.Equal(t, 9.0, g.Services[2].Score)
	assert.Len(t, g.Calls, 2)
	assert.Empty(t, GraphAt(points, "x-", t0).Services, "another time")
}
