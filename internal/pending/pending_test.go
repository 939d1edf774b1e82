package pending

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDueIsOldestFirstAndForgets(t *testing.T) {
	var q Queue[string]
	q.Push("a", 10, 100)
	q.Push("b", 10, 150)
	q.Push("a", 20, 300)
	var got []string
	q.Due(160, func(k string, ts int64) { got = append(got, k) })
	assert.Equal(t, []string{"a", "b"}, got)
	assert.Equal(t, 1, held(&q))
	got = nil
	q.Due(299, func(k string, ts int64) { got = append(got, k) })
	assert.Empty(t, got, "the last entry arrived at 300")
	q.Due(300, func(k string, ts int64) {
		assert.Equal(t, int64(20), ts)
		got = append(got, k)
	})
	assert.Equal(t, []string{"a"}, got)
	assert.Equal(t, 0, held(&q))
}

func TestQueueReusesItsFront(t *testing.T) {
	var q Queue[int]
	for i := range 1000 {
		q.Push(i, int64(i), int64(i))
		q.Due(int64(i-2), func(int, int64) {})
	}
	assert.Equal(t, 2, held(&q), "the last two have not arrived by the deadline")
	assert.LessOrEqual(t, cap(q.entries), 64, "entries behind the head are reused, not grown")
}

// held is the number of entries the queue holds, stale ones included.
func held[K comparable](q *Queue[K]) int { return len(q.entries) - q.head }
