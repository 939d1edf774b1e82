package outbox

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func note(fp string, status alert.Status, endsAt time.Duration) alert.Alert {
	return alert.Alert{Fingerprint: fp, Status: status, StartsAt: t0, EndsAt: t0.Add(endsAt)}
}

// TestNewestPerFingerprint: re-sends of one alert replace each other; the backlog of a receiver
// that is down holds one notification per alert, the newest.
func TestNewestPerFingerprint(t *testing.T) {
	o := New(10)
	for i := range 100 {
		require.True(t, o.Put(note("a", alert.StatusFiring, time.Duration(i)*time.Minute)))
	}
	require.True(t, o.Put(note("b", alert.StatusFiring, time.Minute)))
	require.True(t, o.Put(note("a", alert.StatusResolved, 0)))
	assert.Equal(t, 2, o.Len())
	got := o.Take(10)
	require.Len(t, got, 2)
	assert.Equal(t, "b", got[0].Alert.Fingerprint, "the longest waiting first")
	assert.Equal(t, note("a", alert.StatusResolved, 0), got[1].Alert)
}

// TestBound: at the bound a notification of a new alert is refused; one of an alert already
// waiting still replaces it.
func TestBound(t *testing.T) {
	o := New(2)
	require.True(t, o.Put(note("a", alert.StatusFiring, time.Minute)))
	require.True(t, o.Put(note("b", alert.StatusFiring, time.Minute)))
	assert.False(t, o.Put(note("c", alert.StatusFiring, time.Minute)))
	assert.True(t, o.Put(note("a", alert.StatusResolved, 0)))
	assert.Equal(t, 2, o.Len())
}

// TestAckKeepsNewer: a notification replaced while its older version was being sent stays.
func TestAckKeepsNewer(t *testing.T) {
	o := New(10)
	o.Put(note("a", alert.StatusFiring, time.Minute))
	o.Put(note("b", alert.StatusFiring, time.Minute))
	sent := o.Take(10)
	o.Put(note("a", alert.StatusResolved, 0))
	o.Ack(sent)
	left := o.Take(10)
	require.Len(t, left, 1)
	assert.Equal(t, alert.StatusResolved, left[0].Alert.Status)
	o.Ack(left)
	assert.Zero(t, o.Len())
}

func TestTakeLimitAndReady(t *testing.T) {
	o := New(10)
	select {
	case <-o.Ready():
		t.Fatal("ready before any Put")
	default:
	}
	for _, fp := range []string{"a", "b", "c"} {
		o.Put(note(fp, alert.StatusFiring, time.Minute))
	}
	select {
	case <-o.Ready():
	default:
		t.Fatal("not ready after a Put")
	}
	got := o.Take(2)
	require.Len(t, got, 2)
	assert.Equal(t, "a", got[0].Alert.Fingerprint)
	assert.Equal(t, "b", got[1].Alert.Fingerprint)
}

func TestSnapshotRestore(t *testing.T) {
	o := New(10)
	for _, fp := range []string{"c", "a", "b"} {
		o.Put(note(fp, alert.StatusFiring, time.Minute))
	}
	snap := o.Snapshot()
	o2 := New(2)
	assert.Equal(t, 1, o2.Restore(snap))
	got := o2.Take(10)
	require.Len(t, got, 2)
	assert.Equal(t, "c", got[0].Alert.Fingerprint)
	assert.Equal(t, "a", got[1].Alert.Fingerprint)
}
