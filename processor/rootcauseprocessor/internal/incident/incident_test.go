package incident

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/processor/rootcauseprocessor/internal/graph"
)

const sec = int64(time.Second)

// chain is user → a → b → c, with x → c from another entry point.
var links = []graph.Link{{Client: "user", Server: "a"}, {Client: "a", Server: "b"}, {Client: "b", Server: "c"}, {Client: "x", Server: "c"}}

func ranking(scores map[string][2]float64) []graph.Service {
	var out []graph.Service
	for _, name := range []string{"a", "b", "c", "x"} {
		s := graph.Service{Name: name, CustomerFacing: name == "a" || name == "x"}
		if v, ok := scores[name]; ok {
			s.Scored, s.Score, s.RootCause = true, v[0], v[1]
		}
		out = append(out, s)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	tr := New(Config{Threshold: 7, ResolveThreshold: 3, Calm: 30 * sec})

	assert.Empty(t, tr.Update(10*sec, ranking(map[string][2]float64{"c": {5, 5}}), links), "5 opens nothing")

	got := tr.Update(20*sec, ranking(map[string][2]float64{"b": {4, 1}, "c": {8, 8}}), links)
	require.Len(t, got, 1)
	inc := *got[0]
	assert.Equal(t, int64(20*sec), inc.Start)
	assert.Equal(t, "c", inc.Cause)
	assert.Equal(t, []string{"c", "b"}, inc.Services, "b, anomalous at 4 and next to c, joins")
	assert.Equal(t, []string{"a", "x"}, inc.EntryPoints)
	assert.Equal(t, 8.0, inc.Score)
	id := inc.ID
	assert.Len(t, id, 16)

	// It grows, and its likely cause moves to b: still the same incident.
	got = tr.Update(30*sec, ranking(map[string][2]float64{"a": {6, 0}, "b": {9, 9}, "c": {8, 2}}), links)
	require.Len(t, got, 1)
	assert.Equal(t, id, got[0].ID)
	assert.Equal(t, "b", got[0].Cause)
	assert.Equal(t, []string{"b", "c", "a"}, got[0].Services)
	assert.Equal(t, []string{"a"}, got[0].EntryPoints, "x does not reach b")

	// Calm: it stays open for 30 s, at severity 0 in between, then ends.
	got = tr.Update(50*sec, ranking(map[string][2]float64{"a": {1, 0}, "b": {1, 0}, "c": {1, 0}}), links)
	require.Len(t, got, 1)
	assert.False(t, got[0].Closed)
	assert.Equal(t, 1.0, got[0].Score)
	got = tr.Update(60*sec, ranking(map[string][2]float64{"c": {1, 0}}), links)
	require.Len(t, got, 1)
	assert.True(t, got[0].Closed)
	assert.Equal(t, id, got[0].ID)
	assert.Zero(t, got[0].Score)
	assert.Zero(t, tr.Len())
	assert.Empty(t, tr.Update(70*sec, nil, links))
	assert.Equal(t, 1, tr.Opened())
}

func TestSeparateAndMergingIncidents(t *testing.T) {
	tr := New(Config{Threshold: 7, ResolveThreshold: 3, Calm: time.Minute.Nanoseconds()})
	// a and c are anomalous, b between them calm: two incidents.
	got := tr.Update(10*sec, ranking(map[string][2]float64{"a": {8, 8}, "b": {1, 0}, "c": {9, 9}}), links)
	require.Len(t, got, 2)
	first, second := got[0].ID, got[1].ID
	assert.NotEqual(t, first, second)
	// b joins both: they become one, the older (by id at the same start) keeps going.
	got = tr.Update(20*sec, ranking(map[string][2]float64{"a": {8, 0}, "b": {5, 0}, "c": {9, 9}}), links)
	require.Len(t, got, 2)
	assert.False(t, got[0].Closed)
	assert.Equal(t, first, got[0].ID)
	assert.Equal(t, "c", got[0].Cause)
	assert.ElementsMatch(t, []string{"a", "b", "c"}, got[0].Services)
	assert.True(t, got[1].Closed, "the other ends, merged")
	assert.Equal(t, second, got[1].ID)
	assert.Equal(t, 1, tr.Len())
}

func TestIDIsTheSameForTheSameScores(t *testing.T) {
	run := func() string {
		tr := New(Config{Threshold: 7, ResolveThreshold: 3})
		return tr.Update(10*sec, ranking(map[string][2]float64{"c": {8, 8}}), links)[0].ID
	}
	assert.Equal(t, run(), run(), "a second or restarted collector names the incident alike")
}
