// Package pending remembers, in order of arrival, the intervals a component is still gathering
// points for, so that one whose remaining points are overdue can be closed without scanning
// every key. A component closes an interval early when a newer timestamp of the same key
// arrives; the queue's entry then goes stale, and the caller tells it apart by its timestamp.
package pending

// Queue is a first-in first-out list of (key, timestamp, arrival) entries. The zero value is
// ready. It is not safe for concurrent use.
type Queue[K comparable] struct {
	entries []entry[K]
	head    int
}

type entry[K comparable] struct {
	key         K
	ts, arrived int64
}

// Push records that an interval of key at ts started arriving at arrived (the component's
// clock, unix nanos). Arrivals must not go backwards.
func (q *Queue[K]) Push(key K, ts, arrived int64) {
	q.entries = append(q.entries, entry[K]{key, ts, arrived})
}

// Due calls f, oldest first, with every entry that arrived at or before deadline, and forgets
// them. f checks that the key's open interval is still the one at ts.
func (q *Queue[K]) Due(deadline int64, f func(key K, ts int64)) {
	for q.head < len(q.entries) && q.entries[q.head].arrived <= deadline {
		e := q.entries[q.head]
		q.entries[q.head] = entry[K]{}
		q.head++
		f(e.key, e.ts)
	}
	// Reuse the front once most of the slice is behind the head.
	if q.head > 0 && q.head >= len(q.entries)/2 {
		n := copy(q.entries, q.entries[q.head:])
		clear(q.entries[n:])
		q.entries = q.entries[:n]
		q.head = 0
	}
}
