// Package series keeps one value per series, bounded in count and in age.
//
// Values live in fixed-size pages, so a pointer returned by Get stays valid while other series are
// added, and a series' memory is reused after it expires instead of being left to the garbage
// collector. The map holds only the 128-bit identity and a slot number.
package series

import (
	"iter"

	"github.com/omen-otel/omen/internal/identity"
)

const pageBits = 10

const pageSize = 1 << pageBits

type slot[T any] struct {
	id       identity.Hash
	lastSeen int64 // unix nanos of the last Get, for expiry
	used     bool
	value    T
}

// Store maps series identities to values of type T. It is not safe for concurrent use.
type Store[T any] struct {
	max   int
	index map[identity.Hash]int32
	pages [][]slot[T]
	free  []int32 // slots of expired series, reused first
}

// New returns a store that holds at most max series.
func New[T any](max int) *Store[T] {
	return &Store[T]{max: max, index: make(map[identity.Hash]int32)}
}

// Get returns the value of series id, marking it seen at now. A series not held yet gets a zero
// value (created is true) unless the store is full: then ok is false and nothing is stored, so
// the series that are already learned keep their models when a burst of new series arrives.
func (s *Store[T]) Get(id identity.Hash, now int64) (value *T, created, ok bool) {
	if i, found := s.index[id]; found {
		sl := s.at(i)
		sl.lastSeen = now
		return &sl.value, false, true
	}
	if len(s.index) >= s.max {
		return nil, false, false
	}
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		if len(s.pages) == 0 || len(s.pages[len(s.pages)-1]) == pageSize {
			s.pages = append(s.pages, make([]slot[T], 0, pageSize))
		}
		last := &s.pages[len(s.pages)-1]
		i = int32((len(s.pages)-1)*pageSize + len(*last))
		*last = append(*last, slot[T]{})
	}
	sl := s.at(i)
	*sl = slot[T]{id: id, lastSeen: now, used: true}
	s.index[id] = i
	return &sl.value, true, true
}

// Expire forgets every series not seen since before and returns how many it dropped.
func (s *Store[T]) Expire(before int64) int {
	dropped := 0
	for p := range s.pages {
		page := s.pages[p]
		for o := range page {
			sl := &page[o]
			if sl.used && sl.lastSeen < before {
				delete(s.index, sl.id)
				var zero T
				sl.value = zero // release what the value points to
				sl.used = false
				s.free = append(s.free, int32(p*pageSize+o))
				dropped++
			}
		}
	}
	return dropped
}

// All yields every series held and a pointer to its value, in slot order, so the values can be
// checkpointed; restoring is Get with the checkpointed LastSeen as now. The store must not be
// changed during the iteration.
func (s *Store[T]) All() iter.Seq2[identity.Hash, *T] {
	return func(yield func(identity.Hash, *T) bool) {
		for p := range s.pages {
			page := s.pages[p]
			for o := range page {
				if sl := &page[o]; sl.used && !yield(sl.id, &sl.value) {
					return
				}
			}
		}
	}
}

// LastSeen returns when series id was last seen (the now of its last Get), so a checkpoint
// restores its expiry as well as its value; ok is false for a series not held.
func (s *Store[T]) LastSeen(id identity.Hash) (lastSeen int64, ok bool) {
	i, ok := s.index[id]
	if !ok {
		return 0, false
	}
	return s.at(i).lastSeen, true
}

// Lookup returns the value of series id and when it was last seen, without marking it seen;
// ok is false for a series not held.
func (s *Store[T]) Lookup(id identity.Hash) (value *T, lastSeen int64, ok bool) {
	i, ok := s.index[id]
	if !ok {
		return nil, 0, false
	}
	sl := s.at(i)
	return &sl.value, sl.lastSeen, true
}

// Len is the number of series held.
func (s *Store[T]) Len() int { return len(s.index) }

func (s *Store[T]) at(i int32) *slot[T] {
	return &s.pages[i>>pageBits][i&(pageSize-1)]
}
