package alert

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// step is one input of a scenario: a point (at t0+at, observed at the same wall-clock time
// unless wall is set) or, with tick, a Tick at t0+at.
type step struct {
	at    time.Duration
	wall  time.Duration
	score float64
	tick  bool
	rule  int
	name  string // the "series" label; "a" when empty
	want  Outcome
}

// run plays the steps and returns every notification, each with the step index that caused it.
func run(t *testing.T, rules []Rule, set Settings, steps []step) []notification {
	t.Helper()
	m := New(rules, set)
	var out []notification
	for i, s := range steps {
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
			got := m.Observe(p, wall, func() (map[string]string, string) {
				return map[string]string{"score": "rendered"}, "http://dashboard.example/" + name
			})
			assert.Equal(t, s.want, got, "step %d", i)
		}
		for _, a := range m.Flush() {
			out = append(out, notification{Step: i, Alert: a})
		}
	}
	return out
}

type notification struct {
	Step  int   `json:"step"`
	Alert Alert `json:"alert"`
}

// golden compares got with testdata/<name>.json (rewritten with -update).
func golden(t *testing.T, name string, got []notification) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	b = append(b, '\n')
	path := filepath.Join("testdata", name+".json")
	if *update {
		require.NoError(t, os.WriteFile(path, b, 0o600))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(b))
}

var defaults = Settings{ResendInterval: time.Minute, MaxPointAge: 5 * time.Minute, StaleAfter: 10 * time.Minute, MaxAlerts: 100}

// TestScenarios are the state machine's golden tests: the notifications of each scenario are in
// testdata/<scenario>.json.
type scenario struct {
	name  string
	rules []Rule
	set   Settings
	steps []step
}

func scenarios() []scenario {
	hysteresis := []Rule{{Threshold: 7, ResolveThreshold: 3}}
	return []scenario{
		{
			// Fires on the first anomalous point (startsAt = its time), stays firing without
			// repeats while the condition holds, is re-sent after the resend interval, resolves
			// once (endsAt = the first point below the resolve threshold).
			name: "fire_stay_resend_resolve", rules: hysteresis, set: defaults,
			steps: []step{
				{at: 0, score: 1},
				{at: 10 * time.Second, score: 8},
				{at: 20 * time.Second, score: 9},
				{at: 30 * time.Second, score: 4}, // between the thresholds: still firing
				{at: 69 * time.Second, tick: true},
				{at: 70 * time.Second, tick: true}, // a minute after the notification: re-sent
				{at: 80 * time.Second, score: 2},   // resolved
				{at: 90 * time.Second, score: 1},   // nothing more
				{at: 200 * time.Second, tick: true},
			},
		},
		{
			// Resolved, then anomalous again: a new alert with the same fingerprint and a new
			// startsAt.
			name: "refire", rules: hysteresis, set: defaults,
			steps: []step{
				{at: 0, score: 8},
				{at: 10 * time.Second, score: 0},
				{at: 20 * time.Second, score: 9},
			},
		},
		{
			// A score wavering around the threshold fires once: hysteresis holds it until
			// it drops below 3.
			name: "flap_hysteresis", rules: hysteresis, set: defaults,
			steps: []step{
				{at: 0, score: 7.5},
				{at: 1 * time.Second, score: 6.5},
				{at: 2 * time.Second, score: 7.2},
				{at: 3 * time.Second, score: 5},
				{at: 4 * time.Second, score: 8},
				{at: 5 * time.Second, score: 2.9},
			},
		},
		{
			// keep_firing_for: one high score and ordinary ones after it give one alert that
			// resolves 30 s (point time) after the last high score.
			name: "keep_firing_for", rules: []Rule{{Threshold: 7, ResolveThreshold: 3, KeepFiringFor: 30 * time.Second}}, set: defaults,
			steps: []step{
				{at: 0, score: 9},
				{at: 10 * time.Second, score: 1},
				{at: 20 * time.Second, score: 1},
				{at: 29 * time.Second, score: 8},
				{at: 50 * time.Second, score: 1},
				{at: 59 * time.Second, score: 1}, // 30 s after the last high score: resolved
				{at: 60 * time.Second, score: 1}, // nothing more
			},
		},
		{
			// for: pending until the condition held 20 s; a pending alert whose condition stops
			// is forgotten without a notification.
			name: "for", rules: []Rule{{Threshold: 7, ResolveThreshold: 7, For: 20 * time.Second}}, set: defaults,
			steps: []step{
				{at: 0, score: 8},
				{at: 10 * time.Second, score: 8},
				{at: 15 * time.Second, score: 1}, // forgotten
				{at: 30 * time.Second, score: 8}, // pending again from 30 s
				{at: 40 * time.Second, score: 9},
				{at: 50 * time.Second, score: 9}, // 20 s: fires, startsAt 30 s
			},
		},
		{
			// A firing alert whose series stops is resolved after stale_after by the ticker.
			name: "stale", rules: hysteresis, set: defaults,
			steps: []step{
				{at: 0, score: 8},
				{at: 9 * time.Minute, tick: true}, // resends only
				{at: 10 * time.Minute, tick: true},
				{at: 11 * time.Minute, tick: true},
			},
		},
	}
}

