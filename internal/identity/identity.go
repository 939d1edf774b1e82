// Package identity names a series by a 128-bit hash of what identifies it (resource, scope, metric
// name, point attributes), computed without allocating and independent of attribute order.
//
// The hash is seeded with constants, so an identity is the same in every process: a model
// checkpointed by one collector is found again by its successor.
package identity

import (
	"encoding/binary"
	"math"

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
func (h Hash) Then(o Hash) Hash {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], h.Hi)
	binary.LittleEndian.PutUint64(b[8:], h.Lo)
	binary.LittleEndian.PutUint64(b[16:], o.Hi)
	binary.LittleEndian.PutUint64(b[24:], o.Lo)
	return from(xxh3.Hash128Seed(b[:], seedPair))
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
