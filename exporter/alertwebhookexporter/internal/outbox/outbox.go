// Package outbox holds the notifications waiting for one receiver: only the newest notification
// of each alert (by fingerprint), so a receiver that is down for an hour costs one entry per
// alert, not one per re-send, and nothing in it expires. It knows nothing of HTTP or of the
// collector; it is safe for concurrent use.
package outbox

import (
	"sort"
	"sync"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
)

// Entry is a notification taken for sending. Seq tells Ack whether a newer notification of the
// same alert arrived meanwhile.
type Entry struct {
	Alert alert.Alert
	Seq   uint64
}

// Outbox is a bounded map from fingerprint to the newest notification.
type Outbox struct {
	max int

	mu      sync.Mutex
	entries map[string]Entry
	seq     uint64
	ready   chan struct{}
}

// New returns an empty outbox holding at most max notifications.
func New(max int) *Outbox {
	return &Outbox{max: max, entries: map[string]Entry{}, ready: make(chan struct{}, 1)}
}

// Put keeps a as the newest notification of its alert, replacing an older one. It returns false,
// and keeps nothing, when a is of an alert the outbox does not hold and the outbox is full.
func (o *Outbox) Put(a alert.Alert) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.entries[a.Fingerprint]; !ok && len(o.entries) >= o.max {
		return false
	}
	o.seq++
	o.entries[a.Fingerprint] = Entry{Alert: a, Seq: o.seq}
	o.signal()
	return true
}

func (o *Outbox) signal() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value after a Put (coalesced): a sender waits on it when Take returned
// nothing.
func (o *Outbox) Ready() <-chan struct{} { return o.ready }

// Take returns up to n notifications, the longest waiting first; they stay in the outbox until
// Ack.
func (o *Outbox) Take(n int) []Entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Entry, 0, min(n, len(o.entries)))
	for _, e := range o.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Ack removes the entries that were delivered (or refused for good), unless a newer notification
// of the same alert replaced one meanwhile: that one is still to be sent.
func (o *Outbox) Ack(es []Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range es {
		if cur, ok := o.entries[e.Alert.Fingerprint]; ok && cur.Seq == e.Seq {
			delete(o.entries, e.Alert.Fingerprint)
		}
	}
}

// Len is the number of notifications waiting.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}

// Snapshot returns the waiting notifications, the longest waiting first, for a checkpoint.
func (o *Outbox) Snapshot() []alert.Alert {
	es := o.Take(int(^uint(0) >> 1))
	out := make([]alert.Alert, len(es))
	for i, e := range es {
		out[i] = e.Alert
	}
	return out
}

// Restore puts restored notifications back (in their order) and returns how many did not fit.
func (o *Outbox) Restore(as []alert.Alert) (dropped int) {
	for _, a := range as {
		if !o.Put(a) {
			dropped++
		}
	}
	return dropped
}
