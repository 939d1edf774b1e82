// Package alert is the alert state machine of the alert webhook exporter: it turns scored points
// into alerts that fire once, stay firing while their condition holds and resolve once. It knows
// nothing of pdata or of the collector; every method takes the wall-clock time it runs at, so
// tests drive it without sleeping.
package alert

import (
	"fmt"
	"hash/fnv"
	"sort"
	"time"
)

// Status is what a notification says of an alert.
type Status string

const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Label is one name-value pair of an alert's identity.
type Label struct {
	Name, Value string
}

// Labels is a label set sorted by name (see NewLabels).
type Labels []Label

// NewLabels sorts a label map into a Labels.
func NewLabels(m map[string]string) Labels {
	ls := make(Labels, 0, len(m))
	for n, v := range m {
		ls = append(ls, Label{Name: n, Value: v})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// Map returns the labels as a map.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

func (ls Labels) equal(o Labels) bool {
	if len(ls) != len(o) {
		return false
	}
	for i := range ls {
		if ls[i] != o[i] {
			return false
		}
	}
	return true
}

// Fingerprint is Alertmanager's fingerprint of a label set (model.LabelSet.Fingerprint: FNV-1a
// over the sorted names and values, each followed by 0xff), so the fingerprint a receiver sees
// from us is the one Alertmanager would compute for the same alert.
func (ls Labels) Fingerprint() uint64 {
	if len(ls) == 0 {
		// Alertmanager's hash of the empty set is the FNV offset basis.
		return 14695981039346656037
	}
	h := fnv.New64a()
	sep := []byte{0xff}
	for _, l := range ls {
		_, _ = h.Write([]byte(l.Name))
		_, _ = h.Write(sep)
		_, _ = h.Write([]byte(l.Value))
		_, _ = h.Write(sep)
	}
	return h.Sum64()
}

// Alert is one notification: an alert as a receiver gets it.
type Alert struct {
	Fingerprint  string            `json:"fingerprint"`
	Status       Status            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Rule is when an alert fires and resolves.
type Rule struct {
	// Name identifies the rule in a Snapshot, so that a restored alert finds its rule again
	// when rules were added, removed or reordered.
	Name string
	// Threshold: a score at or above it makes the alert pending (or firing when For is 0).
	Threshold float64
	// ResolveThreshold (<= Threshold): the condition holds while scores stay at or above it, so a
	// score wavering around Threshold does not flap the alert.
	ResolveThreshold float64
	// For is how long, in point time, the condition must hold before the alert fires.
	For time.Duration
	// KeepFiringFor is how long, in point time, a firing alert stays firing after its condition
	// stopped holding: an anomaly is often one high score followed by ordinary ones.
	KeepFiringFor time.Duration
}

// Settings bound and pace the machine.
type Settings struct {
	// ResendInterval is how often a firing alert is sent again, as Alertmanager expects of its
	// clients; a firing alert's EndsAt is 4 resend intervals ahead, so Alertmanager resolves it by
	// itself when the collector stops sending.
	ResendInterval time.Duration
	// MaxPointAge: points older than this (by wall clock) are ignored. The PromQL receiver
	// back-fills history at start-up; a past anomaly must never page anyone now.
	MaxPointAge time.Duration
	// StaleAfter resolves a firing alert, and forgets a pending one, that had no point for this
	// long (wall clock): its series stopped reporting.
	StaleAfter time.Duration
	// MaxAlerts bounds the alerts tracked (pending and firing); new ones are refused at the bound.
	MaxAlerts int
	// RatePerSecond and Burst form a token bucket on new firing alerts; RatePerSecond 0 turns it
	// off. Resolutions and re-sends of alerts that fired are never limited.
	RatePerSecond float64
	Burst         int
}

// Outcome is what Observe did with a point, for the exporter's telemetry.
type Outcome int

const (
	// Accepted: the point updated the machine (or was ordinary and needed no state).
	Accepted Outcome = iota
	// TooOld: the point was older than MaxPointAge.
	TooOld
	// OutOfOrder: the point was older than the latest point of its alert.
	OutOfOrder
	// Limited: a new alert was refused because MaxAlerts are tracked.
	Limited
	// RateLimited: a firing notification was suppressed by the rate limit.
	RateLimited
)

// Point is one score observation for one alert identity.
type Point struct {
	Rule   int
	Labels Labels
	Time   time.Time
	Score  float64
}

// Render builds the annotations and generator URL of an alert when it fires; it is called only
// then, so the common case (an ordinary score) costs no template execution.
type Render func() (annotations map[string]string, generatorURL string)

type state struct {
	labels    Labels
	rule      int
	firing    bool
	activeAt  time.Time // point time of the first anomalous point: StartsAt
	lastHeld  time.Time // point time of the last point at or above the resolve threshold
	lastPoint time.Time // point time of the latest point
	lastSeen  time.Time // wall clock of the latest point, for StaleAfter
	lastSent  time.Time // wall clock of the latest notification, for ResendInterval
	alert     Alert
}

// Machine tracks every pending and firing alert. It is not safe for concurrent use.
type Machine struct {
	rules []Rule
	set   Settings
	// states is keyed by fingerprint; the slice holds the rare label sets whose 64-bit
	// fingerprints collide.
	states map[uint64][]*state
	count  int
	out    []Alert

	tokens   float64
	lastFill time.Time
}

// New returns an empty machine.
func New(rules []Rule, set Settings) *Machine {
	return &Machine{rules: rules, set: set, states: map[uint64][]*state{}, tokens: float64(set.Burst)}
}

// Len is the number of alerts tracked, pending and firing.
func (m *Machine) Len() int { return m.count }

// Flush returns the notifications produced since the last Flush.
func (m *Machine) Flush() []Alert {
	out := m.out
	m.out = nil
	return out
}

// Observe feeds one score point, observed at wall-clock now.
func (m *Machine) Observe(p Point, now time.Time, render Render) Outcome {
	if now.Sub(p.Time) > m.set.MaxPointAge {
		return TooOld
	}
	r := m.rules[p.Rule]
	fp := p.Labels.Fingerprint()
	s := m.lookup(fp, p.Labels, p.Rule)
	held := p.Score >= r.ResolveThreshold
	if s == nil {
		if p.Score < r.Threshold {
			return Accepted
		}
		if m.count >= m.set.MaxAlerts {
			return Limited
		}
		s = &state{labels: p.Labels, rule: p.Rule, activeAt: p.Time}
		m.states[fp] = append(m.states[fp], s)
		m.count++
	} else if p.Time.Before(s.lastPoint) {
		return OutOfOrder
	}
	s.lastPoint, s.lastSeen = p.Time, now
	if held {
		s.lastHeld = p.Time
	}

	if !s.firing {
		if !held {
			m.remove(fp, s)
			return Accepted
		}
		if p.Time.Sub(s.activeAt) < r.For {
			return Accepted
		}
		if !m.allow(now) {
			// Forgotten, not left pending: the next anomalous point starts over, so a storm
			// cannot pile up pending alerts that all fire once tokens return.
			m.remove(fp, s)
			return RateLimited
		}
		annotations, url := render()
		s.firing = true
		s.alert = Alert{
			Fingerprint:  fmt.Sprintf("%016x", fp),
			Status:       StatusFiring,
			Labels:       p.Labels.Map(),
			Annotations:  annotations,
			StartsAt:     s.activeAt,
			GeneratorURL: url,
		}
		m.send(s, now)
		return Accepted
	}
	if !held && p.Time.Sub(s.lastHeld) >= r.KeepFiringFor {
		m.resolve(fp, s, p.Time)
	}
	return Accepted
}

// Reannotate replaces the annotations and generator URL of the firing alert that p belongs to
// with what render gives, and sends the alert again at once: what a person reads of it changed
// (an incident's likely cause), though the alert did not. It does nothing for an alert that does
// not fire.
func (m *Machine) Reannotate(p Point, now time.Time, render Render) {
	s := m.lookup(p.Labels.Fingerprint(), p.Labels, p.Rule)
	if s == nil || !s.firing {
		return
	}
	s.alert.Annotations, s.alert.GeneratorURL = render()
	m.send(s, now)
}

// Tick re-sends firing alerts whose resend interval has passed and resolves the ones whose series
// went StaleAfter without a point.
func (m *Machine) Tick(now time.Time) {
	for fp, ss := range m.states {
		for _, s := range ss {
			switch {
			case now.Sub(s.lastSeen) >= m.set.StaleAfter:
				if s.firing {
					m.resolve(fp, s, now)
				} else {
					m.remove(fp, s)
				}
			case s.firing && now.Sub(s.lastSent) >= m.set.ResendInterval:
				m.send(s, now)
			}
		}
	}
}

// send emits the firing alert, valid for 4 resend intervals (Prometheus does the same).
func (m *Machine) send(s *state, now time.Time) {
	s.lastSent = now
	a := s.alert
	a.EndsAt = now.Add(4 * m.set.ResendInterval)
	m.out = append(m.out, a)
}

func (m *Machine) resolve(fp uint64, s *state, endsAt time.Time) {
	a := s.alert
	a.Status = StatusResolved
	a.EndsAt = endsAt
	m.out = append(m.out, a)
	m.remove(fp, s)
}

func (m *Machine) lookup(fp uint64, ls Labels, rule int) *state {
	for _, s := range m.states[fp] {
		if s.rule == rule && s.labels.equal(ls) {
			return s
		}
	}
	return nil
}

func (m *Machine) remove(fp uint64, s *state) {
	ss := m.states[fp]
	for i, x := range ss {
		if x == s {
			ss = append(ss[:i], ss[i+1:]...)
			break
		}
	}
	if len(ss) == 0 {
		delete(m.states, fp)
	} else {
		m.states[fp] = ss
	}
	m.count--
}

// allow takes a token from the bucket of new firing alerts.
func (m *Machine) allow(now time.Time) bool {
	if m.set.RatePerSecond <= 0 {
		return true
	}
	if !m.lastFill.IsZero() {
		m.tokens += now.Sub(m.lastFill).Seconds() * m.set.RatePerSecond
		if m.tokens > float64(m.set.Burst) {
			m.tokens = float64(m.set.Burst)
		}
	}
	m.lastFill = now
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

// Snapshot is the machine's whole state, for a checkpoint: every pending and firing alert and
// the rate limit's bucket. It shares nothing with the machine.
type Snapshot struct {
	Alerts   []AlertState `json:"alerts"`
	Tokens   float64      `json:"tokens"`
	LastFill time.Time    `json:"last_fill"`
}

// AlertState is one tracked alert in a Snapshot.
type AlertState struct {
	Rule      string    `json:"rule"` // the rule's Name
	Labels    Labels    `json:"labels"`
	Firing    bool      `json:"firing"`
	ActiveAt  time.Time `json:"active_at"`
	LastHeld  time.Time `json:"last_held"`
	LastPoint time.Time `json:"last_point"`
	LastSeen  time.Time `json:"last_seen"`
	LastSent  time.Time `json:"last_sent"`
	// Alert is the notification as last sent (firing only); its EndsAt is the last one sent.
	Alert Alert `json:"alert"`
}

// Snapshot copies the state. Notifications not yet flushed are not part of it. An alert's label
// set, labels and annotations are never changed once made (every notification shares them), so
// the snapshot shares them too: copying 10,000 alerts is a copy of 10,000 small structs.
func (m *Machine) Snapshot() Snapshot {
	out := Snapshot{Alerts: make([]AlertState, 0, m.count), Tokens: m.tokens, LastFill: m.lastFill}
	for _, ss := range m.states {
		for _, s := range ss {
			out.Alerts = append(out.Alerts, AlertState{
				Rule: m.rules[s.rule].Name, Labels: s.labels, Firing: s.firing,
				ActiveAt: s.activeAt, LastHeld: s.lastHeld, LastPoint: s.lastPoint, LastSeen: s.lastSeen, LastSent: s.lastSent,
				Alert: s.alert,
			})
		}
	}
	return out
}

// Restore replaces the machine's state with a snapshot's. Alerts of rules that no longer exist
// are dropped, and so are those beyond MaxAlerts; Restore returns how many were dropped.
func (m *Machine) Restore(snap Snapshot) (dropped int) {
	byName := make(map[string]int, len(m.rules))
	for i, r := range m.rules {
		byName[r.Name] = i
	}
	m.states = map[uint64][]*state{}
	m.count = 0
	m.out = nil
	m.tokens, m.lastFill = min(snap.Tokens, float64(m.set.Burst)), snap.LastFill
	for _, as := range snap.Alerts {
		ri, ok := byName[as.Rule]
		if !ok || m.count >= m.set.MaxAlerts {
			dropped++
			continue
		}
		// The snapshot's label sets and maps become the machine's, never changed (see Snapshot).
		ls := as.Labels
		fp := ls.Fingerprint()
		if m.lookup(fp, ls, ri) != nil {
			dropped++
			continue
		}
		m.states[fp] = append(m.states[fp], &state{
			labels: ls, rule: ri, firing: as.Firing, activeAt: as.ActiveAt, lastHeld: as.LastHeld,
			lastPoint: as.LastPoint, lastSeen: as.LastSeen, lastSent: as.LastSent, alert: as.Alert,
		})
		m.count++
	}
	return dropped
}

// Resume is called once after Restore, at wall-clock now, when the process restarts: every
// firing alert is due for a re-send at the next Tick (the receiver may have lost it, or been
// told it ends soon), and every alert's series gets StaleAfter from now to report again (the
// collector was down, not the series).
func (m *Machine) Resume(now time.Time) {
	for _, ss := range m.states {
		for _, s := range ss {
			s.lastSent = time.Time{}
			if s.lastSeen.Before(now) {
				s.lastSeen = now
			}
		}
	}
}
