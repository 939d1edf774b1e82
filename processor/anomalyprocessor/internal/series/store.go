// Package series keeps one value per series, bounded in count and in age.
//
// Values live in fixed-size pages, so a pointer returned by Get stays valid while other series are
// added, and a series' memory is reused after it expires instead of being left to the garbage
// collector. The index (index.go) holds only part of the identity and a slot number; the slot
// holds the whole identity.
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
	index index
	pages [][]slot[T]
	free  []int32 // slots of expired series, reused first
}

// New returns a store that holds at most max series.
func New[T any](max int) *Store[T] {
	return &Store[T]{max: max, index: newIndex()}
}

// slotOf returns the slot holding series id, or -1.
func (s *Store[T]) slotOf(id identity.Hash) int32 {
	pos := s.find(id)
	if pos < 0 {
		return -1
	}
	return s.index.entries[pos].slot
}

// Get returns the value of series id, marking it seen at now. A series not held yet gets a zero
// value (created is true) unless the store is full: then ok is false and nothing is stored, so
// the series that are already learned keep their models when a burst of new series arrives.
func (s *Store[T]) Get(id identity.Hash, now int64) (value *T, created, ok bool) {
	if i := s.slotOf(id); i >= 0 {
		sl := s.at(i)
		sl.lastSeen = now
		return &sl.value, false, true
	}
	if s.index.n >= s.max {
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
	s.insert(id, i)
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
				s.remove(s.find(sl.id))
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
	i := s.slotOf(id)
	if i < 0 {
		return 0, false
	}
	return s.at(i).lastSeen, true
}

// Lookup returns the value of series id and when it was last seen, without marking it seen;
// ok is false for a series not held.
func (s *Store[T]) Lookup(id identity.Hash) (value *T, lastSeen int64, ok bool) {
	i := s.slotOf(id)
	if i < 0 {
		return nil, 0, false
	}
	sl := s.at(i)
	return &sl.value, sl.lastSeen, true
}

// Len is the number of series held.
func (s *Store[T]) Len() int { return s.index.n }

func (s *Store[T]) at(i int32) *slot[T] {
	return &s.pages[i>>pageBits][i&(pageSize-1)]
}
