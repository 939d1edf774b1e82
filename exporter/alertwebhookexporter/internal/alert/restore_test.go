package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runCut plays the steps like run, but after the first cut steps the machine is snapshotted,
// the snapshot goes through JSON (as a checkpoint does) and a new machine restored from it plays
// the rest.
func runCut(t *testing.T, rules []Rule, set Settings, steps []step, cut int) []notification {
	t.Helper()
	m := New(rules, set)
	var out []notification
	for i, s := range steps {
		if i == cut {
			b, err := json.Marshal(m.Snapshot())
			require.NoError(t, err)
			var snap Snapshot
			require.NoError(t, json.Unmarshal(b, &snap))
			m = New(rules, set)
			require.Zero(t, m.Restore(snap))
		}
		wall := t0.Add(s.at)
		if s.wall != 0 {
			wall = t0.Add(s.wall)
		}
		if s.tick {
			m.Tick(wall)
		} else {
			name := s.name
			if name == "" {
				name = "a"
			}
			p := Point{Rule: s.rule, Labels: NewLabels(map[string]string{"alertname": "Anomaly", "series": name}), Time: t0.Add(s.at), Score: s.score}
			m.Observe(p, wall, func() (map[string]string, string) {
				return map[string]string{"score": "rendered"}, "http://dashboard.example/" + name
			})
		}
		for _, a := range m.Flush() {
			out = append(out, notification{Step: i, Alert: a})
		}
	}
	return out
}

// TestRestoreEqualsNeverStopped: for every scenario and every point at which it can be cut, a
// machine restored from a snapshot sends exactly what the machine that never stopped sends.
func TestRestoreEqualsNeverStopped(t *testing.T) {
	limited := Settings{ResendInterval: time.Minute, MaxPointAge: 5 * time.Minute, StaleAfter: 10 * time.Minute, MaxAlerts: 2, RatePerSecond: 1.0 / 60, Burst: 2}
	all := append(scenarios(), scenario{
		// The bound and the token bucket are state too.
		name: "limits", rules: []Rule{{Threshold: 7, ResolveThreshold: 3}}, set: limited,
		steps: []step{
			{at: 0, score: 9, name: "a"},
			{at: time.Second, score: 9, name: "b"},
			{at: 2 * time.Second, score: 9, name: "c", want: Limited},
			{at: 3 * time.Second, score: 1, name: "a"},
			{at: 4 * time.Second, score: 9, name: "c", want: RateLimited},
			{at: 70 * time.Second, score: 9, name: "c"},
			{at: 80 * time.Second, tick: true},
		},
	})
	for _, sc := range all {
		want := run(t, sc.rules, sc.set, sc.steps)
		require.NotEmpty(t, want, sc.name)
		for cut := range len(sc.steps) + 1 {
			assert.Equal(t, want, runCut(t, sc.rules, sc.set, sc.steps, cut), "%s cut after %d steps", sc.name, cut)
		}
	}
}

// TestRestoreFindsRulesByName: rules reordered between runs keep their alerts; an alert of a
// rule that is gone is dropped and counted.
func TestRestoreFindsRulesByName(t *testing.T) {
	set := Settings{ResendInterval: time.Minute, MaxPointAge: 5 * time.Minute, StaleAfter: 10 * time.Minute, MaxAlerts: 10}
	m := New([]Rule{{Name: "A", Threshold: 7, ResolveThreshold: 3}, {Name: "B", Threshold: 7, ResolveThreshold: 3}}, set)
	render := func() (map[string]string, string) { return nil, "" }
	m.Observe(Point{Rule: 0, Labels: NewLabels(map[string]string{"alertname": "A"}), Time: t0, Score: 9}, t0, render)
	m.Observe(Point{Rule: 1, Labels: NewLabels(map[string]string{"alertname": "B"}), Time: t0, Score: 9}, t0, render)
	m.Flush()

	m2 := New([]Rule{{Name: "C", Threshold: 7, ResolveThreshold: 3}, {Name: "B", Threshold: 7, ResolveThreshold: 3}}, set)
	assert.Equal(t, 1, m2.Restore(m.Snapshot()))
	assert.Equal(t, 1, m2.Len())
	// B's alert is rule 1 again: its next ordinary point resolves it.
	m2.Observe(Point{Rule: 1, Labels: NewLabels(map[string]string{"alertname": "B"}), Time: t0.Add(time.Second), Score: 1}, t0.Add(time.Second), render)
	out := m2.Flush()
	require.Len(t, out, 1)
	assert.Equal(t, StatusResolved, out[0].Status)
	assert.Equal(t, t0, out[0].StartsAt)
}

// TestResume: after a restart every firing alert is re-sent at the next tick, with its original
// startsAt, and the collector's downtime does not make its series stale.
func TestResume(t *testing.T) {
	set := Settings{ResendInterval: time.Minute, MaxPointAge: 5 * time.Minute, StaleAfter: 10 * time.Minute, MaxAlerts: 10}
	rules := []Rule{{Name: "A", Threshold: 7, ResolveThreshold: 3}}
	m := New(rules, set)
	m.Observe(Point{Labels: NewLabels(map[string]string{"alertname": "A"}), Time: t0, Score: 9}, t0, func() (map[string]string, string) { return nil, "" })
	m.Flush()
	snap := m.Snapshot()

	restart := t0.Add(20 * time.Minute) // longer than stale_after
	m2 := New(rules, set)
	m2.Restore(snap)
	m2.Resume(restart)
	m2.Tick(restart)
	out := m2.Flush()
	require.Len(t, out, 1)
	assert.Equal(t, StatusFiring, out[0].Status)
	assert.Equal(t, t0, out[0].StartsAt)
	assert.Equal(t, restart.Add(4*time.Minute), out[0].EndsAt)
	m2.Tick(restart.Add(10 * time.Minute))
	out = m2.Flush()
	require.Len(t, out, 1)
	assert.Equal(t, StatusResolved, out[0].Status, "stale 10 minutes after the restart")
}