func TestScenarios(t *testing.T) {
	for _, tt := range scenarios() {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, run(t, tt.rules, tt.set, tt.steps))
		})
	}
}

// TestOldPointsNeverAlert: a back-filled anomaly (older than max_point_age) makes no alert.
func TestOldPointsNeverAlert(t *testing.T) {
	got := run(t, []Rule{{Threshold: 7, ResolveThreshold: 3}}, defaults, []step{
		{at: 0, wall: 5*time.Minute + time.Second, score: 10, want: TooOld},
		{at: time.Minute, wall: 5*time.Minute + time.Second, score: 10},
	})
	require.Len(t, got, 1)
	assert.Equal(t, t0.Add(time.Minute), got[0].Alert.StartsAt)
}

func TestOutOfOrder(t *testing.T) {
	got := run(t, []Rule{{Threshold: 7, ResolveThreshold: 3}}, defaults, []step{
		{at: 10 * time.Second, score: 9},
		{at: 5 * time.Second, score: 0, want: OutOfOrder},
		{at: 20 * time.Second, score: 8},
	})
	require.Len(t, got, 1, "the older low point must not resolve the alert")
}

// TestLimits: max_alerts refuses new alerts; the rate limit suppresses firing and lets
// resolutions through.
func TestLimits(t *testing.T) {
	set := defaults
	set.MaxAlerts = 2
	got := run(t, []Rule{{Threshold: 7, ResolveThreshold: 3}}, set, []step{
		{at: 0, score: 9, name: "a"},
		{at: 0, score: 9, name: "b"},
		{at: 0, score: 9, name: "c", want: Limited},
		{at: time.Second, score: 0, name: "a"},
		{at: time.Second, score: 9, name: "c"}, // room again
	})
	assert.Len(t, got, 4)

	set = defaults
	set.RatePerSecond, set.Burst = 1.0/60, 2
	got = run(t, []Rule{{Threshold: 7, ResolveThreshold: 3}}, set, []step{
		{at: 0, score: 9, name: "a"},
		{at: 0, score: 9, name: "b"},
		{at: 0, score: 9, name: "c", want: RateLimited},
		{at: time.Second, score: 0, name: "a"},                         // resolutions are never limited
		{at: 30 * time.Second, score: 9, name: "c", want: RateLimited}, // half a token
		{at: 61 * time.Second, score: 9, name: "c"},                    // a token again
	})
	var statuses []string
	for _, n := range got {
		statuses = append(statuses, n.Alert.Labels["series"]+" "+string(n.Alert.Status))
	}
	assert.Equal(t, []string{"a firing", "b firing", "a resolved", "c firing"}, statuses)
}

// TestFingerprintMatchesAlertmanager: the fingerprint Alertmanager 0.25 showed for this label
// set in the end-to-end test.
func TestFingerprintMatchesAlertmanager(t *testing.T) {
	ls := NewLabels(map[string]string{"alertname": "AnomalousService", "anomaly_group": "service", "service_name": "checkout", "severity": "page"})
	assert.Equal(t, uint64(0x409b444310a1caa5), ls.Fingerprint())
}

// TestFingerprintCollision: two label sets with the same fingerprint are two alerts.
func TestFingerprintCollision(t *testing.T) {
	m := New([]Rule{{Threshold: 7, ResolveThreshold: 3}}, defaults)
	a := NewLabels(map[string]string{"x": "1"})
	b := NewLabels(map[string]string{"x": "2"})
	// Force both under one key, as a collision would put them.
	fp := a.Fingerprint()
	s := &state{labels: b, lastSeen: t0, lastPoint: t0}
	m.states[fp] = []*state{s}
	m.count = 1
	require.Equal(t, Accepted, m.Observe(Point{Labels: a, Time: t0, Score: 9}, t0, func() (map[string]string, string) { return nil, "" }))
	assert.Len(t, m.states[fp], 2)
	assert.Equal(t, 2, m.Len())
	assert.Same(t, s, m.lookup(fp, b, 0))
}
