package identity

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/zeebo/xxh3"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestMapIgnoresOrder(t *testing.T) {
	a := pcommon.NewMap()
	a.PutStr("service.name", "cart")
	a.PutInt("shard", 3)
	a.PutBool("canary", true)
	b := pcommon.NewMap()
	b.PutBool("canary", true)
	b.PutStr("service.name", "cart")
	b.PutInt("shard", 3)
	if Map(a) != Map(b) {
		t.Fatal("the same attributes in another order hash differently")
	}
}

func TestMapTellsApart(t *testing.T) {
	build := func(f func(m pcommon.Map)) Hash {
		m := pcommon.NewMap()
		f(m)
		return Map(m)
	}
	cases := map[string]Hash{
		"empty":          build(func(pcommon.Map) {}),
		"str 1":          build(func(m pcommon.Map) { m.PutStr("k", "1") }),
		"int 1":          build(func(m pcommon.Map) { m.PutInt("k", 1) }),
		"double 1":       build(func(m pcommon.Map) { m.PutDouble("k", 1) }),
		"bool true":      build(func(m pcommon.Map) { m.PutBool("k", true) }),
		"other key":      build(func(m pcommon.Map) { m.PutStr("j", "1") }),
		"key/value swap": build(func(m pcommon.Map) { m.PutStr("1", "k") }),
		"two pairs":      build(func(m pcommon.Map) { m.PutStr("k", "1"); m.PutStr("j", "1") }),
		"bytes":          build(func(m pcommon.Map) { m.PutEmptyBytes("k").FromRaw([]byte("1")) }),
		"slice":          build(func(m pcommon.Map) { m.PutEmptySlice("k").AppendEmpty().SetStr("1") }),
		"nested map":     build(func(m pcommon.Map) { m.PutEmptyMap("k").PutStr("k", "1") }),
	}
	seen := map[Hash]string{}
	for name, h := range cases {
		if other, dup := seen[h]; dup {
			t.Errorf("%q and %q hash alike", name, other)
		}
		seen[h] = name
	}
}

func TestThenIsOrdered(t *testing.T) {
	a, b := String("a"), String("b")
	if a.Then(b) == b.Then(a) {
		t.Fatal("Then must depend on the order")
	}
}

// TestStable pins one hash: identities are written to checkpoints and must not change between
// releases or processes. Changing the scheme needs a checkpoint version bump, not a new golden.
func TestStable(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("service.name", "cart")
	m.PutInt("shard", 3)
	got := String("http.server.duration").Then(Map(m))
	want := Hash{Hi: 0x5666785f3f4c9d21, Lo: 0xef030d0daaf48fa}
	if got != want {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func BenchmarkMap(b *testing.B) {
	m := pcommon.NewMap()
	m.PutStr("service.name", "checkout")
	m.PutStr("http.route", "/api/v1/cart/{id}")
	m.PutStr("http.request.method", "GET")
	m.PutInt("http.response.status_code", 200)
	b.ReportAllocs()
	for b.Loop() {
		_ = Map(m)
	}
}

// TestThenIsXXH3 checks Then, which computes xxh3 from the four words directly, against the
// library on the packed bytes: identities are checkpointed, so Then must never change.
func TestThenIsXXH3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []Hash{{}, {Hi: ^uint64(0), Lo: ^uint64(0)}, {Lo: 1}, {Hi: 1}}
	for range 100_000 {
		cases = append(cases, Hash{Hi: rng.Uint64(), Lo: rng.Uint64()})
	}
	for i := 1; i < len(cases); i++ {
		h, o := cases[i-1], cases[i]
		var b [32]byte
		binary.LittleEndian.PutUint64(b[0:], h.Hi)
		binary.LittleEndian.PutUint64(b[8:], h.Lo)
		binary.LittleEndian.PutUint64(b[16:], o.Hi)
		binary.LittleEndian.PutUint64(b[24:], o.Lo)
		want := from(xxh3.Hash128Seed(b[:], seedPair))
		if got := h.Then(o); got != want {
			t.Fatalf("%#v.Then(%#v) = %#v, xxh3 gives %#v", h, o, got, want)
		}
	}
}

func BenchmarkThen(b *testing.B) {
	h, o := String("a"), String("b")
	b.ReportAllocs()
	for b.Loop() {
		h = h.Then(o)
	}
}
