package graph

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sec = int64(1e9)

func key(c, s string) EdgeKey { return EdgeKey{Client: c, Server: s} }

// chain is user → frontend → checkout → payments, checkout → db, plus search → db.
func chain(t *testing.T) *Graph {
	g := New(100, 60*sec, []string{"user"})
	for _, l := range []Link{{"user", "frontend"}, {"frontend", "checkout"}, {"checkout", "payments"}, {"checkout", "db"}, {"search", "db"}} {
		require.True(t, g.Observe(key(l.Client, l.Server), 10*sec))
	}
	return g
}

func byName(ss []Service) map[string]Service {
	m := map[string]Service{}
	for _, s := range ss {
		m[s.Name] = s
	}
	return m
}

func TestRootCauseIsTheDeepestSufferer(t *testing.T) {
	g := chain(t)
	// payments is slow: every edge that waits on it shows latency, the rest is calm.
	scores := map[Link]EdgeScores{
		{"user", "frontend"}:     {Unified: 6, Symptom: 6},
		{"frontend", "checkout"}: {Unified: 8, Symptom: 8},
		{"checkout", "payments"}: {Unified: 9, Symptom: 9},
		{"checkout", "db"}:       {Unified: 1, Symptom: 1},
		{"search", "db"}:         {Unified: 0.5, Symptom: 0.5},
	}
	for l, s := range scores {
		require.True(t, g.Score(key(l.Client, l.Server), 20*sec, s))
	}
	ss := g.Services(20 * sec)
	m := byName(ss)
	assert.NotContains(t, m, "user", "external clients are not services")
	assert.InDelta(t, 9, m["payments"].RootCause, 1e-9)
	assert.InDelta(t, 0, m["checkout"].RootCause, 1e-9, "checkout is explained by payments")
	assert.InDelta(t, 0, m["frontend"].RootCause, 1e-9)
	assert.True(t, m["frontend"].CustomerFacing)
	assert.True(t, m["search"].CustomerFacing, "a service nobody calls is an entry point")
	assert.False(t, m["db"].CustomerFacing)
	assert.False(t, m["search"].Scored, "search has no incoming edge and no own score")

	slices.SortFunc(ss, func(a, b Service) int { return ByRootCause(&a, &b) })
	assert.Equal(t, "payments", ss[0].Name)
}

func TestRateChangesDoNotExplainCallers(t *testing.T) {
	g := chain(t)
	// checkout fails early and stops calling payments: the edge to payments drops in rate only.
	require.True(t, g.Score(key("frontend", "checkout"), 20*sec, EdgeScores{Unified: 9, Symptom: 9}))
	require.True(t, g.Score(key("checkout", "payments"), 20*sec, EdgeScores{Unified: 8, Symptom: 0.5}))
	m := byName(g.Services(20 * sec))
	assert.InDelta(t, 8.5, m["checkout"].RootCause, 1e-9)
	assert.InDelta(t, 8, m["payments"].Score, 1e-9)
	assert.InDelta(t, 0.5, m["payments"].RootCause, 1e-9)
}

func TestOwnScoresAndFreshness(t *testing.T) {
	g := chain(t)
	g.Own("search", 20*sec, 7)
	g.Own("search", 20*sec, 8) // another key of the same service in the same batch
	g.Own("unknown", 20*sec, 9)
	m := byName(g.Services(20 * sec))
	assert.True(t, m["search"].Scored)
	assert.InDelta(t, 8, m["search"].RootCause, 1e-9)
	assert.NotContains(t, m, "unknown", "own scores do not grow the graph")

	// Scores every 10 s: a score is stale once the next is two intervals overdue.
	g.Own("search", 30*sec, 1)
	assert.True(t, byName(g.Services(50 * sec))["search"].Scored)
	assert.False(t, byName(g.Services(51 * sec))["search"].Scored)
}

func TestBoundAndExpiry(t *testing.T) {
	g := New(2, 30*sec, nil)
	require.True(t, g.Observe(key("a", "b"), 0))
	require.True(t, g.Observe(key("b", "c"), 10*sec))
	assert.False(t, g.Observe(key("c", "d"), 10*sec), "the third edge is refused")
	assert.True(t, g.Observe(key("a", "b"), 10*sec), "known edges are still observed")
	nodes, edges := g.Len()
	assert.Equal(t, 3, nodes)
	assert.Equal(t, 2, edges)

	g.Observe(key("b", "c"), 35*sec)
	assert.Equal(t, 0, g.Expire(40*sec, nil))
	var forgotten []EdgeKey
	assert.Equal(t, 1, g.Expire(41*sec, func(k EdgeKey) { forgotten = append(forgotten, k) }), "a→b was last seen at 10 s")
	assert.Equal(t, []EdgeKey{key("a", "b")}, forgotten)
	nodes, edges = g.Len()
	assert.Equal(t, 2, nodes, "a is referenced by no edge any more")
	assert.Equal(t, 1, edges)
	assert.True(t, g.Observe(key("c", "d"), 41*sec))
	m := byName(g.Services(41 * sec))
	assert.True(t, m["b"].CustomerFacing, "b lost its only caller")
}

// A canary is an edge of its own into the same service: the service's health is its worst
// version's, that version is named, and the caller is explained by the canary's edge.
func TestCanaryVersionIsNamed(t *testing.T) {
	g := chain(t)
	stable := EdgeKey{Client: "checkout", Server: "payments", Variant: 1}
	canary := EdgeKey{Client: "checkout", Server: "payments", Variant: 2}
	require.True(t, g.Score(key("frontend", "checkout"), 20*sec, EdgeScores{Unified: 8, Symptom: 8}))
	require.True(t, g.Score(stable, 20*sec, EdgeScores{Unified: 0.5, Symptom: 0.5, Version: "1.0.0"}))
	require.True(t, g.Score(canary, 20*sec, EdgeScores{Unified: 9, Symptom: 9, Version: "2.0.0"}))
	m := byName(g.Services(20 * sec))
	assert.Equal(t, "2.0.0", m["payments"].Version)
	assert.InDelta(t, 9, m["payments"].RootCause, 1e-9)
	assert.InDelta(t, 0, m["checkout"].RootCause, 1e-9, "the canary's edge explains its caller")
	assert.Empty(t, m["checkout"].Version, "checkout's edges name no version")
	assert.Equal(t, []VersionScore{{"1.0.0", 0.5, 0.5}, {"2.0.0", 9, 9}}, m["payments"].Versions, "each version is scored on its own edges")
	assert.Nil(t, m["checkout"].Versions)

	// A good canary and a slow stable version: the stable version is named.
	require.True(t, g.Score(stable, 30*sec, EdgeScores{Unified: 9, Symptom: 9, Version: "1.0.0"}))
	require.True(t, g.Score(canary, 30*sec, EdgeScores{Unified: 0.5, Symptom: 0.5, Version: "2.0.0"}))
	assert.Equal(t, "1.0.0", byName(g.Services(30 * sec))["payments"].Version)
	// As bad as each other: the lower version, whichever edge the map yields first.
	require.True(t, g.Score(canary, 40*sec, EdgeScores{Unified: 9, Symptom: 9, Version: "2.0.0"}))
	require.True(t, g.Score(stable, 40*sec, EdgeScores{Unified: 9, Symptom: 9, Version: "1.0.0"}))
	assert.Equal(t, "1.0.0", byName(g.Services(40 * sec))["payments"].Version)
	// The service's own metrics score higher than any version's edge: no version is named.
	g.Own("payments", 40*sec, 10)
	assert.Empty(t, byName(g.Services(40 * sec))["payments"].Version)
}
