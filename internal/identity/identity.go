// Package identity names a series by a 128-bit hash of what identifies it (resource, scope, metric
// name, point attributes), computed without allocating and independent of attribute order.
//
// The hash is seeded with constants, so an identity is the same in every process: a model
// checkpointed by one collector is found again by its successor.
package identity

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/zeebo/xxh3"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Hash is a 128-bit identity. With 10^6 live series the chance that any two share one is about
// 10^-27, so the processor treats equal hashes as the same series.
type Hash struct{ Hi, Lo uint64 }

// Seeds tell the kinds of value apart, so the string "1" and the integer 1 differ.
const (
	seedStr uint64 = iota + 1
	seedInt
	seedDouble
	seedBool
	seedBytes
	seedMap
	seedSlice
	seedEmpty
	seedPair
)

// String hashes a string.
func String(s string) Hash {
	return from(xxh3.HashString128Seed(s, seedStr))
}

// Then combines two hashes in order: a.Then(b) != b.Then(a).
//
// It is xxh3's 128-bit hash (seed seedPair) of the 32 little-endian bytes h.Hi, h.Lo, o.Hi,
// o.Lo, computed from the four words directly: the hot path combines several hashes per point,
// and packing them into bytes for the general function cost more than the hash itself.
// TestThenIsXXH3 checks it against xxh3.Hash128Seed.
func (h Hash) Then(o Hash) Hash {
	// xxh3's 17-to-128-byte case for a length of 32: one round over the first and last 16 bytes.
	length, seed := uint64(32), seedPair // variables: their products wrap, as in xxh3
	w0, w1, w2, w3 := h.Hi, h.Lo, o.Hi, o.Lo
	var hi uint64
	lo := length * xxhPrime64_1
	hi += mulFold64(w2^(xxhKey64_016+seed), w3^(xxhKey64_024-seed))
	hi ^= w0 + w1
	lo += mulFold64(w0^(xxhKey64_000+seed), w1^(xxhKey64_008-seed))
	lo ^= w2 + w3
	hi, lo = lo*xxhPrime64_1+hi*xxhPrime64_4+(length-seed)*xxhPrime64_2, hi+lo
	return Hash{Hi: -xxh3Avalanche(hi), Lo: xxh3Avalanche(lo)}
}

// xxh3's constants (github.com/zeebo/xxh3, consts.go) that Then needs.
const (
	xxhPrime64_1 uint64 = 11400714785074694791
	xxhPrime64_2 uint64 = 14029467366897019727
	xxhPrime64_4 uint64 = 9650029242287828579
	xxhKey64_000 uint64 = 0xbe4ba423396cfeb8
	xxhKey64_008 uint64 = 0x1cad21f72c81017c
	xxhKey64_016 uint64 = 0xdb979083e96dd4de
	xxhKey64_024 uint64 = 0x1f67b3b7a4a44072
)

func mulFold64(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

func xxh3Avalanche(x uint64) uint64 {
	x ^= x >> 37
	x *= 0x165667919e3779f9
	x ^= x >> 32
	return x
}

// Map hashes attributes regardless of their order: the hashes of the key/value pairs are added,
// which commutes, and the sum is mixed once more with the count.
func Map(m pcommon.Map) Hash {
	var sum Hash
	n := uint64(0)
	for k, v := range m.All() {
		p := String(k).Then(Value(v))
		lo := sum.Lo + p.Lo
		carry := uint64(0)
		if lo < sum.Lo {
			carry = 1
		}
		sum = Hash{Hi: sum.Hi + p.Hi + carry, Lo: lo}
		n++
	}
	return sum.Then(Hash{Lo: n})
}

// Value hashes one attribute value of any type.
func Value(v pcommon.Value) Hash {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return String(v.Str())
	case pcommon.ValueTypeInt:
		return word(uint64(v.Int()), seedInt)
	case pcommon.ValueTypeDouble:
		return word(math.Float64bits(v.Double()), seedDouble)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return word(1, seedBool)
		}
		return word(0, seedBool)
	case pcommon.ValueTypeBytes:
		return from(xxh3.Hash128Seed(v.Bytes().AsRaw(), seedBytes))
	case pcommon.ValueTypeMap:
		return Map(v.Map()).Then(word(0, seedMap))
	case pcommon.ValueTypeSlice:
		h := word(uint64(v.Slice().Len()), seedSlice)
		for _, e := range v.Slice().All() {
			h = h.Then(Value(e))
		}
		return h
	default:
		return word(0, seedEmpty)
	}
}

func word(x, seed uint64) Hash {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x)
	return from(xxh3.Hash128Seed(b[:], seed))
}

func from(u xxh3.Uint128) Hash { return Hash{Hi: u.Hi, Lo: u.Lo} }
