package combine

import (
	"math"
	"testing"
)

func TestCombine(t *testing.T) {
	scores := []float64{1, 6, 0.5, 3}
	for _, tc := range []struct {
		c    Combiner
		in   []float64
		want float64
	}{
		{Combiner{}, scores, 6},
		{Combiner{Method: MeanTopK, TopK: 2}, scores, 4.5},
		{Combiner{Method: MeanTopK, TopK: 16}, scores, 2.625},
		{Combiner{Method: MeanTopK, TopK: 1}, scores, 6},
		// One feature: Fisher and Stouffer return its own score.
		{Combiner{Method: Fisher}, []float64{4}, 4},
		{Combiner{Method: Stouffer}, []float64{4}, 4},
		// Two p = 0.01: Fisher p = 1e-4·(1 + ln 1e4) = 1.021e-3.
		{Combiner{Method: Fisher}, []float64{2, 2}, -math.Log10(1e-4 * (1 + math.Log(1e4)))},
		// Two p = 0.5 are two z = 0; the sum stays 0, so p = 0.5.
		{Combiner{Method: Stouffer}, []float64{math.Log10(2), math.Log10(2)}, math.Log10(2)},
		{Combiner{Method: Fisher}, []float64{0, 0, 0}, 0},
		{Combiner{}, nil, 0},
	} {
		if got := tc.c.Combine(tc.in); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%v%v: got %v, want %v", tc.c.Method, tc.in, got, tc.want)
		}
	}
}

// Many extreme features must saturate, not overflow to NaN.
func TestCombineManyFeatures(t *testing.T) {
	in := make([]float64, 1000)
	for i := range in {
		in[i] = 10
	}
	for _, m := range []Method{Max, MeanTopK, Fisher, Stouffer} {
		got := Combiner{Method: m, TopK: 3}.Combine(in)
		if math.IsNaN(got) || got < 0 || got > 10 {
			t.Errorf("%v: %v", m, got)
		}
	}
	// Agreement of many mildly unusual features is a strong signal.
	for i := range in[:20] {
		in[i] = 1.5
	}
	if got := (Combiner{Method: Fisher}).Combine(in[:20]); got < 5 {
		t.Errorf("fisher of 20 features at 1.5: %v, want >= 5", got)
	}
}

func TestValidateAndParse(t *testing.T) {
	if err := (Combiner{Method: MeanTopK, TopK: 0}).Validate(); err == nil {
		t.Error("TopK 0 accepted for mean_top_k")
	}
	if err := (Combiner{Method: 9}).Validate(); err == nil {
		t.Error("unknown method accepted")
	}
	for _, m := range []Method{Max, MeanTopK, Fisher, Stouffer} {
		got, err := ParseMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMethod("median"); err == nil {
		t.Error("median accepted")
	}
}

func TestCombineAllocs(t *testing.T) {
	in := []float64{1, 2, 3, 4, 5}
	for _, m := range []Method{Max, MeanTopK, Fisher, Stouffer} {
		c := Combiner{Method: m, TopK: 2}
		if n := testing.AllocsPerRun(100, func() { c.Combine(in) }); n != 0 {
			t.Errorf("%v allocates %v", m, n)
		}
	}
}
