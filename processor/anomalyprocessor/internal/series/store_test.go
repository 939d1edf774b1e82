package series

import (
	"math/rand/v2"
	"testing"

	"github.com/omen-otel/omen/internal/identity"
)

func id(n uint64) identity.Hash { return identity.Hash{Lo: n} }

func TestGetCreatesOnceAndKeepsPointers(t *testing.T) {
	s := New[int](10 * pageSize)
	first, created, ok := s.Get(id(1), 0)
	if !created || !ok {
		t.Fatal("first Get must create")
	}
	*first = 42
	// Fill several pages: the first pointer must stay valid.
	for n := uint64(2); n < 3*pageSize; n++ {
		s.Get(id(n), 0)
	}
	again, created, _ := s.Get(id(1), 1)
	if created || again != first || *again != 42 {
		t.Fatalf("got %p (%d, created %v), want %p holding 42", again, *again, created, first)
	}
}

func TestLimitRejectsNewSeriesOnly(t *testing.T) {
	s := New[int](2)
	s.Get(id(1), 0)
	s.Get(id(2), 0)
	if _, _, ok := s.Get(id(3), 0); ok {
		t.Fatal("a third series must be refused at max 2")
	}
	if _, _, ok := s.Get(id(1), 0); !ok {
		t.Fatal("a known series must still be served at the limit")
	}
	if s.Len() != 2 {
		t.Fatalf("Len %d, want 2", s.Len())
	}
}

func TestExpireFreesAndReuses(t *testing.T) {
	s := New[int](2)
	a, _, _ := s.Get(id(1), 10)
	*a = 7
	s.Get(id(2), 20)
	if n := s.Expire(15); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if s.Len() != 1 {
		t.Fatalf("Len %d, want 1", s.Len())
	}
	// The freed slot is reused, zeroed, for a new series.
	b, created, ok := s.Get(id(3), 30)
	if !ok || !created || *b != 0 || b != a {
		t.Fatalf("new series got %p holding %d (created %v ok %v), want the freed slot %p zeroed", b, *b, created, ok, a)
	}
	// The expired series comes back as a new one.
	if _, created, ok := s.Get(id(1), 40); ok || created {
		t.Fatal("store is full again: the expired series must be refused")
	}
}

func BenchmarkGetExisting(b *testing.B) {
	const n = 10000
	s := New[[64]byte](n)
	for i := range uint64(n) {
		s.Get(id(i), 0)
	}
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		s.Get(id(i%n), 1)
		i++
	}
}

func TestAllAndLastSeen(t *testing.T) {
	s := New[int](3 * pageSize)
	for n := range uint64(2*pageSize + 5) { // spans three pages
		v, _, _ := s.Get(id(n), int64(n))
		*v = int(n)
	}
	s.Expire(10) // frees ids 0..9: All must skip their slots
	seen := map[identity.Hash]bool{}
	for h, v := range s.All() {
		if seen[h] {
			t.Fatalf("%v yielded twice", h)
		}
		seen[h] = true
		if uint64(*v) != h.Lo {
			t.Fatalf("%v holds %d", h, *v)
		}
		*v = -*v // the pointer is the stored value
		last, ok := s.LastSeen(h)
		if !ok || last != int64(h.Lo) {
			t.Fatalf("LastSeen(%v) = %d, %v; want %d, true", h, last, ok, h.Lo)
		}
	}
	if len(seen) != s.Len() || seen[id(9)] || !seen[id(10)] {
		t.Fatalf("All yielded %d series, want the %d held (10 and up)", len(seen), s.Len())
	}
	if v, _, _ := s.Get(id(100), 0); *v != -100 {
		t.Fatalf("a write through All's pointer was lost: %d", *v)
	}
	if _, ok := s.LastSeen(id(9)); ok {
		t.Fatal("an expired series has no LastSeen")
	}
	n := 0
	for range s.All() {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("breaking out of All stopped after %d", n)
	}
}

// TestIndexAgainstMap drives a store with random creations and expiries, many of them on a
// small table where positions collide, and checks every answer against a plain map.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, universe := range []uint64{50, 5000} {
		s := New[uint64](4000)
		want := map[identity.Hash]int64{} // series held, by when they were last seen
		for now := int64(1); now < 20_000; now++ {
			h := identity.Hash{Hi: rng.Uint64N(universe), Lo: rng.Uint64N(3)}
			v, created, ok := s.Get(h, now)
			_, held := want[h]
			switch {
			case !ok:
				if held || len(want) < 4000 {
					t.Fatalf("%v refused with %d held", h, len(want))
				}
				continue
			case created == held:
				t.Fatalf("%v: created %v, held before %v", h, created, held)
			case created:
				*v = h.Hi
			case *v != h.Hi:
				t.Fatalf("%v holds %d", h, *v)
			}
			want[h] = now
			if now%500 == 0 {
				before := now - int64(rng.IntN(400))
				dropped := 0
				for id, seen := range want {
					if seen < before {
						delete(want, id)
						dropped++
					}
				}
				if n := s.Expire(before); n != dropped {
					t.Fatalf("expired %d, want %d", n, dropped)
				}
			}
			if s.Len() != len(want) {
				t.Fatalf("Len %d, want %d", s.Len(), len(want))
			}
		}
		for id, seen := range want {
			if last, ok := s.LastSeen(id); !ok || last != seen {
				t.Fatalf("LastSeen(%v) = %d, %v; want %d", id, last, ok, seen)
			}
		}
		for id := range s.All() {
			if _, ok := want[id]; !ok {
				t.Fatalf("%v held, expired in the reference", id)
			}
		}
	}
}
