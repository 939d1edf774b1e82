package anomalyprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/identity"
	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/internal/pending"
)

const descriptionUnified = "Anomaly score of a composite key, 0 to 10, combined from the scores of its features."

// keys holds every composite key's open interval: the scores its features got at one timestamp
// (within timestamp_tolerance of the interval's first), whichever requests brought them. An
// interval closes, and its unified score is emitted, when a feature of the key brings a newer
// timestamp, or interval_wait after its first score arrived.
type keys struct {
	tolerance int64 // timestamp_tolerance, nanoseconds
	open      map[identity.Hash]*keyInterval
	queue     pending.Queue[identity.Hash] // open intervals by arrival
	// out gathers the unified scores of the intervals closed since it was last taken.
	out    pmetric.Metrics
	hasOut bool
	late   int64 // feature scores whose interval had closed, since the last flush to telemetry
}

// keyInterval is one key: its open interval, if any, and when the last one closed.
type keyInterval struct {
	group *group
	// res and attrs are the key's attributes found on the resource and on the point, copied when
	// the interval opens: the request that brought them is gone by the time it closes.
	res, attrs pcommon.Map
	ts         int64 // of the open interval; 0 when none is open
	lastTS     int64 // of the last interval closed, so that a late score is not a second one
	seen       int64 // the processor's clock at the last score, for series_ttl
	scores     []float64
}

func newKeys(tolerance int64) keys {
	return keys{tolerance: tolerance, open: map[identity.Hash]*keyInterval{}}
}

// contribute adds a feature score at ts to the point's key in group g; a point that lacks one
// of the key's attributes is not part of the group. now is the processor's clock.
func (k *keys) contribute(g *group, res, attrs pcommon.Map, ts, now int64, score float64) {
	id := g.id
	for _, name := range g.key {
		v, ok := attrs.Get(name)
		if !ok {
			if v, ok = res.Get(name); !ok {
				return
			}
		}
		id = id.Then(identity.Value(v))
	}
	ki := k.open[id]
	if ki == nil {
		ki = &keyInterval{group: g, res: pcommon.NewMap(), attrs: pcommon.NewMap()}
		k.open[id] = ki
	}
	ki.seen = now
	tol := k.tolerance
	switch {
	case ki.ts != 0 && ts >= ki.ts-tol && ts <= ki.ts+tol:
	case ki.ts != 0 && ts > ki.ts+tol:
		k.close(ki)
		k.begin(id, ki, res, attrs, ts, now)
	case ki.ts != 0 || ts <= ki.lastTS+tol:
		k.late++
		return
	default:
		k.begin(id, ki, res, attrs, ts, now)
	}
	ki.scores = append(ki.scores, score)
}

func (k *keys) begin(id identity.Hash, ki *keyInterval, res, attrs pcommon.Map, ts, now int64) {
	ki.ts = ts
	ki.res.Clear()
	ki.attrs.Clear()
	for _, name := range ki.group.key {
		if v, ok := attrs.Get(name); ok {
			v.CopyTo(ki.attrs.PutEmpty(name))
		} else if v, ok := res.Get(name); ok {
			v.CopyTo(ki.res.PutEmpty(name))
		}
	}
	k.queue.Push(id, ts, now)
}

// close appends the open interval's unified score to out, in a resource of its own that holds
// the key attributes found on the resource (the others go on the point).
func (k *keys) close(ki *keyInterval) {
	if !k.hasOut {
		k.out, k.hasOut = pmetric.NewMetrics(), true
	}
	rm := k.out.ResourceMetrics().AppendEmpty()
	ki.res.CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	m := sm.Metrics().AppendEmpty()
	m.SetName(names.Unified)
	m.SetDescription(descriptionUnified)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(ki.ts))
	dp.SetDoubleValue(ki.group.combiner.Combine(ki.scores))
	ki.attrs.CopyTo(dp.Attributes())
	dp.Attributes().PutStr(names.Group, ki.group.name)
	ki.lastTS, ki.ts = ki.ts, 0
	ki.scores = ki.scores[:0]
}

// closeDue closes the intervals whose first score arrived at or before deadline and moves
// every unified score closed so far to md.
func (k *keys) closeDue(deadline int64, md pmetric.Metrics) {
	k.queue.Due(deadline, func(id identity.Hash, ts int64) {
		if ki := k.open[id]; ki != nil && ki.ts == ts {
			k.close(ki)
		}
	})
	k.emit(md)
}

// emit moves the unified scores closed so far to md.
func (k *keys) emit(md pmetric.Metrics) {
	if k.hasOut {
		k.out.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
}

// expire forgets the keys with no open interval and no score since before.
func (k *keys) expire(before int64) {
	for id, ki := range k.open {
		if ki.ts == 0 && ki.seen < before {
			delete(k.open, id)
		}
	}
}
