package rate

import (
	"bytes"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// state is what the encoding tests need of Counter, Delta and Histogram.
type state interface {
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// TestEncodingCoversEveryField is a tripwire: a field added to a state type must be encoded too
// (and encodingVersion bumped), or a restored series would not continue where it stopped.
func TestEncodingCoversEveryField(t *testing.T) {
	for typ, want := range map[reflect.Type]int{
		reflect.TypeFor[Counter]():   4,
		reflect.TypeFor[Delta]():     2,
		reflect.TypeFor[Histogram](): 8, // delta is scratch, not encoded
	} {
		if got := typ.NumField(); got != want {
			t.Errorf("%s has %d fields, the encoding knows %d: encode the new ones and bump encodingVersion", typ, got, want)
		}
	}
}

func encode(t *testing.T, s state) []byte {
	t.Helper()
	b, err := s.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip decodes what src encodes into dst and checks that dst encodes the same bytes.
func roundTrip(t *testing.T, src, dst state) {
	t.Helper()
	data := encode(t, src)
	if err := dst.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if again := encode(t, dst); !bytes.Equal(again, data) {
		t.Fatalf("re-encoded state differs:\n%x\n%x", again, data)
	}
}

func TestCounterRoundTripContinues(t *testing.T) {
	var c Counter
	steps := []struct {
		start, ts int64
		value     float64
	}{
		{1, 10 * sec, 100}, {1, 20 * sec, 150}, {1, 15 * sec, 160}, {1, 30 * sec, 170},
		{1, 40 * sec, 20}, {45 * sec, 60 * sec, 90}, {0, 80 * sec, 110}, {0, 90 * sec, 1e300},
	}
	roundTrip(t, &c, new(Counter)) // the zero value
	for i, s := range steps {
		var restored Counter
		roundTrip(t, &c, &restored)
		if restored != c {
			t.Fatalf("step %d: restored %+v, want %+v", i, restored, c)
		}
		r1, st1 := c.Next(s.start, s.ts, s.value)
		r2, st2 := restored.Next(s.start, s.ts, s.value)
		if r1 != r2 || st1 != st2 {
			t.Fatalf("step %d: restored gave (%g, %d), original (%g, %d)", i, r2, st2, r1, st1)
		}
	}
}

func TestDeltaRoundTripContinues(t *testing.T) {
	var d Delta
	roundTrip(t, &d, new(Delta))
	for i, ts := range []int64{10 * sec, 20 * sec, 20 * sec, 35 * sec} {
		var restored Delta
		roundTrip(t, &d, &restored)
		if restored != d {
			t.Fatalf("step %d: restored %+v, want %+v", i, restored, d)
		}
		r1, st1 := d.Next(0, ts, 50)
		r2, st2 := restored.Next(0, ts, 50)
		if r1 != r2 || st1 != st2 {
			t.Fatalf("step %d: restored gave (%g, %d), original (%g, %d)", i, r2, st2, r1, st1)
		}
	}
}

func TestHistogramRoundTripContinues(t *testing.T) {
	var h Histogram
	steps := []struct {
		layout  uint64
		ts      int64
		count   float64
		sum     float64
		buckets []float64
	}{
		{1, 10 * sec, 10, 5, []float64{4, 6}},
		{1, 20 * sec, 30, 15, []float64{10, 20}},
		{2, 30 * sec, 40, math.NaN(), []float64{15, 25}}, // new layout; a NaN sum is kept as is
		{2, 40 * sec, 50, 25, []float64{14, 36}},
		{2, 50 * sec, 60, 30, []float64{20, 40}},
		{2, 60 * sec, 70, 31, []float64{20, 40, 10}},
		{2, 70 * sec, 80, 32, nil},
	}
	roundTrip(t, &h, new(Histogram))
	for i, s := range steps {
		// A restored histogram that already holds buckets reuses their memory.
		restored := Histogram{buckets: make([]float64, 5, 8), delta: []float64{9}}
		roundTrip(t, &h, &restored)
		in1, st1 := h.Next(s.layout, 0, s.ts, s.count, s.sum, s.buckets)
		in2, st2 := restored.Next(s.layout, 0, s.ts, s.count, s.sum, s.buckets)
		if st1 != st2 || !sameInterval(in1, in2) {
			t.Fatalf("step %d: restored gave %+v (%d), original %+v (%d)", i, in2, st2, in1, st1)
		}
	}
}

func sameInterval(a, b Interval) bool {
	same := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	if !same(a.Rate, b.Rate) || !same(a.Count, b.Count) || !same(a.Sum, b.Sum) || len(a.Buckets) != len(b.Buckets) {
		return false
	}
	for i := range a.Buckets {
		if a.Buckets[i] != b.Buckets[i] {
			return false
		}
	}
	return true
}

// TestCorruptStateIsRejected feeds every prefix, a wrong version, a trailing byte and a bad flag
// of a valid encoding to each type: each must fail with an error and leave the state as it was.
func TestCorruptStateIsRejected(t *testing.T) {
	var c Counter
	c.Next(1, 10*sec, 5)
	var d Delta
	d.Next(0, 10*sec, 5)
	var h Histogram
	h.Next(7, 0, 10*sec, 10, 5, []float64{4, 6})
	for _, tc := range []struct {
		name    string
		valid   state
		target  func() state
		seenPos int // offset of the seen flag
	}{
		{"counter", &c, func() state { return &Counter{start: 3, ts: 4, value: 5, seen: true} }, counterSize - 1},
		{"delta", &d, func() state { return &Delta{ts: 4, seen: true} }, deltaSize - 1},
		{"histogram", &h, func() state { return &Histogram{ts: 4, buckets: []float64{1, 2, 3}, seen: true} }, histogramHeadSize - 5},
	} {
		valid := encode(t, tc.valid)
		bad := map[string][]byte{
			"version":  append([]byte{encodingVersion + 1}, valid[1:]...),
			"trailing": append(bytes.Clone(valid), 0),
			"flag":     bytes.Clone(valid),
		}
		bad["flag"][tc.seenPos] = 2
		for n := range len(valid) {
			bad[fmt.Sprintf("%d-byte prefix", n)] = valid[:n]
		}
		if tc.name == "histogram" {
			huge := bytes.Clone(valid)
			huge[histogramHeadSize-4], huge[histogramHeadSize-1] = 0xff, 0xff
			bad["bucket count"] = huge
		}
		for what, data := range bad {
			target := tc.target()
			before := encode(t, target)
			if err := target.UnmarshalBinary(data); err == nil {
				t.Errorf("%s: %s: no error", tc.name, what)
			} else if !strings.HasPrefix(err.Error(), "rate: ") {
				t.Errorf("%s: %s: error %q does not say where it comes from", tc.name, what, err)
			}
			if after := encode(t, target); !bytes.Equal(after, before) {
				t.Errorf("%s: %s: state changed on error", tc.name, what)
			}
		}
	}
}
